"""Fill prices and commissions of the simulated broker: ``--fill close|next-open``,
``--slippage-bps N`` and ``--commission none | per-share=R,min=M,max-pct=P | ib-fixed | ib-tiered``
(the IB models of ``services.core.commissions``; ``per-share`` is the fixed model with its own
numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from services.core.commissions import ZERO, CommissionModel, FixedCommission, TieredCommission
from services.core.trading_hours import next_session
from services.core.typed_numbers import NotANumber, must_be_said, not_a_number_said, typed_decimal
from services.core.wording import grouped, price_places, shared_places
from services.core.wording import price as price_text
from services.domain import OrderType, Side

from .prices import PriceBook

BPS = Decimal(10_000)
HUNDRED = Decimal(100)
MAX_SLIPPAGE_BPS = BPS  # a whole price: a sale would fill at nothing, or below


class FillAt(StrEnum):
    CLOSE = "close"  # the snapshot day's close
    NEXT_OPEN = "next-open"  # the next trading day's open


def fill_session(trade_day: date, fill: FillAt) -> date:
    """The session a market order of ``trade_day`` fills in: that day (its close), or the next
    session (its open; the session the backtest's walk opens next, a 29 February or a Friday
    included)."""
    return trade_day if fill is FillAt.CLOSE else next_session(trade_day)


@dataclass(frozen=True, slots=True)
class NoCommission:
    def commission(self, quantity: Decimal, price: Decimal, *, monthly_volume: Decimal = ZERO,
                   side: Side | None = None) -> Decimal:
        return ZERO


def parse_commission(spec: str) -> CommissionModel:
    """The model a ``--commission`` text names; ``ValueError`` with the reason otherwise."""
    text = (spec or "").strip().lower()
    if text == "none":
        return NoCommission()
    if text == "ib-fixed":
        return FixedCommission()
    if text == "ib-tiered":
        return TieredCommission()
    if text.startswith("per-share="):
        parts: dict[str, str] = {}
        for item in text.split(","):
            name, sep, value = item.partition("=")
            if not sep or name.strip() not in ("per-share", "min", "max-pct"):
                raise ValueError(f"commission {spec!r}: {item!r} is not per-share=R, min=M or max-pct=P")
            if name.strip() in parts:  # min=1,min=2: which one was meant is not for us to pick
                raise ValueError(f"commission {spec!r}: {name.strip()} is given twice")
            parts[name.strip()] = value.strip()
        try:
            numbers = {k: typed_decimal(v) for k, v in parts.items()}
        except NotANumber:
            raise ValueError(f"commission {spec!r}: the rates must be numbers") from None
        if any(not v.is_finite() or v < 0 for v in numbers.values()):
            raise ValueError(f"commission {spec!r}: the rates must be zero or positive")
        return FixedCommission(per_share=numbers["per-share"], minimum=numbers.get("min", ZERO),
                               max_ratio=numbers.get("max-pct", HUNDRED) / HUNDRED)
    raise ValueError(f"commission {spec!r}: use none, per-share=R[,min=M][,max-pct=P], ib-fixed or ib-tiered")


def simulated_fill(prices: PriceBook, listing: str, day: date, fill: FillAt, side: Side,
                   slippage_bps: Decimal) -> Decimal | None:
    """The simulated fill price of a market order for ``listing`` (a ``ContractSpec.key``: the
    bars of a CAD or EUR listing are not the US symbol's) in session ``day``: the day's close
    (``FillAt.CLOSE``) or its open (``FillAt.NEXT_OPEN``: ``day`` is then the session after the
    order's, ``fill_session``), after slippage. None: the listing has no bar that day. The one
    rule of the backtest's broker and of the TCA's backtest column."""
    bar = prices.close_on(listing, day) if fill is FillAt.CLOSE else prices.open_on(listing, day)
    return None if bar is None else slipped(bar, side, slippage_bps)


def within_limit(side: Side, price: Decimal, limit: Decimal) -> bool:
    """Whether a limit order fills at the simulated ``price`` (``simulated_fill``'s, slippage
    included): at or better than its limit (a buy at or below it, a sale at or above it). The
    daily bar's one price is all the backtest knows of the session: a limit the open or close
    (after slippage) does not reach is not filled, though the day's range may have touched it."""
    return price <= limit if side is Side.BUY else price >= limit


@dataclass(frozen=True, slots=True)
class OrderFill:
    """What the backtest's broker makes of one order in one session."""

    price: Decimal | None  # the fill price, slippage included; None: not filled
    # why a session with a price did not fill it, in words (its limit not reached); None: filled,
    # or the listing has no bar that day (nothing to say beyond the missing bar)
    not_filled: str | None = None


def simulated_order_fill(prices: PriceBook, listing: str, day: date, fill: FillAt, side: Side, slippage_bps: Decimal,
                         order_type: OrderType | str, limit_price: Decimal | None) -> OrderFill:
    """The backtest's fill of an order in session ``day``: ``simulated_fill``'s price, for an
    order with a limit (LMT, STP LMT) only when ``within_limit``. The one rule of the backtest's
    broker (``BacktestBroker._session``) and of the TCA's backtest column, so the column never
    shows a fill the backtest would not have given. An order with a limit type stored without a
    limit fills at the simulated price, as the broker has always filled it."""
    price = simulated_fill(prices, listing, day, fill, side, slippage_bps)
    if price is None or limit_price is None or not OrderType(order_type).has_limit or within_limit(side, price, limit_price):
        return OrderFill(price)
    return OrderFill(None, _beyond_limit(fill, side, price, limit_price, slippage_bps))


def _beyond_limit(fill: FillAt, side: Side, price: Decimal, limit: Decimal, slippage_bps: Decimal) -> str:
    """"the backtest would not have filled it: the close 101.30 after 10 bps of slippage is above
    its limit 101.25". The simulated price to its last digit (up to eight places) when four
    would round it onto the limit ("100.1000 is above its limit 100.10" reads as false)."""
    places = price_places((price,))
    if price.quantize(Decimal(1).scaleb(-places)) == limit:
        places = max(places, shared_places((price,), most=8))
    session = "close" if fill is FillAt.CLOSE else "next open"
    slippage = f" after {grouped(slippage_bps)} bps of slippage" if slippage_bps else ""
    beyond = "above" if side is Side.BUY else "below"
    return (f"the backtest would not have filled it: the {session} {price_text(price, places)}{slippage} "
            f"is {beyond} its limit {price_text(limit)}")


class BadSlippage(ValueError):
    """A typed slippage the simulated fills cannot use, with its reason."""


def slippage_problem(slippage_bps: Decimal, *, typed: object = None, name: str = "--slippage-bps") -> str | None:
    """Why a slippage in bps cannot be used (None: it can), said as every bound is
    (``must_be_said``: ``--slippage-bps: must be a number from 0 to below 10000: '-5'``;
    ``typed`` defaults to the value): a negative one would fill better than the bar, one of
    10,000 bps or more would sell at nothing or below. The command, the panel and the
    backtest's own check said "--slippage-bps '-5' must be >= 0 and < 10000" and "slippage
    10000 bps must be >= 0 and < 10000"."""
    if not slippage_bps.is_finite() or slippage_bps < 0 or slippage_bps >= MAX_SLIPPAGE_BPS:
        return must_be_said(slippage_bps if typed is None else typed, f"a number from 0 to below {MAX_SLIPPAGE_BPS}", name=name)
    return None


def read_slippage_bps(text: str, label: str = "--slippage-bps") -> Decimal:
    """A typed slippage in bps (the backtest's and the TCA's), or ``BadSlippage`` saying why."""
    try:
        value = typed_decimal(str(text))
    except NotANumber as exc:
        raise BadSlippage(not_a_number_said(text, exc.hint, name=label)) from None
    problem = slippage_problem(value, typed=text, name=label)
    if problem is not None:
        raise BadSlippage(problem)
    return value


def slipped(price: Decimal, side: Side, slippage_bps: Decimal) -> Decimal:
    """The fill price after slippage: buys pay more, sales get less."""
    if not slippage_bps:
        return price
    factor = slippage_bps / BPS
    return price * (1 + factor) if side is Side.BUY else price * (1 - factor)
