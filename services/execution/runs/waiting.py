"""Waiting on a run: for its orders to be acknowledged or done, for its fills' commission reports;
looked at again whenever the writer publishes a change that concerns it (and at least every second)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from services.db.models import TradeFill, TradeOrder
from services.domain import OrderState

from .base import RunServiceBase

log = logging.getLogger(__name__)


class RunWaiting(RunServiceBase):
    """Waits on a run's orders and fills."""

    async def wait_acknowledged(self, run_id: int, timeout: float | None = None) -> list[str]:
        """Wait up to the ack timeout; orders still unacknowledged stay SUBMITTED (recovery's job).
        Returns their client order ids."""
        return await self._wait(run_id, timeout if timeout is not None else self.ack_timeout,
                                lambda status: status not in (OrderState.NEW, OrderState.SENDING, OrderState.SUBMITTED), "acknowledged")

    async def wait_done(self, run_id: int, timeout: float, *, while_connected: bool = False) -> list[str]:
        """Wait until every order of the run is final or ``timeout`` passed; returns the ones
        still working. ``while_connected``: stop waiting as soon as the broker connection is
        gone (nothing more can arrive; a headless command does not reconnect)."""
        return await self._wait(run_id, timeout, lambda status: status.is_terminal, "done", while_connected)

    async def wait_commissions(self, run_id: int, timeout: float) -> list[str]:
        """Wait (at most ``timeout`` seconds, and only while connected) until every current fill of
        the run has IB's commission report, which may follow its execution by seconds: a command
        that disconnected at once left them empty until the next reconciliation. Returns the exec
        ids still without one."""
        async def missing() -> list[str]:
            await self.writer.flush()
            return await self._db(self._fills_without_commission, run_id)

        return await self._wait_loop(missing, timeout, lambda cs: bool(cs.fills), f"run {run_id}", "commission reports",
                                     while_connected=True)

    def _fills_without_commission(self, run_id: int) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(
                select(TradeFill.exec_id).join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                .where(TradeOrder.run_id == run_id, TradeFill.commission.is_(None), TradeFill.superseded.is_(False))))

    async def _wait(self, run_id: int, timeout: float, ready, what: str, while_connected: bool = False) -> list[str]:
        async def waiting() -> list[str]:
            return [coid for coid, status in await self._db(self._order_states, run_id) if not ready(status)]

        return await self._wait_loop(waiting, timeout, lambda cs: run_id in cs.runs or bool(cs.orders), f"run {run_id}",
                                     f"orders to be {what}", while_connected=while_connected)

    async def _wait_loop(self, pending, timeout: float, wakes, whose: str, what: str, *, while_connected: bool) -> list[str]:
        """Look at ``pending()`` again whenever the writer publishes a change that ``wakes`` (at
        least every second) until it is empty or ``timeout`` passed; returns what is still
        pending. A database away for a moment is waited out (an error only if still away at the
        end); ``while_connected``: stop as soon as the broker connection is gone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        changed = asyncio.Event()
        unsubscribe = self.writer.subscribe(lambda cs: changed.set() if wakes(cs) else None)
        unsubscribe_connection = (self.provider.subscribe(lambda _ev: changed.set()) if while_connected else None) or (lambda: None)
        try:
            while True:
                changed.clear()
                try:
                    left = await pending()
                except (OperationalError, InterfaceError) as exc:
                    if loop.time() >= deadline:
                        raise
                    log.warning("waiting for %s: database unreachable (%s); still waiting", whose, str(exc).splitlines()[0][:200])
                    left = None
                remaining = deadline - loop.time()
                if left is not None and (not left or remaining <= 0):
                    return left
                if while_connected and not self.provider.is_connected:
                    log.warning("%s: connection gone; stopped waiting for %s (%d left)", whose, what, len(left or ()))
                    return left or []
                try:
                    await asyncio.wait_for(changed.wait(), min(remaining, 1.0))
                except TimeoutError:
                    pass
        finally:
            unsubscribe()
            unsubscribe_connection()
