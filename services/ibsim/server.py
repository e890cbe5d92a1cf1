"""The IB Gateway simulator: an asyncio TCP server speaking the TWS socket protocol.

Embeddable on the caller's loop (tests, the console's qasync loop in demo mode)::

    sim = IBGatewaySimulator(SimConfig(seed=7))
    await sim.start(host="127.0.0.1", port=0)   # sim.port is the bound port
    ...
    await sim.stop()

``IBGatewaySimulator`` is assembled from one part per responsibility (base.py lists them); this
module holds what ties them together: the dispatch of a request to its handler and the table of
handlers. Protocol versions, market data types, P&L and the answer to each request:
docs/simulator.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from services.ibsim import messages as m
from services.ibsim import other_requests, pnl
from services.ibsim.account import AccountMixin, AccountSnapshot
from services.ibsim.gateway_faults import GatewayFaultsMixin
from services.ibsim.hours import HoursMixin
from services.ibsim.market import MarketMixin
from services.ibsim.matching import MatchingMixin
from services.ibsim.model import utcnow
from services.ibsim.orders import OrdersMixin
from services.ibsim.persistence import PersistenceMixin
from services.ibsim.requests import RequestError
from services.ibsim.transport import Session, TransportMixin

__all__ = ["AccountSnapshot", "IBGatewaySimulator", "Session"]

log = logging.getLogger("services.ibsim")

_Session = Session  # the name other_requests.py annotates its handlers with
_ORDER_MESSAGES = frozenset({3, 4, 58})  # placeOrder, cancelOrder, reqGlobalCancel


class IBGatewaySimulator(TransportMixin, MarketMixin, HoursMixin, AccountMixin, OrdersMixin, MatchingMixin,
                         PersistenceMixin, GatewayFaultsMixin):
    """An IB Gateway stand-in for a real ib_async / ib_insync client over a real socket.

    ``IBGatewaySimulator(config)``: the state is built by ``SimulatorBase.__init__`` (base.py)."""

    # ----------------------------------------------------------------- dispatch

    def _dispatch(self, session: Session, fields: list[str], now: float) -> None:
        # What a request produces answers it: sent even while connectivity is lost. What an order
        # message produces is the broker's work, pushed like a fill: held then (gateway_faults.py).
        self._answering = session
        try:
            self._dispatch_request(session, fields, now)
        finally:
            self._answering = None

    def _dispatch_request(self, session: Session, fields: list[str], now: float) -> None:
        if not fields:
            return
        try:
            msg_id = int(fields[0])
        except ValueError:
            session.error(-1, 320, f"Error reading request: bad message id {fields[0]!r}")
            return
        if session.client_id is None:
            if msg_id == 71:
                self._start_api(session, fields)
            else:
                session.error(-1, 321, "Error validating request: startApi must come first")
            return
        if session.over_pace(now, self.faults.pacing_limit):
            session.error(-1, 100, f"Max rate of messages per second has been exceeded:max={self.faults.pacing_limit}")
            if session.refused_for_pace(now, self.faults.pacing_disconnect_after, self.faults.pacing_disconnect_window):
                log.warning("client %s kept exceeding %d messages a second: connection closed, as TWS does",
                            session.client_id, self.faults.pacing_limit)
                self.pacing_disconnects += 1
                session.close()
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            self._unsupported(session, msg_id, fields)
            return
        if msg_id in _ORDER_MESSAGES:
            self._answering = None
        try:
            handler(self, session, fields)
        except RequestError as exc:
            session.error(self._guess_req_id(msg_id, fields), 320, f"Error reading request: {exc}")
        except (IndexError, ValueError) as exc:
            log.warning("bad request %s from client %s: %s", fields[:4], session.client_id, exc)
            session.error(self._guess_req_id(msg_id, fields), 320, f"Error reading request: {exc}")

    @staticmethod
    def _guess_req_id(msg_id: int, fields: list[str]) -> int:
        # requests below 78 carry a version field before the id, except these three
        index = 1 if msg_id >= 78 or msg_id in (3, 20, 22) else 2
        try:
            return int(fields[index])
        except (IndexError, ValueError):
            return -1

    def _unsupported(self, session: Session, msg_id: int, fields: list[str]) -> None:
        req_id = self._guess_req_id(msg_id, fields)
        log.info("unsupported request %d from client %s", msg_id, session.client_id)
        session.error(req_id, 322, f"Error processing request: message {msg_id} is not supported by the simulator")

    def _start_api(self, session: Session, fields: list[str]) -> None:
        client_id = int(fields[2])
        existing = self._sessions.get(client_id)
        if existing is not None and not existing.closed:
            log.warning("refusing %s: client id %d already in use", session.peer, client_id)
            session.error(-1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id.")
            session.close()
            return
        session.client_id = client_id
        self._sessions[client_id] = session
        log.info("client %d connected from %s (server version %d)", client_id, session.peer, session.server_version)
        self._emit("connected", {"client_id": client_id, "peer": session.peer})
        session.send(m.managed_accounts(self.config.accounts))
        session.send(m.next_valid_id(self._next_order_id))
        self.send_farm_notices(session)  # as a gateway does: 2104, 2106, 2158 (not for a broken farm)
        self._hold_if_lost(session)  # during a connectivity gap or a broken farm: says so

    # ----------------------------------------------------------------- requests: the session itself

    def _req_current_time(self, session: Session, f: list[str]) -> None:
        session.send(m.current_time(int(utcnow().timestamp())))

    def _req_ids(self, session: Session, f: list[str]) -> None:
        session.send(m.next_valid_id(self._next_order_id))

    def _req_managed_accounts(self, session: Session, f: list[str]) -> None:
        session.send(m.managed_accounts(self.config.accounts))

    def _ignore(self, session: Session, f: list[str]) -> None:
        """Requests that need no answer (reqAutoOpenOrders, cancels of subscriptions)."""

    _handlers: ClassVar[dict[int, Callable[[IBGatewaySimulator, Session, list[str]], None]]] = {}


IBGatewaySimulator._handlers = {
    1: IBGatewaySimulator._req_mkt_data,
    2: IBGatewaySimulator._cancel_mkt_data,
    3: IBGatewaySimulator._place_order,
    4: IBGatewaySimulator._cancel_order,
    5: IBGatewaySimulator._req_open_orders,
    6: IBGatewaySimulator._req_account_updates,
    7: IBGatewaySimulator._req_executions,
    8: IBGatewaySimulator._req_ids,
    9: IBGatewaySimulator._req_contract_details,
    15: IBGatewaySimulator._ignore,  # reqAutoOpenOrders
    16: IBGatewaySimulator._req_all_open_orders,
    17: IBGatewaySimulator._req_managed_accounts,
    49: IBGatewaySimulator._req_current_time,
    58: IBGatewaySimulator._req_global_cancel,
    59: IBGatewaySimulator._req_market_data_type,
    61: IBGatewaySimulator._req_positions,
    62: IBGatewaySimulator._req_account_summary,
    63: IBGatewaySimulator._cancel_account_summary,
    64: IBGatewaySimulator._cancel_positions,
    76: IBGatewaySimulator._req_account_updates_multi,
    77: IBGatewaySimulator._cancel_account_updates_multi,
    92: pnl.req_pnl,
    93: pnl.cancel_pnl,
    94: pnl.req_pnl_single,
    95: pnl.cancel_pnl,
    99: IBGatewaySimulator._req_completed_orders,
    **other_requests.HANDLERS,  # the rest of the API: data, an empty end, or TWS's error with the id
}
