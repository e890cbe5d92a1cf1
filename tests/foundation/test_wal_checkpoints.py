"""A SQLite file's log is checkpointed by a thread of its own (services.db.wal_checkpoints), not
inside the writers' commits; a reader, an in-memory database and MariaDB have none."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from services.db import Database
from services.db.wal_checkpoints import BACKSTOP_PAGES, CHECKPOINT_PAGES, WalCheckpointer

DEADLINE = 30


def _rows_in_the_file_itself(path) -> int:
    """What the database file holds without its log: ``immutable`` reads the file alone."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return reader.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        reader.close()


def test_commits_leave_the_checkpoints_to_their_own_thread_which_copies_the_log_into_the_file(tmp_path):
    path = tmp_path / "wal.db"
    db = Database(f"sqlite:///{path}")
    try:
        assert db.checkpointer is not None and not db.checkpointer.running  # no thread until one is due
        db.checkpointer.pages = 1  # a checkpoint once the log holds a page (SQLite's own point: 1,000)
        with db.core(write=True) as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
            connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        # far below the commits' own automatic checkpoint: only the thread copies the log back;
        # each round's checkpoint waited for before the next round asks (two asks while the
        # thread is busy or starting are one wake-up, not two checkpoints)
        for round_ in range(3):
            for n in range(db.checkpointer.every):
                with db.core(write=True) as connection:
                    connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 500 + f"{round_}-{n}"})
            assert db.checkpointer.wait_for(round_ + 1, DEADLINE), f"no checkpoint ran ({db.checkpointer.failure})"
        assert db.checkpointer.running and db.checkpointer.failure is None
        with db.core(write=True) as connection:  # one more round of commits, then its checkpoint
            for _ in range(db.checkpointer.every):
                connection.execute(text("INSERT INTO t (v) VALUES ('late')"))
        # a checkpoint that started before the last commit may end after it: each round of
        # commits wakes the thread again, and one started after the last commit copies it all
        in_file = []
        for _round in range(5):
            done = db.checkpointer.checkpoints
            for _ in range(db.checkpointer.every):
                with db.core() as connection:
                    connection.execute(text("SELECT 1"))
            assert db.checkpointer.wait_for(done + 1, DEADLINE), f"no checkpoint after round {_round}"
            in_file.append(_rows_in_the_file_itself(path))
            if in_file[-1] == 4 * db.checkpointer.every:
                break
        assert in_file[-1] == 4 * db.checkpointer.every, f"rows in the file after each checkpoint: {in_file}"
    finally:
        db.dispose()
    assert not db.checkpointer.running  # stopped with the database


def test_a_log_short_of_the_checkpoint_point_is_left_as_it_is(tmp_path):
    """The thread checkpoints where SQLite would have (CHECKPOINT_PAGES), not more often: a few
    small commits are looked at and left in the log; the disk sees no more fsyncs than before."""
    path = tmp_path / "few.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.core(write=True) as connection:
            connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        # two looks, each asked for once the one before is done (two asks while the thread is
        # still starting are one look: the thread is woken, not counted)
        for look in (1, 2):
            for n in range(db.checkpointer.every):
                with db.core(write=True) as connection:
                    connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"{look}-{n}"})
            assert db.checkpointer.wait_for(0, DEADLINE, looks=look), f"the log was not looked at ({db.checkpointer.failure})"
        assert db.checkpointer.checkpoints == 0
        assert (tmp_path / "few.db-wal").stat().st_size < CHECKPOINT_PAGES * 4096
    finally:
        db.dispose()


def test_readers_in_memory_databases_and_mariadb_have_no_checkpointer(tmp_path, db_url):
    path = tmp_path / "r.db"
    Database(f"sqlite:///{path}").dispose()  # the file, in WAL mode
    for db in (Database(f"sqlite:///{path}", read_only=True), Database("sqlite://"),
               *([Database(db_url)] if not db_url.startswith("sqlite") else [])):
        try:
            assert db.checkpointer is None
        finally:
            db.dispose()


def test_a_checkpointer_that_cannot_connect_says_why_and_leaves_the_commits_theirs():
    def refuse():
        raise sqlite3.OperationalError("unable to open database file")

    checkpointer = WalCheckpointer(refuse, "nowhere-wal", every=1)
    try:
        checkpointer.committed()
        assert not checkpointer.wait_for(1, DEADLINE)
        assert "unable to open database file" in (checkpointer.failure or "")
    finally:
        checkpointer.stop()
    assert not checkpointer.running
