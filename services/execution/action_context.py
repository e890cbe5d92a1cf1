"""What every order action shares: its dependencies, and the few steps they all take.

``OrderActions`` (services.execution.actions) is composed of one part per action: one order's
cancel (cancel_order.py), Cancel All (cancel_all.py), a manual order's placing (place_order.py)
and a replace (replace_order.py). Each part is an ``ActionPart`` over the one ``ActionContext``
of its ``OrderActions``: the database, the broker's provider, the one writer, the trade service,
the actor, the confirm timeout, and the count of this process's halts and Cancel Alls. One
context for all, so that what the composition root or a test sets (the writer, the timeout)
holds for every part, and a halt or Cancel All that one part counts stops an order another part
is waiting to send.

Each action goes through the same rules as a run (live token in live mode, the trading state,
the risk engine for anything that sends or grows an order) and is written to the audit log with
the operating-system user as actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.audit_actions import AuditAction
from services.db.convert import to_order_record
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.repositories import NotFound, OrderRepository, SettingsRepository
from services.domain import OrderRecord, TradeMode, TradingState, is_live_token

from .audit import audit
from .dbcall import db_call, db_call_detached, runs_inline
from .errors import LiveConfirmRequired, Missing, TradingHalted
from .provider import ExecutionProvider
from .unrecorded import UnrecordedActions
from .writer import EventWriter


def check_live_word(provider: ExecutionProvider, live_token: str | None) -> None:
    """An action on a live account needs the word LIVE (the window's dialog, a command's
    ``--live-token``): checked here, in the service layer, whoever asks."""
    if TradeMode(provider.mode) is TradeMode.LIVE and not is_live_token(live_token):
        raise LiveConfirmRequired("live_confirm_required: type LIVE to act on a live account")


@dataclass(eq=False)
class ActionContext:
    """The dependencies and settings the parts of one ``OrderActions`` share."""

    db: Any
    provider: ExecutionProvider
    writer: EventWriter
    service: Any  # the trade service: this process's runs, stopped by a halt or Cancel All (None: none)
    actor: str
    confirm_timeout: float
    # the halts and Cancel Alls of this process so far, and the last one's word: an order of
    # these actions that waits its turn at the pacing limiter is stopped by one made meanwhile
    stops: int = 0
    last_stop: str = ""
    # what a halt or Cancel All could not write while the database did not answer, written when
    # it does (the trade service's, shared with its runs: a halt held here refuses them too)
    unrecorded: UnrecordedActions = field(default_factory=UnrecordedActions)

    def stopping(self, why: str) -> None:
        self.stops += 1
        self.last_stop = why


class ActionPart:
    """One action's part of ``OrderActions``: the shared context, and the steps every action takes
    (the live word, its units of work, the audit entry, the order read, the trading state)."""

    def __init__(self, context: ActionContext) -> None:
        self.context = context

    @property
    def db(self) -> Any:
        return self.context.db

    @property
    def provider(self) -> ExecutionProvider:
        return self.context.provider

    @property
    def writer(self) -> EventWriter:
        return self.context.writer

    @writer.setter
    def writer(self, writer: EventWriter) -> None:
        self.context.writer = writer

    @property
    def service(self) -> Any:
        return self.context.service

    @property
    def actor(self) -> str:
        return self.context.actor

    @property
    def confirm_timeout(self) -> float:
        return self.context.confirm_timeout

    @confirm_timeout.setter
    def confirm_timeout(self, seconds: float) -> None:
        self.context.confirm_timeout = seconds

    async def _db(self, fn, *args, **kwargs):
        return await db_call(runs_inline(self.provider), fn, *args, **kwargs)

    async def _db_detached(self, fn, *args):
        """A step ``UnrecordedActions.write_or_leave`` may leave behind (dbcall.db_call_detached)."""
        return await db_call_detached(runs_inline(self.provider), fn, *args)

    def _check_live(self, live_token: str | None) -> None:
        check_live_word(self.provider, live_token)

    # The database steps of an action are units of work of their own, apart from what goes to the
    # broker: each runs again alone after a lock conflict (services.db.lock_conflicts), never the
    # action, whose cancel or placeOrder is not to be sent twice.
    @retry_lock_conflicts
    def _audit(self, action: AuditAction, entity_id, payload: dict) -> None:
        with self.db.unit_of_work() as session:
            audit(self.db, self.actor, action, "trade_order" if entity_id is not None else "account", entity_id, payload, session=session)

    def _order(self, order_id: int) -> OrderRecord:
        with self.db.session() as session:
            try:
                return to_order_record(OrderRepository(session).get(order_id))
            except NotFound:
                raise Missing(f"order {order_id} does not exist") from None

    def _trading_state(self) -> TradingState:
        with self.db.session() as session:
            return SettingsRepository(session).trading_state()

    async def _ensure_not_halted(self) -> None:
        if self.context.unrecorded.halt_pending or await self._db(self._trading_state) is TradingState.HALTED:
            raise TradingHalted("trading is HALTED: new orders and modifications are blocked")
