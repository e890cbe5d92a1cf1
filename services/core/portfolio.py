"""Portfolio: positions per (project, account, symbol) from fills, cash, equity, snapshots.

Average-cost method as IB reports it: the average cost of a long position includes the buy
commissions (cost basis = price * qty + commission); for a short one it is the sale price net
of commissions. Closing (part of) a position realises ``(price - average cost) * closed qty``
(sign-adjusted for shorts) minus the closing commission. A fill larger than the position
reverses it through zero: the closing part realises P&L, the rest opens a new position at the
fill price; the fill's commission is split between the two in proportion to their quantities.

A commission that arrives after its fill (IB sends commissionReport later, matched by execId)
goes through :meth:`Portfolio.apply_commission`: it is charged to realized P&L and cash (the
position's average cost is not rewritten after the fact).

Cash is per (project, account): a BUY pays price * qty + commission, a SELL receives
price * qty - commission. Equity = cash + sum(quantity * mark) (the average cost when a
position has no mark yet). Quantities are exact; average costs carry Decimal's 28 digits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from services.domain import FillRecord, PositionRecord, Side

ZERO = Decimal(0)

PositionKey = tuple[int | None, str, str]  # (project_id, account, symbol)
CashKey = tuple[int | None, str]


@dataclass(frozen=True, slots=True)
class Fill:
    symbol: str
    side: Side
    quantity: Decimal  # > 0
    price: Decimal
    commission: Decimal | None = None  # None: not reported yet
    time: datetime | None = None
    project_id: int | None = None
    account: str = ""
    exec_id: str = ""


    @classmethod
    def from_record(cls, record: FillRecord, *, project_id: int | None = None, account: str = "") -> "Fill":
        """A stored fill (``services.domain.FillRecord``) for the book."""
        return cls(record.symbol, record.side, record.quantity, record.price, record.commission, record.fill_time,
                   project_id, account, record.exec_id)


@dataclass(slots=True)
class _Position:
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    commissions: Decimal = ZERO
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    time: datetime
    cash: Decimal
    market_value: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    commissions: Decimal
    positions: tuple[PositionRecord, ...]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Portfolio:
    """Mutable book of positions and cash; reads return immutable records."""

    def __init__(self, cash: Decimal | dict[CashKey, Decimal] = ZERO, *, project_id: int | None = None, account: str = ""):
        self._positions: dict[PositionKey, _Position] = {}
        self._cash: dict[CashKey, Decimal] = {}
        if isinstance(cash, dict):
            self._cash.update(cash)
        elif cash:
            self._cash[(project_id, account)] = Decimal(cash)
        self._marks: dict[str, Decimal] = {}
        self.history: list[PortfolioSnapshot] = []

    # -- updates ---------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> PositionRecord:
        if fill.quantity <= 0:
            raise ValueError(f"fill quantity must be positive, got {fill.quantity}")
        key = (fill.project_id, fill.account, fill.symbol)
        pos = self._positions.setdefault(key, _Position())
        commission = fill.commission or ZERO
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        price = fill.price
        q = pos.quantity

        if q == 0 or (q > 0) == (signed > 0):
            # opening or adding: commission joins the basis (longs pay it, shorts net it)
            new_q = q + signed
            sign = 1 if new_q > 0 else -1
            basis = pos.average_cost * abs(q) + price * abs(signed) + sign * commission
            pos.average_cost = basis / abs(new_q)
            pos.quantity = new_q
        else:
            closing = min(abs(q), abs(signed))
            opening = abs(signed) - closing
            close_commission = commission if opening == 0 else commission * closing / abs(signed)
            open_commission = commission - close_commission
            direction = 1 if q > 0 else -1
            pos.realized_pnl += (price - pos.average_cost) * closing * direction - close_commission
            new_q = q + signed
            pos.quantity = new_q
            if new_q == 0:
                pos.average_cost = ZERO
            elif opening:
                sign = 1 if new_q > 0 else -1
                pos.average_cost = (price * opening + sign * open_commission) / opening
        pos.commissions += commission
        pos.updated_at = fill.time or _now()
        cash_key = (fill.project_id, fill.account)
        self._cash[cash_key] = self._cash.get(cash_key, ZERO) - signed * price - commission
        return self._record(key, pos)

    def apply_commission(self, project_id: int | None, account: str, symbol: str, amount: Decimal, time: datetime | None = None) -> PositionRecord:
        """A commission reported after its fill: realized P&L and cash pay it."""
        key = (project_id, account, symbol)
        pos = self._positions.setdefault(key, _Position())
        pos.realized_pnl -= amount
        pos.commissions += amount
        pos.updated_at = time or _now()
        self._cash[(project_id, account)] = self._cash.get((project_id, account), ZERO) - amount
        return self._record(key, pos)

    def mark(self, symbol: str, price: Decimal) -> None:
        self._marks[symbol] = price

    def mark_many(self, prices: dict[str, Decimal]) -> None:
        self._marks.update(prices)

    def deposit(self, amount: Decimal, project_id: int | None = None, account: str = "") -> None:
        self._cash[(project_id, account)] = self._cash.get((project_id, account), ZERO) + amount

    # -- reads -----------------------------------------------------------------------------

    def _record(self, key: PositionKey, pos: _Position) -> PositionRecord:
        project_id, account, symbol = key
        return PositionRecord(
            project_id=project_id,
            account=account,
            symbol=symbol,
            quantity=pos.quantity,
            average_cost=pos.average_cost,
            realized_pnl=pos.realized_pnl,
            updated_at=pos.updated_at or _now(),
            market_price=self._marks.get(symbol),
        )

    def _selected(self, project_id, account):
        for key, pos in self._positions.items():
            if (project_id is ... or key[0] == project_id) and (account is ... or key[1] == account):
                yield key, pos

    def position(self, symbol: str, project_id: int | None = None, account: str = "") -> PositionRecord | None:
        key = (project_id, account, symbol)
        pos = self._positions.get(key)
        return None if pos is None else self._record(key, pos)

    def positions(self, project_id=..., account=..., *, include_flat: bool = False) -> tuple[PositionRecord, ...]:
        """Positions (``...`` = any project / account), sorted by project, account, symbol."""
        out = [self._record(k, p) for k, p in self._selected(project_id, account) if include_flat or p.quantity]
        return tuple(sorted(out, key=lambda r: (r.project_id or 0, r.account, r.symbol)))

    def quantities(self, project_id=..., account=...) -> dict[str, Decimal]:
        """symbol -> signed quantity (summed over the selection): the builder's input."""
        out: dict[str, Decimal] = {}
        for (_, _, symbol), p in self._selected(project_id, account):
            if p.quantity:
                out[symbol] = out.get(symbol, ZERO) + p.quantity
        return out

    def cash(self, project_id=..., account=...) -> Decimal:
        return sum(
            (v for (p, a), v in self._cash.items() if (project_id is ... or p == project_id) and (account is ... or a == account)),
            ZERO,
        )

    def market_value(self, project_id=..., account=...) -> Decimal:
        total = ZERO
        for (_, _, symbol), p in self._selected(project_id, account):
            if p.quantity:
                total += p.quantity * self._marks.get(symbol, p.average_cost)
        return total

    def realized_pnl(self, project_id=..., account=...) -> Decimal:
        return sum((p.realized_pnl for _, p in self._selected(project_id, account)), ZERO)

    def unrealized_pnl(self, project_id=..., account=...) -> Decimal:
        total = ZERO
        for (_, _, symbol), p in self._selected(project_id, account):
            mark = self._marks.get(symbol)
            if p.quantity and mark is not None:
                total += (mark - p.average_cost) * p.quantity
        return total

    def commissions(self, project_id=..., account=...) -> Decimal:
        return sum((p.commissions for _, p in self._selected(project_id, account)), ZERO)

    def equity(self, project_id=..., account=...) -> Decimal:
        return self.cash(project_id, account) + self.market_value(project_id, account)

    def snapshot(self, time: datetime | None = None, project_id=..., account=...) -> PortfolioSnapshot:
        """Positions and equity now; appended to :attr:`history`."""
        snap = PortfolioSnapshot(
            time=time or _now(),
            cash=self.cash(project_id, account),
            market_value=self.market_value(project_id, account),
            equity=self.equity(project_id, account),
            realized_pnl=self.realized_pnl(project_id, account),
            unrealized_pnl=self.unrealized_pnl(project_id, account),
            commissions=self.commissions(project_id, account),
            positions=self.positions(project_id, account),
        )
        self.history.append(snap)
        return snap

    @classmethod
    def from_fills(cls, fills: Iterable[Fill], cash: Decimal = ZERO, **kwargs) -> "Portfolio":
        book = cls(cash, **kwargs)
        for fill in fills:
            book.apply_fill(fill)
        return book
