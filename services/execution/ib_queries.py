"""The broker queries of the ib_async adapter (a part of ``IbExecutionProvider``): contract
details and trading hours, market data snapshots, the account summary and the reconciliation
queries (open and completed orders, executions, positions).

Each request is one message sent through the shared pacing limiter (``self.sender``), never a
batch handed to ib_async at once; a request IB dropped (error 100) is asked again, see
``services.execution.paced`` and docs/ib-pacing.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ib_async import BarDataList, ExecutionFilter

from services.core.bars import Bar
from services.core.contracts import ContractSpec, spec_of
from services.core.ib_codes import HistoryAnswer, history_answer
from services.core.trading_hours import TradingHours, calendar_zone, listing_calendar
from services.core.wording import counted

from .errors import ConnectionLost, NotConnected, QueryFailed, UnknownContract
from .events import ExecutionEvent, OpenOrderEvent, dec
from .ib_contracts import FxRates, fx_from_account_values, ib_contract, is_listing, spec_of_ib
from .paced import MARKET_DATA_LINES, MAX_TICKERS, Lines
from .provider import BrokerPosition

if TYPE_CHECKING:
    from .history_pacing import HistoricalPacing
    from .paced import PacedSender

log = logging.getLogger(__name__)
HOURS_MAX_AGE = 6 * 3600.0  # a listing's trading hours are asked again after this (IB sends a week)
HISTORY_TIMEOUT = 120.0  # IB can take a minute for ten years of daily bars
# sends of one historical request answered with pacing violations before its listing fails
HISTORY_PACING_ATTEMPTS = 4
class HistoryDropped(Exception):
    """A historical request IB dropped (error 100, no answer): asked again by ``daily_bars``."""


# the tags ib_async's reqAccountSummaryAsync asks for (ib_async/ib.py), asked the same way by
# ``_request_account_summary`` so that the subscription's request id is known
ACCOUNT_SUMMARY_TAGS = (
    "AccountType,NetLiquidation,TotalCashValue,SettledCash,AccruedCash,BuyingPower,EquityWithLoanValue,"
    "PreviousDayEquityWithLoanValue,GrossPositionValue,RegTEquity,RegTMargin,SMA,InitMarginReq,MaintMarginReq,"
    "AvailableFunds,ExcessLiquidity,Cushion,FullInitMarginReq,FullMaintMarginReq,FullAvailableFunds,"
    "FullExcessLiquidity,LookAheadNextChange,LookAheadInitMarginReq,LookAheadMaintMarginReq,LookAheadAvailableFunds,"
    "LookAheadExcessLiquidity,HighestSeverity,DayTradesRemaining,DayTradesRemainingT+1,DayTradesRemainingT+2,"
    "DayTradesRemainingT+3,DayTradesRemainingT+4,Leverage,$LEDGER:ALL")


def price_kind(market_data_type: int | None, from_close: bool) -> str:
    """How a price was obtained: IB's market data types 1 live, 2 frozen, 3 delayed, 4 delayed
    frozen; a price taken from the previous close is a close, whatever the type."""
    if from_close:
        return "close"
    return {2: "frozen", 3: "delayed", 4: "delayed_frozen"}.get(int(market_data_type or 1), "live")


class IbQueries:
    """Needs from the provider: ``ib``, ``sender``, ``account``, ``contract_store``,
    ``_contracts``, ``_query_locks``, ``_require_connected``, ``_order_event``,
    ``_answered_executions``."""

    # What the provider supplies, declared for the type checker (ib_async's IB is untyped).
    ib: Any
    sender: PacedSender
    history_pacing: HistoricalPacing
    account: str
    contract_store: Any  # e.g. contracts.DbContractStore, or None: nothing kept between runs
    quote_info: dict[str, tuple[datetime, str]]
    clock: Callable[[], datetime]
    _hours: dict[str, tuple[float, TradingHours | None]]  # listing key -> (loop time asked, hours)
    _min_ticks: dict[str, Decimal]  # listing key -> the contract details' minTick
    _contracts: dict[ContractSpec, Any]
    _query_locks: dict[str, asyncio.Lock]
    _answered_executions: dict[str, tuple[int, int]]  # execId -> (reqId, position in the answer)
    connected_at: datetime | None
    _account_summary_at: datetime | None = None  # the connection the account summary was subscribed on
    _account_summary_req: tuple[datetime | None, int] | None = None  # (connection, reqId) of that subscription
    # IB's market data lines of the account (the setting [ib] market_data_lines)
    market_data_lines: int = MARKET_DATA_LINES
    _snapshot_lines_shared: Lines | None = None  # ``_shared_snapshot_lines``

    @property
    def snapshot_lines(self) -> int:
        """How many snapshots may be open at once: half of the account's lines, so that the
        watchlist, TWS and another process keep theirs."""
        return max(1, self.market_data_lines // 2)

    def _shared_snapshot_lines(self) -> Lines:
        """The connection's one budget of ``snapshot_lines``, shared by every ``market_prices``
        call at once (a preview, tickets, the monitor): each call's own budget alone let a few
        calls together hold more lines than the account has, and IB refused them (error 101)."""
        shared = self._snapshot_lines_shared
        if shared is None or shared.count != self.snapshot_lines:
            shared = self._snapshot_lines_shared = Lines(self.snapshot_lines)
        return shared

    if TYPE_CHECKING:
        def _require_connected(self) -> None: ...
        def _lost(self, during: str = "") -> ConnectionLost: ...
        async def _send(self, fn: Any, *args: Any) -> Any: ...
        def streamed_price(self, key: str) -> tuple[Decimal, datetime, str] | None: ...
        def stream_lines(self) -> int: ...
        def _order_event(self, orderId: Any, contract: Any, order: Any, status: str,
                         completed: bool) -> OpenOrderEvent: ...
        def _execution_event(self, contract: Any, execution: Any, commission: Any = None,
                             source: str = "broker") -> ExecutionEvent: ...
        def forget_finished(self, older_than: float | None = None) -> int: ...

    async def _ask(self, start, what: str):
        """One query, paced, asked again if IB dropped it; the same query never runs twice at
        once (ib_async keys some replies by name, e.g. "openOrders")."""
        lock = self._query_locks.setdefault(what, asyncio.Lock())
        async with lock:
            try:
                return await self.sender.ask(start, what, check=self._require_connected)
            except (QueryFailed, NotConnected):
                raise
            except ConnectionError as exc:  # ib_async's "Socket disconnect": the drop, said as one
                raise self._lost(f" while asking for the {what}") from exc
            except Exception as exc:  # RequestError and friends
                raise QueryFailed(f"{what}: {exc}") from exc

    async def _orders_at_broker(self) -> set[str]:
        """The orderRefs IB has (open or completed), for the in-flight order check."""
        refs = {o.order_ref for o in await self.open_orders()}
        refs |= {o.order_ref for o in await self.completed_orders()}
        return refs

    # ------------------------------------------------------------------ contracts and prices
    async def check_listings(self, specs: Sequence[ContractSpec]) -> None:
        """``ExecutionProvider.check_listings``: the contract details ``daily_bars`` asks for anyway,
        asked first and kept (a second ask of a listing costs nothing)."""
        await self.qualify(specs)

    async def qualify(self, symbols: Sequence[str | ContractSpec]) -> dict[str, Any]:
        """Qualified contracts by listing key (a bare symbol is the US stock). A listing IB does
        not know, or answers with another listing, is refused: never swapped."""
        self._require_connected()
        specs = list(dict.fromkeys(spec_of(s) for s in symbols))
        missing = [s for s in specs if s not in self._contracts]
        for spec in missing:
            ib_contract(spec)  # refuses what the console cannot trade before asking anyone
        if missing and self.contract_store is not None:
            try:
                known = await asyncio.to_thread(self.contract_store.load, missing)
            except Exception:  # the cache is an optimisation: on any trouble, ask IB
                log.exception("contract cache unreadable")
                known = {}
            for spec in missing:
                if spec.key in known:
                    con_id, primary = known[spec.key]
                    self._contracts[spec] = ib_contract(spec, con_id=con_id, primary_exchange=primary or spec.primary_exchange)
            missing = [s for s in missing if s not in self._contracts]
        if missing:
            # one reqContractDetails per listing, paced (not qualifyContractsAsync: all at once)
            failure = None
            try:
                answers = await self.sender.ask_each(
                    missing, lambda spec: self.ib.reqContractDetailsAsync(ib_contract(spec)), "contract details",
                    check=self._require_connected)
            except QueryFailed as exc:  # keep what did get an answer: the next try asks for less
                failure, answers = exc, getattr(exc, "answered", {})
            fresh = {}
            for spec, answer in answers.items():
                contract = _unique_stock(answer, ib_contract(spec))
                if contract is None:
                    continue
                if not is_listing(spec, contract):
                    log.error("%s: IB answered with %s %s %s/%s: refused", spec.key, contract.symbol, contract.currency,
                              contract.exchange, contract.primaryExchange)
                    continue
                self._contracts[spec] = contract
                fresh[spec] = (contract.conId, contract.primaryExchange)
                self._keep_hours(spec, answer.result())  # the market-health gate reads them
            if fresh and self.contract_store is not None:
                try:
                    await asyncio.to_thread(self.contract_store.save, fresh)
                except Exception:
                    log.exception("contract cache not written")
            if failure is not None:
                raise failure
        unknown = [s for s in specs if s not in self._contracts]
        if unknown:
            keys = tuple(sorted({s.key for s in unknown}))
            raise UnknownContract(f"unknown contract{'s' if len(keys) > 1 else ''}: {', '.join(keys)}", keys)
        return {s.key: self._contracts[s] for s in specs}

    def _request_snapshot(self, contract) -> tuple[asyncio.Future, Any, int]:
        """One market data snapshot (what ``reqTickersAsync`` does per contract), sent now: its
        future, its ticker and its request id."""
        wrapper = self.ib.wrapper
        req_id = self.ib.client.getReqId()
        future = wrapper.startReq(req_id, contract)
        ticker = wrapper.startTicker(req_id, contract, "snapshot")
        self.ib.client.reqMktData(req_id, contract, "", True, False, [])
        return future, ticker, req_id

    async def market_prices(self, symbols: Sequence[str | ContractSpec]) -> dict[str, Decimal | None]:
        """Prices in each listing's own currency, by listing key. A listing streaming on this
        connection (the watchlist: ib_quotes.py) is priced from its stream, the others from one
        snapshot each: the watchlist, the ticket and the preview see the same price.

        A snapshot holds one of the account's market data lines until it ends (IB: up to about
        11 s); beyond the allowance IB refuses it with error 101 "Max number of tickers has been
        reached". At most ``snapshot_lines`` snapshots are open at once (fewer when the
        watchlist's streams leave less of ``market_data_lines``); a snapshot refused anyway (the
        lines of TWS's window or of another program count too) is asked again once lines had
        time to free, and still refused, the listings are named in a ``QueryFailed``."""
        contracts = await self.qualify(symbols)
        prices: dict[str, Decimal | None] = {}
        for key in list(contracts):
            streamed = self.streamed_price(key)
            if streamed is not None:
                price, seen_at, kind = streamed
                prices[key] = price
                self.quote_info[key] = (seen_at, kind)
        unique = [key for key in contracts if key not in prices]
        tickers: dict[str, Any] = {}
        by_req_id: dict[int, str] = {}
        refused: set[str] = set()
        lines = Lines(min(self.snapshot_lines, self.market_data_lines - self.stream_lines()), within=self._shared_snapshot_lines())

        def start(symbol: str) -> asyncio.Future:
            refused.discard(symbol)
            future, tickers[symbol], req_id = self._request_snapshot(contracts[symbol])
            by_req_id[req_id] = symbol
            return future

        def on_error(req_id, code, _message, _contract=None) -> None:
            if code == MAX_TICKERS and req_id in by_req_id:
                refused.add(by_req_id[req_id])

        self.ib.errorEvent += on_error
        try:
            asking = unique
            for attempt in range(1, self.sender.attempts + 1):
                await self.sender.ask_each(asking, start, "market data snapshot", check=self._require_connected, lines=lines)
                asking = [key for key in unique if key in refused]
                if not asking:
                    break
                if attempt < self.sender.attempts:
                    log.warning("market data snapshot: IB refused %s with error 101 (max number of market data "
                                "lines reached); asking again (attempt %d of %d)", counted(len(asking), "listing"), attempt + 1,
                                self.sender.attempts)
                    await asyncio.sleep(self.sender.settle)
            if asking:
                raise QueryFailed(
                    f"market data snapshot: IB refused {counted(len(asking), 'listing')} with error 101 \"Max number of tickers has been "
                    f"reached\" after {self.sender.attempts} attempts: the account's market data lines are in use (streams "
                    f"and snapshots of TWS, this console and any other program count): {', '.join(asking[:20])}"
                    f"{f' and {len(asking) - 20} more' if len(asking) > 20 else ''}")
        finally:
            self.ib.errorEvent -= on_error
            for ticker in tickers.values():
                self.ib.wrapper.endTicker(ticker, "snapshot")
        for symbol in unique:
            ticker = tickers[symbol]
            value = None
            kind = "close"
            for kind, candidate in (("quote", ticker.marketPrice()), ("quote", ticker.last), ("close", ticker.close)):  # noqa: B007 - kind is read after the loop
                value = dec(candidate)
                if value is not None and value > 0:
                    break
                value = None
            prices[symbol] = value
            if value is not None:  # a plan stores when and how each price was seen
                # a snapshot is seen now: asked for and answered within this call
                self.quote_info[symbol] = (self.clock(), price_kind(getattr(ticker, "marketDataType", 1), kind == "close"))
        return prices

    async def trading_hours(self, spec: ContractSpec) -> TradingHours | None:
        """The listing's hours from its contract details (asked again after ``HOURS_MAX_AGE``
        seconds: IB sends about a week); None when IB gives none."""
        loop_now = asyncio.get_running_loop().time()
        cached = self._hours.get(spec.key)
        if cached is not None and loop_now - cached[0] < HOURS_MAX_AGE:
            return cached[1]
        contract = (await self.qualify([spec]))[spec.key]
        answers = await self.sender.ask_each([spec.key], lambda _key: self.ib.reqContractDetailsAsync(contract),
                                             "contract details (hours)", check=self._require_connected)
        self._keep_hours(spec, answers[spec.key].result())
        return self._hours[spec.key][1]

    async def _historical_request(self, spec: ContractSpec, contract: Any, end: str, duration: str,
                                  what_to_show: str) -> tuple[Any, list[tuple[int, str]]]:
        """One reqHistoricalData of daily bars: ib_async's answer and the errors IB sent for it."""
        errors: list[tuple[int, str]] = []
        holder: dict[str, int] = {}

        def on_error(req_id, code, message, _contract=None) -> None:
            if req_id == holder.get("id"):
                errors.append((code, message))

        def start() -> asyncio.Future:
            req_id = holder["id"] = self.ib.client.getReqId()
            bars = BarDataList()
            future = self.ib.wrapper.startReq(req_id, contract, container=bars)
            self.ib.client.reqHistoricalData(req_id, contract, end, duration, "1 day", what_to_show, True, 1, False, [])
            return future

        self.ib.errorEvent += on_error
        try:
            before = self.sender.violations
            future = await self.sender.send(start, check=self._require_connected)
            if not await self.sender.answer_or_dropped(future, before, HISTORY_TIMEOUT):
                self.ib.wrapper._endReq(holder["id"])
                raise HistoryDropped(f"historical data {spec.key}: dropped by IB's pacing error 100")
            if not future.done():
                self.ib.client.cancelHistoricalData(holder["id"])
                raise QueryFailed(f"historical data {spec.key}: no answer within {HISTORY_TIMEOUT:g} s")
            answer = future.result()
        except ConnectionError as exc:  # ib_async ends what is outstanding with "Socket disconnect"
            raise NotConnected(f"historical data {spec.key}: the connection to IB closed before the answer ({exc})") from exc
        finally:
            self.ib.errorEvent -= on_error
        return answer, errors

    async def daily_bars(self, spec: ContractSpec, first: date, last: date, what_to_show: str = "TRADES") -> list[Bar]:
        """The listing's daily bars from ``first`` to ``last`` (one reqHistoricalData, within IB's
        historical-data pacing: history_pacing.py); [] when IB has none for the span. A pacing
        violation IB answers anyway is asked again after the pacing's wait, at most
        ``HISTORY_PACING_ATTEMPTS`` sends in all."""
        contract = (await self.qualify([spec]))[spec.key]
        end, duration = history_span(first, last, listing_calendar(spec))
        answer: Any = None
        for attempt in range(1, HISTORY_PACING_ATTEMPTS + 1):
            await self.history_pacing.acquire((contract.conId, what_to_show), (contract.conId, end, duration, what_to_show))
            try:
                answer, errors = await self._historical_request(spec, contract, end, duration, what_to_show)
            except HistoryDropped as exc:
                if attempt == HISTORY_PACING_ATTEMPTS:
                    raise QueryFailed(f"{exc} {attempt} times in a row") from None
                log.warning("%s; asking again (the identical request waits out IB's 15 s rule)", exc)
                continue
            kinds = [history_answer(code, message) for code, message in errors]
            if not errors or HistoryAnswer.NO_DATA in kinds:
                break
            code, message = errors[0]
            if kinds[0] is not HistoryAnswer.PACING:
                raise QueryFailed(f"historical data {spec.key}: IB error {code}: {message}")
            if attempt == HISTORY_PACING_ATTEMPTS:
                raise QueryFailed(f"historical data {spec.key}: IB error {code}: {message} "
                                  f"(a pacing violation {attempt} times in a row)")
            wait = await self.history_pacing.violated()
            log.warning("historical data %s: IB answered a pacing violation; asked again in %.0f s", spec.key, wait)
        out = []
        for bar in answer or []:
            day = bar.date if isinstance(bar.date, date) and not isinstance(bar.date, datetime) else None
            if day is None or not first <= day <= last:
                continue
            o, h, lo, c = (dec(bar.open), dec(bar.high), dec(bar.low), dec(bar.close))
            if o is None or h is None or lo is None or c is None or min(o, h, lo, c) <= 0:
                continue  # a bar without prices is no bar (the day stays missing)
            out.append(Bar(day, spec.key, o, h, lo, c, max(dec(bar.volume) or Decimal(0), Decimal(0))))
        return out

    def known_hours(self, spec: ContractSpec) -> TradingHours | None:
        """The listing's hours as last asked (None when never asked, or IB gave none)."""
        kept = self._hours.get(spec.key)
        return None if kept is None else kept[1]

    async def min_tick(self, spec: ContractSpec) -> Decimal | None:
        """The listing's price increment from its contract details (asked when not known yet);
        None when IB gives none."""
        if spec.key not in self._min_ticks and spec.key not in self._hours:
            await self.trading_hours(spec)  # one contract-details request brings hours and tick
        return self._min_ticks.get(spec.key)

    def _keep_hours(self, spec: ContractSpec, details: Any) -> None:
        """The hours and the minimum tick of a contract-details answer (qualifying a listing
        asks for them anyway)."""
        tick = dec(getattr(details[0], "minTick", None)) if details else None
        if tick is not None and tick > 0:
            self._min_ticks[spec.key] = tick
        try:
            hours = TradingHours.from_details(details[0]) if details else None
        except ValueError as exc:  # HoursFormatError: no hours rather than wrong ones
            log.warning("%s: trading hours unreadable (%s): the exchange calendar decides", spec.key, exc)
            hours = None
        self._hours[spec.key] = (asyncio.get_running_loop().time(), hours)

    async def _account_summary(self) -> list[Any]:
        """The account's summary values as IB last sent them. The subscription is made once per
        connection (ib_async keeps ``wrapper.acctSummary`` updated with every accountSummary IB
        sends afterwards: the values that changed, every 3 minutes); read fresh on every call,
        never copied. One subscriber at a time: two callers that both found it empty would each
        subscribe (IB allows two at once, error 322 beyond), or read the values of a
        subscription not yet answered in full."""
        self._require_connected()
        if self._account_summary_at != self.connected_at or not self.ib.wrapper.acctSummary:
            async with self._query_locks.setdefault("account summary subscription", asyncio.Lock()):
                # values arrive before the accountSummaryEnd: a second caller waits for the end
                if self._account_summary_at != self.connected_at or not self.ib.wrapper.acctSummary:
                    held = self._account_summary_req
                    if held is not None and held[0] == self.connected_at:  # renewed after a 1101/1102
                        self._account_summary_req = None
                        await self._send(self.ib.client.cancelAccountSummary, held[1])
                    await self._ask(self._request_account_summary, "account summary")
                    self._account_summary_at = self.connected_at
        return [v for v in self.ib.wrapper.acctSummary.values() if not self.account or v.account == self.account]

    def _request_account_summary(self) -> Any:
        """ib_async's ``reqAccountSummaryAsync`` (the same tags, the same bookkeeping of the
        answer), keeping the request id so that the subscription can be cancelled."""
        held = self._account_summary_req
        if held is not None and held[0] == self.connected_at:
            # asked again (no answer within the request timeout): IB still holds the first
            # subscription, and refuses a third (322); the cancel rides in this request's turn
            self._account_summary_req = None
            self.ib.client.cancelAccountSummary(held[1])
        req_id = self.ib.client.getReqId()
        answered = self.ib.wrapper.startReq(req_id)
        self.ib.client.reqAccountSummary(req_id, "All", ACCOUNT_SUMMARY_TAGS)
        self._account_summary_req = (self.connected_at, req_id)
        return answered

    def _renew_account_summary(self) -> None:
        """After IB's connection came back (1101 / 1102): subscribe afresh at the next read, the
        old subscription cancelled first. ib_async's own answer to 1102 (subscribe again, keep
        the old one) is switched off (``ib_callbacks``): after two gaps a client held three and IB
        refused the third (error 322), as it allows two at once."""
        self._account_summary_at = None

    async def net_liquidation(self) -> Decimal | None:
        for value in await self._account_summary():
            if value.tag == "NetLiquidation" and value.currency != "BASE":  # in the base currency
                return dec(value.value)
        return None

    async def buying_power(self) -> Decimal | None:
        for value in await self._account_summary():
            if value.tag == "BuyingPower" and value.currency != "BASE":
                return dec(value.value)
        return None

    async def exchange_rates(self) -> FxRates:
        """From the account summary kept for the NetLiquidation (its $LEDGER:ALL ExchangeRate
        values): no extra request once it is there."""
        return fx_from_account_values(await self._account_summary())

    # ------------------------------------------------------------------ reconciliation queries
    async def open_orders(self) -> list[OpenOrderEvent]:
        self._require_connected()
        trades = await self._ask(self.ib.reqAllOpenOrdersAsync, "open orders")
        # once each: ib_async adds every openOrder message that comes while the request is open to
        # its answer, so an order placed just before (whose own openOrder echo comes late) is in it
        # twice, as the same Trade (wrapper.openOrder)
        unique = list({id(t): t for t in trades}.values())
        return [self._order_event(t.order.orderId, t.contract, t.order, t.orderStatus.status, False) for t in unique]

    async def completed_orders(self) -> list[OpenOrderEvent]:
        self._require_connected()
        # the adapter's completedOrder handler answers with events, not ib_async Trades
        return list(await self._ask(lambda: self.ib.reqCompletedOrdersAsync(False), "completed orders"))

    async def executions(self, since: datetime | None = None) -> list[ExecutionEvent]:
        """The day's executions, or those from ``since`` on (IB's ExecutionFilter time, sent in
        its UTC form ``yyyymmdd-hh:mm:ss``: docs/ib-notes.md)."""
        self._require_connected()
        execution_filter = ExecutionFilter(time=since.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")) if since else None
        # the adapter's execDetails hook answers with events (their commission filled in as the
        # reports come), not ib_async Fills; one executions query at a time (``_ask``)
        self._answered_executions.clear()
        try:
            answer = list(await self._ask(lambda: self.ib.reqExecutionsAsync(execution_filter), "executions"))
        finally:
            self._answered_executions.clear()
        self.forget_finished()  # a reconciliation also prunes the books (no order may be placed for a while)
        return answer

    async def positions(self) -> list[BrokerPosition]:
        self._require_connected()
        items = await self._ask(self.ib.reqPositionsAsync, "positions")
        # a forex pair's position (CASH) is a currency balance, not a listing the console trades
        return [self._broker_position(p) for p in items
                if (not self.account or p.account == self.account) and p.contract.secType != "CASH"]

    def _broker_position(self, p) -> BrokerPosition:
        # a listing qualified in this session is named as it was asked for; else as IB reports it
        spec = next((s for s, c in self._contracts.items() if c.conId and c.conId == p.contract.conId), None) or spec_of_ib(p.contract)
        return BrokerPosition(p.account, p.contract.symbol, dec(p.position) or Decimal(0), dec(p.avgCost) or Decimal(0),
                              currency=spec.currency, exchange=spec.venue, con_id=p.contract.conId or 0)


def history_span(first: date, last: date, calendar: str) -> tuple[str, str]:
    """reqHistoricalData's endDateTime and durationStr covering the days ``first`` to ``last``:
    the end of ``last`` in the exchange's zone, written in UTC (``yyyymmdd-hh:mm:ss``, a form IB
    documents), and a duration in days up to 365, in years beyond (IB refuses more than 365 D)."""
    end = datetime.combine(last, time(23, 59, 59), calendar_zone(calendar)).astimezone(UTC)
    days = (last - first).days + 1
    duration = f"{days} D" if days <= 365 else f"{-(-days // 365)} Y"
    return end.strftime("%Y%m%d-%H:%M:%S"), duration


def _unique_stock(answer: asyncio.Future, requested):
    """``requested`` filled in from a contract-details answer that names exactly one stock (what
    ``qualifyContractsAsync`` does), else None (unknown or ambiguous)."""
    from ib_async import util

    if answer.cancelled() or answer.exception() is not None:
        return None
    details = [d for d in (answer.result() or []) if d.contract is not None and d.contract.secType in ("STK", "")]
    if len(details) != 1:
        if len(details) > 1:
            log.warning("ambiguous contract %s: %d matches", details[0].contract.symbol, len(details))
        return None
    found = details[0].contract
    found.exchange = requested.exchange  # keep SMART: IB routes, the listing stays in primaryExchange
    util.dataclassUpdate(requested, found)
    return requested
