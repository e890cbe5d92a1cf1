"""What an order is worth, as the risk rules measure it and the order ticket says it.

One reading of an order's money: :func:`order_value` (what it can cost: the buying power's
figure), :func:`order_size` (what the order-size cap, max_order_notional, measures), the whole
shares an amount trades (:func:`shares_for_amount`), and the words that state them to a trader
(:func:`value_words`, :func:`plan_value_rows`). Market orders are valued at their reference
price, limit orders at their limit; values are in the account's base currency (an order's prices
convert at the draft's ``fx_rate``).

Apart from the rules (``services.core.risk_rules``) because the order ticket
(``services.execution.manual``) and a run's LIVE confirmation (``services.execution.runs.records``)
state these figures without checking any rule: the trader reads the figure the rules judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

from services.domain import OrderType, Side

from .builder import OrderDraft
from .wording import counted
from .wording import price as price_text

ZERO = Decimal(0)


def order_value(order: OrderDraft) -> Decimal | None:
    """What an order can cost, in the base currency: a limit order (STP LMT too) at its limit, a
    stop order at its stop price (or the reference when that is further away), a market order at
    its reference. The one value of an order's money: the rules measure it (the account's
    buying power; max_order_notional through ``order_size``, which takes a sell limit under the
    market at the market) and the order ticket shows it (``order_value_bound`` says how it
    bounds the money; a limit the market is through adds the market's value), so the trader
    reads the figure the rules judged (the ticket said a buy limit below the market at the
    market's price: more than it can cost)."""
    if order.order_type.has_limit and order.limit_price is not None:
        return order.quantity * order.limit_price * order.fx_rate
    if order.order_type is OrderType.STP and order.stop_price is not None:
        stop_value = order.quantity * order.stop_price * order.fx_rate
        return stop_value if order.notional is None else max(stop_value, order.notional)
    return order.notional


def order_size(order: OrderDraft) -> Decimal | None:
    """What the order-size cap (max_order_notional) measures: ``order_value``, but a sell at a
    limit below the market at its market value. A sell limit fills at its limit or better, so
    the limit bounds what it gets from below only: 10,000 shares with a limit of 0.01 on a
    100 USD stock measured 100.00 and sells about 1,000,000 at the market. (The buying power
    keeps ``order_value``: a sell's lower bound is the prudent one there.)"""
    value = order_value(order)
    if order.side is Side.SELL and order.notional is not None and (value is None or order.notional > value):
        return order.notional
    return value


def shares_for_amount(amount: Decimal, one_share: OrderDraft) -> Decimal | None:
    """The whole shares an amount of money (base currency) trades: as many as keep the order's
    size, as the order-size cap measures it (``order_size``, of ``one_share``: the order for one
    share), at most the amount. A limit order is so turned at its limit, not at the market: a buy
    limit for 10,000 USD at 101 with the market at 100 was 100 shares, "at most 10,100.00 USD at
    the limit" and measured above a 10,000 cap; a sell limit under the market at the market. So
    the amount bounds every figure the ticket states of the order (``value_words``). None when
    one share has no value (no price)."""
    per_share = order_size(one_share)
    if per_share is None or per_share <= 0:
        return None
    return (amount / per_share).to_integral_value(ROUND_FLOOR)


def order_value_bound(order: OrderDraft) -> str:
    """How ``order_value`` bounds the money the order trades, in a ticket's words: a limit fills
    at the limit or better, so a buy's value at its limit is "at most" what it pays and a sell's
    "at least" what it gets; an order valued at a price of the moment (market, stop) is "about"."""
    if order.order_type.has_limit and order.limit_price is not None:
        return "at most" if order.side is Side.BUY else "at least"
    return "about"


def value_words(orders: Sequence[OrderDraft], currency: str | None) -> str:
    """What orders of one side are worth as the risk rules measured them (``order_value``), said
    with how that bounds the money (``order_value_bound``): ``at most 1,005.00 USD at the limit``,
    ``about 1,000.00 USD`` at a price of the moment. Limits the market is already through fill
    near the market: their value there is said beside (a sell limit under the market is what
    max_order_notional measures, ``order_size``). One order reads as the ticket states it, several
    as a plan's LIVE confirmation does ("at their limits"). "" when no order has a value (no
    price)."""
    if len({o.side for o in orders}) > 1:
        raise ValueError("value_words takes the orders of one side (a buy's limit bounds from above, a sell's from below)")
    unit = f" {currency}" if currency else ""
    limits = [o for o in orders if o.order_type.has_limit and o.limit_price is not None]
    others = [o for o in orders if not (o.order_type.has_limit and o.limit_price is not None)]
    parts = []
    if limits:
        one = len(limits) == 1
        at_limits = sum((order_value(o) or ZERO for o in limits), ZERO)
        words = f"{order_value_bound(limits[0])} {at_limits:,.2f}{unit} at {'the limit' if one else 'their limits'}"
        through = any(o.reference_price is not None and o.limit_price is not None
                      and o.side.sign * (o.limit_price - o.reference_price) > 0 for o in limits)
        if through and all(o.notional is not None for o in limits):
            at_market = sum((o.notional or ZERO for o in limits), ZERO)
            where = f" {price_text(limits[0].reference_price)}" if one and limits[0].reference_price is not None else ""
            words += f" (about {at_market:,.2f} at the market{where})"
        parts.append(words)
    values = [v for v in (order_value(o) for o in others) if v is not None]
    if values:
        # beside limits: the market orders' part, which no limit bounds
        parts.append(f"about {sum(values, ZERO):,.2f}{'' if parts else unit}{' at the market' if parts else ''}")
    return ", and ".join(parts)


def plan_value_rows(orders: Sequence[OrderDraft], currency: str | None) -> tuple[tuple[str, str], ...]:
    """(label, text) rows saying what a plan's buys and sells are worth as the risk rules measured
    them (``value_words``), for the LIVE confirmation beside its gross notional at the reference
    prices: a plan of limit orders is judged at its limits, and the word was typed under a figure
    the rules did not measure."""
    rows = []
    for side, label in ((Side.BUY, "Buys"), (Side.SELL, "Sells")):
        of_side = [o for o in orders if o.side is side]
        words = value_words(of_side, currency) if of_side else ""
        if words:
            rows.append((label, f"{counted(len(of_side), 'order')}: {words}"))
    return tuple(rows)
