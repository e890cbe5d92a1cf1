"""The one positions book: IB's average-cost method, pure (no database, no broker, no Qt).

The event writer, the IB simulator and the console's portfolio queries all book positions here,
so the database's average cost and realized P&L equal what IB (and the simulator) report. The
method and the IB facts it relies on are in docs/ib-average-cost.md:

* a position's average cost carries its commissions: a buy's commission raises the average
  cost of a long; a short's average cost is its sale price net of the commission;
* closing (part of) a position realises ``(price - average cost) * closed quantity`` (sign
  reversed for a short) minus the closing share of the fill's commission; realized P&L is
  therefore net of every commission once the position is flat;
* a fill larger than the position reverses it through zero: its commission is split between
  the closing part (realized) and the opening part (the new average cost) by quantity;
* an execution correction (same base execId, higher revision after the last dot) replaces the
  earlier revision; an older revision arriving late changes nothing;
* a commission reported late (commissionReport after execDetails, matched by execId) is booked
  as if it had been known at the fill: the result equals the one IB computed at the fill.

Numbers are ``Decimal`` and never rounded here (storage rounds to its column's scale).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

ZERO = Decimal(0)

_EXEC_REVISION = re.compile(r"^(?P<base>.+)\.(?P<rev>[0-9A-Fa-f]{1,8})$")


def split_exec_id(exec_id: str) -> tuple[str, int]:
    """IB execution corrections differ after the last dot: ``0001f4e8.6538e7b4.01.01`` ->
    (``0001f4e8.6538e7b4.01``, 1); ``.01.02`` is revision 2. Ids without that shape are their
    own base at revision 1."""
    match = _EXEC_REVISION.match(exec_id)
    if match and match["base"].count(".") >= 1:
        return match["base"], int(match["rev"], 16)
    return exec_id, 1


@dataclass(frozen=True, slots=True)
class PositionState:
    """One position: signed quantity, average cost per share (commissions included), realized
    P&L net of commissions, and the commissions booked so far."""

    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    commissions: Decimal = ZERO

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (mark - self.average_cost) * self.quantity


def _split(held: Decimal, signed: Decimal) -> tuple[Decimal, Decimal]:
    """(closing, opening) quantities of a signed fill against the held quantity."""
    if held == 0 or (held > 0) == (signed > 0):
        return ZERO, abs(signed)
    closing = min(abs(signed), abs(held))
    return closing, abs(signed) - closing


def _commission_split(commission: Decimal, closing: Decimal, opening: Decimal) -> tuple[Decimal, Decimal]:
    if not closing:
        return ZERO, commission
    if not opening:
        return commission, ZERO
    close_part = commission * closing / (closing + opening)
    return close_part, commission - close_part


def apply_fill(state: PositionState, signed_quantity: Decimal, price: Decimal,
               commission: Decimal | None = None) -> tuple[PositionState, Decimal | None]:
    """Book one fill (``signed_quantity`` > 0 buys, < 0 sells). Returns the new state and the
    P&L this fill realised (None when it only opened or added, as IB's commissionReport sends
    no realizedPNL for an opening execution)."""
    if signed_quantity == 0:
        raise ValueError("a fill needs a non-zero quantity")
    commission = commission or ZERO
    held = state.quantity
    closing, opening = _split(held, signed_quantity)
    close_commission, open_commission = _commission_split(commission, closing, opening)
    quantity = held + signed_quantity
    realized = None
    average = state.average_cost
    if closing:
        direction = 1 if held > 0 else -1
        realized = (price - state.average_cost) * closing * direction - close_commission
    if not closing:
        # opening or adding: the commission joins the cost basis (paid on top for a long, off the
        # proceeds for a short)
        sign = 1 if signed_quantity > 0 else -1
        basis = state.average_cost * abs(held) + price * abs(signed_quantity) + sign * commission
        average = basis / abs(quantity)
    elif quantity == 0:
        average = ZERO
    elif opening:  # reversed through zero: the rest opens at the fill price plus its commission share
        sign = 1 if quantity > 0 else -1
        average = price + sign * open_commission / opening
    return PositionState(quantity, average, state.realized_pnl + (realized or ZERO), state.commissions + commission), realized


def apply_late_commission(state: PositionState, signed_quantity: Decimal, amount: Decimal) -> PositionState:
    """A commission (or a change of it) for the LAST fill booked on ``state``: the same result as
    if the fill had been booked with it (the split between closing and opening is recovered from
    the quantity before that fill). For an earlier fill, replay with :class:`PositionBook`."""
    if not amount:
        return state
    held_before = state.quantity - signed_quantity
    closing, opening = _split(held_before, signed_quantity)
    close_part, open_part = _commission_split(amount, closing, opening)
    average = state.average_cost
    if open_part and state.quantity:
        sign = 1 if state.quantity > 0 else -1
        average = average + sign * open_part / abs(state.quantity)
    return PositionState(state.quantity, average, state.realized_pnl - close_part, state.commissions + amount)


def apply_truth(state: PositionState, quantity: Decimal, average_cost: Decimal) -> PositionState:
    """IB's account position (reconciliation) where it differs from ours: its quantity and average
    cost win; the realized P&L and commissions booked stay ours (IB's position answer carries
    neither)."""
    return replace(state, quantity=quantity, average_cost=average_cost)


@dataclass(frozen=True, slots=True)
class BookedFill:
    exec_id: str
    signed_quantity: Decimal
    price: Decimal
    commission: Decimal | None = None  # None: not reported yet


class PositionBook:
    """One position's executions in arrival order (the latest revision of each base execId) and
    the state after each; a correction or a late commission of an earlier execution replays from
    that execution on, one of the last execution costs nothing more than the fill itself."""

    def __init__(self, opening: PositionState | None = None) -> None:
        self._opening = opening or PositionState()
        self._fills: list[BookedFill] = []
        self._states: list[PositionState] = []
        self._realized: list[Decimal | None] = []
        self._index: dict[str, int] = {}  # base execId -> position in _fills
        self._revision: dict[str, int] = {}

    @classmethod
    def replay(cls, fills: Iterable[BookedFill], opening: PositionState | None = None) -> PositionBook:
        book = cls(opening)
        for fill in fills:
            book.execution(fill.exec_id, fill.signed_quantity, fill.price, fill.commission)
        return book

    @property
    def state(self) -> PositionState:
        return self._states[-1] if self._states else self._opening

    @property
    def fills(self) -> tuple[BookedFill, ...]:
        return tuple(self._fills)

    def execution(self, exec_id: str, signed_quantity: Decimal, price: Decimal, commission: Decimal | None = None) -> Decimal | None:
        """Book an execution (or a correction of one). Returns the P&L it realised; a duplicate
        or an older revision changes nothing and returns what the booked revision realised."""
        base, revision = split_exec_id(exec_id)
        fill = BookedFill(exec_id, signed_quantity, price, commission)
        at = self._index.get(base)
        if at is not None:
            if revision <= self._revision[base]:
                return self._realized[at]
            self._fills[at] = fill
            self._revision[base] = revision
            self._recompute(at)
            return self._realized[at]
        self._index[base] = len(self._fills)
        self._revision[base] = revision
        self._fills.append(fill)
        state, realized = apply_fill(self.state, signed_quantity, price, commission)
        self._states.append(state)
        self._realized.append(realized)
        return realized

    def commission(self, exec_id: str, amount: Decimal) -> bool:
        """A commissionReport: books the commission of that exact execution (a report for a
        revision that was superseded is ignored). Returns whether it was booked."""
        base, _ = split_exec_id(exec_id)
        at = self._index.get(base)
        if at is None or self._fills[at].exec_id != exec_id:
            return False
        if self._fills[at].commission != amount:
            self._fills[at] = replace(self._fills[at], commission=amount)
            self._recompute(at)
        return True

    def _recompute(self, start: int) -> None:
        state = self._states[start - 1] if start else self._opening
        for i in range(start, len(self._fills)):
            fill = self._fills[i]
            state, realized = apply_fill(state, fill.signed_quantity, fill.price, fill.commission)
            self._states[i] = state
            self._realized[i] = realized
