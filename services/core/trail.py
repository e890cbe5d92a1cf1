"""The decision trail of one preview, as plain values: what the signals were, why each order
exists (or why a symbol got none), and every risk rule's answer.

Pure functions of what the builder and the risk engine were given and produced, so live
previews and a backtest record the same trail (``services.db.repositories.trail`` stores it;
the plan's audit entry carries its hash). Quantities and prices stay Decimal.

An order decision per symbol: the snapshot's targets, the listings held, and what the builder
made of them::

    raw quantity = weight * budget / (price * rate)     (unrounded, signed)
    target       = raw quantity rounded to lots         (the builder's; after the budget fix)
    rounding     = target - raw quantity                (what rounding added or took away)
    delta        = target - current

``action`` is ``buy`` / ``sell`` (an order, with its sequence and client order id), ``skip``
(the builder's reason: missing_price, missing_rate, below_min_order_value), ``hold`` (at target
already, or held but not in the snapshot while liquidate_unlisted is off).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.core.contracts import ContractSpec, MissingRate, rate_to_base

from .builder import BuildParams, BuildResult, OrderDraft, Target, held_as_if_filled
from .typed_numbers import plain

ZERO = Decimal(0)
QUANTITY_PLACES = Decimal("0.000001")  # the quantity columns' scale


# not frozen: a frozen dataclass's __init__ (object.__setattr__ per field) cost four times a plain
# one, and a backtest builds a quarter of a million trail records; made once, then only stored
@dataclass(slots=True)
class SignalRecord:
    """A snapshot row as the preview saw it: its weight, score and rank, and the price used."""

    symbol: str  # the listing key
    weight: Decimal
    score: Decimal | None = None
    rank: int | None = None
    snapshot_price: Decimal | None = None
    price: Decimal | None = None  # the reference price the builder used (None: none)


@dataclass(slots=True)  # not frozen: see SignalRecord
class OrderDecision:
    symbol: str  # the listing key
    action: str  # buy | sell | skip | hold
    reason: str  # order | at_target | not_in_snapshot | liquidate | the builder's skip reason
    message: str = ""
    target_weight: Decimal | None = None
    raw_quantity: Decimal | None = None
    target_quantity: Decimal | None = None
    current_quantity: Decimal = ZERO
    delta: Decimal | None = None
    rounding: Decimal | None = None
    rounding_mode: str = ""
    price: Decimal | None = None
    fx_rate: Decimal | None = None
    sequence: int | None = None
    client_order_id: str | None = None


def signal_records(items: Iterable[Mapping], prices: Mapping[str, Decimal]) -> list[SignalRecord]:
    """``items``: the snapshot rows as dicts (symbol, weight, score, rank, price, listing fields)."""
    out = []
    for item in items:
        key = ContractSpec(item["symbol"], item.get("sec_type") or "STK", item.get("exchange") or "SMART",
                           item.get("primary_exchange") or "", item.get("currency") or "USD").key
        score = item.get("score")
        out.append(SignalRecord(key, Decimal(str(item["weight"])), None if score is None else Decimal(str(score)),
                                item.get("rank"), None if item.get("price") is None else Decimal(str(item["price"])),
                                prices.get(key)))
    return out


def _rate(currency: str, params: BuildParams) -> Decimal | None:
    try:
        return rate_to_base(currency, params.fx_rates, params.base_currency)
    except MissingRate:
        return None


def order_decisions(targets: Iterable[Target], params: BuildParams, *, prices: Mapping[str, Decimal],
                    positions: Mapping[str, Decimal], result: BuildResult,
                    working: Mapping[str, Decimal] | None = None) -> list[OrderDecision]:
    """One decision per symbol of the snapshot or held, in the builder's order (orders by
    sequence first, then the others by symbol). ``working``: the project's orders still working
    that the builder counted as filled: the current quantity is the book's plus theirs (what the
    delta was taken from) and the message says how much of it is in orders not yet filled (said
    so, not "working": they may be unsent orders of another run, not at the broker yet)."""
    working = working or {}
    positions = held_as_if_filled(positions, working)
    orders = {o.key: o for o in result.orders}
    skipped = {s.symbol: s for s in result.skipped}
    listed: dict[str, Target] = {}
    for t in targets:
        listed.setdefault(t.key, t)
    keys = list(dict.fromkeys([*listed, *(k for k, q in positions.items() if q), *result.targets, *skipped]))
    mode = str(params.rounding)
    decided: list[OrderDecision] = []
    for key in keys:
        target = listed.get(key)
        current = positions.get(key, ZERO)
        weight = target.weight if target is not None else None
        price = prices.get(key) or (target.price if target is not None else None)
        rate = _rate(target.currency if target is not None else ContractSpec.from_key(key).currency, params)
        raw = None
        if weight is not None and price and rate:
            raw = (weight * result.budget / (price * rate)).quantize(QUANTITY_PLACES)
        target_qty = result.targets.get(key)
        rounding = None if raw is None or target_qty is None else target_qty - raw
        delta = None if target_qty is None else target_qty - current
        held = (f"{plain(current)} held ({_signed(working[key])} of it in orders not yet filled, counted as filled)"
                if working.get(key) else f"{plain(current)} held")
        decision = OrderDecision(key, "hold", "at_target", f"{key}: {held} is the target", target_weight=weight,
                                 raw_quantity=raw, target_quantity=target_qty, current_quantity=current, delta=delta,
                                 rounding=rounding, rounding_mode=mode if raw is not None else "", price=price, fx_rate=rate)
        order = orders.get(key)
        if order is not None:
            decision.action, decision.reason = str(order.side).lower(), "order" if target is not None else "liquidate"
            decision.message = f"{order.side} {plain(order.quantity)} to move {plain(current)} -> {plain(order.target_quantity)}" + (
                f" ({_signed(working[key])} of {plain(current)} in orders not yet filled, counted as filled)"
                if working.get(key) else "")
            decision.sequence, decision.client_order_id = order.sequence, order.client_order_id
        elif key in skipped:
            decision.action, decision.reason, decision.message = "skip", skipped[key].reason, skipped[key].message
        elif target is None:
            decision.reason = "not_in_snapshot"
            decision.message = f"{key}: held, not in the snapshot (liquidate_unlisted is off)"
        decided.append(decision)
    decided.sort(key=lambda d: (d.sequence is None, d.sequence or 0, d.symbol))
    return decided


def _signed(quantity: Decimal) -> str:
    """A quantity with its sign, as ``plain`` writes it: "+44", "-5"."""
    return ("+" if quantity > 0 else "") + plain(quantity)


def ticket_decision(draft: OrderDraft) -> OrderDecision:
    """A ticket's one order as its run's trail records it (services.execution.manual): the
    trader's own quantity, no weight and no rounding, from the project's book as the ticket's
    check saw it (``current_quantity``) to where the order takes it."""
    delta = draft.signed_quantity
    return OrderDecision(
        draft.key, str(draft.side).lower(), "ticket",
        f"{draft.side} {plain(draft.quantity)} by ticket to move {plain(draft.current_quantity)} -> "
        f"{plain(draft.current_quantity + delta)}",
        target_quantity=draft.current_quantity + delta, current_quantity=draft.current_quantity, delta=delta,
        price=draft.reference_price, fx_rate=draft.fx_rate, sequence=draft.sequence, client_order_id=draft.client_order_id)
