"""The IB Gateway simulator: an asyncio TCP server speaking the TWS socket protocol.

Embeddable on the caller's loop (tests, the console's qasync loop in demo mode)::

    sim = IBGatewaySimulator(SimConfig(seed=7))
    await sim.start(host="127.0.0.1", port=0)   # sim.port is the bound port
    ...
    await sim.stop()

One book (orders, executions, positions, cash) for the first managed account; sessions are
the client connections. Messages per fill, in this order: execDetails (reqId -1), orderStatus,
openOrder when the order is filled, commissionReport; then position and account pushes to the
sessions that subscribed. Protocol versions, market data types, P&L and the answer to each
request: docs/simulator.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from services.ibsim import forex, other_requests, pnl, versions
from services.core.positions_book import PositionBook, PositionState  # pure: the one positions book
from services.core.commissions import FixedCommission as _CommissionModel  # the core's IB commission model
from services.ibsim import messages as m
from services.ibsim.codec import API_PREFIX, FrameBuffer, frame, parse_version_range
from services.ibsim.config import Faults, OrderFaults, SimConfig
from services.ibsim.forex import forex_instruments, pair_key
from services.ibsim.model import (
    ZERO,
    Instrument,
    SimExecution,
    SimOrder,
    SimPosition,
    load_universe,
    synthetic_universe,
    utcnow,
)
from services.ibsim.pnl import DayBook, PnLSubscriptions
from services.ibsim.requests import (
    RequestError,
    parse_contract12,
    parse_place_order,
    parse_req_executions,
)
from services.ibsim.state import STATE_FORMAT, read_json, write_json_atomic
from services.ibsim.versions import negotiate

log = logging.getLogger("services.ibsim")

NEW_YORK = ZoneInfo("America/New_York")
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


def _money(value: Decimal) -> str:
    return m.fmt(value.quantize(CENT, rounding=ROUND_HALF_UP))


class _Session:
    """One client connection."""

    def __init__(self, sim: "IBGatewaySimulator", reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.server_version = m.MAX_SERVER_VERSION
        self.sent = 0
        self.closed = False
        self.market_data_type = 1
        self.market_data: dict[int, str] = {}  # reqId -> symbol (streaming)
        self.frozen: set[int] = set()  # reqIds of frozen data: no updates after the first values
        self.pnl = PnLSubscriptions()
        self.positions_subscribed = False
        self.account_updates: str | None = None
        self.account_multi: dict[int, str] = {}
        self._received: deque[float] = deque()
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    def send(self, fields: list[str]) -> None:
        if self.closed:
            return
        try:
            self.writer.write(frame(fields))
        except (ConnectionError, RuntimeError):
            self.close()
            return
        self.sent += 1
        limit = self.sim.faults.drop_after_messages
        if limit is not None and self.sent >= limit and self.client_id is not None:
            log.info("fault: dropping client %s after %d messages", self.client_id, self.sent)
            self.close()

    def error(self, req_id: int, code: int, message: str) -> None:
        self.send(m.error(req_id, code, message, self.server_version))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.writer.close()
        except RuntimeError:  # loop already closed
            pass

    def over_pace(self, now: float, limit: int) -> bool:
        if limit <= 0:
            return False
        received = self._received
        while received and now - received[0] >= 1.0:
            received.popleft()
        if len(received) >= limit:
            return True
        received.append(now)
        return False


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


class IBGatewaySimulator:
    """An IB Gateway stand-in for a real ib_async / ib_insync client over a real socket."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        if self.config.fill_mode not in ("instant", "partial"):
            raise ValueError(f"fill_mode must be instant or partial, not {self.config.fill_mode!r}")
        self.faults: Faults = self.config.faults
        self.universe: dict[str, Instrument] = load_universe(self.config.universe_file)
        for key, pair in forex_instruments().items():
            self.universe.setdefault(key, pair)
        self.universe.update(synthetic_universe(self.config.synthetic_symbols))
        self._by_con_id = {i.con_id: i for i in self.universe.values()}
        self._rng = random.Random(self.config.seed)
        self._commission = _CommissionModel()
        self._prices: dict[str, Decimal] = {s: i.price for s, i in self.universe.items()}
        self._sizes: dict[str, tuple[int, int]] = {
            s: (100 * self._rng.randint(1, 20), 100 * self._rng.randint(1, 20)) for s in sorted(self.universe)
        }
        self._volume: dict[str, Decimal] = {s: ZERO for s in self.universe}
        self._orders: dict[int, SimOrder] = {}  # permId -> order, in placement order
        self._order_keys: dict[tuple[int, int], int] = {}  # (clientId, orderId) -> permId
        self._executions: dict[str, SimExecution] = {}  # base execId -> latest revision
        self._ledger: list[dict] = []
        self._positions: dict[str, SimPosition] = {}  # what IB reports, from the books below
        self._books: dict[str, PositionBook] = {}
        self._cash = self.config.initial_cash  # in the base currency
        self._fx_cash: dict[str, Decimal] = {}  # balances in other currencies, from forex trades
        self._next_order_id = self.config.first_order_id
        self._next_perm_id = self.config.first_perm_id
        self._exec_seq = 0
        self._exec_prefix = f"{(self.config.seed * 2654435761 + 0xE0D5) & 0xFFFFFFFF:08x}"
        self._sessions: dict[int, _Session] = {}  # clientId -> session (after startApi)
        self._all_sessions: set[_Session] = set()
        self._session_tasks: set[asyncio.Task] = set()
        self._tasks: set[asyncio.Task] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._filling: set[int] = set()  # permIds with a fill task running
        self._server: asyncio.base_events.Server | None = None
        self._save_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.host = ""
        self.port = 0
        self.listeners: list[Callable[[str, dict], None]] = []  # (event, details) for the CLI log
        if self.config.state_file:
            self._load_state()
        self._day = DayBook.starting_from(self._positions)
        self._pnl_scheduled = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 7497) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._on_connection, host, port)
        sock = self._server.sockets[0]
        self.host, self.port = sock.getsockname()[:2]
        if self.config.walk_interval:
            self._spawn(self._random_walk(self.config.walk_interval))
        log.info("IB Gateway simulator listening on %s:%d (accounts %s)", self.host, self.port, ",".join(self.config.accounts))

    async def stop(self) -> None:
        """Close the listener and every connection, cancel timers and tasks, save the state."""
        if self._server is not None:
            self._server.close()
        for session in list(self._all_sessions):
            session.close()
        for timer in list(self._timers):
            timer.cancel()
        self._timers.clear()
        tasks = [t for t in (*self._tasks, *self._session_tasks) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except asyncio.TimeoutError:
                log.warning("simulator listener did not close within 2 s")
            self._server = None
        self._filling.clear()
        self.save()
        log.info("IB Gateway simulator stopped")

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task failed", exc_info=task.exception())

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        loop = self._loop or asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def run() -> None:
            self._timers.discard(holder[0])
            callback()

        handle = loop.call_later(delay, run)
        holder.append(handle)
        self._timers.add(handle)

    # ----------------------------------------------------------------- public controls

    def price(self, symbol: str) -> Decimal:
        return self._prices[symbol.upper()]

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(bid, ask) around the mid price, spread from the config."""
        instrument = self.universe[symbol.upper()]
        mid = self._prices[instrument.key]
        half = instrument.min_tick if instrument.sec_type == "CASH" else self.config.spread / 2
        bid = (mid - half).quantize(instrument.min_tick, rounding=ROUND_HALF_UP)
        ask = (mid + half).quantize(instrument.min_tick, rounding=ROUND_HALF_UP)
        return max(bid, instrument.min_tick), ask

    def set_price(self, symbol: str, price: Decimal | float | str) -> None:
        """Move a symbol's mid price: streams ticks and lets resting LMT orders cross."""
        symbol = symbol.upper()
        if symbol not in self.universe:
            raise KeyError(f"unknown symbol {symbol}")
        value = Decimal(str(price))
        if value <= 0:
            raise ValueError("price must be positive")
        self._prices[symbol] = value
        self._on_price_change(symbol)

    def drop_connections(self) -> None:
        """Close every client connection now (the listener stays up)."""
        for session in list(self._all_sessions):
            log.info("dropping connection of client %s", session.client_id)
            session.close()

    def connected_client_ids(self) -> list[int]:
        return sorted(cid for cid, s in self._sessions.items() if not s.closed)

    def orders(self) -> list[SimOrder]:
        return list(self._orders.values())

    def open_orders(self) -> list[SimOrder]:
        return [o for o in self._orders.values() if not o.is_done]

    def executions(self) -> list[SimExecution]:
        return list(self._executions.values())

    def positions(self) -> dict[str, Decimal]:
        return {s: p.quantity for s, p in self._positions.items() if p.quantity}

    @property
    def cash(self) -> Decimal:
        return self._cash

    def ledger(self) -> list[dict]:
        """Every execution sent (corrections included), as written to ``--ledger-json``."""
        return [dict(entry) for entry in self._ledger]

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

    def cash_balances(self) -> dict[str, Decimal]:
        """Cash per currency: the base currency first, then every currency a forex trade touched."""
        return {self.config.base_currency: self._cash, **dict(sorted(self._fx_cash.items()))}

    def _credit(self, currency: str, amount: Decimal) -> None:
        if currency == self.config.base_currency:
            self._cash += amount
        else:
            self._fx_cash[currency] = self._fx_cash.get(currency, ZERO) + amount

    def set_rate(self, currency: str, rate: Decimal | float | str) -> None:
        self.config.fx_rates[currency.upper()] = Decimal(str(rate))

    def account_snapshot(self) -> AccountSnapshot:
        """In the base currency: a listing in another currency converts at its rate."""
        gross = ZERO
        value = ZERO
        unrealized = ZERO
        realized = ZERO
        fx_margin = ZERO
        for symbol, pos in self._positions.items():
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
        cash = self._cash + sum((amount * self.rate(c) for c, amount in self._fx_cash.items()), ZERO)
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

    def account_values(self) -> list[tuple[str, str, str]]:
        """(tag, value, currency) as sent in account updates and the account summary."""
        snap = self.account_snapshot()
        cushion = (snap.excess_liquidity / snap.net_liquidation) if snap.net_liquidation else ZERO
        leverage = (snap.gross_position_value / snap.net_liquidation) if snap.net_liquidation else ZERO
        usd = self.config.base_currency
        return [
            ("AccountType", "INDIVIDUAL", ""),
            ("NetLiquidation", _money(snap.net_liquidation), usd),
            ("TotalCashValue", _money(snap.cash), usd),
            ("SettledCash", _money(snap.cash), usd),
            ("AccruedCash", "0", usd),
            ("BuyingPower", _money(snap.buying_power), usd),
            ("EquityWithLoanValue", _money(snap.net_liquidation), usd),
            ("GrossPositionValue", _money(snap.gross_position_value), usd),
            ("InitMarginReq", _money(snap.init_margin), usd),
            ("MaintMarginReq", _money(snap.maint_margin), usd),
            ("FullInitMarginReq", _money(snap.init_margin), usd),
            ("FullMaintMarginReq", _money(snap.maint_margin), usd),
            ("AvailableFunds", _money(snap.available_funds), usd),
            ("FullAvailableFunds", _money(snap.available_funds), usd),
            ("ExcessLiquidity", _money(snap.excess_liquidity), usd),
            ("FullExcessLiquidity", _money(snap.excess_liquidity), usd),
            ("Cushion", m.fmt(cushion.quantize(Decimal("0.000001"))), ""),
            ("Leverage", m.fmt(leverage.quantize(Decimal("0.0001"))), ""),
            ("RealizedPnL", _money(snap.realized_pnl), usd),
            ("UnrealizedPnL", _money(snap.unrealized_pnl), usd),
            *self.ledger_cash(snap.cash),
            *self.ledger_rates(),
        ]

    def ledger_cash(self, total: Decimal) -> list[tuple[str, str, str]]:
        """CashBalance and TotalCashBalance per currency held, and their sum in the base currency
        (tagged BASE), as TWS sends them in the account updates."""
        rows = [("CashBalance", _money(total), "BASE"), ("TotalCashBalance", _money(total), "BASE")]
        for currency, amount in self.cash_balances().items():
            rows.append(("CashBalance", _money(amount), currency))
            rows.append(("TotalCashBalance", _money(amount), currency))
        return rows

    def ledger_rates(self) -> list[tuple[str, str, str]]:
        """ExchangeRate per currency (BASE and the base currency are 1), as TWS sends it in the
        account updates and in the account summary's $LEDGER tags."""
        rows = [("ExchangeRate", "1.00", "BASE"), ("ExchangeRate", "1.00", self.config.base_currency)]
        for currency in sorted(set(self.config.fx_rates) | set(self._fx_cash)):
            if currency != self.config.base_currency:
                rows.append(("ExchangeRate", m.fmt(self.rate(currency)), currency))
        return rows

    def expire_day_orders(self) -> int:
        """End of the trading day: DAY orders are cancelled, GTC orders keep working."""
        expired = 0
        for order in list(self._orders.values()):
            if not order.is_done and order.tif == "DAY":
                self._finish(order, "Cancelled", "Expired")
                self._send_order_update(order)
                expired += 1
        if expired:
            self._schedule_save()
        return expired

    # ----------------------------------------------------------------- connections

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._session_tasks.add(task)
        session = _Session(self, reader, writer)
        self._all_sessions.add(session)
        try:
            await self._serve(session)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("session %s failed", session.peer)
        finally:
            session.close()
            self._all_sessions.discard(session)
            if session.client_id is not None and self._sessions.get(session.client_id) is session:
                del self._sessions[session.client_id]
                log.info("client %s disconnected (%s)", session.client_id, session.peer)
                self._emit("disconnected", {"client_id": session.client_id, "peer": session.peer})
            if task is not None:
                self._session_tasks.discard(task)

    async def _serve(self, session: _Session) -> None:
        reader = session.reader
        prefix = await reader.readexactly(4)
        if prefix != API_PREFIX:
            log.warning("connection from %s did not start with API\\0; closing", session.peer)
            return
        (size,) = struct.unpack(">I", await reader.readexactly(4))
        announcement = (await reader.readexactly(size)).decode(errors="replace")
        try:
            low, high, _options = parse_version_range(announcement)
        except ValueError:
            log.warning("connection from %s sent no version range (%r); closing", session.peer, announcement)
            return
        negotiation = negotiate(low, high)
        if not negotiation.accepted:
            log.warning("refusing %s: %s", session.peer, negotiation.refusal)
            session.server_version = negotiation.server_version
            session.send(m.handshake(negotiation.server_version, utcnow()))
            session.error(-1, 506, negotiation.refusal or "")
            await session.writer.drain()
            return
        server_version = negotiation.server_version
        session.server_version = server_version
        session.send(m.handshake(server_version, utcnow()))
        buffer = FrameBuffer()
        loop = asyncio.get_running_loop()
        while not session.closed:
            data = await reader.read(65536)
            if not data:
                break
            for fields in buffer.feed(data):
                if session.closed:
                    break
                self._dispatch(session, fields, loop.time())
            if not session.closed:
                await session.writer.drain()

    def _emit(self, event: str, details: dict) -> None:
        for listener in list(self.listeners):
            try:
                listener(event, details)
            except Exception:
                log.exception("simulator listener failed")

    # ----------------------------------------------------------------- dispatch

    def _dispatch(self, session: _Session, fields: list[str], now: float) -> None:
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
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            self._unsupported(session, msg_id, fields)
            return
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

    def _unsupported(self, session: _Session, msg_id: int, fields: list[str]) -> None:
        req_id = self._guess_req_id(msg_id, fields)
        log.info("unsupported request %d from client %s", msg_id, session.client_id)
        session.error(req_id, 322, f"Error processing request: message {msg_id} is not supported by the simulator")

    def _start_api(self, session: _Session, fields: list[str]) -> None:
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

    # ----------------------------------------------------------------- requests: data

    def _resolve(self, con_id: int, symbol: str, sec_type: str = "", currency: str = "", exchange: str = "",
                 primary_exchange: str = "", local_symbol: str = "") -> Instrument | None:
        """The one listing the request names, or None (unknown, or ambiguous as IB says then):
        currency, a direct exchange and the primary exchange all have to match; SMART reaches any
        stock listing. A forex pair is found by its pair (EUR + USD, or the local symbol EUR.USD)."""
        if sec_type == "CASH" and not con_id:
            instrument = self.universe.get(pair_key(symbol, currency, local_symbol))
            return instrument if instrument is not None and instrument.sec_type == "CASH" else None
        if sec_type not in ("", "STK", "CASH"):
            return None
        if con_id:
            instrument = self._by_con_id.get(con_id)
            candidates = [instrument] if instrument is not None and (
                (not symbol or symbol in (instrument.symbol, m.wire_symbol(instrument)))
                and (not sec_type or sec_type == instrument.sec_type)) else []
        else:
            candidates = [i for i in self.universe.values() if i.symbol == symbol and i.sec_type == "STK"]
        candidates = [
            i for i in candidates
            if (not currency or currency == i.currency)
            and exchange in ("", "SMART", i.primary_exchange)
            and primary_exchange in ("", i.primary_exchange)
        ]
        return candidates[0] if len(candidates) == 1 else None

    def _resolve_ref(self, ref) -> Instrument | None:
        return self._resolve(ref.con_id, ref.symbol, ref.sec_type, ref.currency, ref.exchange, ref.primary_exchange,
                             ref.local_symbol)

    def _req_contract_details(self, session: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        ref = parse_contract12(f, 3)
        instrument = self._resolve_ref(ref)
        if instrument is None:
            session.error(req_id, 200, "No security definition has been found for the request")
            return
        # a direct-routed request gets its exchange back, as TWS answers
        session.send(m.contract_details(req_id, instrument, session.server_version, exchange=ref.exchange or "SMART"))
        session.send(m.contract_details_end(req_id))

    def _req_mkt_data(self, session: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        ref = parse_contract12(f, 3)
        i = 15
        if ref.sec_type == "BAG":
            i += 1 + 4 * int(f[i] or 0)
        dnc = f[i] not in ("", "0")
        i += 4 if dnc else 1
        snapshot = f[i + 1] not in ("", "0") or f[i + 2] not in ("", "0")
        if not ref.exchange:
            session.error(req_id, 321, "Error validating request.-'bW' : cause - Please enter exchange")
            return
        instrument = self._resolve_ref(ref)
        if instrument is None:
            session.error(req_id, 200, "No security definition has been found for the request")
            return
        data_type = session.market_data_type
        if session.server_version >= versions.REQ_SMART_COMPONENTS:
            bbo = "" if instrument.sec_type == "CASH" else "9c0001"
            session.send(m.tick_req_params(req_id, instrument.min_tick, bbo, 3))
        if data_type in (3, 4):
            # what a delayed-only account hears before its delayed ticks
            session.error(req_id, 10167, "Requested market data is not subscribed. Displaying delayed market data.")
        session.send(m.market_data_type(req_id, data_type))
        self._send_ticks(session, req_id, instrument, full=True, data_type=data_type)
        if snapshot:
            session.send(m.tick_snapshot_end(req_id))
        else:
            # frozen data (2, 4) is the last recorded value: sent once, not updated
            session.market_data[req_id] = instrument.key
            if data_type in (2, 4):
                session.frozen.add(req_id)

    def _send_ticks(self, session: _Session, req_id: int, instrument: Instrument, full: bool, data_type: int = 1) -> None:
        """Bid, ask, last (price then size), the close on the first message, the volume. Delayed
        data (types 3 and 4) goes out under the delayed tick types 66..76, as TWS sends it."""
        delayed = data_type in (3, 4)

        def tick(kind: int) -> int:
            return m.DELAYED_TICK[kind] if delayed else kind

        symbol = instrument.key
        bid, ask = self.quote(symbol)
        bid_size, ask_size = self._sizes[symbol]
        last = self._prices[symbol].quantize(instrument.min_tick, rounding=ROUND_HALF_UP)
        session.send(m.tick_price(req_id, tick(m.BID), bid, Decimal(bid_size)))
        session.send(m.tick_size(req_id, tick(m.BID_SIZE), Decimal(bid_size)))
        session.send(m.tick_price(req_id, tick(m.ASK), ask, Decimal(ask_size)))
        session.send(m.tick_size(req_id, tick(m.ASK_SIZE), Decimal(ask_size)))
        if instrument.sec_type != "CASH":  # IDEALPRO quotes have no trades
            session.send(m.tick_price(req_id, tick(m.LAST), last, Decimal(100)))
            session.send(m.tick_size(req_id, tick(m.LAST_SIZE), Decimal(100)))
        if full:
            session.send(m.tick_price(req_id, tick(m.CLOSE), instrument.price, None))
        if instrument.sec_type != "CASH":
            session.send(m.tick_size(req_id, tick(m.VOLUME), self._volume[symbol]))

    def _cancel_mkt_data(self, session: _Session, f: list[str]) -> None:
        session.market_data.pop(int(f[2]), None)
        session.frozen.discard(int(f[2]))

    def _req_market_data_type(self, session: _Session, f: list[str]) -> None:
        data_type = int(f[2] or 1)
        if data_type not in (1, 2, 3, 4):
            session.error(-1, 321, f"Error validating request.-'a4' : cause - Invalid market data type {data_type}")
            return
        changed = data_type != session.market_data_type
        session.market_data_type = data_type
        if changed:  # TWS tells every running subscription which kind of data follows
            for req_id in session.market_data:
                session.send(m.market_data_type(req_id, data_type))

    def _req_current_time(self, session: _Session, f: list[str]) -> None:
        session.send(m.current_time(int(utcnow().timestamp())))

    def _req_ids(self, session: _Session, f: list[str]) -> None:
        session.send(m.next_valid_id(self._next_order_id))

    def _req_managed_accounts(self, session: _Session, f: list[str]) -> None:
        session.send(m.managed_accounts(self.config.accounts))

    def _ignore(self, session: _Session, f: list[str]) -> None:
        """Requests that need no answer (reqAutoOpenOrders, cancels of subscriptions)."""

    # ----------------------------------------------------------------- requests: account

    def _position_fields(self, pos: SimPosition) -> list[str]:
        return m.position(self.config.account, self.universe[pos.symbol], pos.quantity, pos.avg_cost)

    def _req_positions(self, session: _Session, f: list[str]) -> None:
        for pos in self._positions.values():
            if pos.quantity:
                session.send(self._position_fields(pos))
        session.send(m.position_end())
        session.positions_subscribed = True

    def _cancel_positions(self, session: _Session, f: list[str]) -> None:
        session.positions_subscribed = False

    def _req_account_summary(self, session: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        tags = {t.strip() for t in f[4].split(",") if t.strip()} if len(f) > 4 else set()
        wanted = None if not tags or "All" in tags else tags
        # $LEDGER: the ledger tags (here ExchangeRate) in BASE; $LEDGER:EUR in that currency; $LEDGER:ALL in all
        ledger = {t.partition(":")[2] or "BASE" for t in tags if t.startswith("$LEDGER")}
        for account in self.config.accounts:
            for tag, value, currency in self._values_for(account):
                if tag == "ExchangeRate":
                    if "ALL" not in ledger and currency not in ledger:
                        continue
                elif wanted is not None and tag not in wanted:
                    continue
                session.send(m.account_summary(req_id, account, tag, value, currency))
        session.send(m.account_summary_end(req_id))

    def _values_for(self, account: str) -> list[tuple[str, str, str]]:
        if account == self.config.account:
            return self.account_values()
        return [("AccountType", "INDIVIDUAL", ""), ("NetLiquidation", "0", "USD"), ("TotalCashValue", "0", "USD")]

    def _portfolio_fields(self, pos: SimPosition) -> list[str]:
        mark = self._prices[pos.symbol]
        return m.update_portfolio(
            self.universe[pos.symbol],
            pos.quantity,
            mark,
            (mark * pos.quantity).quantize(CENT, rounding=ROUND_HALF_UP),
            pos.avg_cost,
            ((mark - pos.avg_cost) * pos.quantity).quantize(CENT, rounding=ROUND_HALF_UP),
            pos.realized_pnl.quantize(CENT, rounding=ROUND_HALF_UP),
            self.config.account,
        )

    def _req_account_updates(self, session: _Session, f: list[str]) -> None:
        subscribe = f[2] not in ("", "0")
        account = f[3] if len(f) > 3 and f[3] else self.config.account
        if not subscribe:
            session.account_updates = None
            return
        session.account_updates = account
        for tag, value, currency in self._values_for(account):
            session.send(m.update_account_value(tag, value, currency, account))
        if account == self.config.account:
            for pos in self._positions.values():
                if pos.quantity:
                    session.send(self._portfolio_fields(pos))
        session.send(m.update_account_time(utcnow()))
        session.send(m.account_download_end(account))

    def _req_account_updates_multi(self, session: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        account = f[3] or self.config.account
        model_code = f[4] if len(f) > 4 else ""
        for tag, value, currency in self._values_for(account):
            session.send(m.account_update_multi(req_id, account, model_code, tag, value, currency))
        session.send(m.account_update_multi_end(req_id))
        session.account_multi[req_id] = account

    def _cancel_account_updates_multi(self, session: _Session, f: list[str]) -> None:
        session.account_multi.pop(int(f[2]), None)

    def _push_account(self, symbol: str) -> None:
        self._schedule_pnl()
        pos = self._positions.get(symbol)
        for session in list(self._sessions.values()):
            if session.positions_subscribed and pos is not None:
                session.send(self._position_fields(pos))
            if session.account_updates == self.config.account:
                for tag, value, currency in self.account_values():
                    session.send(m.update_account_value(tag, value, currency, self.config.account))
                if pos is not None:
                    session.send(self._portfolio_fields(pos))
                session.send(m.update_account_time(utcnow()))
            for req_id, account in session.account_multi.items():
                if account == self.config.account:
                    for tag, value, currency in self.account_values():
                        session.send(m.account_update_multi(req_id, account, "", tag, value, currency))

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

    # ----------------------------------------------------------------- requests: orders

    def _visible(self, session: _Session, order_client_id: int) -> bool:
        return session.client_id == order_client_id or session.client_id == self.config.master_client_id

    def _recipients(self, order_client_id: int) -> list[_Session]:
        return [s for s in self._sessions.values() if not s.closed and self._visible(s, order_client_id)]

    def _req_open_orders(self, session: _Session, f: list[str]) -> None:
        self._send_open_orders(session, all_clients=False)

    def _req_all_open_orders(self, session: _Session, f: list[str]) -> None:
        self._send_open_orders(session, all_clients=True)

    def _send_open_orders(self, session: _Session, all_clients: bool) -> None:
        for order in self._orders.values():
            if order.is_done or not (all_clients or self._visible(session, order.client_id)):
                continue
            session.send(m.open_order(order, self.universe[order.symbol], session.server_version))
            session.send(m.order_status(order, session.server_version))
        session.send(m.open_order_end())

    def _req_completed_orders(self, session: _Session, f: list[str]) -> None:
        for order in self._orders.values():
            if order.is_done:
                session.send(m.completed_order(order, self.universe[order.symbol], session.server_version))
        session.send(m.completed_orders_end())

    def _req_executions(self, session: _Session, f: list[str]) -> None:
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

    def _place_order(self, session: _Session, f: list[str]) -> None:
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
            limit_price=req.limit_price if req.order_type == "LMT" else None,
            tif=req.tif,
            order_ref=req.order_ref,
            outside_rth=req.outside_rth,
            exchange=req.contract.exchange or "SMART",
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

    def _validate(self, req, order: SimOrder) -> str | None:
        if req.combo or req.delta_neutral or req.algo_strategy or req.num_conditions:
            return "combo, delta-neutral, algo and conditional orders are not supported by the simulator"
        if order.action not in ("BUY", "SELL"):
            return f"invalid action {order.action!r}"
        if order.order_type not in ("MKT", "LMT"):
            return f"order type {order.order_type} is not supported by the simulator (MKT and LMT only)"
        if order.order_type == "LMT" and (order.limit_price is None or order.limit_price <= 0):
            return "a limit order needs a positive limit price"
        if order.quantity <= 0:
            return "the order size must be positive"
        if order.tif not in ("DAY", "GTC"):
            return f"time in force {order.tif} is not supported by the simulator (DAY and GTC only)"
        if order.account not in self.config.accounts:
            return f"account {order.account} is not managed by this gateway"
        return None

    def _margin_problem(self, order: SimOrder) -> str | None:
        """IB's initial-margin check on the position this order would leave (at the current touch)."""
        bid, ask = self.quote(order.symbol)
        price = order.limit_price if order.limit_price is not None else (ask if order.action == "BUY" else bid)
        held = self._positions[order.symbol].quantity if order.symbol in self._positions else ZERO
        signed = order.quantity if order.action == "BUY" else -order.quantity
        snap = self.account_snapshot()
        extra = (abs(held + signed) - abs(held)) * price * self.rate(self.universe[order.symbol].currency) * self.config.margin_ratio
        required = snap.init_margin + extra
        if extra > 0 and required > snap.net_liquidation:
            return (f"YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH LOAN VALUE "
                    f"[{_money(snap.net_liquidation)} USD] MUST EXCEED THE INITIAL MARGIN [{_money(required)} USD]")
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
        if faults.presubmitted:
            order.status = "PreSubmitted"
            self._send_order_update(order, with_open_order=True, duplicate=faults.duplicate_status)
        order.status = "Submitted"
        self._send_order_update(order, with_open_order=True, duplicate=faults.duplicate_status)
        if faults.info_10349:
            owner = self._sessions.get(order.client_id)
            if owner is not None:
                owner.error(order.order_id, 10349, "Order TIF was set to DAY based on order preset.")
        self._try_match(order)
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

    def _modify(self, session: _Session, order: SimOrder, req) -> None:
        if order.is_done:
            if order.status == "Filled":
                session.error(order.order_id, 104, "Can't modify a filled order.")
            else:
                session.error(order.order_id, 103, "Duplicate order id")
            return
        if req.order_type not in ("MKT", "LMT") or (req.order_type == "LMT" and (req.limit_price is None or req.limit_price <= 0)):
            session.error(order.order_id, 201, "Order rejected - reason:the modification is not supported by the simulator")
            return
        if req.quantity < order.filled or req.quantity <= 0:
            session.error(order.order_id, 201, "Order rejected - reason:the new size is below the filled quantity")
            return
        order.quantity = req.quantity
        order.order_type = req.order_type
        order.limit_price = req.limit_price if req.order_type == "LMT" else None
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

    def _cancel_order(self, session: _Session, f: list[str]) -> None:
        order_id = int(f[2])
        perm_id = self._order_keys.get((session.client_id, order_id))
        if perm_id is None:
            session.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
            return
        order = self._orders[perm_id]
        if order.is_done:
            session.error(order_id, 161, f"Cancel attempted when order is not in a cancellable state. Order permId ={order.perm_id}")
            return
        self._cancel(order)

    def _cancel(self, order: SimOrder) -> None:
        log.debug("order %d of client %d cancelled", order.order_id, order.client_id)
        self._finish(order, "Cancelled", "Cancelled by Trader")
        for session in self._recipients(order.client_id):
            session.send(m.order_status(order, session.server_version))
            if session.client_id == order.client_id:
                session.error(order.order_id, 202, "Order Canceled - reason:")
        self._schedule_save()

    def _req_global_cancel(self, session: _Session, f: list[str]) -> None:
        for order in list(self._orders.values()):
            if not order.is_done:
                self._cancel(order)

    def _finish(self, order: SimOrder, status: str, completed_status: str) -> None:
        order.status = status
        order.completed_at = utcnow()
        order.completed_status = completed_status
        self._filling.discard(order.perm_id)

    def _what_if(self, session: _Session, req) -> None:
        instrument = self._resolve_ref(req.contract)
        if instrument is None:
            session.error(req.order_id, 200, "No security definition has been found for the request")
            return
        bid, ask = self.quote(instrument.key)
        price = req.limit_price if req.order_type == "LMT" and req.limit_price else (ask if req.action == "BUY" else bid)
        signed = req.quantity if req.action == "BUY" else -req.quantity
        snap = self.account_snapshot()
        if instrument.sec_type == "CASH":
            value = forex.usd_value(instrument.symbol, req.quantity, self._prices)
            margin_change = value * forex.FOREX_MARGIN_RATIO
            commission = forex.commission_usd(value)
        else:
            pos = self._positions.get(instrument.key)
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

    # ----------------------------------------------------------------- matching

    def _fill_price(self, order: SimOrder) -> Decimal | None:
        """The price this order would fill at now, or None when it does not cross."""
        bid, ask = self.quote(order.symbol)
        if order.order_type == "MKT":
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

    def _on_price_change(self, symbol: str) -> None:
        instrument = self.universe[symbol]
        self._schedule_pnl()
        for session in list(self._sessions.values()):
            for req_id, subscribed in list(session.market_data.items()):
                if subscribed == symbol and req_id not in session.frozen:
                    self._send_ticks(session, req_id, instrument, full=False, data_type=session.market_data_type)
        for order in list(self._orders.values()):
            if order.symbol == symbol and not order.is_done:
                self._try_match(order)

    async def _random_walk(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)  # the walk's own clock, not a synchronisation
            self.step_prices()

    def step_prices(self) -> None:
        """One seeded random-walk step for every symbol (streams ticks, crosses resting orders)."""
        for symbol in sorted(self.universe):
            instrument = self.universe[symbol]
            mid = self._prices[symbol]
            step = Decimal(str(self._rng.gauss(0.0, 1.0))) * self.config.walk_volatility * mid
            new = (mid + step).quantize(instrument.min_tick, rounding=ROUND_HALF_UP)
            self._prices[symbol] = max(new, instrument.min_tick * 10)
            self._on_price_change(symbol)

    # ----------------------------------------------------------------- fills and books

    def _commission_currency(self, instrument: Instrument) -> str:
        return forex.COMMISSION_CURRENCY if instrument.sec_type == "CASH" else instrument.currency

    def _fill(self, order: SimOrder, quantity: Decimal, price: Decimal, faults: OrderFaults) -> None:
        now = utcnow()
        instrument = self.universe[order.symbol]
        self._exec_seq += 1
        exec_id = f"{self._exec_prefix}.{self._exec_seq:08x}.01.01"
        previous = order.filled
        order.filled = previous + quantity
        order.avg_fill_price = (order.avg_fill_price * previous + price * quantity) / order.filled
        order.last_fill_price = price
        signed = quantity if order.action == "BUY" else -quantity
        if instrument.sec_type == "CASH":
            # a conversion: base currency in, quote currency out (or back), commission in USD; the
            # pair's position (as IB reports it) is kept in the quote currency (services/ibsim/forex.py)
            total_commission = forex.commission_usd(forex.usd_value(order.symbol, order.filled, self._prices))
            commission = total_commission - order.commission_paid
            order.commission_paid = total_commission
            base, quote = order.symbol.split(".")
            self._credit(base, signed)
            self._credit(quote, -signed * price)
            self._credit(forex.COMMISSION_CURRENCY, -commission)
            commission_quote = commission * self.rate(forex.COMMISSION_CURRENCY) / self.rate(quote)
            realized = self._apply_position(order.symbol, instrument.con_id, exec_id, signed, price, commission_quote)
            if realized is not None:
                realized = realized * self.rate(quote) / self.rate(forex.COMMISSION_CURRENCY)  # reported in USD
            self._day.record_flow(order.symbol, signed * price + commission_quote)  # in the quote currency, as the marks
        else:
            total_commission = self._commission.commission(order.filled, order.avg_fill_price)
            commission = total_commission - order.commission_paid
            order.commission_paid = total_commission
            realized = self._apply_position(order.symbol, instrument.con_id, exec_id, signed, price, commission)
            flow = (signed * price + commission) * self.rate(instrument.currency)  # in the base currency
            self._cash -= flow
            self._day.record_flow(order.symbol, flow)
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
            if not faults.late_commission:
                session.send(report)
        if faults.late_commission:
            self._later(self.faults.late_commission_delay, lambda: self._send_late(recipients, report))
        if faults.exec_correction:
            self._correct(order, execution, instrument, recipients)
        self._push_account(order.symbol)
        self._schedule_save()

    def _send_late(self, recipients: list[_Session], report: list[str]) -> None:
        for session in recipients:
            session.send(report)

    def _correct(self, order: SimOrder, execution: SimExecution, instrument: Instrument, recipients: list[_Session]) -> None:
        """Revision .02 of an execution with a changed price; books adjusted by the difference."""
        delta = self.faults.correction_price_delta
        signed = execution.shares if execution.side == "BOT" else -execution.shares
        corrected = replace(execution, exec_id=execution.base_id + ".02", price=execution.price + delta)
        order.avg_fill_price = (order.avg_fill_price * order.filled + delta * execution.shares) / order.filled
        order.last_fill_price = corrected.price
        corrected.avg_price = order.avg_fill_price
        flow = signed * delta * self.rate(instrument.currency)  # in the base currency
        self._cash -= flow
        self._day.record_flow(order.symbol, flow)
        corrected.realized_pnl = self._apply_position(order.symbol, instrument.con_id, corrected.exec_id, signed,
                                                      corrected.price, corrected.commission)
        self._executions[corrected.base_id] = corrected
        self._ledger.append(corrected.to_json())
        log.debug("fault: execution %s corrected to %s @ %s", execution.exec_id, corrected.exec_id, m.fmt(corrected.price))
        report = m.commission_report(corrected.exec_id, corrected.commission, instrument.currency, corrected.realized_pnl)
        for session in recipients:
            session.send(m.exec_details(-1, corrected, instrument, session.server_version))
            session.send(report)

    def _book(self, symbol: str, con_id: int) -> PositionBook:
        book = self._books.get(symbol)
        if book is None:
            pos = self._positions.get(symbol)
            opening = PositionState(pos.quantity, pos.avg_cost, pos.realized_pnl) if pos is not None else None
            book = self._books[symbol] = PositionBook(opening)  # a loaded state file starts from its position
        if symbol not in self._positions:
            self._positions[symbol] = SimPosition(symbol=symbol, con_id=con_id)
        return book

    def _apply_position(self, symbol: str, con_id: int, exec_id: str, signed: Decimal, price: Decimal,
                        commission: Decimal) -> Decimal | None:
        """Book an execution (or a correction of one) in the one positions book (IB's average-cost
        method, docs/ib-average-cost.md); returns the P&L it realised, None for an opening fill."""
        book = self._book(symbol, con_id)
        realized = book.execution(exec_id, signed, price, commission)
        pos, state = self._positions[symbol], book.state
        pos.quantity, pos.avg_cost, pos.realized_pnl = state.quantity, state.average_cost, state.realized_pnl
        return realized

    # ----------------------------------------------------------------- persistence

    def _schedule_save(self) -> None:
        if not (self.config.state_file or self.config.ledger_file) or self._save_scheduled:
            return
        self._save_scheduled = True
        loop = self._loop
        if loop is None or loop.is_closed():
            self.save()
            return
        loop.call_soon(self.save)

    def save(self) -> None:
        """Write the state and ledger files now (atomic); a no-op without files configured."""
        self._save_scheduled = False
        if self.config.state_file:
            write_json_atomic(self.config.state_file, self._state_json())
        if self.config.ledger_file:
            write_json_atomic(self.config.ledger_file, self._ledger)

    def _state_json(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "saved_at": utcnow().isoformat(),
            "accounts": list(self.config.accounts),
            "next_order_id": self._next_order_id,
            "next_perm_id": self._next_perm_id,
            "exec_seq": self._exec_seq,
            "cash": str(self._cash),
            "fx_cash": {c: str(a) for c, a in self._fx_cash.items()},
            "prices": {s: str(p) for s, p in self._prices.items()},
            "orders": [o.to_json() for o in self._orders.values()],
            "executions": [e.to_json() for e in self._executions.values()],
            "positions": [p.to_json() for p in self._positions.values()],
            "ledger": self._ledger,
        }

    def _load_state(self) -> None:
        path = self.config.state_file
        assert path is not None
        try:
            data = read_json(path)
        except FileNotFoundError:
            return
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"state file {path} has format {data.get('format')!r}, expected {STATE_FORMAT}")
        self._next_order_id = max(self._next_order_id, int(data["next_order_id"]))
        self._next_perm_id = max(self._next_perm_id, int(data["next_perm_id"]))
        self._exec_seq = int(data["exec_seq"])
        self._cash = Decimal(data["cash"])
        self._fx_cash = {c: Decimal(a) for c, a in data.get("fx_cash", {}).items()}
        for symbol, price in data.get("prices", {}).items():
            if symbol in self._prices:
                self._prices[symbol] = Decimal(price)
        unknown = sorted({raw["symbol"] for raw in (*data["orders"], *data["positions"]) if raw["symbol"] not in self.universe})
        if unknown:
            raise ValueError(f"state file {path} refers to symbols missing from the universe: {', '.join(unknown)}")
        for raw in data["orders"]:
            order = SimOrder.from_json(raw)
            self._orders[order.perm_id] = order
            self._order_keys[(order.client_id, order.order_id)] = order.perm_id
        for raw in data["executions"]:
            execution = SimExecution.from_json(raw)
            self._executions[execution.base_id] = execution
        for raw in data["positions"]:
            pos = SimPosition.from_json(raw)
            self._positions[pos.symbol] = pos
        self._ledger = list(data.get("ledger", []))
        today = datetime.now(NEW_YORK).date()
        for order in self._orders.values():
            if not order.is_done and order.tif == "DAY" and order.created_at.astimezone(NEW_YORK).date() < today:
                self._finish(order, "Cancelled", "Expired")
        log.info("state loaded from %s: %d orders (%d open), %d executions", path, len(self._orders),
                 len(self.open_orders()), len(self._executions))

    _handlers: dict[int, Callable[["IBGatewaySimulator", _Session, list[str]], None]] = {}


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
            return datetime.strptime(text[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=timezone.utc)
        parts = text.split(" ")
        moment = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
        zone = ZoneInfo(parts[2]) if len(parts) > 2 else NEW_YORK
        return moment.replace(tzinfo=zone)
    except (ValueError, IndexError, KeyError):
        return None


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
    63: IBGatewaySimulator._ignore,  # cancelAccountSummary
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
