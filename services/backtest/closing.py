"""How a backtest ends, whoever ends it: its own process (``Backtester``: done, canceled or
failed) or, when that process died (kill -9, a reboot) and the row still says ``running``,
whoever looks at backtests next (``close_abandoned``: the start of a backtest, reading one, the
window's Backtest panel).

A backtest that does not end done leaves nothing open. Its rebalances' orders the simulated
broker still held (next-open orders waiting overnight, a rebalance cut short) die with that
broker: each is told ``Cancelled`` with the reason, as reconciliation tells a broker's verdict,
through the writer's projection and the order state machine (order events, run roll-ups and the
trail's snapshots as for any order). Then its runs still queued or running take the backtest's
status and reason.

Exactly one closer closes a backtest: the row is closed first by a conditional update (``WHERE
status = 'running'``), and only the closer whose update found the row running goes on to its
orders and runs. Two looks at once (the panel and the next backtest's start, two machines)
both judging one backtest abandoned: one closes it and says so, the other does nothing. A
closer killed between the two steps leaves a closed row with runs still open: a look at least
``HALF_CLOSED_AFTER`` later finishes them (its closer would have in milliseconds).

A backtest of another machine cannot be seen dead from here: its process writes a heartbeat
(``services.backtest.heartbeat``), and one whose heartbeat is older than ``STALE_AFTER`` is
closed as failed.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from services.audit import AuditLog
from services.audit_actions import AuditAction
from services.core.typed_numbers import plain
from services.db.models import Backtest, TradeOrder, TradeRun
from services.db.repositories.base import cursor_result
from services.domain import BACKTEST_ACCOUNT_PREFIX, TERMINAL_ORDER_STATES, RunStatus, TradeMode
from services.execution.audit import os_user
from services.execution.process_identity import holder_alive, holder_gone
from services.execution.writer.events import ReconciledStatus
from services.execution.writer.projection import EventProjection

from .heartbeat import STALE_AFTER
from .summary import summary_of

log = logging.getLogger(__name__)

_OPEN_RUN = (RunStatus.QUEUED, RunStatus.RUNNING)
HALF_CLOSED_AFTER = timedelta(minutes=1)
# a backtest row with no heartbeat (a version before heartbeats) and no process to look at:
# taken as abandoned once it is this old (no backtest runs for a day)
UNTOLD_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ClosedBacktest:
    id: int
    message: str


def close_backtest(db, backtest_id: int, status: str, results: dict, message: str | None, *,
                   actor: str | None = None) -> bool:
    """The backtest's row closed with ``status`` if it is still running (False, nothing done:
    another closer was first); unless it is done, then its open orders canceled and its runs
    still queued or running closed with the same status and reason. Its summary (what the list
    shows, ``summary.summary_of``) is written with its results: the list reads only that. The
    closing is audited (``backtest.end``) by ``actor`` (none: the process's user, a look that
    found another process's backtest abandoned) in the same transaction."""
    now = datetime.now(UTC)
    summary = summary_of(results)
    with db.unit_of_work() as session:
        claimed = cursor_result(session.execute(
            update(Backtest).where(Backtest.id == backtest_id, Backtest.status == "running")
            .values(status=status, results=results, summary=summary, message=message,
                    finished_at=now))).rowcount
        if claimed:
            AuditLog(db).append(actor or os_user(), AuditAction.BACKTEST_END, "backtest", backtest_id,
                                {"status": status, "message": message, "days": summary["days"],
                                 "final_equity": [[name, plain(Decimal(amount))] for name, amount in summary["final_equity"]]},
                                session=session)
    if not claimed:
        return False
    if status != "done":
        _close_open_work(db, backtest_id, status, message)
    return True


def close_failed_run(db, run_id: int, reason: str) -> None:
    """A rebalance's run whose execution failed, closed FAILED with the reason unless it ended
    already (its orders final, the run rolled up): a refused preview keeps its run QUEUED for the
    next preview of the day, which a backtest never makes."""
    with db.unit_of_work() as session:
        session.execute(update(TradeRun).where(TradeRun.id == run_id, TradeRun.status.in_(_OPEN_RUN))
                        .values(status=RunStatus.FAILED, message=reason[:2000], ended_at=datetime.now(UTC)))


def close_leftovers(db, backtest_id: int) -> None:
    """A backtest closed by another look while its process still ran (``heartbeat.ClosedElsewhere``):
    what that process opened since, closed by it with the row's status and reason."""
    with db.session() as session:
        status, message = session.execute(select(Backtest.status, Backtest.message)
                                          .where(Backtest.id == backtest_id)).one()
    if status not in ("running", "done"):
        _close_open_work(db, backtest_id, status, message)


def _close_open_work(db, backtest_id: int, status: str, message: str | None) -> None:
    why = f"backtest {backtest_id} {status}" + (f": {message}" if message else "")
    runs = _open_runs(db, backtest_id)  # read first: canceling their orders rolls them up
    _cancel_open_orders(db, backtest_id, why)
    run_status = RunStatus.CANCELED if status == "canceled" else RunStatus.FAILED
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        for i in range(0, len(runs), 500):
            session.execute(update(TradeRun).where(TradeRun.id.in_(runs[i:i + 500]))
                            .values(status=run_status, message=why[:2000], ended_at=now))


def close_abandoned(db, *, stale_after: timedelta = STALE_AFTER) -> list[ClosedBacktest]:
    """Every backtest still ``running`` whose process is gone, closed as failed
    (``close_backtest``): one on this machine whose process is known to have ended, or one whose
    process cannot be seen from here (another machine) and whose heartbeat is older than
    ``stale_after``. One whose process lives is left as it is; so is one whose process cannot be
    told and that has no heartbeat (a row of a version before heartbeats: every backtest writes
    one from its start), unless it began over ``UNTOLD_AFTER`` ago: such a row stayed
    ``running`` for ever before. The backtests this look closed (not those another look closed
    first)."""
    with db.session() as session:
        rows = session.execute(select(Backtest.id, Backtest.host, Backtest.pid, Backtest.process_key,
                                      Backtest.heartbeat_at, Backtest.created_at).where(Backtest.status == "running")).all()
    closed: list[ClosedBacktest] = []
    now = datetime.now(UTC)
    for backtest_id, host, pid, key, heartbeat, created in rows:
        if holder_gone(host, key):
            why = f"the process running it ended (pid {pid} on {host or socket.gethostname()})"
        elif holder_alive(key) is None and heartbeat is not None and now - heartbeat > stale_after:
            why = (f"its process on {host} (pid {pid}) stopped answering at {heartbeat:%Y-%m-%d %H:%M:%S} UTC "
                   f"(no heartbeat for over {_minutes(stale_after)})")
        elif holder_alive(key) is None and heartbeat is None and now - created > UNTOLD_AFTER:
            why = (f"it began at {created:%Y-%m-%d %H:%M} UTC under a version of the console that wrote no heartbeat, "
                   f"over {UNTOLD_AFTER.days} day ago, and its process cannot be seen from here")
        else:
            continue
        last = _last_rebalance_day(db, backtest_id)
        message = f"{why} " + (f"after its rebalance of {last.isoformat()}" if last else "before its first rebalance")
        if not close_backtest(db, backtest_id, "failed", {}, message):
            continue  # closed meanwhile (its process's last act, or another look)
        log.warning("backtest %s closed as failed: %s", backtest_id, message)
        closed.append(ClosedBacktest(backtest_id, message))
    _finish_half_closed(db, now - HALF_CLOSED_AFTER)
    return closed


def _finish_half_closed(db, closed_before: datetime) -> None:
    """The runs and orders of a backtest closed (not done) before ``closed_before`` and still
    open: its closer died between the row and them."""
    with db.session() as session:
        owners = set(session.scalars(select(TradeRun.backtest_id).where(
            TradeRun.mode == TradeMode.BACKTEST, TradeRun.status.in_(_OPEN_RUN))))
        owners.discard(None)
        if not owners:
            return
        rows = session.execute(select(Backtest.id, Backtest.status, Backtest.message).where(
            Backtest.id.in_(sorted(owners)), Backtest.status.in_(("canceled", "failed")),
            Backtest.finished_at < closed_before)).all()
    for backtest_id, status, message in rows:
        log.warning("backtest %s: its closer stopped before its runs; closing them now", backtest_id)
        _close_open_work(db, backtest_id, status, message)


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


def _last_rebalance_day(db, backtest_id: int) -> date | None:
    """The simulated day of the backtest's last rebalance stored, None before its first: how far
    the dead process had gone. One seek of ``ix_trade_runs_backtest`` (its runs in id order):
    no other backtest's run is read (it read the params of every newer backtest run, all of
    them for a backtest that died before its first rebalance)."""
    with db.session() as session:
        return session.scalar(select(TradeRun.trade_date).where(TradeRun.backtest_id == backtest_id)
                              .order_by(TradeRun.id.desc()).limit(1))


def _open_runs(db, backtest_id: int) -> list[int]:
    """The backtest's rebalance runs still queued or running: among the open backtest runs
    (``ix_trade_runs_status_mode``: few, whereas a long backtest has thousands of its own)."""
    with db.session() as session:
        rows = session.execute(select(TradeRun.id, TradeRun.backtest_id).where(
            TradeRun.mode == TradeMode.BACKTEST, TradeRun.status.in_(_OPEN_RUN))).all()
    return [run_id for run_id, owner in rows if owner == backtest_id]


def _cancel_open_orders(db, backtest_id: int, why: str) -> None:
    account_prefix = f"{BACKTEST_ACCOUNT_PREFIX}{backtest_id}-"
    with db.session() as session:
        open_orders = list(session.scalars(select(TradeOrder.client_order_id).where(
            TradeOrder.status.not_in(list(TERMINAL_ORDER_STATES)),
            TradeOrder.account.startswith(account_prefix, autoescape=True))))
    if open_orders:
        EventProjection(db).write([ReconciledStatus(coid, "Cancelled", message=why[:2000], payload={"backtest": backtest_id})
                                   for coid in open_orders], changes=False)
