"""One clear line per database problem, for the console, the commands and the log: what went
wrong and what to do, never SQLAlchemy's documentation link and never a password."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from services.urls import redact_text

# MySQL/MariaDB client (2xxx) and server (1xxx) error numbers.
_CANNOT_CONNECT = {2002, 2003, 2006, 2013}
_UNKNOWN_HOST = {2005}
_ACCESS_DENIED = {1045, 1698}
_DB_ACCESS_DENIED = {1044}
_UNKNOWN_DATABASE = {1049}
_NO_SUCH_TABLE = {1146}  # ER_NO_SUCH_TABLE
_LOCK_WAIT_TIMEOUT = {1205}  # ER_LOCK_WAIT_TIMEOUT (services.db.lock_conflicts retries it first)
_DEADLOCK = {1213}  # ER_LOCK_DEADLOCK (idem)
_SQLITE_LOCKED = ("database is locked", "database table is locked")


class DatabaseLocationError(ValueError):
    """An SQLite URL whose folder does not exist (never created silently: a typo in the path
    would otherwise start an empty database somewhere unexpected)."""


class NoSchema(LookupError):
    """A command that reads what is stored was pointed at a database with nothing stored: no
    SQLite file there (never created by a reader), or a database never migrated."""

    def __init__(self, redacted_url: str) -> None:
        super().__init__(f"the database at {redacted_url} has no schema; run `trading-console db upgrade` first")


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (``None``: in memory, a ``file:`` URI, or not SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or "mode=memory" in database:
        return None
    return Path(database).expanduser()


def check_sqlite_folder(url: str) -> None:
    """Refuse an SQLite URL whose folder is missing, with one clear line."""
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        raise DatabaseLocationError(
            f"the folder of the SQLite database {path} does not exist: create it (mkdir -p {path.parent}) "
            "or correct the database URL"
        )


class DatabaseNotWritable(DatabaseLocationError):
    """An SQLite file (or its folder) this user cannot write. In WAL mode even a read needs
    the ``-wal`` and ``-shm`` files beside the database, so SQLite failed on the first
    statement with "unable to open database file" or "attempt to write a readonly database",
    naming neither the file nor the cause. Refused before anything is read or written."""


def _this_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no pwd module (Windows), or a uid without a name
        return os.environ.get("USERNAME") or os.environ.get("USER") or "this user"


def _writable(path: Path) -> bool:
    return os.access(path, os.R_OK | os.W_OK) and (not path.is_dir() or os.access(path, os.X_OK))


def sqlite_not_writable(url: str | None) -> str | None:
    """What stops this user from using the SQLite file of ``url`` (a folder it cannot write, a
    file it cannot write), with what to do; ``None`` when nothing does (or not an SQLite file,
    or the folder is missing: ``check_sqlite_folder``'s). The one wording of it, for the
    commands, the window and the log. ``os.access`` also says no on a read-only mount."""
    path = sqlite_path(url) if url else None
    if path is None or not path.parent.is_dir():
        return None
    user = _this_user()
    folder = path.parent
    if path.exists() and not _writable(path):
        return (f"the database file {path} is read-only for the user {user}: SQLite writes to it even to read "
                "(WAL mode); make the file writable for this user (chmod / chown), or give another database URL "
                "(--db-url or TC_DB_URL); nothing was read or written")
    if _writable(folder):
        return None
    if not path.exists():
        return (f"the database file {path} cannot be created: the folder {folder} is not writable for the user "
                f"{user}; fix the folder's permissions, or give another database URL (--db-url or TC_DB_URL); "
                "nothing was written")
    beside = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    if all(side.exists() and _writable(side) for side in beside):
        return None  # SQLite opens both as they are: nothing to create in the folder
    return (f"the database file {path} is in a folder this user ({user}) cannot write: SQLite needs to create "
            f"{beside[0]} and {beside[1]} beside it (WAL mode), even to read; move the database to a folder this "
            f"user can write (and give its URL with --db-url or TC_DB_URL), or fix the permissions of {folder}; "
            "nothing was read or written")


def check_sqlite_writable(url: str) -> None:
    """Refuse an SQLite file this user cannot write (``sqlite_not_writable``) before SQLite
    fails on it half-way."""
    problem = sqlite_not_writable(url)
    if problem is not None:
        raise DatabaseNotWritable(problem)


def is_sqlite_not_writable(exc: BaseException, url: str | None = None) -> bool:
    """``exc`` is SQLite refusing a file this user cannot write (a bad environment, not a fault
    of the database): said by ``describe_db_error``, exit 2 in the commands."""
    if isinstance(exc, DatabaseNotWritable):
        return True
    _where, _user, _database, backend = _url_parts(url)
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if backend != "sqlite":
        return False
    if "attempt to write a readonly database" in text:
        return True
    return "unable to open database file" in text and sqlite_not_writable(url) is not None


def _url_parts(url: str | None) -> tuple[str, str, str, str]:
    """(host:port, user, database, backend) of ``url``; blanks when it does not parse."""
    if not url:
        return "", "", "", ""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        backend = parsed.get_backend_name()
        socket = parsed.query.get("unix_socket")
        where = f"socket {socket}" if socket else f"{parsed.host or 'localhost'}:{parsed.port or 3306}"
        return where, parsed.username or "", parsed.database or "", backend
    except Exception:  # noqa: BLE001 - a URL that does not parse has no parts to show
        return "", "", "", ""


def _mysql_code(exc: BaseException) -> tuple[int | None, str]:
    original = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = getattr(original, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return None, " ".join(str(original).split())


def is_server_unreachable(exc: BaseException) -> bool:
    """``exc`` is the database server not answering (refused, gone, timed out, the connection
    lost): the environment of the moment, which a reader may wait out, unlike a wrong password,
    an unknown database or a schema not upgraded."""
    return _mysql_code(exc)[0] in _CANNOT_CONNECT


def is_lock_held(exc: BaseException) -> bool:
    """``exc`` is a statement that waited too long for rows (or, in SQLite, the file) another
    connection keeps locked, after ``services.db.lock_conflicts``'s retries: the database answered
    all along; a process paused or stuck inside its transaction holds what this one needs."""
    code, text = _mysql_code(exc)
    return code in _LOCK_WAIT_TIMEOUT or (code is None and any(marker in text for marker in _SQLITE_LOCKED))


def is_database_gone(exc: BaseException) -> bool:
    """``exc`` says the database itself is not there any more (MariaDB's unknown database, a table
    that does not exist; SQLite's "no such table"): dropped under a reader, or created again and
    not migrated yet. Unlike an unreachable server, what was read from it before is not what it
    holds when it answers again (it may be another database under the same name)."""
    code, text = _mysql_code(exc)
    return code in _UNKNOWN_DATABASE or code in _NO_SUCH_TABLE or (code is None and "no such table" in text)


def describe_db_error(exc: BaseException, url: str | None = None) -> str:
    """One line about ``exc`` (a SQLAlchemy/driver error) for the database at ``url``."""
    from services.db.migrate import SchemaNotCurrent

    if isinstance(exc, (SchemaNotCurrent, DatabaseLocationError)):
        return redact_text(str(exc))
    where, user, database, backend = _url_parts(url)
    code, text = _mysql_code(exc)
    if code in _CANNOT_CONNECT:
        line = f"database server unreachable at {where or 'the configured address'} ({_reason(text)}): is MariaDB/MySQL running there?"
    elif code in _UNKNOWN_HOST:
        line = f"database server unreachable: unknown host in {where or 'the URL'}"
    elif code in _ACCESS_DENIED:
        line = f"access denied for user {user!r} at {where}: check the user name and password (or the user's grants)"
    elif code in _DB_ACCESS_DENIED:
        line = f"access denied for user {user!r} to database {database!r}: GRANT ALL ON `{database}`.* TO '{user}'@'...'"
    elif code in _UNKNOWN_DATABASE:
        line = (f"unknown database {database!r} at {where}: create it with "
                f"`CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;` "
                "and then run `trading-console db upgrade`")
    elif code in _LOCK_WAIT_TIMEOUT:
        # raised once the retries ran out: the server's own words name no cause the trader knows
        line = ("the database kept a row locked by another connection for too long (a process stopped inside a "
                "transaction?); nothing was written, try again")
    elif code in _DEADLOCK:
        line = ("the database ended this change as a deadlock with another connection (each waited for rows the other "
                "held), again and again; nothing was written, try again")
    elif code is None and any(marker in text for marker in _SQLITE_LOCKED):
        line = ("the SQLite database stayed locked by another process for too long (a process stopped while writing?); "
                "nothing was written, try again")
    elif backend == "sqlite" and sqlite_not_writable(url) is not None and (
            "unable to open database file" in text or "attempt to write a readonly database" in text):
        line = sqlite_not_writable(url) or ""  # checked now, when it failed: the permissions as they are
    elif backend == "sqlite" and "unable to open database file" in text:
        path = sqlite_path(url) if url else None
        line = f"cannot open the SQLite database {path or ''}: check that the folder exists and is writable"
    elif backend == "sqlite" and "attempt to write a readonly database" in text:
        # SQLite's own words named no file and nothing to do (a read-only file or mount, another user's file)
        line = (f"the SQLite database {_sqlite_name(url)} is read-only: make it writable (the file and its folder), "
                "or give another --db-url; nothing was written")
    else:
        line = f"database error: {_strip_link(text) or type(exc).__name__}"
    return redact_text(line)


def _sqlite_name(url: str | None) -> str:
    """The file an SQLite URL names, a ``file:`` URI's too (its path, without the query)."""
    from sqlalchemy.engine import make_url

    path = sqlite_path(url) if url else None
    if path is not None:
        return str(path)
    database = (make_url(url).database or "") if url else ""
    return database.removeprefix("file:").split("?", 1)[0] or "(in memory)"


def _reason(text: str) -> str:
    # pymysql: "Can't connect to MySQL server on 'h' ([Errno 111] Connection refused)"
    if "(" in text and text.endswith(")"):
        inner = text[text.rfind("(") + 1:-1]
        return inner.split("] ", 1)[-1] if inner.startswith("[Errno") else inner
    return text


def _strip_link(text: str) -> str:
    marker = "(Background on this error at:"
    return text.split(marker, 1)[0].strip() if marker in text else text
