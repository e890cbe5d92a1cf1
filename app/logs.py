"""Logging: a rotating file in the user log folder plus stderr; URL passwords never logged."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from services.urls import redact_text

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Strips passwords from URLs in every record, whoever logged it (SQLAlchemy included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text: render the traceback once, redacted.
            record.exc_text = redact_text(_TRACEBACK_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class StderrNoiseFilter(logging.Filter):
    """What stays out of stderr (it is all in the log file): records marked ``tc_file_only``
    (tracebacks behind a one-line message) and the IB client library's own lines, which log every
    broker message, even "order canceled", at ERROR; the console reports those itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "tc_file_only", False):
            return False
        return not (record.name.startswith(("ib_async", "ib_insync")) and record.levelno < logging.CRITICAL)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record, not the stream that was
    current when logging was configured (a replaced or closed stderr -- pytest's capture, an
    embedding application -- must not turn every later log call into a "Logging error")."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_TRACEBACK_FORMATTER = logging.Formatter()
# Chatty at INFO without telling the user anything (plugins, "Context impl"); DEBUG shows them.
# The db commands print the outcome themselves.
# The IB client library logs every broker message at INFO with the whole Trade object (openOrder,
# orderStatus, execDetails, commissionReport, position, updatePortfolio: kilobytes per order
# update; the log grew 690 KB in 12 minutes of ordinary use). The console logs the events
# itself, one line each; the library's lines stay available at DEBUG. Its warnings and errors
# still come through.
QUIET_LOGGERS = {
    "alembic.runtime.plugins": logging.WARNING,
    "alembic.runtime.migration": logging.WARNING,
    "ib_async.wrapper": logging.WARNING,
    "ib_async.ib": logging.WARNING,
    "ib_insync.wrapper": logging.WARNING,
    "ib_insync.ib": logging.WARNING,
}
# Rotation by size: at most LOG_FILE_BYTES per file, LOG_BACKUPS older files kept.
LOG_FILE_BYTES = 5_000_000
LOG_BACKUPS = 5


def configure_logging(settings, *, stderr_level: str | None = None) -> None:
    root = logging.getLogger()
    level = getattr(logging, str(settings.log_level).upper(), logging.INFO)
    root.setLevel(min(level, logging.INFO))
    for handler in list(root.handlers):
        if getattr(handler, "_tc_owned", False):
            root.removeHandler(handler)
            handler.close()
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level if level > logging.DEBUG else logging.NOTSET)
    redactor = RedactingFilter()
    stderr = _CurrentStderrHandler()
    stderr.setLevel(getattr(logging, (stderr_level or settings.log_level).upper(), logging.WARNING))
    stderr.setFormatter(logging.Formatter(_FORMAT))
    stderr.addFilter(redactor)
    stderr.addFilter(StderrNoiseFilter())
    stderr._tc_owned = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    try:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            settings.log_dir / "console.log", maxBytes=LOG_FILE_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:  # a read-only home must not stop the console
        logging.getLogger(__name__).warning("file logging disabled: %s", exc)  # a named record: the filters read its name
        return
    file_handler.setLevel(logging.DEBUG if level <= logging.DEBUG else logging.INFO)
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler.addFilter(redactor)
    file_handler._tc_owned = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
