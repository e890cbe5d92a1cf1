"""What every command and the window pay before their own work (benchmarks/command_start.py):
opening an SQLite file already at the newest revision runs no Alembic and reads no revision
file (services.db.migrate.upgrade returns at once, the revisions read once a process), and the
command line is read by a parser built once a thread (app.cli.command_parser)."""

from __future__ import annotations

import threading

from alembic import command

from app import cli
from services.db import migrate


def test_opening_a_current_sqlite_file_runs_no_alembic(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'current.sqlite3'}"
    assert migrate.upgrade(url) == migrate.head()
    ran: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda config, target, **kw: ran.append(target))
    assert migrate.ensure_schema(url) == migrate.head()
    assert ran == []  # there already: nothing for Alembic to do, and it was not asked


def test_the_command_line_parser_is_built_once_a_thread():
    parser = cli.command_parser()
    assert cli.command_parser() is parser
    assert parser.parse_args(["db", "current"]).command == "db"
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(cli.command_parser()))
    thread.start()
    thread.join(10)
    assert other and other[0] is not parser  # each thread its own (CommandParser keeps a flag per parse)


def test_the_benchmark_runs(capsys):
    from benchmarks import command_start

    assert command_start.main(["--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert "opening a current SQLite database" in out and "reading a command line" in out
