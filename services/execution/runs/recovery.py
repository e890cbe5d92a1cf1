"""Recovery of orders IB never acknowledged: cancelled at IB, then reconciled before any is called
dead; never resent (docs/ib-notes.md, pitfall 4).

The window, ``recover`` and ``execute --wait-seconds`` use the full auto-recovery service
(services.execution.recovery.AutoRecovery: also NEW orders never sent, and re-placing under the
trade settings' conditions); these two methods stay for their remaining callers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services.core.order_state import EventKind
from services.db.convert import to_order_record
from services.db.models import TradeOrder
from services.db.repositories import OrderRepository, SettingsRepository
from services.domain import EventSource, OrderRecord, OrderState

from ..errors import BrokerError
from ..writer import LocalOrderEvent
from .base import RunServiceBase

log = logging.getLogger(__name__)


class RunRecovery(RunServiceBase):
    """Handles orders left unacknowledged."""

    async def recover_stuck(self, older_than: float | None = None) -> list[str]:
        """Every run's orders still unacknowledged after ``older_than`` seconds (the trade
        settings' ``auto_recovery.new_timeout_seconds`` by default), handled as
        ``recover_unacknowledged`` does; the one entry point for the window's timer and the
        commands. Returns the client order ids handled."""
        if older_than is None:
            older_than = float(await self._db(self._recovery_timeout))
        runs = await self._db(self._runs_with_unacknowledged, older_than)
        handled: list[str] = []
        for run_id in runs:
            handled += await self.recover_unacknowledged(run_id, older_than=older_than)
        return handled

    def _recovery_timeout(self) -> float:
        with self.db.session() as session:
            return float(SettingsRepository(session).auto_recovery()["new_timeout_seconds"])

    def _runs_with_unacknowledged(self, older_than: float) -> list[int]:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        with self.db.session() as session:
            return sorted(set(session.scalars(select(TradeOrder.run_id).where(
                TradeOrder.status == OrderState.SUBMITTED, TradeOrder.run_id.is_not(None),
                TradeOrder.updated_at <= cutoff))))

    async def recover_unacknowledged(self, run_id: int, *, older_than: float | None = None) -> list[str]:
        """Orders still SUBMITTED (no acknowledgement) after ``older_than`` seconds: cancel at IB,
        then reconcile (open orders, completed orders, executions) before calling any of them
        dead. Never resends (docs/ib-notes.md, pitfall 4). Returns the client order ids handled.
        SENDING orders are not this method's: their sender is alive (its own writer moves them on)
        or gone, and then reconciliation decides (services.execution.lease)."""
        limit = older_than if older_than is not None else self.ack_timeout
        cutoff = datetime.now(UTC) - timedelta(seconds=limit)

        def stuck() -> list[OrderRecord]:
            with self.db.session() as session:
                return [to_order_record(o) for o in OrderRepository(session).list(run_id=run_id, status=OrderState.SUBMITTED)
                        if o.updated_at is None or o.updated_at <= cutoff]

        orders = await self._db(stuck)
        for order in orders:
            self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.ACK_TIMEOUT, EventSource.RECOVERY,
                                               message=f"no acknowledgement within {limit:g} s"))
            try:
                await self.provider.cancel_order(order.client_order_id, order.ib_order_id)
            except BrokerError as exc:
                log.warning("cancel of unacknowledged %s failed: %s", order.client_order_id, exc)
        if orders:
            await self.writer.flush()
            await self._db(lambda: self._audit_sync("order.ack_timeout", run_id, {"orders": [o.client_order_id for o in orders]}))
            if self.reconciler is not None:
                await self.reconciler.reconcile()
        return [o.client_order_id for o in orders]
