"""Qt panels, dialogs and table models. Widgets never touch the database: they are built from
the immutable values they show (``services.domain``) and emit intent signals."""
