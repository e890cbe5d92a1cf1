"""Market: mid prices, quotes, the seeded random walk, contract lookup and market data.

bid/ask = mid -/+ spread/2 (a forex pair: one tick either side). A price change streams ticks to
the running subscriptions (not to frozen ones) and lets resting LMT orders cross (matching.py).
Delayed data (market data types 3 and 4) goes out under the delayed tick types. A listing's
streams can be answered with an error instead (``faults.market_data_errors``), and running ones
ended with one (``end_market_data``), as IB ends a stream the account may not have.
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from services.ibsim import messages as m
from services.ibsim import versions
from services.ibsim.base import SimulatorBase
from services.ibsim.forex import pair_key
from services.ibsim.hours import HoursText
from services.ibsim.model import Instrument
from services.ibsim.requests import ContractRef, parse_contract12
from services.ibsim.transport import Session

# the errors IB answers a market data request with, as it words them; a notice (10167) is followed
# by the data, the others end the request
MARKET_DATA_ERRORS = {
    200: "No security definition has been found for the request",
    354: "Requested market data is not subscribed.",
    10167: "Requested market data is not subscribed. Displaying delayed market data.",
    10168: "Requested market data is not subscribed. Delayed market data is not enabled.",
    10197: "No market data during competing live session",
}
_NOTICES = frozenset({10167})


class MarketMixin(SimulatorBase):
    """Prices and quotes (public controls), contract details and market data requests."""

    if TYPE_CHECKING:  # pragma: no cover - hours.py
        def hours_of(self, instrument: Instrument) -> HoursText: ...

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

    # ----------------------------------------------------------------- requests: market data

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

    def _resolve_ref(self, ref: ContractRef) -> Instrument | None:
        return self._resolve(ref.con_id, ref.symbol, ref.sec_type, ref.currency, ref.exchange, ref.primary_exchange,
                             ref.local_symbol)

    def _req_contract_details(self, session: Session, f: list[str]) -> None:
        req_id = int(f[2])
        ref = parse_contract12(f, 3)
        instrument = self._resolve_ref(ref)
        if instrument is None:
            session.error(req_id, 200, "No security definition has been found for the request")
            return
        # a direct-routed request gets its exchange back, as TWS answers
        hours = self.hours_of(instrument)  # hours.py, by --market-hours
        session.send(m.contract_details(req_id, instrument, session.server_version, exchange=ref.exchange or "SMART",
                                        trading_hours=hours.trading, liquid_hours=hours.liquid, time_zone=hours.time_zone))
        session.send(m.contract_details_end(req_id))

    def _req_mkt_data(self, session: Session, f: list[str]) -> None:
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
        refused = self.faults.market_data_errors.get(instrument.key)
        if refused is not None:
            session.error(req_id, refused, MARKET_DATA_ERRORS.get(refused, "Market data request refused"))
            if refused not in _NOTICES:
                return
        lines = self.faults.market_data_lines
        if lines and self.market_data_lines_used() >= lines:
            session.error(req_id, 101, "Max number of tickers has been reached")
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
            delay = self.faults.snapshot_seconds
            if delay > 0:
                session.snapshots.add(req_id)

                def end() -> None:
                    if req_id in session.snapshots:
                        session.snapshots.discard(req_id)
                        if not session.closed:
                            session.send(m.tick_snapshot_end(req_id))

                self._later(delay, end)
            else:
                session.send(m.tick_snapshot_end(req_id))
        else:
            # frozen data (2, 4) is the last recorded value: sent once, not updated
            session.market_data[req_id] = instrument.key
            if data_type in (2, 4):
                session.frozen.add(req_id)

    def _send_ticks(self, session: Session, req_id: int, instrument: Instrument, full: bool, data_type: int = 1) -> None:
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

    def end_market_data(self, symbol: str, code: int = 10197) -> int:
        """IB ending every running stream of ``symbol`` with the error ``code`` (10197: a
        competing live session took the data; 354: the subscription lapsed): no more ticks, the
        line freed. Returns the streams ended."""
        key = self.universe[symbol.upper()].key
        ended = 0
        for session in list(self._sessions.values()):
            for req_id, subscribed in list(session.market_data.items()):
                if subscribed == key:
                    del session.market_data[req_id]
                    session.frozen.discard(req_id)
                    session.error(req_id, code, MARKET_DATA_ERRORS.get(code, "Market data request refused"))
                    ended += 1
        return ended

    def market_data_lines_used(self) -> int:
        """Lines in use on the account: every client's streams and unfinished snapshots."""
        return sum(len(s.market_data) + len(s.snapshots) for s in self._all_sessions if not s.closed)

    def _cancel_mkt_data(self, session: Session, f: list[str]) -> None:
        session.snapshots.discard(int(f[2]))
        session.market_data.pop(int(f[2]), None)
        session.frozen.discard(int(f[2]))

    def _req_market_data_type(self, session: Session, f: list[str]) -> None:
        data_type = int(f[2] or 1)
        if data_type not in (1, 2, 3, 4):
            session.error(-1, 321, f"Error validating request.-'a4' : cause - Invalid market data type {data_type}")
            return
        changed = data_type != session.market_data_type
        session.market_data_type = data_type
        if changed:  # TWS tells every running subscription which kind of data follows
            for req_id in session.market_data:
                session.send(m.market_data_type(req_id, data_type))

    # ----------------------------------------------------------------- price moves

    def _on_price_change(self, symbol: str) -> None:
        instrument = self.universe[symbol]
        self._schedule_pnl()
        # a broken market data farm streams no ticks (gateway_faults.py)
        sessions = [] if self._market_data_farm_broken() else list(self._sessions.values())
        for session in sessions:
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
