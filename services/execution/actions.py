"""Order actions: cancel, replace, cancel all, halt / resume, manual order entry.

``OrderActions`` is the one entry point the window's controllers and the CLI commands call. It
composes one part per action over one shared ``ActionContext`` (action_context.py): one order's
cancel (cancel_order.py), Cancel All (cancel_all.py), a manual order's placing (place_order.py)
and a replace (replace_order.py). It holds halt and resume itself: a halt stops the senders,
sets the state and, with ``cancel_all``, calls Cancel All. What each action comes to is a value
of action_outcomes.py.

Each goes through the same rules as a run (live token in live mode, the trading state, the risk
engine for anything that sends or grows an order) and is written to the audit log with the
operating-system user as actor. Cancels are always allowed, HALTED included.
"""

from __future__ import annotations

from decimal import Decimal

from services.audit_actions import AuditAction
from services.core.contracts import ContractSpec
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.repositories import SettingsRepository
from services.domain import OrderRecord, OrderType, Side, TradingState

from .action_context import ActionContext, ActionPart
from .action_outcomes import Canceled, Halted, ReplaceCheck, ReplaceResult
from .audit import audit, os_user
from .cancel_all import SENDERS_TIMEOUT, CancelAll
from .cancel_all_outcome import CanceledOrders
from .cancel_order import CancelOrder
from .errors import Refused
from .halt_unsent import cancel_unsent_of_runs
from .lease import LeaseManager
from .market_health import MarketHealth
from .place_order import PlaceOrder
from .provider import ExecutionProvider
from .replace_order import ReplaceOrder
from .unrecorded import UnrecordedActions
from .writer import EventWriter


class OrderActions(ActionPart):
    """Every order action of the trader, composed of its parts (``canceling``, ``canceling_all``,
    ``placing``, ``replacing``) over one context: what is set here (``writer``,
    ``confirm_timeout``, ``senders_timeout``) holds for every part."""

    def __init__(self, db, provider: ExecutionProvider, writer: EventWriter, service=None, *, actor: str | None = None,
                 confirm_timeout: float = 10.0, health: MarketHealth | None = None, leases: LeaseManager | None = None,
                 senders_timeout: float = SENDERS_TIMEOUT) -> None:
        super().__init__(ActionContext(db, provider, writer, service, actor or os_user(), confirm_timeout,
                                       unrecorded=service.unrecorded if service is not None else UnrecordedActions()))
        self.canceling = CancelOrder(self.context)
        self.canceling_all = CancelAll(self.context, leases or (service.leases if service is not None else LeaseManager(db)),
                                       senders_timeout)
        self.placing = PlaceOrder(self.context, health)
        self.replacing = ReplaceOrder(self.context, self.placing)

    @property
    def senders_timeout(self) -> float:
        """How long Cancel All waits for the senders of other processes."""
        return self.canceling_all.senders_timeout

    @senders_timeout.setter
    def senders_timeout(self, seconds: float) -> None:
        self.canceling_all.senders_timeout = seconds

    async def order(self, order_id: int) -> OrderRecord:
        """The order as the database has it now (what a cancel or replace made of it); ``Missing``
        for an id that is none."""
        return await self._db(self._order, order_id)

    async def cancel(self, order_id: int, live_token: str | None = None, *, wait: bool = False,
                     shown: OrderRecord | None = None) -> Canceled:
        """One order canceled (``CancelOrder.cancel``; ``shown``: as the window shows it)."""
        return await self.canceling.cancel(order_id, live_token, wait=wait, shown=shown)

    async def cancel_all(self, live_token: str | None = None, *, one_by_one: bool = False, wait: bool = False) -> CanceledOrders:
        """Every working order canceled, the senders stopped first (``CancelAll.cancel_all``)."""
        return await self.canceling_all.cancel_all(live_token, one_by_one=one_by_one, wait=wait)

    def global_cancel_also(self) -> str:
        """What the global Cancel All would do beyond the connected account, in words
        (``CancelAll.global_cancel_also``)."""
        return self.canceling_all.global_cancel_also()

    def working_count(self) -> int:
        """How many orders ``cancel_all`` would cancel (``CancelAll.working_count``; blocking)."""
        return self.canceling_all.working_count()

    def placed_by_other_clients(self) -> list[str]:
        """Why one by one cannot cancel each of them another API client id placed
        (``CancelAll.placed_by_other_clients``; blocking)."""
        return self.canceling_all.placed_by_other_clients()

    def cancel_all_question_counts(self) -> tuple[int | None, list[str]]:
        """The window's Cancel All question's counts, None when the database does not answer
        (``CancelAll.question_counts``; blocking)."""
        return self.canceling_all.question_counts()

    def halt_question_count(self) -> int | None:
        """The window's Halt question's count, None when the database does not answer
        (``CancelAll.halt_question_count``; blocking)."""
        return self.canceling_all.halt_question_count()

    def working_at_broker_count(self) -> int:
        """How many of them are at the broker (``CancelAll.working_at_broker_count``; blocking)."""
        return self.canceling_all.working_at_broker_count()

    async def manual_order(self, symbol: str, side: Side | str, quantity: Decimal, order_type: OrderType | str = OrderType.MKT,
                           limit_price: Decimal | None = None, live_token: str | None = None, *, project: str | None = None,
                           client_order_id: str | None = None, contract: ContractSpec | None = None,
                           require_market_health: bool = True, outside_rth: bool = False) -> OrderRecord:
        """One order typed by the trader, checked and sent (``PlaceOrder.manual_order``)."""
        return await self.placing.manual_order(symbol, side, quantity, order_type, limit_price, live_token, project=project,
                                               client_order_id=client_order_id, contract=contract,
                                               require_market_health=require_market_health, outside_rth=outside_rth)

    async def replace(self, order_id: int, quantity: Decimal | None = None, limit_price: Decimal | None = None,
                      live_token: str | None = None, stop_price: Decimal | None = None) -> ReplaceResult:
        """A working order changed in place, or canceled and sent anew (``ReplaceOrder.replace``)."""
        return await self.replacing.replace(order_id, quantity, limit_price, live_token, stop_price)

    async def check_replace(self, order_id: int, quantity: Decimal | None = None, limit_price: Decimal | None = None,
                            stop_price: Decimal | None = None) -> ReplaceCheck:
        """The replace's verdict before it is asked, nothing sent (``ReplaceOrder.check``)."""
        return await self.replacing.check(order_id, quantity, limit_price, stop_price)

    # ------------------------------------------------------------------ halt / resume
    async def halt(self, *, cancel_all: bool = False, live_token: str | None = None, wait: bool = False) -> Halted:
        """``wait``: as ``cancel_all``'s (a command). The Cancel All's outcome is returned, so that
        what it could not cancel is said (it was dropped: ``halt --cancel-all`` exited 0 with
        orders still working at the broker)."""
        self.context.stopping("trading HALTED")  # as a run's sender, a replacement waiting to go stops
        if self.service is not None:
            self.service.stop_sending()  # a run sending right now stops before its next order
        payload = {"cancel_all": cancel_all}
        # the database not answering (or keeping a lock the halt needs): the halt holds here (this
        # process sends nothing) and is written as soon as it can be; the Cancel All still goes
        written, unrecorded = await self.context.unrecorded.write_or_leave(
            "the halt", self._db_detached(self._set_state, TradingState.HALTED, payload),
            lambda late: self._set_state(TradingState.HALTED, {**payload, "recorded_late": late}), halt=True)
        state, unsent = written if written is not None else (TradingState.HALTED, [])
        canceled = await self.cancel_all(live_token, wait=wait) if cancel_all else None
        return Halted(state, canceled, tuple(unsent), unrecorded)

    @property
    def unrecorded(self) -> UnrecordedActions:
        """What a halt or Cancel All left to write when the database answers again."""
        return self.context.unrecorded

    async def resume(self) -> TradingState:
        """ACTIVE again. A halt of this process the database did not answer is written first
        (waited for ``confirm_timeout`` at most): written after the resume, it would undo it.
        Still not written: refused, the halt holding."""
        unrecorded = self.context.unrecorded
        if unrecorded.halt_pending and not await unrecorded.wait_written(self.confirm_timeout):
            raise Refused("resume refused: the halt asked while the database did not answer is not recorded yet; "
                          "resume once it is (the window says 'Recorded now')", code="halt_not_recorded")
        state, _ = await self._db(self._set_state, TradingState.ACTIVE, {})
        return state

    @retry_lock_conflicts  # one unit of work of the database alone
    def _set_state(self, state: TradingState, payload: dict) -> tuple[TradingState, list[str]]:
        """The state set, and (a halt) the runs' orders not sent yet that it canceled."""
        unsent: list[str] = []
        with self.db.unit_of_work() as session:
            settings = SettingsRepository(session)
            before = settings.get_for_update().trading_state
            settings.set_trading_state(state)
            if state is TradingState.HALTED:
                # the runs' orders not sent yet are closed with the halt, in its transaction: never
                # sent automatically after the resume (services/execution/halt_unsent.py)
                unsent = cancel_unsent_of_runs(session)
                payload = {**payload, "unsent_canceled": unsent}
            audit(self.db, self.actor, AuditAction.TRADING_HALT if state is TradingState.HALTED else AuditAction.TRADING_RESUME, "trade_settings", 1,
                  {"from": str(before), "to": str(state), **payload}, session=session)
        return state, unsent
