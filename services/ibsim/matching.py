"""Matching: when an order crosses, its fills, the executions and their commissions.

MKT fills at the touch plus the slippage (none for forex); LMT fills at the touch once it
crosses. A stop order (STP, STP LMT) rests until its stop price is touched (a BUY stop when the
ask reaches it, a SELL stop when the bid falls to it); from then on it is a MKT (STP) or LMT
(STP LMT) order, as at IB. In partial mode the fills are spread over time. Messages per fill, in this order:
execDetails (reqId -1), orderStatus, openOrder when the order is filled, commissionReport; then
position and account pushes (account.py). Commissions come from the core's IB commission model
per order (forex: ``forex.commission_usd``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.ibsim import forex
from services.ibsim import messages as m
from services.ibsim.base import SimulatorBase
from services.ibsim.config import OrderFaults
from services.ibsim.model import NEW_YORK, ZERO, Instrument, SimExecution, SimOrder
from services.ibsim.requests import parse_req_executions
from services.ibsim.transport import Session

log = logging.getLogger("services.ibsim")


class MatchingMixin(SimulatorBase):
    """Crossing orders, fills, executions (public controls and reqExecutions) and commissions."""

    def executions(self) -> list[SimExecution]:
        return list(self._executions.values())

    def hold_partial_fills(self) -> None:
        """Orders being filled in parts stop after the part under way until
        :meth:`release_partial_fills` (a test's control, never a wall-clock race)."""
        self._fills_flowing.clear()

    def release_partial_fills(self) -> None:
        self._fills_flowing.set()

    def hold_commission_reports(self) -> None:
        """The commission reports of the executions from now on wait until
        :meth:`release_commission_reports` (IB sends them after the execution, at times seconds
        later: a test decides when, never a wall-clock race)."""
        if self._held_commission_reports is None:
            self._held_commission_reports = []

    def release_commission_reports(self) -> int:
        """Sends the held commission reports at once, in their order (a burst), and stops
        holding; returns how many."""
        held, self._held_commission_reports = self._held_commission_reports or [], None
        for recipients, report in held:
            self._send_late(recipients, report)
        return len(held)

    def ledger(self) -> list[dict]:
        """Every execution sent (corrections included), as written to ``--ledger-json``."""
        return [dict(entry) for entry in self._ledger]

    # ----------------------------------------------------------------- requests: executions

    def _req_executions(self, session: Session, f: list[str]) -> None:
        flt = parse_req_executions(f)
        since = _parse_filter_time(flt.time)
        for execution in self._executions.values():
            if not self._visible(session, execution.client_id):
                continue
            if flt.client_id and execution.client_id != flt.client_id:
                continue
            if flt.account and execution.account != flt.account:
                continue
            if flt.symbol and self.universe[execution.symbol].symbol != flt.symbol:
                continue
            if flt.sec_type and flt.sec_type != "STK":
                continue
            if flt.exchange and flt.exchange not in ("SMART", execution.exchange):
                continue
            if flt.side and {"BUY": "BOT", "SELL": "SLD"}.get(flt.side, flt.side) != execution.side:
                continue
            if since is not None and execution.time < since:
                continue
            instrument = self.universe[execution.symbol]
            session.send(m.exec_details(flt.req_id, execution, instrument, session.server_version))
            session.send(m.commission_report(execution.exec_id, execution.commission, self._commission_currency(instrument),
                                             execution.realized_pnl))
        session.send(m.exec_details_end(flt.req_id))

    # ----------------------------------------------------------------- matching

    def _fill_price(self, order: SimOrder) -> Decimal | None:
        """The price this order would fill at now, or None when it does not cross."""
        bid, ask = self.quote(order.symbol)
        if order.stop_price is not None and not order.triggered:
            touched = ask >= order.stop_price if order.action == "BUY" else bid <= order.stop_price
            if not touched:
                return None
            order.triggered = True  # once touched, a stop stays triggered (IB: it is now a market or limit order)
            log.debug("stop order %d of client %d triggered at %s / %s (stop %s)", order.order_id, order.client_id,
                      m.fmt(bid), m.fmt(ask), m.fmt(order.stop_price))
        if order.order_type in ("MKT", "STP"):
            instrument = self.universe[order.symbol]
            slippage = ZERO if instrument.sec_type == "CASH" else self.config.slippage  # a stock slippage in dollars
            return ask + slippage if order.action == "BUY" else max(bid - slippage, instrument.min_tick)
        assert order.limit_price is not None
        if order.action == "BUY":
            return ask if ask <= order.limit_price else None
        return bid if bid >= order.limit_price else None

    def _try_match(self, order: SimOrder) -> None:
        if order.is_done or order.status == "PendingSubmit" or order.perm_id in self._filling:
            return
        if not self.may_fill_now(order):  # outside its session (--market-hours, hours.py): nothing fills
            return
        if self._fill_price(order) is None:
            return
        faults = self.faults.for_order(order.symbol, order.order_ref, order.quantity)
        mode = faults.fill_mode or self.config.fill_mode
        if mode == "instant" or self.config.partial_fills <= 1:
            price = self._fill_price(order)
            assert price is not None
            self._fill(order, order.remaining, price, faults)
            return
        self._filling.add(order.perm_id)
        self._spawn(self._fill_over_time(order, faults))

    async def _fill_over_time(self, order: SimOrder, faults: OrderFaults) -> None:
        try:
            chunk = _chunk(order.remaining, self.config.partial_fills)
            first = True
            while not order.is_done and order.remaining > 0:
                if not first:
                    await asyncio.sleep(self.config.fill_interval)  # fills spread over time, not a sync wait
                    await self._fills_flowing.wait()
                    if order.is_done or order.perm_id not in self._filling:
                        return
                first = False
                price = self._fill_price(order)
                if price is None:
                    return  # no longer crosses: rests until the price comes back
                quantity = min(chunk, order.remaining)
                self._fill(order, quantity, price, faults)
        finally:
            self._filling.discard(order.perm_id)

    # ----------------------------------------------------------------- fills

    def _commission_currency(self, instrument: Instrument) -> str:
        return forex.COMMISSION_CURRENCY if instrument.sec_type == "CASH" else instrument.currency

    def _fill(self, order: SimOrder, quantity: Decimal, price: Decimal, faults: OrderFaults) -> None:
        now = self.now()  # the simulator's clock, the one its market hours are judged by (a test sets it)
        instrument = self.universe[order.symbol]
        self._exec_seq += 1
        exec_id = f"{self._exec_prefix}.{self._exec_seq:08x}.01.01"
        previous = order.filled
        order.filled = previous + quantity
        order.avg_fill_price = (order.avg_fill_price * previous + price * quantity) / order.filled
        order.last_fill_price = price
        signed = quantity if order.action == "BUY" else -quantity
        book = self._account_book(order.account)  # the order's account's ledger, no other
        if instrument.sec_type == "CASH":
            # a conversion: base currency in, quote currency out (or back), commission in USD; the
            # pair's position (as IB reports it) is kept in the quote currency (services/ibsim/forex.py)
            total_commission = forex.commission_usd(forex.usd_value(order.symbol, order.filled, self._prices))
            commission = total_commission - order.commission_paid
            order.commission_paid = total_commission
            base, quote = order.symbol.split(".")
            book.credit(base, signed, self.config.base_currency)
            book.credit(quote, -signed * price, self.config.base_currency)
            book.credit(forex.COMMISSION_CURRENCY, -commission, self.config.base_currency)
            commission_quote = commission * self.rate(forex.COMMISSION_CURRENCY) / self.rate(quote)
            realized = book.apply_execution(order.symbol, instrument.con_id, exec_id, signed, price, commission_quote)
            if realized is not None:
                realized = realized * self.rate(quote) / self.rate(forex.COMMISSION_CURRENCY)  # reported in USD
            book.day.record_flow(order.symbol, signed * price + commission_quote)  # in the quote currency, as the marks
        else:
            total_commission = self._commission.commission(order.filled, order.avg_fill_price)
            commission = total_commission - order.commission_paid
            order.commission_paid = total_commission
            realized = book.apply_execution(order.symbol, instrument.con_id, exec_id, signed, price, commission)
            flow = (signed * price + commission) * self.rate(instrument.currency)  # in the base currency
            book.cash -= flow
            book.day.record_flow(order.symbol, flow)
        self._volume[order.symbol] += quantity
        execution = SimExecution(
            exec_id=exec_id,
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            account=order.account,
            symbol=order.symbol,
            con_id=instrument.con_id,
            side="BOT" if order.action == "BUY" else "SLD",
            shares=quantity,
            price=price,
            time=now,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            order_ref=order.order_ref,
            exchange=instrument.primary_exchange,
            commission=commission,
            realized_pnl=realized,
            currency=instrument.currency,
        )
        self._executions[execution.base_id] = execution
        self._ledger.append(execution.to_json())
        if order.remaining == 0:
            self._finish(order, "Filled", "Filled")
        else:
            order.status = "Submitted"
        log.debug("fill %s: order %d client %d %s %s %s @ %s (commission %s)", exec_id, order.order_id, order.client_id,
                 execution.side, m.fmt(quantity), order.symbol, m.fmt(price), m.fmt(commission))
        self._emit("fill", execution.to_json())
        recipients = self._recipients(order.client_id)
        report = m.commission_report(exec_id, commission, self._commission_currency(instrument), realized)
        for session in recipients:
            session.send(m.exec_details(-1, execution, instrument, session.server_version))
            status = m.order_status(order, session.server_version)
            session.send(status)
            if faults.duplicate_status:
                session.send(status)
            if order.status == "Filled":
                session.send(m.open_order(order, instrument, session.server_version))
            if not faults.late_commission and self._held_commission_reports is None:
                session.send(report)
        if self._held_commission_reports is not None:
            self._held_commission_reports.append((recipients, report))
        elif faults.late_commission:
            self._later(self.faults.late_commission_delay, lambda: self._send_late(recipients, report))
        if faults.exec_correction:
            self._correct(order, execution, instrument, recipients)
        self._push_account(order.account, order.symbol)
        self._schedule_save()

    def _send_late(self, recipients: list[Session], report: list[str]) -> None:
        for session in recipients:
            session.send(report)

    def _correct(self, order: SimOrder, execution: SimExecution, instrument: Instrument, recipients: list[Session]) -> None:
        """Revision .02 of an execution with a changed price; books adjusted by the difference."""
        delta = self.faults.correction_price_delta
        signed = execution.shares if execution.side == "BOT" else -execution.shares
        corrected = replace(execution, exec_id=execution.base_id + ".02", price=execution.price + delta)
        order.avg_fill_price = (order.avg_fill_price * order.filled + delta * execution.shares) / order.filled
        order.last_fill_price = corrected.price
        corrected.avg_price = order.avg_fill_price
        flow = signed * delta * self.rate(instrument.currency)  # in the base currency
        book = self._account_book(order.account)
        book.cash -= flow
        book.day.record_flow(order.symbol, flow)
        corrected.realized_pnl = book.apply_execution(order.symbol, instrument.con_id, corrected.exec_id, signed,
                                                      corrected.price, corrected.commission)
        self._executions[corrected.base_id] = corrected
        self._ledger.append(corrected.to_json())
        log.debug("fault: execution %s corrected to %s @ %s", execution.exec_id, corrected.exec_id, m.fmt(corrected.price))
        report = m.commission_report(corrected.exec_id, corrected.commission, instrument.currency, corrected.realized_pnl)
        for session in recipients:
            session.send(m.exec_details(-1, corrected, instrument, session.server_version))
            session.send(report)


def _chunk(quantity: Decimal, parts: int) -> Decimal:
    """Size of each partial fill: whole shares when the quantity is whole."""
    if quantity == quantity.to_integral_value():
        return Decimal(max(1, math.ceil(quantity / parts)))
    return quantity / parts


def _parse_filter_time(text: str) -> datetime | None:
    """ExecutionFilter.time: ``yyyymmdd hh:mm:ss`` optionally with a zone, or ``yyyymmdd-hh:mm:ss`` (UTC)."""
    text = text.strip()
    if not text:
        return None
    try:
        if "-" in text[:9]:
            return datetime.strptime(text[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        parts = text.split(" ")
        moment = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
        zone = ZoneInfo(parts[2]) if len(parts) > 2 else NEW_YORK
        return moment.replace(tzinfo=zone)
    except (ValueError, IndexError, KeyError):
        return None
