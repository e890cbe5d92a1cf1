"""Order builder: turn target weights into the orders that rebalance the current positions.

For every symbol of the snapshot::

    budget          = portfolio_value * (1 - cash_buffer)
    target value    = weight * budget
    target quantity = target value / price, rounded to whole lots (sign of the weight)
    order           = target quantity - current quantity (BUY if positive, SELL if negative)

Rounding is exact: ``divmod`` of Decimals gives the exact integer part and remainder, so no
binary floating point and no 28-digit quotient ever decides a lot. ``nearest`` (the default,
docs/plans.md, plan 000) rounds half up; ``floor`` (docs/plans.md, plan 002) rounds towards zero. Nearest rounding
never spends more than the budget: the gross value of the targets, sum(|target qty| * price),
stays <= budget whenever the gross weight is <= 1 (it always is for a validated snapshot);
when rounding up overshoots, one lot at a time is taken back from the targets that rounded up
most (largest rounded-up value first, then symbol), which brings them back to their floor.

Listings in another currency than the account's base currency: prices are in the listing's
currency, the portfolio value and the budget in the base currency; a lot is worth
``price * lot * rate`` (the broker's rate: base units per unit of the listing's currency, see
``services.core.contracts``), so 10 % of 100,000 USD in SAP at 200 EUR with EURUSD 1.10 is
45 shares, not 50. A listing without a rate is skipped like one without a price (``missing_rate``)
and the risk engine blocks the run. Everything is keyed by the listing key
(``ContractSpec.key``: the bare symbol of a US stock), so a same-named US and EUR listing stay
apart; an :class:`OrderDraft`'s ``notional`` is in the base currency, its prices in the
listing's.

Orders of the project still working at the broker (sent by an earlier run, not yet filled or
canceled) or stored by an earlier run and still to be sent (``working``, listing key -> signed
quantity left to fill) count as if they filled:
the delta is taken from ``positions + working``, so a second run of the same targets the same
day builds nothing more than the difference, never the same orders again (docs/project-books.md).
A draft's ``current_quantity`` is that sum.

Symbols held but absent from the snapshot are sold (or bought back) to zero when
``liquidate_unlisted`` is on; they are left alone otherwise (the default). Orders below
``min_order_value`` are skipped and listed in :attr:`BuildResult.skipped`, as are symbols
without a price (the risk engine blocks a run that has any).

Orders come out sells first, then buys, each by symbol, numbered 1.. in that order; the
``client_order_id`` is a deterministic function of run, symbol, side and that number.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from services.core.contracts import DEFAULT_SEC_TYPE, US_CURRENCY, ContractSpec, MissingRate, rate_to_base
from services.core.typed_numbers import must_be_said
from services.core.wording import grouped
from services.core.wording import price as price_said
from services.domain import OrderType, Side

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)
CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
MAX_CLIENT_ORDER_ID = 40


class Rounding(StrEnum):
    NEAREST = "nearest"
    FLOOR = "floor"


@dataclass(frozen=True, slots=True)
class Target:
    """One row of a snapshot as the builder needs it (SnapshotItem fits this shape)."""

    symbol: str
    weight: Decimal
    price: Decimal | None = None
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    primary_exchange: str = ""

    @property
    def spec(self) -> ContractSpec:
        return ContractSpec(self.symbol, self.sec_type, self.exchange, self.primary_exchange, self.currency)

    @property
    def key(self) -> str:
        return self.spec.key


@dataclass(frozen=True, slots=True)
class OrderDraft:
    sequence: int
    symbol: str
    side: Side
    quantity: Decimal  # > 0
    order_type: OrderType
    limit_price: Decimal | None
    reference_price: Decimal | None  # in the listing's currency
    notional: Decimal | None  # quantity * reference price * fx_rate, in the base currency; market orders too
    current_quantity: Decimal
    target_quantity: Decimal
    target_weight: Decimal | None  # None: held, not in the snapshot (liquidation)
    client_order_id: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    primary_exchange: str = ""
    fx_rate: Decimal = ONE  # base-currency units per unit of ``currency``
    # a ticket's order (services.execution.manual) may carry these; a run's are MKT / LMT, DAY
    stop_price: Decimal | None = None  # STP / STP LMT
    tif: str = "DAY"
    outside_rth: bool = False

    @property
    def spec(self) -> ContractSpec:
        return ContractSpec(self.symbol, self.sec_type, self.exchange, self.primary_exchange, self.currency)

    @property
    def key(self) -> str:
        """The listing key: positions, prices and duplicates go by it. ContractSpec.key's text,
        written out here: a backtest asks it several times per order and building the spec each
        time showed in its profile (tests/core/test_builder.py compares the two)."""
        if self.currency == US_CURRENCY:
            base = self.symbol
        else:
            base = f"{self.symbol}@{self.primary_exchange or self.exchange}:{self.currency}"
        return base if self.sec_type == DEFAULT_SEC_TYPE else f"{base}~{self.sec_type}"

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side is Side.BUY else -self.quantity

    def to_dict(self) -> dict:
        def s(v):
            return None if v is None else str(v)

        extra = {}  # only when set: the plans stored before these existed keep their hashes
        if self.stop_price is not None:
            extra["stop_price"] = s(self.stop_price)
        if self.tif != "DAY":
            extra["tif"] = self.tif
        if self.outside_rth:
            extra["outside_rth"] = True
        return {
            **extra,
            "sequence": self.sequence,
            "symbol": self.symbol,
            "side": str(self.side),
            "quantity": s(self.quantity),
            "order_type": str(self.order_type),
            "limit_price": s(self.limit_price),
            "reference_price": s(self.reference_price),
            "notional": s(self.notional),
            "current_quantity": s(self.current_quantity),
            "target_quantity": s(self.target_quantity),
            "target_weight": s(self.target_weight),
            "client_order_id": self.client_order_id,
            "sec_type": self.sec_type,
            "exchange": self.exchange,
            "currency": self.currency,
            "primary_exchange": self.primary_exchange,
            "fx_rate": s(self.fx_rate),
        }


@dataclass(frozen=True, slots=True)
class SkippedSymbol:
    symbol: str  # the listing key
    reason: str  # "missing_price" | "missing_rate" | "below_min_order_value"
    message: str  # names the symbol first ("AAPL: no price"): shown as it is


@dataclass(frozen=True, slots=True)
class BuildParams:
    portfolio_value: Decimal
    cash_buffer: Decimal = ZERO  # ratio of the portfolio value kept as cash
    lot_size: Decimal = ONE
    lot_sizes: Mapping[str, Decimal] = field(default_factory=dict)  # per symbol, overrides lot_size
    rounding: Rounding = Rounding.NEAREST
    min_order_value: Decimal = ZERO
    order_type: OrderType = OrderType.MKT
    limit_offset_bps: Decimal = ZERO  # LMT: BUY at ref * (1 + bps), SELL at ref * (1 - bps)
    liquidate_unlisted: bool = False
    run_id: str | int = "P"  # "P": a preview, no run yet
    installation: str = ""  # the database's installation id: client order ids differ between databases
    base_currency: str = "USD"  # of the portfolio value
    fx_rates: Mapping[str, Decimal] = field(default_factory=dict)  # currency -> base units per unit

    def __post_init__(self) -> None:
        if OrderType(self.order_type) not in (OrderType.MKT, OrderType.LMT):
            raise ValueError(f"a run's orders are MKT or LMT, got {self.order_type} (stop orders go through the order ticket)")
        # said as every typed bound is (must_be_said): the preview form, --lot-size and the
        # backtest show these words; they said "lot size must be > 0, got 0" where the form's own
        # check said "Lot size must be positive."
        if not (self.portfolio_value >= 0):
            raise ValueError(must_be_said(self.portfolio_value, "a number >= 0", name="portfolio value"))
        if not (0 <= self.cash_buffer < 1):
            raise ValueError(must_be_said(self.cash_buffer, "a ratio from 0 to below 1", name="cash buffer"))
        for symbol, lot in (("", self.lot_size), *self.lot_sizes.items()):
            of = f" of {symbol}" if symbol else ""
            if not (lot > 0):
                raise ValueError(must_be_said(lot, "a number > 0", name=f"lot size{of}"))
            # orders are in whole shares (the API refuses fractional ones): the command line, the
            # backtest and the window's preview all ask this of the builder
            if lot != lot.to_integral_value():
                raise ValueError(must_be_said(lot, "a whole number", name=f"lot size{of}"))
        if not (self.min_order_value >= 0):
            raise ValueError(must_be_said(self.min_order_value, "a number >= 0", name="min order value"))
        if self.limit_offset_bps < 0 or self.limit_offset_bps >= BPS:
            raise ValueError(must_be_said(self.limit_offset_bps, f"a number from 0 to below {BPS}",
                                          name="limit offset (bps)"))

    @property
    def budget(self) -> Decimal:
        return self.portfolio_value * (ONE - self.cash_buffer)


BUILDER_KEYS = ("cash_buffer", "lot_size", "rounding", "min_order_value", "order_type", "limit_offset_bps",
                "liquidate_unlisted")  # what a run's ``builder`` parameters may set


def builder_defaults() -> dict[str, Any]:
    """The builder's own default for each parameter a run may set (``BUILDER_KEYS``): what the
    window's preview fields and the commands' options start from, so that a preview left at its
    defaults builds the same orders in both."""
    return {f.name: f.default for f in fields(BuildParams) if f.name in BUILDER_KEYS}


def given_builder(values: Mapping[str, Any]) -> dict[str, Any]:
    """The run's ``builder`` parameters among what a trader gave (the window's Preview form, the
    commands' builder options under the builder's names, a value stored with a run): each of
    ``BUILDER_KEYS`` that has a value, a number or a name as its text, yes / no as a bool; the
    rest (the portfolio value beside them) is not a builder parameter. The window, the commands
    and the run's stored parameters each had their own list of keys or reading."""
    return {key: value if isinstance(value, bool) else str(value)
            for key in BUILDER_KEYS if (value := values.get(key)) is not None}


def params_from(given: Mapping[str, Any], *, portfolio_value: Decimal, run_id: str | int = "P", installation: str = "",
                base_currency: str | None = None, fx_rates: Mapping[str, Decimal] | None = None) -> BuildParams:
    """The builder's parameters from a run's ``builder`` values (numbers as Decimal or their text,
    the rounding and the order type by name; another key or a None is not a parameter): the one
    reading of them, for the trade service and the offline preview alike."""
    kwargs: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        if key in ("cash_buffer", "lot_size", "min_order_value", "limit_offset_bps"):
            kwargs[key] = Decimal(str(value))
        elif key == "rounding":
            kwargs[key] = Rounding(value)
        elif key == "order_type":
            kwargs[key] = OrderType(value)
        elif key == "liquidate_unlisted":
            kwargs[key] = bool(value)
    # an offset a market order would silently ignore: refused, not dropped (the trader asked for
    # a price the orders would not have; the window's form sends none for MKT)
    offset = kwargs.get("limit_offset_bps", ZERO)
    if kwargs.get("order_type", OrderType.MKT) == OrderType.MKT and offset != 0:
        raise ValueError(f"a limit offset ({offset} bps) is for LMT orders: MKT orders would ignore it "
                         "(choose LMT, or a limit offset of 0)")
    if base_currency is not None:
        kwargs["base_currency"] = base_currency
    if fx_rates:
        kwargs["fx_rates"] = dict(fx_rates)
    return BuildParams(portfolio_value=portfolio_value, run_id=run_id, installation=installation, **kwargs)


@dataclass(frozen=True, slots=True)
class BuildResult:
    orders: tuple[OrderDraft, ...]
    targets: Mapping[str, Decimal]  # listing key -> target quantity (after the budget fix)
    skipped: tuple[SkippedSymbol, ...]
    budget: Decimal
    target_value: Decimal  # sum(|target qty| * price * rate), <= budget for gross weight <= 1

    @property
    def unpriced_symbols(self) -> tuple[str, ...]:
        """Listings that cannot be valued in the base currency (no price, or no rate)."""
        return tuple(s.symbol for s in self.skipped if s.reason in ("missing_price", "missing_rate"))


# ---------------------------------------------------------------------------------------------


_UNSAFE = re.compile(r"[^A-Z0-9.]")


def client_order_id(run_id: str | int, symbol: str, side: Side, sequence: int, installation: str = "") -> str:
    """Short ASCII id, unique per (database, run, symbol, side, sequence), usable as IB ``orderRef``.

    ``TC<installation>.<run>-<seq>-<B|S>-<SYMBOL>-<hash6>`` (without an installation id, the
    format of the first versions: ``TC<run>-...``); the hash covers the raw inputs so that
    symbols that sanitise alike ("BRK B", "BRK/B") still differ. At most 40 characters.
    Run 1 of one database and run 1 of another (same account) differ by the installation id.
    """
    run = _UNSAFE.sub("", str(run_id).upper())[:10] or "X"
    return _client_order_id(run, str(run_id), symbol, side, sequence, installation)


def _client_order_id(run: str, raw_run: str, symbol: str, side: Side, sequence: int, installation: str = "") -> str:
    sym = symbol if symbol.isalnum() and symbol.isupper() and len(symbol) <= 12 else (_UNSAFE.sub("", symbol.upper())[:12] or "X")
    seed = f"{raw_run}|{symbol}|{side}|{sequence}" + (f"|{installation}" if installation else "")
    digest = hashlib.sha1(seed.encode()).hexdigest()[:6].upper()
    side_letter = "B" if side is Side.BUY else "S"
    if installation:
        # The digest (which covers everything) is kept whole; the readable head is cut instead.
        prefix = _UNSAFE.sub("", installation.upper())[:8]
        head = f"TC{prefix}.{run}-{sequence}-{side_letter}-{sym[:8]}"
        return f"{head[:MAX_CLIENT_ORDER_ID - len(digest) - 1]}-{digest}"
    text = f"TC{run}-{sequence}-{side_letter}-{sym}-{digest}"
    return text[:MAX_CLIENT_ORDER_ID]


def limit_price_for(side: Side, reference: Decimal, offset_bps: Decimal) -> Decimal:
    """Reference +/- bps, on the US tick grid (0.01 from 1 USD, 0.0001 below), rounded towards
    the reference so the offset is never exceeded."""
    if side is Side.BUY:
        raw = reference * (BPS + offset_bps) / BPS
        tick = CENT if raw >= ONE else SUB_PENNY
        return raw.quantize(tick, rounding=ROUND_FLOOR)
    raw = reference * (BPS - offset_bps) / BPS
    tick = CENT if raw >= ONE else SUB_PENNY
    return raw.quantize(tick, rounding=ROUND_CEILING)


def held_as_if_filled(positions: Mapping[str, Decimal], working: Mapping[str, Decimal] | None) -> Mapping[str, Decimal]:
    """What a project holds once its ``working`` orders fill: the one sum the builder rebalances
    from and the project's risk rules measure (``positions`` itself when nothing is working)."""
    if not working:
        return positions
    out = dict(positions)
    for key, quantity in working.items():
        out[key] = out.get(key, ZERO) + quantity
    return out


def _as_target(item) -> Target:
    if isinstance(item, Target):
        return item
    return Target(
        symbol=item.symbol,
        weight=item.weight,
        price=getattr(item, "price", None),
        sec_type=getattr(item, "sec_type", "STK"),
        exchange=getattr(item, "exchange", "SMART"),
        currency=getattr(item, "currency", "USD"),
        primary_exchange=getattr(item, "primary_exchange", "") or "",
    )


def _below_min_said(symbol: str, qty: Decimal, price: Decimal, min_value: Decimal) -> str:
    """"JPM: 10 x 221.07 is below 3,000": the numbers as the preview's table and the blotter write
    them (wording.grouped, wording.price). A held quantity comes back from the database as
    ``10.000000`` and read so beside a computed "20"."""
    return f"{symbol}: {grouped(qty)} x {price_said(price)} is below {grouped(min_value)}"


def build_orders(
    targets: Iterable,
    params: BuildParams,
    *,
    prices: Mapping[str, Decimal] | None = None,
    positions: Mapping[str, Decimal] | None = None,
    working: Mapping[str, Decimal] | None = None,
) -> BuildResult:
    """Rebalance ``positions`` (listing key -> signed quantity) towards ``targets``, the
    project's ``working`` orders (listing key -> signed quantity left) counted as if they filled.

    ``targets`` are :class:`Target` or anything with ``symbol`` and ``weight`` (and optional
    ``price``, ``sec_type``, ``exchange``, ``primary_exchange``, ``currency``), e.g. snapshot
    items. A price in ``prices`` (listing key -> price in the listing's currency) wins over the
    target's own price.
    """
    prices = prices or {}
    positions = held_as_if_filled(positions or {}, working)
    budget = params.budget
    lot_default = params.lot_size
    lot_sizes = params.lot_sizes
    nearest = params.rounding is Rounding.NEAREST or params.rounding == "nearest"

    skipped: list[SkippedSymbol] = []
    # Per priced target: target, price, lot, signed lots, rounded-up value (or None), lot value, rate
    planned: list[list] = []
    spent = ZERO
    for item in targets:
        t = _as_target(item)
        symbol = t.key
        price = prices.get(symbol) or t.price
        if not price or price <= 0:
            if t.weight or positions.get(symbol):
                skipped.append(SkippedSymbol(symbol, "missing_price", f"{symbol}: no price"))
            continue
        try:
            rate = rate_to_base(t.currency, params.fx_rates, params.base_currency)
        except MissingRate as exc:
            if t.weight or positions.get(symbol):
                skipped.append(SkippedSymbol(symbol, "missing_rate", f"{symbol}: {exc}"))
            continue
        lot = lot_sizes.get(symbol, lot_default)
        weight = t.weight
        lot_value = price * rate * lot
        lots, rest = divmod(abs(weight) * budget, lot_value)
        rounded_up = None
        if nearest and rest and rest + rest >= lot_value:
            lots += 1
            rounded_up = lot_value - rest
        spent += lots * lot_value
        planned.append([t, price, lot, -lots if weight < 0 else lots, rounded_up, lot_value, rate])

    if nearest and spent > budget:
        ups = sorted((p for p in planned if p[4] is not None), key=lambda p: (-p[4], p[0].key))
        for p in ups:
            if spent <= budget:
                break
            p[3] += -1 if p[3] > 0 else 1  # one lot towards zero: back to its floor
            spent -= p[5]

    listed: set[str] = set()
    orders: list[tuple] = []  # (side, key, qty, current, target, weight, price, t, rate)
    min_value = params.min_order_value
    target_quantities: dict[str, Decimal] = {}
    for t, price, lot, lots, _up, _lv, rate in planned:
        symbol = t.key
        listed.add(symbol)
        target_qty = lots * lot
        target_quantities[symbol] = target_qty
        current = positions.get(symbol, ZERO)
        delta = target_qty - current
        if not delta:
            continue
        qty = abs(delta)
        if min_value and qty * price * rate < min_value:
            skipped.append(SkippedSymbol(symbol, "below_min_order_value", _below_min_said(symbol, qty, price, min_value)))
            continue
        orders.append((Side.BUY if delta > 0 else Side.SELL, symbol, qty, current, target_qty, t.weight, price, t, rate))
    for item in skipped:
        listed.add(item.symbol)

    if params.liquidate_unlisted:
        for symbol, current in positions.items():
            if not current or symbol in listed:
                continue
            target_quantities[symbol] = ZERO
            price = prices.get(symbol)
            if not price or price <= 0:
                skipped.append(SkippedSymbol(symbol, "missing_price", f"{symbol}: no price to liquidate"))
                continue
            held = ContractSpec.from_key(symbol)
            try:
                rate = rate_to_base(held.currency, params.fx_rates, params.base_currency)
            except MissingRate as exc:
                skipped.append(SkippedSymbol(symbol, "missing_rate", f"{symbol}: {exc}"))
                continue
            qty = abs(current)
            if min_value and qty * price * rate < min_value:
                skipped.append(SkippedSymbol(symbol, "below_min_order_value", _below_min_said(symbol, qty, price, min_value)))
                continue
            target = Target(held.symbol, ZERO, None, held.sec_type, held.exchange, held.currency, held.primary_exchange)
            orders.append((Side.SELL if current > 0 else Side.BUY, symbol, qty, current, ZERO, None, price, target, rate))

    orders.sort(key=lambda o: (o[0] is Side.BUY, o[1]))
    lmt = params.order_type == OrderType.LMT
    order_type = OrderType(params.order_type)
    bps = params.limit_offset_bps
    raw_run = str(params.run_id)
    run = _UNSAFE.sub("", raw_run.upper())[:10] or "X"
    drafts = []
    for seq, (side, _key, qty, current, target_qty, weight, price, t, rate) in enumerate(orders, start=1):
        drafts.append(
            OrderDraft(
                seq, t.symbol, side, qty, order_type,
                limit_price_for(side, price, bps) if lmt else None,
                price, qty * price * rate, current, target_qty, weight,
                _client_order_id(run, raw_run, t.symbol, side, seq, params.installation),
                t.sec_type, t.exchange, t.currency, t.primary_exchange, rate,
            )
        )
    return BuildResult(tuple(drafts), target_quantities, tuple(skipped), budget, spent)
