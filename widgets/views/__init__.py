"""Panels meant for QDockWidgets; each takes the model it shows plus parent."""
