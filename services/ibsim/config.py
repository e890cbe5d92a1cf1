"""Simulator configuration and fault switches.

Every fault can be switched on for the whole simulator (the ``Faults`` fields) or for some
orders only (``FaultRule``: by symbol, by an ``orderRef`` regular expression, or by a minimum
quantity). ``Faults.for_order`` resolves what applies to one order: later rules win. Faults of
the gateway itself (connectivity, data farms, the nightly reset) are methods of the simulator
(gateway_faults.py) and can be put on a timetable here (``Faults.schedule``, fault_schedule.py).

One rule fault is not a property of the order but of the message: ``lost=N`` discards the first
N matching ``placeOrder`` messages silently, as if lost on the way to the gateway (no status, no
error, no order id used); ``Faults.take_lost`` counts them down.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from services.ibsim.fault_schedule import ScheduledFault

DEFAULT_ACCOUNT = "DU1234567"


@dataclass(frozen=True, slots=True)
class OrderFaults:
    """The faults that apply to one order."""

    ack_delay: float = 0.0  # seconds the order stays PendingSubmit before the first status
    presubmitted: bool = False  # PreSubmitted before Submitted
    duplicate_status: bool = False  # every orderStatus sent twice
    exec_correction: bool = False  # each execution followed by a .02 revision
    late_commission: bool = False  # commission report sent after the later messages
    reject: bool = False  # error 201 instead of accepting
    info_10349: bool = False  # informational 10349 after the acknowledgement
    fill_mode: str | None = None  # instant | partial; None: the simulator's setting


ORDER_FAULT_NAMES = tuple(f.name for f in fields(OrderFaults))


@dataclass(slots=True)
class FaultRule:
    """Overrides for the orders that match every given criterion."""

    overrides: dict
    symbols: frozenset[str] = frozenset()
    order_ref: str | None = None  # regular expression, searched
    min_quantity: Decimal | None = None
    lost: int = 0  # matching placeOrder messages still to discard

    def matches(self, symbol: str, order_ref: str, quantity: Decimal) -> bool:
        if self.symbols and symbol.upper() not in self.symbols:
            return False
        if self.order_ref is not None and not re.search(self.order_ref, order_ref or ""):
            return False
        return self.min_quantity is None or quantity >= self.min_quantity


@dataclass(slots=True)
class Faults:
    """Global switches plus per-order rules. Mutable at run time (``sim.faults``)."""

    ack_delay: float = 0.0
    presubmitted: bool = False
    duplicate_status: bool = False
    exec_correction: bool = False
    correction_price_delta: Decimal = Decimal("0.01")
    late_commission: bool = False
    late_commission_delay: float = 0.2
    # seconds between a cancel's PendingCancel status and its Cancelled (IB confirms a cancel
    # once the exchange has: a command that disconnects at once never sees it)
    cancel_delay: float = 0.0
    info_10349: bool = False
    reject_symbols: set[str] = field(default_factory=set)
    reject_min_quantity: Decimal | None = None
    drop_after_messages: int | None = None  # close each connection after it was sent N messages
    pacing_limit: int = 50  # incoming messages per second before error 100; 0 disables
    # TWS closes the connection of a client that keeps exceeding the rate ("If the 50
    # messages/second rate is exceeded, TWS will eventually close the connection", IB's API
    # docs): the connection is closed at its Nth violation within ``pacing_disconnect_window``
    # seconds, a violation being a run of errors 100 with less than a second between them
    # (one burst); 0 never closes it
    pacing_disconnect_after: int = 5
    pacing_disconnect_window: float = 60.0
    # historical requests per ``history_window`` seconds before error 162 "pacing violation" (with
    # IB's other two rules: no identical request within 15 s, at most 5 per contract in 2 s);
    # 0 disables. IB enforces them strictly for bars of 30 s or less and throttles larger bars
    # softly: by default they apply to bars up to ``history_pacing_bar_seconds``; None: every bar
    # size (``--history-pacing N``, the tests of the console's own pacing of daily bars)
    history_pacing: int = 60
    history_window: float = 600.0
    history_pacing_bar_seconds: int | None = 30
    # IB's market data lines (per account, every client of the gateway together): streaming
    # subscriptions and snapshots not yet ended beyond this get error 101 "Max number of tickers
    # has been reached"; 0 disables. IB refuses them strictly: on by default, at a new account's 100.
    market_data_lines: int = 100
    # listing key -> the IB error answering its streaming requests (market.MARKET_DATA_ERRORS: 354
    # not subscribed, 200 no security definition, 10168, 10197; 10167 is followed by the data)
    market_data_errors: dict[str, int] = field(default_factory=dict)
    # account summary requests taken (the subscription held, as IB holds it) but never answered,
    # the next N of them: an answer lost on the way, which the client asks again for
    account_summary_silent: int = 0
    # seconds a snapshot keeps its line before tickSnapshotEnd (IB: up to about 11 s)
    snapshot_seconds: float = 0.0
    rules: list[FaultRule] = field(default_factory=list)
    # gateway faults at given times (fault_schedule.py); at any time: sim.connectivity_lost() ...
    schedule: list[ScheduledFault] = field(default_factory=list)

    def add_rule(self, *, symbols: set[str] | frozenset[str] | list[str] | None = None, order_ref: str | None = None,
                 min_quantity: Decimal | int | str | None = None, lost: int = 0, **overrides) -> FaultRule:
        unknown = set(overrides) - set(ORDER_FAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown fault{'s' if len(unknown) > 1 else ''}: {', '.join(sorted(unknown))}; known: {', '.join(ORDER_FAULT_NAMES)}")
        rule = FaultRule(
            overrides=dict(overrides),
            symbols=frozenset(s.upper() for s in (symbols or ())),
            order_ref=order_ref,
            min_quantity=None if min_quantity is None else Decimal(str(min_quantity)),
            lost=int(lost),
        )
        self.rules.append(rule)
        return rule

    def take_lost(self, symbol: str, order_ref: str, quantity: Decimal) -> bool:
        """Whether this new order's placeOrder is to be discarded (``lost=N``); counts it."""
        for rule in self.rules:
            if rule.lost > 0 and rule.matches(symbol, order_ref, quantity):
                rule.lost -= 1
                return True
        return False

    def for_order(self, symbol: str, order_ref: str, quantity: Decimal) -> OrderFaults:
        reject = symbol.upper() in self.reject_symbols or (
            self.reject_min_quantity is not None and quantity >= self.reject_min_quantity
        )
        resolved = OrderFaults(
            ack_delay=self.ack_delay,
            presubmitted=self.presubmitted,
            duplicate_status=self.duplicate_status,
            exec_correction=self.exec_correction,
            late_commission=self.late_commission,
            reject=reject,
            info_10349=self.info_10349,
        )
        for rule in self.rules:
            if rule.matches(symbol, order_ref, quantity):
                resolved = replace(resolved, **rule.overrides)
        return resolved


def parse_fault_rule(text: str) -> tuple[dict, dict]:
    """CLI form ``symbol=AAPL,MSFT;ref=^slow-;min_qty=500:ack_delay=1.5,presubmitted``
(``symbol=IBM:lost=1``: the first matching placeOrder is lost).

    Returns (criteria, overrides) for ``Faults.add_rule(**criteria, **overrides)``.
    """
    selector, sep, switches = text.partition(":")
    if not sep:
        raise ValueError(f"fault rule {text!r} needs SELECTOR:FAULTS")
    criteria: dict = {}
    for part in filter(None, selector.split(";")):
        key, _, value = part.partition("=")
        key = key.strip().lower()
        if key in ("symbol", "symbols"):
            criteria["symbols"] = {s.strip().upper() for s in value.split(",") if s.strip()}
        elif key in ("ref", "orderref", "order_ref"):
            criteria["order_ref"] = value
        elif key in ("min_qty", "min_quantity"):
            criteria["min_quantity"] = Decimal(value)
        else:
            raise ValueError(f"unknown selector {key!r} in fault rule {text!r}")
    overrides: dict = {}
    for switch in filter(None, switches.split(",")):
        name, eq, value = switch.partition("=")
        name = name.strip()
        if name == "lost":
            count = int(value) if eq else 1
            if count < 0:
                raise ValueError("lost must be a count of placeOrder messages, 0 or more")
            overrides[name] = count
            continue
        if name not in ORDER_FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join((*ORDER_FAULT_NAMES, 'lost'))}")
        if name == "ack_delay":
            overrides[name] = float(value) if eq else 1.0
        elif name == "fill_mode":
            if value not in ("instant", "partial"):
                raise ValueError("fill_mode must be instant or partial")
            overrides[name] = value
        else:
            overrides[name] = value.lower() not in ("0", "false", "no", "off") if eq else True
    return criteria, overrides


@dataclass(slots=True)
class SimConfig:
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    universe_file: str | Path | None = None  # None: resources/universe.csv
    synthetic_symbols: int = 0  # added to the universe: SYN0001 ... (model.synthetic_universe)
    seed: int = 1
    initial_cash: Decimal = Decimal("1000000")  # every account's starting cash (base currency) ...
    account_cash: dict[str, Decimal] = field(default_factory=dict)  # ... unless named here: account -> its own
    spread: Decimal = Decimal("0.02")  # ask - bid around the mid price
    slippage: Decimal = Decimal("0.01")  # MKT fills at the touch plus this, against the order
    fill_mode: str = "instant"  # instant | partial
    partial_fills: int = 3  # number of fills a partial-mode order is split into
    fill_interval: float = 0.05  # seconds between partial fills
    walk_interval: float | None = None  # seconds between random-walk steps; None: prices stay
    walk_volatility: Decimal = Decimal("0.0005")  # relative step size of the random walk
    # seconds between the account pushes IB makes on its own: every account summary subscription
    # gets the values that changed, every account updates subscriber the values and the portfolio
    # (IB: 3 minutes, fixed); a fill pushes at once anyway. None: on fills only
    account_interval: float | None = 180.0
    state_file: str | Path | None = None
    ledger_file: str | Path | None = None
    first_order_id: int = 1
    first_perm_id: int = 1_000_001
    master_client_id: int = 0  # sees the orders and executions of every client
    margin_ratio: Decimal = Decimal("0.25")  # initial and maintenance margin of stocks
    buying_power_multiplier: Decimal = Decimal("4")
    margin_check: bool = False  # reject (201) orders whose initial margin would exceed the equity
    # The account's base currency and the rates (units of base per unit) IB reports as the
    # ExchangeRate account value; cash and values of listings in other currencies convert at them.
    base_currency: str = "USD"
    fx_rates: dict[str, Decimal] = field(default_factory=lambda: {"EUR": Decimal("1.10"), "GBP": Decimal("1.27")})
    faults: Faults = field(default_factory=Faults)
    # always: open around the clock (demos, tests at any hour); regular: the exchange calendar's
    # sessions (orders outside them held PreSubmitted until the open); closed: never open
    market_hours: str = "always"
    clock: Callable[[], datetime] | None = None  # the simulator's "now" for market hours (tests)

    @property
    def account(self) -> str:
        return self.accounts[0]

    def starting_cash(self, account: str) -> Decimal:
        return self.account_cash.get(account, self.initial_cash)
