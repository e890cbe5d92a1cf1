"""Everything but the GUI: pure Python, free of Qt (a layering test keeps it so)."""
