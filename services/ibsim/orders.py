"""Orders: placing, validating, modifying and cancelling orders, what-if previews.

An order is keyed by (clientId, orderId) and known by its permId. A client sees its own orders;
the master client id sees every client's. MKT, LMT, STP and STP LMT (the stop price in IB's
auxPrice), DAY, GTC and IOC are accepted (an IOC order cancels what did not fill at once; a DAY
order still working at the end of its session is canceled then: hours.py); the faults
(config.py) can delay the acknowledgement, add PreSubmitted or a duplicate status, or reject.
Once acknowledged, an order goes to matching.py.
"""

from __future__ import annotations

import logging

from services.ibsim import forex
from services.ibsim import messages as m
from services.ibsim.account import CENT, fmt_money
from services.ibsim.base import SimulatorBase
from services.ibsim.config import OrderFaults
from services.ibsim.model import ZERO, SimOrder
from services.ibsim.requests import PlaceOrderRequest, parse_place_order
from services.ibsim.transport import Session

log = logging.getLogger("services.ibsim")

ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT")
LIMIT_TYPES = ("LMT", "STP LMT")  # with a limit price
STOP_TYPES = ("STP", "STP LMT")  # with a stop price (auxPrice)


class OrdersMixin(SimulatorBase):
    """The order book (public controls) and the order requests: place, modify, cancel, list."""

    def orders(self) -> list[SimOrder]:
        return list(self._orders.values())

    def open_orders(self) -> list[SimOrder]:
        return [o for o in self._orders.values() if not o.is_done]

    def expire_day_orders(self) -> int:
        """End of the trading day, now, whatever the clock: DAY orders are cancelled, GTC orders
        keep working (by the clock: ``expire_ended_day_orders``)."""
        return self.expire_orders([o for o in self._orders.values() if not o.is_done and o.tif == "DAY"])

    def expire_orders(self, orders: list[SimOrder]) -> int:
        """The end of these DAY orders: orderStatus Cancelled, completed as Expired."""
        for order in orders:
            self._finish(order, "Cancelled", "Expired")
            self._send_order_update(order)
        if orders:
            self._schedule_save()
        return len(orders)

    # ----------------------------------------------------------------- requests: orders

    def _visible(self, session: Session, order_client_id: int) -> bool:
        return session.client_id == order_client_id or session.client_id == self.config.master_client_id

    def _recipients(self, order_client_id: int) -> list[Session]:
        return [s for s in self._sessions.values() if not s.closed and self._visible(s, order_client_id)]

    def _req_open_orders(self, session: Session, f: list[str]) -> None:
        self._send_open_orders(session, all_clients=False)

    def _req_all_open_orders(self, session: Session, f: list[str]) -> None:
        self._send_open_orders(session, all_clients=True)

    def _send_open_orders(self, session: Session, all_clients: bool) -> None:
        for order in self._orders.values():
            if order.is_done or not (all_clients or self._visible(session, order.client_id)):
                continue
            session.send(m.open_order(order, self.universe[order.symbol], session.server_version))
            session.send(m.order_status(order, session.server_version))
        session.send(m.open_order_end())

    def _req_completed_orders(self, session: Session, f: list[str]) -> None:
        for order in self._orders.values():
            if order.is_done:
                session.send(m.completed_order(order, self.universe[order.symbol], session.server_version))
        session.send(m.completed_orders_end())

    def _place_order(self, session: Session, f: list[str]) -> None:
        req = parse_place_order(f, session.server_version)
        client_id = session.client_id
        assert client_id is not None
        if not req.contract.exchange:
            session.error(req.order_id, 321, "Error validating request.-'bN' : cause - Missing order exchange")
            return
        if req.what_if:
            self._what_if(session, req)
            return
        key = (client_id, req.order_id)
        perm_id = self._order_keys.get(key)
        if perm_id is not None:
            self._modify(session, self._orders[perm_id], req)
            return
        instrument = self._resolve_ref(req.contract)
        if instrument is None:
            session.error(req.order_id, 200, "No security definition has been found for the request")
            return
        if self.config.faults.take_lost(instrument.key, req.order_ref, req.quantity):
            # the ``lost=N`` fault: as if the message never reached the gateway (nothing answers)
            log.info("placeOrder %d from client %d (%s, ref=%r) discarded: lost=N fault", req.order_id, client_id,
                     instrument.key, req.order_ref)
            self._emit("order_lost", {"order_id": req.order_id, "client_id": client_id, "symbol": instrument.key,
                                      "order_ref": req.order_ref})
            return
        order = SimOrder(
            order_id=req.order_id,
            client_id=client_id,
            perm_id=self._next_perm_id,
            account=req.account or self.config.account,
            symbol=instrument.key,
            con_id=instrument.con_id,
            action=req.action,
            quantity=req.quantity,
            order_type=req.order_type,
            limit_price=req.limit_price if req.order_type in LIMIT_TYPES else None,
            stop_price=req.aux_price if req.order_type in STOP_TYPES else None,
            tif=req.tif,
            order_ref=req.order_ref,
            outside_rth=req.outside_rth,
            exchange=req.contract.exchange or "SMART",
            created_at=self.now(),
        )
        self._next_perm_id += 1
        self._next_order_id = max(self._next_order_id, req.order_id + 1)
        self._orders[order.perm_id] = order
        self._order_keys[key] = order.perm_id
        log.debug(
            "order %d from client %d: %s %s %s %s%s tif=%s ref=%r permId=%d",
            order.order_id, client_id, order.action, m.fmt(order.quantity), order.symbol, order.order_type,
            f" @ {m.fmt(order.limit_price)}" if order.limit_price is not None else "", order.tif, order.order_ref, order.perm_id,
        )
        self._emit("order", {"order_id": order.order_id, "client_id": client_id, "symbol": order.symbol,
                             "action": order.action, "quantity": str(order.quantity), "order_type": order.order_type,
                             "order_ref": order.order_ref, "perm_id": order.perm_id})
        reason = self._validate(req, order)
        faults = self.faults.for_order(order.symbol, order.order_ref, order.quantity)
        if reason is None and self.config.margin_check:
            reason = self._margin_problem(order)
        if reason is None and faults.reject:
            reason = f"the simulator is configured to reject this order ({order.symbol}, {m.fmt(order.quantity)} shares)"
        if reason is not None:
            self._reject(order, reason)
            return
        if faults.ack_delay > 0:
            self._later(faults.ack_delay, lambda: self._acknowledge(order, faults))
        else:
            self._acknowledge(order, faults)
        self._schedule_save()

    def _validate(self, req: PlaceOrderRequest, order: SimOrder) -> str | None:
        if req.combo or req.delta_neutral or req.algo_strategy or req.num_conditions:
            return "combo, delta-neutral, algo and conditional orders are not supported by the simulator"
        if order.action not in ("BUY", "SELL"):
            return f"invalid action {order.action!r}"
        if order.order_type not in ORDER_TYPES:
            return f"order type {order.order_type} is not supported by the simulator ({', '.join(ORDER_TYPES)} only)"
        if order.order_type in LIMIT_TYPES and (order.limit_price is None or order.limit_price <= 0):
            return "a limit order needs a positive limit price"
        if order.order_type in STOP_TYPES and (order.stop_price is None or order.stop_price <= 0):
            return "a stop order needs a positive stop price (auxPrice)"
        if order.quantity <= 0:
            return "the order size must be positive"
        if order.tif not in ("DAY", "GTC", "IOC"):
            return f"time in force {order.tif} is not supported by the simulator (DAY, GTC and IOC only)"
        if order.account not in self.config.accounts:
            return f"account {order.account} is not managed by this gateway"
        return None

    def _margin_problem(self, order: SimOrder) -> str | None:
        """IB's initial-margin check on the position this order would leave (at the current touch)."""
        bid, ask = self.quote(order.symbol)
        price = order.limit_price if order.limit_price is not None else (ask if order.action == "BUY" else bid)
        position = self._account_book(order.account).positions.get(order.symbol)
        held = position.quantity if position is not None else ZERO
        signed = order.quantity if order.action == "BUY" else -order.quantity
        snap = self.account_snapshot(order.account)
        extra = (abs(held + signed) - abs(held)) * price * self.rate(self.universe[order.symbol].currency) * self.config.margin_ratio
        required = snap.init_margin + extra
        if extra > 0 and required > snap.net_liquidation:
            return (f"YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH LOAN VALUE "
                    f"[{fmt_money(snap.net_liquidation)} USD] MUST EXCEED THE INITIAL MARGIN [{fmt_money(required)} USD]")
        return None

    def _reject(self, order: SimOrder, reason: str) -> None:
        log.debug("order %d of client %d rejected: %s", order.order_id, order.client_id, reason)
        self._finish(order, "Inactive", "Rejected")
        for session in self._recipients(order.client_id):
            if session.client_id == order.client_id:
                session.error(order.order_id, 201, f"Order rejected - reason:{reason}")
            session.send(m.order_status(order, session.server_version))
        self._schedule_save()

    def _acknowledge(self, order: SimOrder, faults: OrderFaults) -> None:
        if order.is_done:
            return
        if order.tif == "DAY":  # good for its session: canceled at its end if still working
            self._expire_at_session_end(order)
        if faults.presubmitted or not self.may_fill_now(order):
            order.status = "PreSubmitted"
            self._send_order_update(order, with_open_order=True, duplicate=faults.duplicate_status)
        if not self.may_fill_now(order):  # outside its session (--market-hours): held until the open
            self._hold_until_open(order)
            self._schedule_save()
            return
        order.status = "Submitted"
        self._send_order_update(order, with_open_order=True, duplicate=faults.duplicate_status)
        if faults.info_10349:
            owner = self._sessions.get(order.client_id)
            if owner is not None:
                owner.error(order.order_id, 10349, "Order TIF was set to DAY based on order preset.")
        self._try_match(order)
        if order.tif == "IOC" and not order.is_done and order.perm_id not in self._filling:
            self._cancel(order)  # immediate or cancel: what did not fill at once is canceled
        self._schedule_save()

    def _send_order_update(self, order: SimOrder, with_open_order: bool = False, duplicate: bool = False) -> None:
        instrument = self.universe[order.symbol]
        for session in self._recipients(order.client_id):
            if with_open_order:
                session.send(m.open_order(order, instrument, session.server_version))
            status = m.order_status(order, session.server_version)
            session.send(status)
            if duplicate:
                session.send(status)

    def _modify(self, session: Session, order: SimOrder, req: PlaceOrderRequest) -> None:
        if order.is_done:
            if order.status == "Filled":
                session.error(order.order_id, 104, "Can't modify a filled order.")
            else:
                session.error(order.order_id, 103, "Duplicate order id")
            return
        if (req.order_type not in ORDER_TYPES or (req.order_type in LIMIT_TYPES and (req.limit_price is None or req.limit_price <= 0))
                or (req.order_type in STOP_TYPES and (req.aux_price is None or req.aux_price <= 0))):
            session.error(order.order_id, 201, "Order rejected - reason:the modification is not supported by the simulator")
            return
        if req.quantity < order.filled or req.quantity <= 0:
            session.error(order.order_id, 201, "Order rejected - reason:the new size is below the filled quantity")
            return
        order.quantity = req.quantity
        order.order_type = req.order_type
        order.limit_price = req.limit_price if req.order_type in LIMIT_TYPES else None
        order.stop_price = req.aux_price if req.order_type in STOP_TYPES else None
        order.tif = req.tif
        order.order_ref = req.order_ref
        order.outside_rth = req.outside_rth
        log.debug("order %d of client %d modified: %s %s %s%s", order.order_id, order.client_id, m.fmt(order.quantity),
                 order.symbol, order.order_type, f" @ {m.fmt(order.limit_price)}" if order.limit_price is not None else "")
        if order.status == "PendingSubmit":  # still inside an acknowledgement delay
            self._schedule_save()
            return
        if order.remaining == 0:
            self._finish(order, "Filled", "Filled")
        self._send_order_update(order, with_open_order=True)
        self._try_match(order)
        self._schedule_save()

    def _cancel_order(self, session: Session, f: list[str]) -> None:
        order_id = int(f[2])
        client_id = session.client_id
        assert client_id is not None  # _dispatch lets nothing but startApi through before the client id
        perm_id = self._order_keys.get((client_id, order_id))
        if perm_id is None:
            session.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
            return
        order = self._orders[perm_id]
        if order.is_done:
            session.error(order_id, 161, f"Cancel attempted when order is not in a cancellable state. Order permId ={order.perm_id}")
            return
        self._cancel(order)

    def _cancel(self, order: SimOrder) -> None:
        delay = self.faults.cancel_delay
        if delay > 0:
            if order.status == "PendingCancel":  # a cancel on its way already
                return
            order.status = "PendingCancel"
            for session in self._recipients(order.client_id):
                session.send(m.order_status(order, session.server_version))
            self._later(delay, lambda: None if order.is_done else self._cancelled(order))
            return
        self._cancelled(order)

    def _cancelled(self, order: SimOrder) -> None:
        log.debug("order %d of client %d cancelled", order.order_id, order.client_id)
        self._finish(order, "Cancelled", "Cancelled by Trader")
        for session in self._recipients(order.client_id):
            session.send(m.order_status(order, session.server_version))
            if session.client_id == order.client_id:
                session.error(order.order_id, 202, "Order Canceled - reason:")
        self._schedule_save()

    def _req_global_cancel(self, session: Session, f: list[str]) -> None:
        for order in list(self._orders.values()):
            if not order.is_done:
                self._cancel(order)

    def _finish(self, order: SimOrder, status: str, completed_status: str) -> None:
        order.status = status
        order.completed_at = self.now()
        order.completed_status = completed_status
        self._filling.discard(order.perm_id)

    def _what_if(self, session: Session, req: PlaceOrderRequest) -> None:
        instrument = self._resolve_ref(req.contract)
        if instrument is None:
            session.error(req.order_id, 200, "No security definition has been found for the request")
            return
        bid, ask = self.quote(instrument.key)
        price = req.limit_price if req.order_type == "LMT" and req.limit_price else (ask if req.action == "BUY" else bid)
        signed = req.quantity if req.action == "BUY" else -req.quantity
        # the account's own margin and equity; one not managed (refused when placed) is judged by the first's
        account = req.account if req.account in self._accounts else self.config.account
        snap = self.account_snapshot(account)
        if instrument.sec_type == "CASH":
            value = forex.usd_value(instrument.symbol, req.quantity, self._prices)
            margin_change = value * forex.FOREX_MARGIN_RATIO
            commission = forex.commission_usd(value)
        else:
            pos = self._account_book(account).positions.get(instrument.key)
            held = pos.quantity if pos else ZERO
            margin_change = (abs(held + signed) - abs(held)) * price * self.config.margin_ratio
            commission = self._commission.commission(req.quantity, price)
        state = m.WhatIfState(
            init_before=snap.init_margin.quantize(CENT),
            maint_before=snap.maint_margin.quantize(CENT),
            equity_before=snap.net_liquidation.quantize(CENT),
            init_change=margin_change.quantize(CENT),
            maint_change=margin_change.quantize(CENT),
            equity_change=(-commission).quantize(CENT),
            commission=commission,
            currency="USD",
        )
        preview = SimOrder(
            order_id=req.order_id, client_id=session.client_id or 0, perm_id=0, account=req.account or self.config.account,
            symbol=instrument.key, con_id=instrument.con_id, action=req.action, quantity=req.quantity,
            order_type=req.order_type, limit_price=req.limit_price, tif=req.tif, order_ref=req.order_ref,
            outside_rth=req.outside_rth, status="PreSubmitted",
        )
        log.debug("what-if %s %s %s from client %s: margin %s, commission %s", req.action, m.fmt(req.quantity),
                 instrument.symbol, session.client_id, m.fmt(state.init_change), m.fmt(commission))
        session.send(m.open_order(preview, instrument, session.server_version, what_if=state))
