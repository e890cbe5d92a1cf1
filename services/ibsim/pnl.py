"""reqPnL / reqPnLSingle: daily, unrealized and realized P&L of each of the simulator's accounts.

The trading day starts when the simulator starts (or loads its state): the baseline is the
positions held then, valued at each instrument's reference close (the CLOSE tick), and the
realized P&L booked so far. From there:

* daily P&L of a position = quantity x mark - start quantity x close - cash spent on it today
  (fills and commissions), so the account's daily P&L is the change of its net liquidation value;
* unrealized = (mark - average cost) x quantity, average cost with commissions as IB keeps it;
* realized = what closing fills realized today.

Updates are pushed after fills and price moves, at most one per subscription per turn of the
event loop (TWS sends them about once a second), and only when a value changed.
The handlers below are registered in the simulator's dispatch table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from services.ibsim import messages as m
from services.ibsim.model import ZERO, SimPosition

if TYPE_CHECKING:  # pragma: no cover
    from services.ibsim.base import SimulatorBase
    from services.ibsim.transport import Session

CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class PnLFigures:
    daily: Decimal
    unrealized: Decimal
    realized: Decimal


@dataclass(frozen=True, slots=True)
class SingleFigures:
    position: Decimal
    daily: Decimal
    unrealized: Decimal
    realized: Decimal
    value: Decimal


@dataclass(slots=True)
class DayBook:
    """The start-of-day baseline and today's cash flows per symbol."""

    start_quantity: dict[str, Decimal] = field(default_factory=dict)
    start_realized: dict[str, Decimal] = field(default_factory=dict)
    flows: dict[str, Decimal] = field(default_factory=dict)  # cash paid for the symbol today (negative: received)

    @classmethod
    def starting_from(cls, positions: dict[str, SimPosition]) -> DayBook:
        return cls(
            start_quantity={s: p.quantity for s, p in positions.items()},
            start_realized={s: p.realized_pnl for s, p in positions.items()},
        )

    def record_flow(self, symbol: str, cash_paid: Decimal) -> None:
        self.flows[symbol] = self.flows.get(symbol, ZERO) + cash_paid

    def single(self, symbol: str, position: SimPosition | None, mark: Decimal, close: Decimal) -> SingleFigures:
        quantity = position.quantity if position else ZERO
        avg_cost = position.avg_cost if position else ZERO
        realized_total = position.realized_pnl if position else ZERO
        daily = quantity * mark - self.start_quantity.get(symbol, ZERO) * close - self.flows.get(symbol, ZERO)
        return SingleFigures(
            position=quantity,
            daily=_money(daily),
            unrealized=_money((mark - avg_cost) * quantity),
            realized=_money(realized_total - self.start_realized.get(symbol, ZERO)),
            value=_money(quantity * mark),
        )

    def account(self, positions: dict[str, SimPosition], marks: dict[str, Decimal], closes: dict[str, Decimal]) -> PnLFigures:
        daily = unrealized = realized = ZERO
        for symbol in set(positions) | set(self.start_quantity) | set(self.flows):
            one = self.single(symbol, positions.get(symbol), marks[symbol], closes[symbol])
            daily += one.daily
            unrealized += one.unrealized
            realized += one.realized
        return PnLFigures(daily=daily, unrealized=unrealized, realized=realized)


@dataclass(slots=True)
class PnLSubscriptions:
    """One session's subscriptions: reqId -> account (reqPnL) or (account, conId) (reqPnLSingle),
    with the figures last sent so that unchanged values are not repeated."""

    account: dict[int, str] = field(default_factory=dict)
    single: dict[int, tuple[str, int]] = field(default_factory=dict)
    last_sent: dict[int, tuple] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.account or self.single)

    def cancel(self, req_id: int) -> None:
        self.account.pop(req_id, None)
        self.single.pop(req_id, None)
        self.last_sent.pop(req_id, None)

    def changed(self, req_id: int, figures: tuple) -> bool:
        if self.last_sent.get(req_id) == figures:
            return False
        self.last_sent[req_id] = figures
        return True


# --- request handlers (registered in the simulator's dispatch table) ------------------------------


def req_pnl(sim: SimulatorBase, session: Session, f: list[str]) -> None:
    """reqPnL ``92|reqId|account|modelCode``: pnl (94) now and whenever it changes."""
    req_id, account = int(f[1]), f[2] if len(f) > 2 else ""
    if _account_ok(sim, session, req_id, account):
        session.pnl.account[req_id] = account or sim.config.account
        send_updates(sim, session)


def req_pnl_single(sim: SimulatorBase, session: Session, f: list[str]) -> None:
    """reqPnLSingle ``94|reqId|account|modelCode|conId``: pnlSingle (95) now and whenever it changes."""
    req_id, account, con_id = int(f[1]), f[2], int(f[4] or 0)
    if not _account_ok(sim, session, req_id, account):
        return
    if con_id not in sim._by_con_id:
        session.error(req_id, 200, "No security definition has been found for the request")
        return
    session.pnl.single[req_id] = (account or sim.config.account, con_id)
    send_updates(sim, session)


def cancel_pnl(sim: SimulatorBase, session: Session, f: list[str]) -> None:
    session.pnl.cancel(int(f[1]))


def _account_ok(sim: SimulatorBase, session: Session, req_id: int, account: str) -> bool:
    if account and account not in sim.config.accounts:
        session.error(req_id, 321, f"Error validating request.-'cd' : cause - Account {account} is not managed")
        return False
    return True


def send_updates(sim: SimulatorBase, session: Session) -> None:
    """The current figures of each of the session's subscriptions that changed, each from its
    account's own ledger (account_book.py)."""
    closes = {symbol: instrument.price for symbol, instrument in sim.universe.items()}
    sv = session.server_version
    subscriptions = session.pnl
    for req_id, account in list(subscriptions.account.items()):
        book = sim._account_book(account)  # a managed account (_account_ok)
        total = book.day.account(book.positions, sim._prices, closes)
        if subscriptions.changed(req_id, (total.daily, total.unrealized, total.realized)):
            session.send(m.pnl(req_id, total.daily, total.unrealized, total.realized, server_version=sv))
    for req_id, (account, con_id) in list(subscriptions.single.items()):
        book = sim._account_book(account)
        symbol = sim._by_con_id[con_id].symbol
        one = book.day.single(symbol, book.positions.get(symbol), sim._prices[symbol], closes[symbol])
        if subscriptions.changed(req_id, (one.position, one.daily, one.unrealized, one.realized, one.value)):
            session.send(m.pnl_single(req_id, one.position, one.daily, one.unrealized, one.realized, one.value,
                                      server_version=sv))
