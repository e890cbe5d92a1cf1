"""Persistence: models, migrations, the ``Database`` session factory and the repositories.

    from services.db import Database
    db = Database(url); db.ensure_schema()
    with db.unit_of_work() as session:
        order, created = OrderRepository(session).insert_once(...)

Only ``services`` and ``app`` import this package; widgets receive ``services.domain`` records.
"""

from services.db.session import Database, ReadOnlyDatabase, json_dumps

__all__ = ["Database", "ReadOnlyDatabase", "json_dumps"]
