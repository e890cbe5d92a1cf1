"""The execution-provider interface: the switch point between brokers (docs/plans.md, plan 002).

A provider connects to one account, places / modifies / cancels orders keyed by our own
``client_order_id`` and answers reconciliation queries. Everything the broker reports arrives
as domain events (``services.execution.events``) on ``provider.events``; the one writer drains
them. A failed query raises ``QueryFailed``: its answer is unknown, never empty.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from services.core.bars import Bar
from services.core.contracts import ContractSpec
from services.domain import OrderType, Side, TradeMode, is_live_token, is_paper_account

from .errors import AccountGuardError, LiveConfirmRequired
from .events import ConnectionEvent, ConnectionState, ExecutionEvent, OpenOrderEvent


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MKT
    limit_price: Decimal | None = None
    tif: str = "DAY"
    contract: ContractSpec | None = None  # None: the US stock ``symbol`` (SMART, USD)
    outside_rth: bool = False  # may fill outside the regular session (IB's outsideRth)
    stop_price: Decimal | None = None  # STP / STP LMT: IB's auxPrice

    @property
    def spec(self) -> ContractSpec:
        return self.contract if self.contract is not None else ContractSpec.of(self.symbol)


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    account: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal  # in the listing's currency
    currency: str = "USD"
    exchange: str = "SMART"  # the listing's market
    con_id: int = 0

    @property
    def key(self) -> str:
        """The listing key (``ContractSpec.key``): same-named listings never merge."""
        return ContractSpec.of(self.symbol, None, self.exchange, None, self.currency).key

    @property
    def spec(self) -> ContractSpec:
        """How to ask for this listing again: a US stock through SMART, another on its market."""
        return ContractSpec.from_key(self.key)


def check_account(mode: TradeMode, account: str, live_token: str | None) -> None:
    """The account guard: paper trades only on DU/DF accounts; live only elsewhere and only
    with the LIVE word. Raises ``Refused`` subclasses (exit code 4)."""
    mode = TradeMode(mode)
    if mode is TradeMode.PAPER:
        if not is_paper_account(account):
            raise AccountGuardError(f"paper mode refuses account {account!r}: not a paper (DU/DF) account")
        return
    if not is_live_token(live_token):
        raise LiveConfirmRequired("live trading needs the confirmation word LIVE")
    if is_paper_account(account):
        raise AccountGuardError(f"live mode refuses account {account!r}: it is a paper account")


ConnectionListener = Callable[[ConnectionEvent], None]
ReconnectHook = Callable[[ConnectionState], Awaitable[None]]


class ExecutionProvider(ABC):
    """What trade runs, reconciliation and order actions need from a broker."""

    events: asyncio.Queue
    account: str
    mode: TradeMode
    state: ConnectionState

    @abstractmethod
    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        """Connection states (plain callback; the GUI adapts it to a Qt signal). Returns an
        unsubscribe function."""

    @abstractmethod
    def add_resync_hook(self, hook: ReconnectHook) -> None:
        """Awaited after every (re)connect and on 1101/1102: reconciliation goes here."""

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def disconnect(self) -> None: ...

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    async def market_prices(self, symbols: Sequence[str | ContractSpec]) -> dict[str, Decimal | None]: ...

    @abstractmethod
    async def net_liquidation(self) -> Decimal | None: ...

    async def buying_power(self) -> Decimal | None:
        """The account's BuyingPower in the base currency (None: not reported; the account-level
        buying-power rule is then not checked)."""
        return None

    async def exchange_rates(self):
        """The account's base currency and the broker's rates (``ib_contracts.FxRates``); a
        provider that cannot tell trades its base currency only."""
        from .ib_contracts import FxRates

        return FxRates()

    async def check_listings(self, specs: Sequence[ContractSpec]) -> None:
        """Raise ``UnknownContract`` naming every listing of ``specs`` the broker knows none of; a
        provider that cannot tell lets each request for it refuse it."""
        return None

    async def daily_bars(self, spec: ContractSpec, first: date, last: date, what_to_show: str = "TRADES") -> list[Bar]:
        """The broker's daily bars of a listing from ``first`` to ``last`` (both included); a
        provider without historical data refuses."""
        from .errors import BrokerError

        raise BrokerError(f"{type(self).__name__} has no historical data", code="no_history")

    @abstractmethod
    async def place_order(self, request: OrderRequest, check: Callable[[], None] | None = None) -> int:
        """Send a new order (after one pacing token); returns the broker's order id. ``check``
        runs right before the order is written, in the same synchronous step (no await in
        between): when it raises, nothing was written (the run's lease, for a run's sender)."""

    @abstractmethod
    async def modify_order(self, client_order_id: str, quantity: Decimal | None, limit_price: Decimal | None,
                           stop_price: Decimal | None = None) -> int:
        """The working order changed in place: each of its new total ``quantity``, ``limit_price``
        and ``stop_price`` (a STP / STP LMT order's trigger, IB's auxPrice); None keeps it."""

    @abstractmethod
    async def cancel_order(self, client_order_id: str, ib_order_id: int | None = None) -> None: ...

    @abstractmethod
    async def cancel_all(self) -> None: ...

    def placing_client(self) -> int | None:
        """The API client id this provider's orders go under (IB lets only that client change or
        cancel an order one by one); None: a broker without client ids."""
        return None

    def login_accounts(self) -> tuple[str, ...]:
        """The accounts of the login this provider trades through, the connected one among them:
        what ``cancel_all`` (IB's global cancel) acts on. A provider of one account: that one."""
        return (self.account,) if self.account else ()

    @abstractmethod
    async def open_orders(self) -> list[OpenOrderEvent]: ...

    @abstractmethod
    async def completed_orders(self) -> list[OpenOrderEvent]: ...

    @abstractmethod
    async def executions(self, since: datetime | None = None) -> list[ExecutionEvent]: ...

    @abstractmethod
    async def positions(self) -> list[BrokerPosition]: ...

    @abstractmethod
    def expect(self, predicate: Callable[[object], bool]) -> asyncio.Future:
        """A future for the first event from now on matching ``predicate``."""

    @abstractmethod
    async def wait_for(self, predicate: Callable[[object], bool], timeout: float) -> object | None:
        """The first event (emitted from now on) matching ``predicate``, or None on timeout."""
