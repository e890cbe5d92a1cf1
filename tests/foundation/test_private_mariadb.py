"""The private MariaDB server of the fault tests: its own data directory and port, survives a
kill -9 with its committed data, restarts on the same port, and is reported clearly when the
binary is missing (skipped, or failed under CI)."""

from __future__ import annotations

import pytest

from devtools.mariadb import MariaDBUnavailable, PrivateMariaDB
from tests.fixtures.mariadb import _unavailable


def test_kill_minus_nine_then_restart_keeps_committed_rows_and_the_port(private_mariadb):
    server = private_mariadb
    assert server.port != 3306 and server.running
    server.execute("CREATE TABLE IF NOT EXISTS survivors (id INT PRIMARY KEY)", server.database)
    server.execute("DELETE FROM survivors", server.database)
    server.execute("INSERT INTO survivors VALUES (1), (2)", server.database)
    port, starts = server.port, server.starts
    server.kill()
    assert not server.running
    with pytest.raises(Exception):
        server.execute("SELECT 1")
    server.start()
    assert (server.port, server.starts) == (port, starts + 1)
    assert server.execute("SELECT id FROM survivors ORDER BY id", server.database) == [(1,), (2,)]
    # the datadir is the private one, under the test session's temporary folder
    [(datadir,)] = server.execute("SELECT @@datadir")
    assert datadir.rstrip("/") == str(server.datadir)


def test_missing_binary_is_named(tmp_path):
    with pytest.raises(MariaDBUnavailable, match="/nowhere/mariadbd is not installed"):
        PrivateMariaDB(tmp_path, mariadbd="/nowhere/mariadbd")


def test_missing_server_skips_outside_ci_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="private MariaDB server unavailable: no binary"):
        _unavailable("no binary")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true: no binary"):
        _unavailable("no binary")


def test_starting_a_private_server_leaves_the_shared_servers_temporary_tables_alone(private_mariadb, mysql_url):
    """mariadbd deletes every ``#sql*`` file of its tmpdir when it starts (left over from a crash,
    it assumes). A private server on the default tmpdir, /tmp, deleted the shared server's live
    temporary tables there: the shared server's next DROP of one failed with "Error on delete of
    '/tmp/#sql-temptable-…MAI'" (a CI run's failure, in a DESCRIBE of another test)."""
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(mysql_url)
    shared = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                             database=url.database, autocommit=True)
    try:
        with shared.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE tc_spilled (id INT) ENGINE=Aria")  # its files are in the tmpdir
            cursor.execute("INSERT INTO tc_spilled VALUES (1), (2)")
            private_mariadb.kill()
            private_mariadb.start()  # a start: the moment mariadbd cleans its tmpdir
            cursor.execute("SELECT COUNT(*) FROM tc_spilled")
            assert cursor.fetchall() == ((2,),)
            cursor.execute("DROP TEMPORARY TABLE tc_spilled")  # failed: its files were gone
    finally:
        shared.close()
    [(tmpdir,)] = private_mariadb.execute("SELECT @@tmpdir")
    assert tmpdir.rstrip("/").startswith(str(private_mariadb.folder))
