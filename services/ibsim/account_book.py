"""One managed account's ledger: cash per currency, positions, the positions books they come
from and the day's P&L baseline.

A login may manage several accounts (managedAccounts "DU1111111,DU2222222"); each is its own
ledger, as at IB: an order placed for an account is valued, filled and booked in that account
only. Every account starts with ``SimConfig.initial_cash`` unless ``SimConfig.account_cash``
names its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from services.core.positions_book import PositionBook, PositionState  # pure: the one positions book
from services.ibsim.model import ZERO, SimPosition
from services.ibsim.pnl import DayBook


@dataclass(slots=True)
class AccountBook:
    cash: Decimal  # in the base currency
    fx_cash: dict[str, Decimal] = field(default_factory=dict)  # other currencies, from forex trades
    positions: dict[str, SimPosition] = field(default_factory=dict)  # what IB reports, from the books below
    books: dict[str, PositionBook] = field(default_factory=dict)
    day: DayBook = field(default_factory=DayBook)

    def credit(self, currency: str, amount: Decimal, base_currency: str) -> None:
        if currency == base_currency:
            self.cash += amount
        else:
            self.fx_cash[currency] = self.fx_cash.get(currency, ZERO) + amount

    def held(self) -> dict[str, Decimal]:
        return {s: p.quantity for s, p in self.positions.items() if p.quantity}

    def apply_execution(self, symbol: str, con_id: int, exec_id: str, signed: Decimal, price: Decimal,
                        commission: Decimal) -> Decimal | None:
        """Book an execution (or a correction of one) in the symbol's positions book (IB's
        average-cost method, docs/ib-average-cost.md); returns the P&L it realised, None for an
        opening fill."""
        book = self.books.get(symbol)
        if book is None:
            pos = self.positions.get(symbol)
            opening = PositionState(pos.quantity, pos.avg_cost, pos.realized_pnl) if pos is not None else None
            book = self.books[symbol] = PositionBook(opening)  # a loaded state file starts from its position
        pos = self.positions.setdefault(symbol, SimPosition(symbol=symbol, con_id=con_id))
        realized = book.execution(exec_id, signed, price, commission)
        state = book.state
        pos.quantity, pos.avg_cost, pos.realized_pnl = state.quantity, state.average_cost, state.realized_pnl
        return realized

    def start_day(self) -> None:
        """The P&L baseline: the positions held now (the simulator started or loaded its state)."""
        self.day = DayBook.starting_from(self.positions)

    def to_json(self) -> dict:
        return {
            "cash": str(self.cash),
            "fx_cash": {c: str(a) for c, a in self.fx_cash.items()},
            "positions": [p.to_json() for p in self.positions.values()],
        }

    @classmethod
    def from_json(cls, data: dict) -> AccountBook:
        """Also reads the single ledger of a format-1 state file (the same keys at its top)."""
        positions = (SimPosition.from_json(raw) for raw in data["positions"])
        return cls(
            cash=Decimal(data["cash"]),
            fx_cash={c: Decimal(a) for c, a in data.get("fx_cash", {}).items()},
            positions={p.symbol: p for p in positions},
        )
