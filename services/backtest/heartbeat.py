"""The running backtest's sign of life: ``backtests.heartbeat_at`` written by its own process
every ``BEAT_EVERY`` of wall time (asked after every simulated day, written only when that much
has passed: one UPDATE every few seconds, nothing measurable in a backtest of thousands of days).

Its process on this machine can be seen alive or dead (``services.execution.process_identity``); on another
machine it cannot, and only this tells: ``closing.close_abandoned`` closes such a backtest as
failed once its heartbeat is older than ``STALE_AFTER``. The bound is far above the beat and the
longest step between two days (a rebalance waits at most a minute for its orders,
``runner.ORDER_WAIT_SECONDS``), and leaves room for the two machines' clocks to differ.

The beat is a conditional update (``status = 'running'``): when it finds no such row, another
look closed the backtest meanwhile (it judged the process gone), and the backtest stops rather
than trade on under a closed row (``ClosedElsewhere``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from services.db.models import Backtest

BEAT_EVERY = 5.0  # seconds of wall time
STALE_AFTER = timedelta(minutes=10)


class ClosedElsewhere(RuntimeError):
    """The backtest's row was closed by another look while its process still ran."""


def closed_elsewhere(db, backtest_id: int) -> ClosedElsewhere:
    with db.session() as session:
        status, message = session.execute(select(Backtest.status, Backtest.message)
                                          .where(Backtest.id == backtest_id)).one()
    return ClosedElsewhere(f"backtest {backtest_id} was closed as {status} by another look while it ran"
                           + (f" ({message})" if message else ""))


class Heartbeat:
    def __init__(self, db, backtest_id: int, *, every: float = BEAT_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.backtest_id = backtest_id
        self.every = every
        self.clock = clock
        self.due = clock() + every  # the row was created with its first beat
        self.beats = 0  # written (tests)

    def beat(self) -> None:
        """Cheap when not due (one clock read); else the row's ``heartbeat_at`` now, or
        ``ClosedElsewhere`` when the row is no longer running."""
        now = self.clock()
        if now < self.due:
            return
        self.due = now + self.every
        with self.db.core(write=True) as connection:
            written = connection.execute(update(Backtest).where(Backtest.id == self.backtest_id, Backtest.status == "running")
                                         .values(heartbeat_at=datetime.now(UTC))).rowcount
        if not written:
            raise closed_elsewhere(self.db, self.backtest_id)
        self.beats += 1
