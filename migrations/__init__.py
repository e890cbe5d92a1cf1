"""Alembic migrations of the console's database (driven by ``services.db.migrate``)."""
