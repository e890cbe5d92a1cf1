"""Streaming quotes, the account's values and its daily P&L from the ib_async adapter (a part of
``IbExecutionProvider``).

A watched listing gets one streaming ``reqMktData`` (not a snapshot); every tick becomes a
frozen :class:`Quote` handed to the listeners (the quote book, services.execution.quotes). While
a listing streams, ``market_prices`` takes its price from the stream instead of asking for a
snapshot: the watchlist, the order ticket and the preview show and use the same price.

Each stream holds one of the account's market data lines (``market_data_lines``, a setting). The
streams leave a tenth of them (``snapshot_reserve``) to the snapshots of a preview or a ticket:
a watchlist as long as the lines would otherwise leave a run's prices none, and the run would
fail on IB's error 101. A stream beyond the rest is refused with ``MarketDataLinesFull``, naming
the listing: by the console when its own streams already hold what they may, else by IB (error 101, shared with TWS and the account's
other programs). IB ends a stream with any other error but a notice (354 not subscribed, 200 no
such listing, ...: ``StreamRefused``, with the word its row shows). A refused stream is dropped
(cancelled at IB if it started), never kept as a subscription that holds nothing.

Account values come from the account updates ib_async subscribes to at connect (TWS pushes them
as they change); the day's P&L from one ``reqPnL`` per connection, kept updated by IB. The two
arrive at different moments (the values after fills and on IB's own clock, the P&L as prices
move): each keeps the time its last push arrived (``account_values_time``, ``pnl_time``), so
the panel can say how old each group of figures is.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.core.contracts import ContractSpec
from services.core.ib_codes import stream_ended_word
from services.domain import Quote

from .errors import ExecutionError, MarketDataLinesFull, StreamRefused
from .events import dec
from .paced import MAX_TICKERS

if TYPE_CHECKING:
    from .paced import PacedSender

log = logging.getLogger(__name__)

# How old a streamed price may be and still stand in for a snapshot (a stream that stopped
# ticking, a lost farm): older, ``market_prices`` asks for a snapshot as before.
STREAM_PRICE_MAX_AGE = 60.0
DATA_TYPE_KINDS = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed_frozen"}
# How long a new stream waits for IB's first answer (a tick, or an error) before it is taken as
# started: IB answers both at once; a quiet listing must not hold the watchlist's start-up (the
# streams of a start wait together: ``stream_quotes``).
STREAM_ANSWER_WAIT = 2.0
# the streams leave market_data_lines // 10 lines to the snapshots of previews and tickets
SNAPSHOT_RESERVE_DIVISOR = 10


def _price(value: Any) -> Decimal | None:
    number = dec(value)
    return number if number is not None and number > 0 else None


class IbQuotes:
    """Needs from the provider: ``ib``, ``sender``, ``account``, ``connected_at``, ``qualify``,
    ``_send``, ``_require_connected``."""

    ib: Any
    sender: PacedSender
    account: str
    connected_at: datetime | None
    market_data_lines: int  # ib_queries.py: the account's lines, a setting

    if TYPE_CHECKING:
        async def qualify(self, symbols: Any) -> dict[str, Any]: ...
        async def _send(self, fn: Any, *args: Any) -> Any: ...
        async def _ask(self, start: Any, what: str) -> Any: ...
        def _require_connected(self) -> None: ...

    # listing key -> (the connection's connected_at, its ib_async Ticker, the handler this
    # adapter put on the ticker's updateEvent); the listeners; the reqPnL subscription of a
    # connection (connected_at, PnL)
    _quote_streams: dict[str, tuple[datetime | None, Any, Callable[[Any], None]]]
    _quote_listeners: list[Callable[[Quote], None]]
    # a stream refused by IB after ``stream_quote`` returned (no answer within STREAM_ANSWER_WAIT)
    _refusal_listeners: list[Callable[[StreamRefused], None]]
    _stream_answers: dict[str, asyncio.Future]  # listing key -> its new stream's first answer
    _cancels: set[asyncio.Task]  # the cancels of streams IB ended, under way
    _pnl_subscription: tuple[datetime | None, Any] | None
    _pnl_pushed_at: datetime | None  # when the kept subscription's last update arrived
    _account_updates_at: datetime | None  # the connection the account updates were asked on
    _values_pushed_at: dict[str, datetime]  # account -> when IB last pushed one of its values
    # One subscriber at a time: two callers at once (the account panel's timer and a load)
    # would both find no subscription while the pacing held them, and both ask; ib_async
    # asserts on a second reqPnL for the same account. Quote streams likewise: two watches of
    # one listing at once each found no stream and each put a handler on the same Ticker
    # (ib_async keeps one per contract), so every tick was delivered twice.
    _subscribing: asyncio.Lock | None

    def _init_quotes(self) -> None:
        self._quote_streams = {}
        self._quote_listeners = []
        self._refusal_listeners = []
        self._stream_answers = {}
        self._cancels = set()
        self.ib.errorEvent += self._on_stream_error
        self._pnl_subscription = None
        self._pnl_pushed_at = None
        self._account_updates_at = None
        self._values_pushed_at = {}
        self.ib.accountValueEvent += self._on_account_value
        self.ib.pnlEvent += self._on_pnl
        self._subscribing = None

    def _subscription_lock(self) -> asyncio.Lock:
        if self._subscribing is None:
            self._subscribing = asyncio.Lock()
        return self._subscribing

    def subscribe_quotes(self, listener: Callable[[Quote], None]) -> Callable[[], None]:
        """Every streamed tick as a ``Quote`` (plain callback; the GUI coalesces)."""
        listeners = self._quote_listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    def subscribe_quote_refusals(self, listener: Callable[[StreamRefused], None]) -> Callable[[], None]:
        """Every stream IB refused after ``stream_quote`` had returned (it raises the others)."""
        listeners = self._refusal_listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    @property
    def snapshot_reserve(self) -> int:
        """Lines the streams leave to snapshots: a tenth (none for an account of fewer than 10)."""
        return self.market_data_lines // SNAPSHOT_RESERVE_DIVISOR

    def stream_lines(self) -> int:
        """The market data lines this connection's streams hold."""
        return sum(1 for entry in self._quote_streams.values() if entry[0] == self.connected_at)

    async def stream_quote(self, spec: ContractSpec) -> None:
        """Start streaming the listing (again after a reconnect: the old subscription died with
        its connection). Raises ``UnknownContract`` for a listing IB does not know and
        ``StreamRefused`` when IB refuses it (``MarketDataLinesFull``: no market data line left;
        see the module)."""
        failure = (await self.stream_quotes([spec]))[spec.key]
        if failure is not None:
            raise failure

    async def stream_quotes(self, specs: list[ContractSpec]) -> dict[str, ExecutionError | None]:
        """``stream_quote`` for many listings (a watchlist's start): asked in their order (the
        first ones get the lines left), then IB's first answers awaited together, one
        ``STREAM_ANSWER_WAIT`` for them all: one after another, 20 quiet listings held the start
        for 40 s. Listing key -> None (streaming, or no answer yet) or what refused it."""
        outcome: dict[str, ExecutionError | None] = {}
        started: dict[str, tuple[Any, asyncio.Future]] = {}
        try:
            for spec in specs:
                try:
                    started[spec.key] = await self._start_stream(spec)
                except ExecutionError as exc:
                    outcome[spec.key] = exc
            if started:
                await asyncio.wait([answered for _, answered in started.values()], timeout=STREAM_ANSWER_WAIT)
        finally:  # an answer from now on goes to the refusal listeners
            for key, (_, answered) in started.items():
                if self._stream_answers.get(key) is answered:
                    del self._stream_answers[key]
        for key, (ticker, answered) in started.items():
            failure = answered.exception() if answered.done() else None
            # no answer yet (a quiet listing): a refusal coming later goes to the refusal listeners
            outcome[key] = failure if isinstance(failure, ExecutionError) else None
            if outcome[key] is None:
                self._on_ticker(key, ticker)
        return {spec.key: outcome[spec.key] for spec in specs}

    async def _start_stream(self, spec: ContractSpec) -> tuple[Any, asyncio.Future]:
        """The listing's stream asked for: (its ticker, the future of IB's first answer)."""
        contract = (await self.qualify([spec]))[spec.key]
        answered = asyncio.get_running_loop().create_future()
        async with self._subscription_lock():
            old = self._quote_streams.pop(spec.key, None)
            if old is not None:
                old[1].updateEvent -= old[2]
                if old[0] == self.connected_at:
                    try:
                        await self._send(self.ib.cancelMktData, old[1].contract)
                    except Exception:  # the old stream is gone either way
                        log.debug("cancelMktData of %s failed", spec.key, exc_info=True)
            if self.stream_lines() >= self.market_data_lines - self.snapshot_reserve:
                # IB would refuse it, or the next preview's snapshots: not asked
                raise MarketDataLinesFull(spec.key, self.market_data_lines, self.snapshot_reserve)
            # registered before any answer can be read: ``_send`` returns right after the write
            ticker = await self._send(self.ib.reqMktData, contract, "", False, False)
            handler = functools.partial(self._on_stream_update, spec.key)
            ticker.updateEvent += handler
            self._quote_streams[spec.key] = (self.connected_at, ticker, handler)
            self._stream_answers[spec.key] = answered
        return ticker, answered

    def _on_stream_update(self, key: str, ticker: Any) -> None:
        answered = self._stream_answers.get(key)
        if answered is not None and not answered.done():
            answered.set_result(None)  # IB took the request: its data comes
        self._on_ticker(key, ticker)

    def _on_stream_error(self, req_id: int, code: int, message: str, _contract: Any = None) -> None:
        """An error about a stream. A notice (10167: delayed data follows) is its answer, and it
        streams on. Any other ends it (services.core.ib_codes.stream_ended_word): 101, IB holds no
        line for it; 354, not subscribed; 200, no such listing; ... It is dropped (and cancelled
        at IB, but for 101: IB never started it, and a cancel of it would be an error), and said
        to the ``stream_quote`` still waiting for its answer, else to the refusal listeners.
        Before, only 101 was: any other left a subscription that held a line and never ticked."""
        streaming = self.ib.wrapper.ticker2ReqId.get("mktData", {})
        key = next((k for k, entry in self._quote_streams.items() if streaming.get(entry[1]) == req_id), None)
        if key is None:
            return  # a snapshot's (market_prices asks it again) or another connection's
        word = None if code == MAX_TICKERS else stream_ended_word(code)
        if code != MAX_TICKERS and word is None:
            answered = self._stream_answers.get(key)
            if answered is not None and not answered.done():
                answered.set_result(None)  # its answer: the data comes (ib_async logs the notice)
            return
        _, ticker, handler = self._quote_streams.pop(key)
        ticker.updateEvent -= handler
        refusal: StreamRefused
        if word is None:
            self.ib.wrapper.endTicker(ticker, "mktData")  # nothing to cancel later: IB never started it
            refusal = MarketDataLinesFull(key, self.market_data_lines, self.snapshot_reserve)
        else:
            self._cancel_dead_stream(key, ticker)
            refusal = StreamRefused.by_ib(key, word, code, message)
        answered = self._stream_answers.pop(key, None)
        if answered is not None and not answered.done():
            answered.set_exception(refusal)
            return
        for listener in list(self._refusal_listeners):
            try:
                listener(refusal)
            except Exception:  # one failing listener must not starve the others
                log.exception("quote refusal listener failed")

    def _cancel_dead_stream(self, key: str, ticker: Any) -> None:
        """IB's cancel of a stream it ended (the request stays open at IB until cancelled)."""
        async def cancel() -> None:
            try:
                await self._send(self.ib.cancelMktData, ticker.contract)
            except Exception:  # the stream gives nothing either way; the next start asks anew
                log.warning("%s: cancelling its ended stream failed", key, exc_info=True)

        task = asyncio.ensure_future(cancel())
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def stop_quote(self, key: str) -> None:
        async with self._subscription_lock():
            entry = self._quote_streams.pop(key, None)
            if entry is None:
                return
            entry[1].updateEvent -= entry[2]
            if entry[0] != self.connected_at or not self.ib.isConnected():
                return
            await self._send(self.ib.cancelMktData, entry[1].contract)

    def streamed_quote(self, key: str) -> Quote | None:
        entry = self._quote_streams.get(key)
        if entry is None or entry[0] != self.connected_at:
            return None
        return self._quote_of(key, entry[1])

    def streamed_price(self, key: str) -> tuple[Decimal, datetime, str] | None:
        """(price, time, kind) of a listing streaming on this connection with a recent tick."""
        quote = self.streamed_quote(key)
        if quote is None or quote.price is None or quote.time is None:
            return None
        if (datetime.now(UTC) - quote.time).total_seconds() > STREAM_PRICE_MAX_AGE:
            return None
        return quote.price, quote.time, ("close" if quote.price == quote.close and not quote.last else quote.kind)

    def _quote_of(self, key: str, ticker: Any) -> Quote:
        when = ticker.time if isinstance(ticker.time, datetime) and ticker.time.tzinfo else None
        return Quote(key, _price(ticker.bid), _price(ticker.ask), _price(ticker.last), _price(ticker.close),
                     dec(ticker.volume),
                     DATA_TYPE_KINDS.get(int(getattr(ticker, "marketDataType", 1) or 1), "live"), when)

    def _on_ticker(self, key: str, ticker: Any) -> None:
        quote = self._quote_of(key, ticker)
        for listener in list(self._quote_listeners):
            try:
                listener(quote)
            except Exception:  # one failing listener must not starve the others
                log.exception("quote listener failed")

    # ------------------------------------------------------------------ account
    async def account_values(self) -> dict[tuple[str, str], str]:
        """The account's values as IB last pushed them: (tag, currency) -> value. The account
        updates are subscribed once per connection (IB then pushes every change)."""
        self._require_connected()
        async with self._subscription_lock():
            if self._account_updates_at != self.connected_at:
                self._values_pushed_at.pop(self.account or "", None)  # the old connection's; the download sets it anew
                await self._ask(lambda: self.ib.reqAccountUpdatesAsync(self.account), "account updates")
                self._account_updates_at = self.connected_at
        return {(v.tag, v.currency): v.value for v in self.ib.accountValues(self.account or "")}

    async def daily_pnl(self) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """(daily, unrealized, realized) P&L of the account from ``reqPnL`` (one subscription per
        connection, kept updated by IB); None where IB has not said yet."""
        self._require_connected()
        async with self._subscription_lock():
            kept = self._pnl_subscription
            if kept is None or kept[0] != self.connected_at:
                self._pnl_pushed_at = None
                pnl = await self._send(self.ib.reqPnL, self.account, "")
                self._pnl_subscription = kept = (self.connected_at, pnl)
        pnl = kept[1]
        return dec(pnl.dailyPnL), dec(pnl.unrealizedPnL), dec(pnl.realizedPnL)  # None (NaN) until IB answers

    def account_values_time(self) -> datetime | None:
        """When IB last pushed one of the account's values (a fill, IB's own clock); None before
        the first push of this connection's subscription."""
        return self._values_pushed_at.get(self.account or "")

    def pnl_time(self) -> datetime | None:
        """When IB last pushed this connection's ``reqPnL`` figures; None before its first answer."""
        kept = self._pnl_subscription
        return self._pnl_pushed_at if kept is not None and kept[0] == self.connected_at else None

    def _on_account_value(self, value: Any) -> None:
        if not getattr(value, "modelCode", ""):  # the account's own values, not a model's
            self._values_pushed_at[value.account] = datetime.now(UTC)

    def _on_pnl(self, pnl: Any) -> None:
        if pnl.account == self.account and not pnl.modelCode:  # (reset before each connection's reqPnL)
            self._pnl_pushed_at = datetime.now(UTC)
