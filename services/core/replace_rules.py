"""Whether a working order may be replaced with a new quantity, limit and/or stop price: one rule for
the replace dialog (which says it as the trader types) and the order actions (which refuse it
before the risk check and the broker), so that the two can never disagree; and the rules it
shares with the order ticket (``services.execution.manual``): whole shares, prices on the
listing's tick grid. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from services.core.inputs import PRICE_WHOLE_DIGITS, QUANTITY_WHOLE_DIGITS
from services.core.typed_numbers import NotANumber, must_be_said, not_a_number_said, plain, typed_decimal
from services.core.wording import replaced_to
from services.domain import WORKING_ORDER_STATES, OrderRecord, OrderState, OrderType

PENDING = (OrderState.CANCEL_REQUESTED, OrderState.REPLACE_REQUESTED, OrderState.SENDING)
NOTHING_CHANGED = "nothing changed"  # the replace asked is the order as it stands


def order_digits(name: str) -> int:
    """What an order's ``name`` column keeps (quantity, else a price): below 1e<this>."""
    return QUANTITY_WHOLE_DIGITS if name == "quantity" else PRICE_WHOLE_DIGITS


def too_large_problem(name: str, value: Decimal | None) -> str | None:
    """Why an order's ``name`` (quantity, limit price, stop price) cannot be stored: a finite
    number too large for its column (the ticket, ``order``, ``replace`` and the replace dialog).
    None when it fits or is not given."""
    if value is None or not value.is_finite() or not value:
        return None
    digits = order_digits(name)
    if abs(value).adjusted() >= digits:
        return f"{name} {value} is too large: an order's {name} must be below 1e{digits}"
    return None


def on_grid(value: Decimal, tick: Decimal) -> bool:
    return value % tick == 0


def stepped_price(price: Decimal, tick: Decimal, ticks: int) -> Decimal | None:
    """``price`` moved ``ticks`` up or down the grid of ``tick`` (the ticket's price keys); a
    price off the grid moves onto it first. None: no step, or one to zero or below."""
    if not ticks:
        return None
    units = price / tick
    base = units.to_integral_value(ROUND_CEILING if ticks > 0 else ROUND_FLOOR)
    if base != units:  # off the grid: the first step is onto it
        ticks -= 1 if ticks > 0 else -1
    stepped = (base + ticks) * tick
    return stepped if stepped > 0 else None


# How far from the market the ticket suggests a stop: 1 % on the side a stop guards (below for a
# SELL, above for a BUY). At the market price itself (as before) a stop triggers the moment it
# arrives; a few ticks away it triggers on the next wiggle of the spread (AAPL's 0.02 spread is two
# ticks). 1 % is a tight protective stop a trader moves from, never one that fires at once.
STOP_DISTANCE = Decimal("0.01")


def suggested_stop(side: str, market: Decimal | None, tick: Decimal) -> Decimal | None:
    """The stop price the order ticket starts a ``side`` stop at: ``STOP_DISTANCE`` of the market
    on the side a stop guards, at least one tick, on the grid of ``tick`` and rounded away from
    the market (a SELL's stop below, a BUY's above: 229.33 gives 227.03 and 231.63). None without
    a market price, or when a SELL's would be zero or below."""
    if market is None or market <= 0 or tick <= 0:
        return None
    away = max(market * STOP_DISTANCE, tick)
    if str(side).upper() == "SELL":
        stop = ((market - away) / tick).to_integral_value(ROUND_FLOOR) * tick
        return stop if stop > 0 else None
    return ((market + away) / tick).to_integral_value(ROUND_CEILING) * tick


# How far beyond its stop the ticket suggests a STP LMT's limit: 0.5 % of the stop (half the
# stop's own distance from the market), on the far side of it from the market (a SELL's below the
# stop, a BUY's above). The limit started at the market price, on the near side: a SELL's limit
# above its stop, so once the stop triggered (the market fallen to it) the limit order waited for
# the price to climb back, and the protection never filled. At the stop itself it fills only if
# the market trades there once more after the trigger; 0.5 % beyond leaves room for the slippage a
# triggered stop meets (the next prints, a spread of a few ticks), and still caps how far from the
# stop the trader sells or buys: that cap is what a stop limit is for.
STOP_LIMIT_ROOM = Decimal("0.005")


def suggested_stop_limit(side: str, stop: Decimal | None, tick: Decimal) -> Decimal | None:
    """The limit price the order ticket starts a ``side`` STP LMT at, from its ``stop``:
    ``STOP_LIMIT_ROOM`` of the stop beyond it, at least one tick, on the grid of ``tick`` and
    rounded further from the stop (a SELL's below it, a BUY's above: a stop 227.03 gives 225.89,
    231.63 gives 232.79). None without a stop, or when a SELL's would be zero or below."""
    if stop is None or stop <= 0 or tick <= 0:
        return None
    room = max(stop * STOP_LIMIT_ROOM, tick)
    if str(side).upper() == "SELL":
        limit = ((stop - room) / tick).to_integral_value(ROUND_FLOOR) * tick
        return limit if limit > 0 else None
    return ((stop + room) / tick).to_integral_value(ROUND_CEILING) * tick


def off_grid_problem(listing: str, name: str, value: Decimal | None, tick: Decimal | None) -> str | None:
    """Why a ``name`` price (limit, stop) of ``listing`` cannot go to IB: off the tick grid (IB
    refuses it, error 110). None when it is on the grid, not given, or the tick is not known."""
    if value is None or tick is None or on_grid(value, tick):
        return None
    below = (value / tick).to_integral_value(ROUND_FLOOR) * tick
    return f"{listing}: {name} price {value} is not on the {tick} tick grid (nearest: {below} or {below + tick})"


@dataclass(frozen=True, slots=True)
class ReplacedOrder:
    """What a replace makes of an order: its new total quantity, limit and stop."""

    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None


def replaced_order(order: OrderRecord, quantity: Decimal | None, limit_price: Decimal | None,
                   stop_price: Decimal | None = None) -> ReplacedOrder:
    """``order`` after a replace with ``quantity``, ``limit_price`` and ``stop_price``, each not
    given (None) being the order's own, and a stop only of an order that has one (``replace_problem``
    refuses a stop for any other): one rule for what the order actions check, send and say
    (ReplaceResult) and what the window's LIVE confirmation says the order becomes."""
    stop = (order.stop_price if stop_price is None else stop_price) if order.order_type.has_stop else None
    return ReplacedOrder(order.quantity if quantity is None else quantity,
                         order.limit_price if limit_price is None else limit_price, stop)


def replace_becomes(order: OrderRecord, quantity: Decimal | None, limit_price: Decimal | None,
                    stop_price: Decimal | None = None) -> str:
    """What the order becomes, in the words of the replace's own line (ReplaceResult.headline):
    ``15 @ 229.50``, ``15 stop 180.00 limit 179.50``."""
    new = replaced_order(order, quantity, limit_price, stop_price)
    return replaced_to(new.quantity, new.limit_price, new.stop_price)


def nothing_to(status: object, action: str) -> str:
    """``the order is FILLED: nothing to cancel``: an order past what ``action`` can change, in
    one wording for a cancel and a replace (a cancel said "order 1 is already FILLED", a replace
    "the order is CANCELED: nothing to replace")."""
    return f"the order is {status}: nothing to {action}"


def state_problem(order: OrderRecord) -> str | None:
    """Why ``order`` cannot be replaced in the state it is in, whatever is typed (final, or a
    request pending); None when its state allows a replace."""
    status = order.status
    if status.is_terminal or status not in WORKING_ORDER_STATES:
        return nothing_to(status, "replace")
    if status in PENDING:
        return f"the order has a request pending ({status})"
    return None


def replace_problem(order: OrderRecord, quantity: Decimal | None, limit_price: Decimal | None,
                    tick: Decimal | None = None, stop_price: Decimal | None = None) -> str | None:
    """Why ``order`` cannot be replaced with ``quantity`` (its new total, None: unchanged),
    ``limit_price`` and ``stop_price`` (a STP / STP LMT order's trigger; None: unchanged) on a
    listing with price grid ``tick`` (None: not known yet; the order actions ask the broker for
    it); None when it can go to the risk check. A new stop is checked as the ticket checks one:
    positive, storable, on the grid."""
    if quantity is None and limit_price is None and stop_price is None:
        return "a replace needs a new quantity, limit price and/or stop price"
    state = state_problem(order)
    if state is not None:
        return state
    kind = order.order_type
    if limit_price is not None and not kind.has_limit:
        if kind is OrderType.MKT:
            return "a market order has no limit price; cancel it and enter a LMT order"
        return f"a {kind} order has no limit price; cancel it and enter a STP LMT order in the order ticket"
    if stop_price is not None and not kind.has_stop:
        return (f"a {kind} order has no stop price to replace; cancel it and enter a STP or STP LMT order "
                "in the order ticket")
    for name, value in (("quantity", quantity), ("limit price", limit_price), ("stop price", stop_price)):
        too_large = too_large_problem(name, value)
        if too_large is not None:
            return too_large
    new_quantity = order.quantity if quantity is None else quantity
    # said as the ticket and `order --quantity` say them (must_be_said): the dialog said "The
    # quantity must be positive." where the ticket said "quantity: must be a number > 0: '0'"
    if new_quantity <= 0:
        return must_be_said(new_quantity, "a number > 0", name="quantity")
    if new_quantity != new_quantity.to_integral_value():
        return must_be_said(new_quantity, "a whole number", name="quantity")
    if new_quantity <= order.filled_quantity:
        return f"the new quantity {plain(new_quantity)} is not above the filled {plain(order.filled_quantity)}"
    for name, value in (("limit", limit_price), ("stop", stop_price)):
        if value is not None and value <= 0:
            return must_be_said(value, "a number > 0", name=f"{name} price")
        grid = off_grid_problem(order.symbol, name, value, tick)
        if grid is not None:
            return grid
    if (new_quantity == order.quantity and (limit_price is None or limit_price == order.limit_price)
            and (stop_price is None or stop_price == order.stop_price)):
        return NOTHING_CHANGED
    return None


@dataclass(frozen=True, slots=True)
class TypedReplace:
    """The replace dialog's fields read: the numbers (None where a field holds none, or the
    stop of an order without one) and why they make no replace (``problem``; "" when they
    make one the rule allows), in a service's words, which the dialog shows as a sentence."""

    quantity: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    problem: str


def _typed_field(name: str, text: str) -> tuple[Decimal | None, str]:
    """A field of the replace dialog read as every typed number is (None and "" when empty)."""
    if not text.strip():
        return None, ""
    try:
        return typed_decimal(text), ""
    except NotANumber as exc:
        return None, not_a_number_said(text, exc.hint, name=name)


def typed_replace(order: OrderRecord, quantity_text: str, limit_text: str, stop_text: str = "") -> TypedReplace:
    """The replace dialog's Quantity, Limit and Stop as typed, read as numbers and then checked
    by ``replace_problem``, so the dialog never accepts what the order actions refuse, and a field
    that holds no number said as every number field says it (``quantity: not a number: 'abc'``,
    the comma's reason with it): the dialog said "Quantity must be a number." of its own. A limit
    or stop field cleared is asked for, not read as "unchanged"; the Stop of an order without
    one is not read."""
    quantity, problem = _typed_field("quantity", quantity_text)
    if quantity is None:
        return TypedReplace(None, None, None, problem or "a replace needs a quantity")
    limit, problem = _typed_field("limit", limit_text)
    if problem:
        return TypedReplace(None, None, None, problem)
    if order.order_type.has_limit and limit is None:
        return TypedReplace(None, None, None, "a limit order needs a limit price")
    stop: Decimal | None = None
    if order.order_type.has_stop:
        stop, problem = _typed_field("stop", stop_text)
        if problem:
            return TypedReplace(None, None, None, problem)
        if stop is None:
            return TypedReplace(None, None, None, "a stop order needs a stop price")
    rule = replace_problem(order, quantity, limit, stop_price=stop)
    if rule is not None:
        return TypedReplace(None, None, None, rule)
    return TypedReplace(quantity, limit, stop, "")
