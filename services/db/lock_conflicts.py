"""A transaction MariaDB chose as a deadlock's victim, run again.

InnoDB ends one of two transactions that wait for each other's row locks with error 1213,
"Deadlock found when trying to get lock; try restarting transaction", and rolls that transaction
back whole. Two ``execute`` processes of one run met this way (one creating the run while the
other's writer held it): the second exited 5 as if the database were unreachable. A function that
is exactly one unit of work, and does nothing outside the database, can simply run again:
:func:`retry_deadlocks` does so a few times, after a short random pause so that the two do not
meet again at once. A lock wait that timed out (1205) is not retried: it already waited long.
SQLite never deadlocks here (every unit of work takes the write lock at ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

DEADLOCK = 1213  # ER_LOCK_DEADLOCK
ATTEMPTS = 5
PAUSE_S = (0.005, 0.05)  # the random pause before the next attempt, times the attempt's number

P = ParamSpec("P")
R = TypeVar("R")


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` is MariaDB/MySQL ending this transaction as a deadlock's victim."""
    args: tuple = tuple(getattr(getattr(exc, "orig", None), "args", ()))
    return isinstance(exc, OperationalError) and args[:1] == (DEADLOCK,)


def retry_deadlocks(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run again (up to ``ATTEMPTS`` times in all) when the database ends it as a deadlock's
    victim. Only for a function that is one unit of work and has no effect outside the database."""

    @functools.wraps(fn)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or not is_deadlock(exc):
                    raise
                log.info("%s: the database ended it as a deadlock's victim; running it again (attempt %d of %d)",
                         fn.__qualname__, attempt + 1, ATTEMPTS)
                time.sleep(random.uniform(*PAUSE_S) * attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    return again
