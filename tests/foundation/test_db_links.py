"""The console's links to MariaDB: no TLS work on a loopback link (services/db/links.py)."""

from __future__ import annotations

import pymysql.connections
import pytest

from services.db import Database, migrate
from services.db.links import connect_args


@pytest.mark.parametrize("url", [
    "mysql+pymysql://root@127.0.0.1:3306/test",
    "mysql+pymysql://root@localhost/test",
    "mysql+pymysql://root@[::1]:3306/test",
    "mysql+pymysql://root@127.0.0.2/test",
    "mysql+pymysql://root@/test?unix_socket=/run/mysqld/mysqld.sock",
    "mariadb+pymysql://trader:pw@127.0.0.1/console",
])
def test_a_loopback_link_turns_tls_off(url):
    assert connect_args(url) == {"ssl_disabled": True}


@pytest.mark.parametrize("url", [
    "mysql+pymysql://trader:pw@db.example/console",  # a name may resolve anywhere
    "mysql+pymysql://trader:pw@10.1.2.3:3306/console",
    "mysql+pymysql://trader:pw@127.0.0.1/console?ssl_ca=/etc/ca.pem",  # the operator's own TLS options stand
    "mysql+pymysql://trader:pw@localhost/console?ssl_disabled=false",
    "sqlite:///console.sqlite3",
])
def test_any_other_link_keeps_the_drivers_default_or_the_urls_own_options(url):
    assert connect_args(url) == {}


@pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_the_consoles_connections_to_a_loopback_mariadb_build_no_tls_context(db_url, monkeypatch):
    """PyMySQL 1.2 builds a default SSL context (the system's certificate store read) for every
    connection it makes unless told not to: about 20 ms of CPU each. The Database's pool, the
    migrations and the schema check connect here; none of them may pay it on 127.0.0.1."""
    built: list[object] = []
    original = pymysql.connections.Connection._create_ssl_ctx

    def counted(self, sslp):
        built.append(sslp)
        return original(self, sslp)

    monkeypatch.setattr(pymysql.connections.Connection, "_create_ssl_ctx", counted)
    database = Database(db_url)
    try:
        with database.session() as session:
            assert session.connection().exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        database.dispose()
    assert migrate.current(db_url) == migrate.head()
    assert built == []
    # and the count does see one when the driver is left to its default
    import sqlalchemy as sa

    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
    assert len(built) == 1
