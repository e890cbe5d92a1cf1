"""The state every part of the simulator shares, built from the config.

``IBGatewaySimulator`` (server.py) is assembled from one class per responsibility, each a
subclass of ``SimulatorBase``: transport.py (listener, handshake, framing, sessions), market.py
(prices, quotes, contract lookup, market data), account.py (positions, cash, account values,
their pushes and P&L), orders.py (placing, modifying, cancelling, what-if), matching.py (fills,
executions, commissions), persistence.py (the state and ledger files) and gateway_faults.py
(connectivity lost and restored, data farms, the nightly reset). They read and write the
attributes set here; the methods one part calls on another are declared below for the type
checker only, the parts define them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.core.commissions import FixedCommission as _CommissionModel  # the core's IB commission model
from services.ibsim.account_book import AccountBook
from services.ibsim.config import Faults, SimConfig
from services.ibsim.forex import forex_instruments
from services.ibsim.history import HistoryPacingWatch
from services.ibsim.model import (
    ZERO,
    Instrument,
    SimExecution,
    SimOrder,
    load_universe,
    synthetic_universe,
)
from services.ibsim.state import check_folder

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from services.ibsim.account import AccountSnapshot
    from services.ibsim.requests import ContractRef
    from services.ibsim.transport import Session


class SimulatorBase:
    """The orders and executions of every managed account, a ledger (cash, positions) per
    account; the sessions are the client connections."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        if self.config.fill_mode not in ("instant", "partial"):
            raise ValueError(f"fill_mode must be instant or partial, not {self.config.fill_mode!r}")
        self.faults: Faults = self.config.faults
        self.universe: dict[str, Instrument] = load_universe(self.config.universe_file)
        for key, pair in forex_instruments().items():
            self.universe.setdefault(key, pair)
        self.universe.update(synthetic_universe(self.config.synthetic_symbols))
        self._by_con_id = {i.con_id: i for i in self.universe.values()}
        self._rng = random.Random(self.config.seed)
        self._commission = _CommissionModel()
        self._prices: dict[str, Decimal] = {s: i.price for s, i in self.universe.items()}
        self._sizes: dict[str, tuple[int, int]] = {
            s: (100 * self._rng.randint(1, 20), 100 * self._rng.randint(1, 20)) for s in sorted(self.universe)
        }
        self._volume: dict[str, Decimal] = {s: ZERO for s in self.universe}
        self._orders: dict[int, SimOrder] = {}  # permId -> order, in placement order
        self._order_keys: dict[tuple[int, int], int] = {}  # (clientId, orderId) -> permId
        self._executions: dict[str, SimExecution] = {}  # base execId -> latest revision
        self._ledger: list[dict] = []
        # each managed account's own ledger (cash, positions, P&L), in managedAccounts' order
        self._accounts: dict[str, AccountBook] = {
            account: AccountBook(cash=self.config.starting_cash(account)) for account in self.config.accounts}
        self._next_order_id = self.config.first_order_id
        self._next_perm_id = self.config.first_perm_id
        self._exec_seq = 0
        self._exec_prefix = f"{(self.config.seed * 2654435761 + 0xE0D5) & 0xFFFFFFFF:08x}"
        self._sessions: dict[int, Session] = {}  # clientId -> session (after startApi)
        self._all_sessions: set[Session] = set()
        self._session_tasks: set[asyncio.Task] = set()
        self._tasks: set[asyncio.Task] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        # the account pushes' clock (account.py), apart from ``_tasks`` (the work in progress)
        self._account_clock_task: asyncio.Task | None = None
        self._filling: set[int] = set()  # permIds with a fill task running
        # set: partial fills go on; cleared (hold_partial_fills): each next partial fill waits,
        # so that a test decides when the rest of an order fills instead of racing a timer
        self._fills_flowing = asyncio.Event()
        self._fills_flowing.set()
        # None: commission reports go out with their executions (or ``late_commission``'s delay
        # after them); a list (hold_commission_reports): they wait in it, (recipients, report),
        # until a test releases them, instead of racing a timer
        self._held_commission_reports: list[tuple[list[Session], list[str]]] | None = None
        self._server: asyncio.base_events.Server | None = None
        self._save_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # gateway faults (gateway_faults.py): IB's servers out of reach, broken farms, a reset
        self._connectivity_lost = False
        self._broken_farms: set[str] = set()
        self._reset_task: asyncio.Task | None = None
        self._answering: Session | None = None  # whose request is being answered (not held)
        self.host = ""
        self.port = 0
        self.listeners: list[Callable[[str, dict], None]] = []  # (event, details) for the CLI log
        # other_requests.HistoryRequest, as received (tests count them); the last 1000 only
        self.history_requests: deque = deque(maxlen=1000)
        self.history_pacing = HistoryPacingWatch()  # error 162 pacing violations (Faults.history_pacing)
        self.pacing_disconnects = 0  # connections closed for exceeding the message rate again and again
        self.history_clock: Callable[[], float] = time.monotonic  # its clock (a test shares a fake one)
        for what, path in (("state file", self.config.state_file), ("ledger", self.config.ledger_file)):
            if path:
                check_folder(what, path)
        if self.config.state_file:
            self._load_state()
        for book in self._accounts.values():
            book.start_day()
        self._pnl_scheduled = False

    if TYPE_CHECKING:  # pragma: no cover - defined by the parts named in the module docstring

        def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task: ...  # transport
        async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None: ...  # transport
        def drop_connections(self) -> None: ...  # transport
        def _start_fault_schedule(self) -> None: ...  # gateway_faults
        def _market_data_farm_broken(self) -> bool: ...  # gateway_faults
        def _later(self, delay: float, callback: Callable[[], None]) -> None: ...  # transport
        def _emit(self, event: str, details: dict) -> None: ...  # transport
        def _dispatch(self, session: Session, fields: list[str], now: float) -> None: ...  # server
        async def _random_walk(self, interval: float) -> None: ...  # market
        async def _account_clock(self, interval: float) -> None: ...  # account
        def quote(self, symbol: str) -> tuple[Decimal, Decimal]: ...  # market
        def _resolve_ref(self, ref: ContractRef) -> Instrument | None: ...  # market
        def rate(self, currency: str) -> Decimal: ...  # account
        def _account_book(self, account: str | None = None) -> AccountBook: ...  # account
        def account_snapshot(self, account: str | None = None) -> AccountSnapshot: ...  # account
        def _push_account(self, account: str, symbol: str) -> None: ...  # account
        def _schedule_pnl(self) -> None: ...  # account
        def open_orders(self) -> list[SimOrder]: ...  # orders
        def _recipients(self, order_client_id: int) -> list[Session]: ...  # orders
        def _visible(self, session: Session, order_client_id: int) -> bool: ...  # orders
        def _finish(self, order: SimOrder, status: str, completed_status: str) -> None: ...  # orders
        def _try_match(self, order: SimOrder) -> None: ...  # matching
        def _send_order_update(self, order: SimOrder, with_open_order: bool = False,
                               duplicate: bool = False) -> None: ...  # orders
        def now(self) -> datetime: ...  # hours
        def may_fill_now(self, order: SimOrder) -> bool: ...  # hours
        def _hold_until_open(self, order: SimOrder) -> None: ...  # hours
        def _expire_at_session_end(self, order: SimOrder) -> None: ...  # hours
        def ended_day_orders(self, *, restarted: bool = False) -> list[SimOrder]: ...  # hours
        def expire_orders(self, orders: list[SimOrder]) -> int: ...  # orders
        def send_farm_notices(self, session: Session) -> None: ...  # hours
        def _schedule_save(self) -> None: ...  # persistence
        def save(self) -> None: ...  # persistence
        def _load_state(self) -> None: ...  # persistence
