"""Accounts: positions, cash per currency, exchange rates, the account values and their pushes.

Each managed account is its own ledger (account_book.py): its cash, positions, values and P&L.
Everything is reported in the base currency: a listing in another currency converts at its rate.
Positions come from the core's positions book (IB's average-cost method); after a fill the
position, account and portfolio updates of the order's account go to the sessions that
subscribed to it, and the P&L
subscriptions (pnl.py) are updated once per turn of the loop. The account summary
subscriptions get the values that changed after a fill and, as IB's every 3 minutes, every
``SimConfig.account_interval`` (with the account updates), so that prices that moved show.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from services.ibsim import forex, pnl
from services.ibsim import messages as m
from services.ibsim.account_book import AccountBook
from services.ibsim.base import SimulatorBase
from services.ibsim.model import ZERO, AccountSummarySubscription, SimPosition, utcnow
from services.ibsim.transport import Session

log = logging.getLogger("services.ibsim")

MAX_ACCOUNT_SUMMARIES = 2  # reqAccountSummary subscriptions a client may hold at once (error 322 beyond)
CENT = Decimal("0.01")

ACCOUNT_TAGS = (
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "AccruedCash",
    "BuyingPower",
    "EquityWithLoanValue",
    "GrossPositionValue",
    "InitMarginReq",
    "MaintMarginReq",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "AvailableFunds",
    "FullAvailableFunds",
    "ExcessLiquidity",
    "FullExcessLiquidity",
    "Cushion",
    "Leverage",
    "RealizedPnL",
    "UnrealizedPnL",
)


def fmt_money(value: Decimal) -> str:
    return m.fmt(value.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    cash: Decimal
    net_liquidation: Decimal
    gross_position_value: Decimal
    init_margin: Decimal
    maint_margin: Decimal
    available_funds: Decimal
    excess_liquidity: Decimal
    buying_power: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


class AccountMixin(SimulatorBase):
    """Cash, rates and account values (public controls), position and account requests, P&L pushes.
    ``account`` None: the first managed account."""

    def _account_book(self, account: str | None = None) -> AccountBook:
        return self._accounts[account or self.config.account]

    def positions(self, account: str | None = None) -> dict[str, Decimal]:
        return self._account_book(account).held()

    def position(self, symbol: str, account: str | None = None) -> SimPosition | None:
        return self._account_book(account).positions.get(symbol)

    @property
    def cash(self) -> Decimal:
        """The first account's cash in the base currency."""
        return self._account_book().cash

    def rate(self, currency: str) -> Decimal:
        """Units of the base currency per unit of ``currency`` (what IB reports as ExchangeRate):
        the configured rate, else the mid of the IDEALPRO pair against the base currency."""
        if currency in ("", self.config.base_currency):
            return Decimal(1)
        configured = self.config.fx_rates.get(currency)
        if configured is not None:
            return configured
        base = self.config.base_currency
        if f"{currency}.{base}" in self._prices:
            return self._prices[f"{currency}.{base}"]
        if f"{base}.{currency}" in self._prices:
            return (Decimal(1) / self._prices[f"{base}.{currency}"]).quantize(Decimal("0.00000001"))
        raise KeyError(f"no exchange rate for {currency}")

    def cash_balances(self, account: str | None = None) -> dict[str, Decimal]:
        """Cash per currency: the base currency first, then every currency a forex trade touched."""
        book = self._account_book(account)
        return {self.config.base_currency: book.cash, **dict(sorted(book.fx_cash.items()))}

    def set_rate(self, currency: str, rate: Decimal | float | str) -> None:
        self.config.fx_rates[currency.upper()] = Decimal(str(rate))

    def account_snapshot(self, account: str | None = None) -> AccountSnapshot:
        """In the base currency: a listing in another currency converts at its rate."""
        book = self._account_book(account)
        gross = ZERO
        value = ZERO
        unrealized = ZERO
        realized = ZERO
        fx_margin = ZERO
        for symbol, pos in book.positions.items():
            instrument = self.universe[symbol]
            rate = self.rate(instrument.currency)
            mark = self._prices[symbol]
            unrealized += (mark - pos.avg_cost) * pos.quantity * rate
            realized += pos.realized_pnl * rate
            if instrument.sec_type == "CASH":  # its value is in the cash balances below
                fx_margin += forex.usd_value(symbol, pos.quantity, self._prices) * forex.FOREX_MARGIN_RATIO * self.rate("USD")
                continue
            gross += abs(pos.quantity) * mark * rate
            value += pos.quantity * mark * rate
        cash = book.cash + sum((amount * self.rate(c) for c, amount in book.fx_cash.items()), ZERO)
        net = cash + value
        margin = gross * self.config.margin_ratio + fx_margin
        available = net - margin
        return AccountSnapshot(
            cash=cash,
            net_liquidation=net,
            gross_position_value=gross,
            init_margin=margin,
            maint_margin=margin,
            available_funds=available,
            excess_liquidity=available,
            buying_power=max(available, ZERO) * self.config.buying_power_multiplier,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
        )

    def account_values(self, account: str | None = None) -> list[tuple[str, str, str]]:
        """(tag, value, currency) as sent in account updates and the account summary."""
        snap = self.account_snapshot(account)
        cushion = (snap.excess_liquidity / snap.net_liquidation) if snap.net_liquidation else ZERO
        leverage = (snap.gross_position_value / snap.net_liquidation) if snap.net_liquidation else ZERO
        usd = self.config.base_currency
        return [
            ("AccountType", "INDIVIDUAL", ""),
            ("NetLiquidation", fmt_money(snap.net_liquidation), usd),
            ("TotalCashValue", fmt_money(snap.cash), usd),
            ("SettledCash", fmt_money(snap.cash), usd),
            ("AccruedCash", "0", usd),
            ("BuyingPower", fmt_money(snap.buying_power), usd),
            ("EquityWithLoanValue", fmt_money(snap.net_liquidation), usd),
            ("GrossPositionValue", fmt_money(snap.gross_position_value), usd),
            ("InitMarginReq", fmt_money(snap.init_margin), usd),
            ("MaintMarginReq", fmt_money(snap.maint_margin), usd),
            ("FullInitMarginReq", fmt_money(snap.init_margin), usd),
            ("FullMaintMarginReq", fmt_money(snap.maint_margin), usd),
            ("AvailableFunds", fmt_money(snap.available_funds), usd),
            ("FullAvailableFunds", fmt_money(snap.available_funds), usd),
            ("ExcessLiquidity", fmt_money(snap.excess_liquidity), usd),
            ("FullExcessLiquidity", fmt_money(snap.excess_liquidity), usd),
            ("Cushion", m.fmt(cushion.quantize(Decimal("0.000001"))), ""),
            ("Leverage", m.fmt(leverage.quantize(Decimal("0.0001"))), ""),
            ("RealizedPnL", fmt_money(snap.realized_pnl), usd),
            ("UnrealizedPnL", fmt_money(snap.unrealized_pnl), usd),
            *self.ledger_cash(snap.cash, account),
            *self.ledger_rates(account),
        ]

    def ledger_cash(self, total: Decimal, account: str | None = None) -> list[tuple[str, str, str]]:
        """CashBalance and TotalCashBalance per currency held, and their sum in the base currency
        (tagged BASE), as TWS sends them in the account updates."""
        rows = [("CashBalance", fmt_money(total), "BASE"), ("TotalCashBalance", fmt_money(total), "BASE")]
        for currency, amount in self.cash_balances(account).items():
            rows.append(("CashBalance", fmt_money(amount), currency))
            rows.append(("TotalCashBalance", fmt_money(amount), currency))
        return rows

    def ledger_rates(self, account: str | None = None) -> list[tuple[str, str, str]]:
        """ExchangeRate per currency (BASE and the base currency are 1), as TWS sends it in the
        account updates and in the account summary's $LEDGER tags."""
        rows = [("ExchangeRate", "1.00", "BASE"), ("ExchangeRate", "1.00", self.config.base_currency)]
        for currency in sorted(set(self.config.fx_rates) | set(self._account_book(account).fx_cash)):
            if currency != self.config.base_currency:
                rows.append(("ExchangeRate", m.fmt(self.rate(currency)), currency))
        return rows

    # ----------------------------------------------------------------- requests: account

    def _position_fields(self, account: str, pos: SimPosition) -> list[str]:
        return m.position(account, self.universe[pos.symbol], pos.quantity, pos.avg_cost)

    def _req_positions(self, session: Session, f: list[str]) -> None:
        for account, book in self._accounts.items():  # every managed account's, as IB's reqPositions
            for pos in book.positions.values():
                if pos.quantity:
                    session.send(self._position_fields(account, pos))
        session.send(m.position_end())
        session.positions_subscribed = True

    def _cancel_positions(self, session: Session, f: list[str]) -> None:
        session.positions_subscribed = False

    def _req_account_summary(self, session: Session, f: list[str]) -> None:
        """A subscription (IB's): every value asked, then accountSummaryEnd; afterwards the values
        that changed, each time the account changes (a fill) and every ``account_interval``."""
        req_id = int(f[2])
        if len(session.account_summaries) >= MAX_ACCOUNT_SUMMARIES:
            # IB keeps two summary subscriptions per client at once and refuses a third
            session.error(req_id, 322, "Error processing request.-'bd' : cause - Maximum number of account summary "
                                       "requests exceeded")
            return
        tags = {t.strip() for t in f[4].split(",") if t.strip()} if len(f) > 4 else set()
        wanted = None if not tags or "All" in tags else frozenset(tags)
        # $LEDGER: the ledger tags (here ExchangeRate) in BASE; $LEDGER:EUR in that currency; $LEDGER:ALL in all
        ledger = frozenset(t.partition(":")[2] or "BASE" for t in tags if t.startswith("$LEDGER"))
        subscription = session.account_summaries[req_id] = AccountSummarySubscription(wanted, ledger)
        if self.faults.account_summary_silent > 0:  # held, never answered (a fault of the test's)
            self.faults.account_summary_silent -= 1
            return
        self._send_account_summary(session, req_id, subscription, changed_only=False)

    def _cancel_account_summary(self, session: Session, f: list[str]) -> None:
        session.account_summaries.pop(int(f[2]), None)

    def _send_account_summary(self, session: Session, req_id: int, subscription: AccountSummarySubscription,
                              *, changed_only: bool) -> None:
        """The subscription's values (only those that changed since last sent, for an update),
        then accountSummaryEnd; an update with nothing changed sends nothing."""
        rows = []
        for account in self.config.accounts:
            for tag, value, currency in self._values_for(account):
                if tag == "ExchangeRate":
                    if "ALL" not in subscription.ledger and currency not in subscription.ledger:
                        continue
                elif subscription.tags is not None and tag not in subscription.tags:
                    continue
                key = (account, tag, currency)
                if changed_only and subscription.sent.get(key) == value:
                    continue
                subscription.sent[key] = value
                rows.append(m.account_summary(req_id, account, tag, value, currency))
        if changed_only and not rows:
            return
        for row in rows:
            session.send(row)
        session.send(m.account_summary_end(req_id))

    def push_account_summaries(self) -> None:
        """Every open account summary subscription gets the values that changed (what IB sends
        every 3 minutes; the simulator also after each fill)."""
        for session in list(self._sessions.values()):
            for req_id, subscription in list(session.account_summaries.items()):
                self._send_account_summary(session, req_id, subscription, changed_only=True)

    def push_account_updates(self) -> None:
        """What IB sends the account updates subscribers at its fixed interval: the values, the
        portfolio lines, the account time."""
        for session in list(self._sessions.values()):
            account = session.account_updates
            if account in self._accounts:
                for tag, value, currency in self.account_values(account):
                    session.send(m.update_account_value(tag, value, currency, account))
                for pos in self._accounts[account].positions.values():
                    if pos.quantity:
                        session.send(self._portfolio_fields(account, pos))
                session.send(m.update_account_time(utcnow()))

    async def _account_clock(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)  # the account pushes' own clock (IB: 3 minutes), not a synchronisation
            try:
                self.push_account_summaries()
                self.push_account_updates()
            except Exception:  # one failed push never stops the clock
                log.exception("account push failed")

    def _values_for(self, account: str) -> list[tuple[str, str, str]]:
        if account in self._accounts:
            return self.account_values(account)
        return [("AccountType", "INDIVIDUAL", ""), ("NetLiquidation", "0", "USD"), ("TotalCashValue", "0", "USD")]

    def _portfolio_fields(self, account: str, pos: SimPosition) -> list[str]:
        mark = self._prices[pos.symbol]
        return m.update_portfolio(
            self.universe[pos.symbol],
            pos.quantity,
            mark,
            (mark * pos.quantity).quantize(CENT, rounding=ROUND_HALF_UP),
            pos.avg_cost,
            ((mark - pos.avg_cost) * pos.quantity).quantize(CENT, rounding=ROUND_HALF_UP),
            pos.realized_pnl.quantize(CENT, rounding=ROUND_HALF_UP),
            account,
        )

    def _req_account_updates(self, session: Session, f: list[str]) -> None:
        subscribe = f[2] not in ("", "0")
        account = f[3] if len(f) > 3 and f[3] else self.config.account
        if not subscribe:
            session.account_updates = None
            return
        session.account_updates = account
        for tag, value, currency in self._values_for(account):
            session.send(m.update_account_value(tag, value, currency, account))
        if account in self._accounts:
            for pos in self._accounts[account].positions.values():
                if pos.quantity:
                    session.send(self._portfolio_fields(account, pos))
        session.send(m.update_account_time(utcnow()))
        session.send(m.account_download_end(account))

    def _req_account_updates_multi(self, session: Session, f: list[str]) -> None:
        req_id = int(f[2])
        account = f[3] or self.config.account
        model_code = f[4] if len(f) > 4 else ""
        for tag, value, currency in self._values_for(account):
            session.send(m.account_update_multi(req_id, account, model_code, tag, value, currency))
        session.send(m.account_update_multi_end(req_id))
        session.account_multi[req_id] = account

    def _cancel_account_updates_multi(self, session: Session, f: list[str]) -> None:
        session.account_multi.pop(int(f[2]), None)

    def _push_account(self, account: str, symbol: str) -> None:
        """After a fill in ``account``: its position, values and portfolio line to the sessions
        that asked for them."""
        self._schedule_pnl()
        pos = self._accounts[account].positions.get(symbol)
        subscribed = [s for s in self._sessions.values() if s.account_updates == account or account in s.account_multi.values()]
        values = self.account_values(account) if subscribed else []  # none asked: not worked out
        for session in list(self._sessions.values()):
            if session.positions_subscribed and pos is not None:
                session.send(self._position_fields(account, pos))
            if session.account_updates == account:
                for tag, value, currency in values:
                    session.send(m.update_account_value(tag, value, currency, account))
                if pos is not None:
                    session.send(self._portfolio_fields(account, pos))
                session.send(m.update_account_time(utcnow()))
            for req_id, multi_account in session.account_multi.items():
                if multi_account == account:
                    for tag, value, currency in values:
                        session.send(m.account_update_multi(req_id, account, "", tag, value, currency))
        self.push_account_summaries()  # cash, positions and commission moved the summary's values

    # ----------------------------------------------------------------- requests: P&L (services/ibsim/pnl.py)

    def _schedule_pnl(self) -> None:
        """Coalesce the P&L updates of one turn of the loop (a fill or a walk step moves many values)."""
        if self._pnl_scheduled or not any(s.pnl.active for s in self._sessions.values()):
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        self._pnl_scheduled = True
        loop.call_soon(self._flush_pnl)

    def _flush_pnl(self) -> None:
        self._pnl_scheduled = False
        for session in list(self._sessions.values()):
            if not session.closed:
                pnl.send_updates(self, session)
