"""Alembic environment. Run through ``services.db.migrate`` (or ``trading-console db ...``):
the URL or an open connection arrives in ``config.attributes``, never from a CWD ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from services.db.links import connect_args
from services.db.models import Base

config = context.config
target_metadata = Base.metadata


def _is_sqlite(name: str) -> bool:
    return name == "sqlite"


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or "mysql+pymysql://"
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=_is_sqlite(connection.dialect.name),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    url = config.attributes["url"]
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(url))
    try:
        with engine.connect() as connection:
            _run_with(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
