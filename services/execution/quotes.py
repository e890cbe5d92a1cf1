"""The quote book: the listings the trader watches and their latest quotes, streamed from the
broker (services.execution.ib_quotes). Qt-free: the window's watchlist adapts ``subscribe`` to a
coalescing model; the order ticket reads ``latest`` and, while it is open, ``follow``s its listing
(streamed, not put on the watchlist). One stream per listing, started again after every reconnect
(a subscription dies with its connection; a start asks for them all, then awaits IB's answers
together). A watched or followed listing whose stream was refused or ended by IB (no market data line
left, not subscribed, no such listing, ...) gets a quote that says so (``Quote.refused``, in a
word ``Quote.refused_word``), so that its row, or the ticket, tells why it has no prices. A refusal is said once per
listing until its stream is accepted: every reconnect asks again, and hears the same."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from services.core.contracts import ContractSpec, contract_problem, spec_of
from services.domain import Quote

from .errors import BadInput, ExecutionError, MarketDataLinesFull, StreamRefused, UnknownContract
from .events import ConnectionState

log = logging.getLogger(__name__)


class QuoteBook:
    def __init__(self, provider) -> None:
        self.provider = provider
        self._watched: dict[str, ContractSpec] = {}  # listing key -> spec, in the order added
        self._followed: dict[str, ContractSpec] = {}  # streamed for a while (the open ticket's), not watched
        self._latest: dict[str, Quote] = {}
        self._refusals: dict[str, StreamRefused] = {}  # listing key -> what refused its stream, said
        self._listeners: list[Callable[[Quote], None]] = []
        self.streaming = hasattr(provider, "stream_quote")
        if self.streaming:
            provider.subscribe_quotes(self._on_quote)
            provider.add_resync_hook(self._restart)
            provider.subscribe_quote_refusals(self._on_refused)

    @property
    def keys(self) -> list[str]:
        return list(self._watched)

    def subscribe(self, callback: Callable[[Quote], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def latest(self, key: str) -> Quote | None:
        return self._latest.get(key)

    def is_refused(self, key: str) -> bool:
        quote = self._latest.get(key)
        return quote is not None and quote.refused is not None

    def is_watched(self, key: str) -> bool:
        """On the watchlist (a followed listing streams too, but is not listed)."""
        return key in self._watched

    @staticmethod
    def parse(symbol: str) -> ContractSpec:
        """A typed symbol (a US stock, or a listing key such as SAP@IBIS:EUR) or BadInput."""
        text = (symbol or "").strip().upper()
        if not text or any(c.isspace() for c in text):
            raise BadInput(f"{symbol!r} is not a symbol: type a ticker such as AAPL, or SAP@IBIS:EUR")
        spec = spec_of(text)
        problem = contract_problem(spec)
        if problem is not None:
            raise BadInput(f"{spec.key}: {problem[1]}")
        return spec

    async def watch(self, symbol: str) -> ContractSpec:
        """Add a listing and start its stream (not connected: it starts at the next connect).
        An unknown symbol is refused (``BrokerError`` from qualification) and not added; so is a
        listing with no market data line left (``MarketDataLinesFull``). A watched listing whose
        stream was refused is asked again (a line may have been freed since)."""
        spec = self.parse(symbol)
        if spec.key in self._watched and not self.is_refused(spec.key):
            return spec
        await self._keep(spec, self._watched, beside=self._followed)
        return spec

    async def follow(self, symbol: str) -> ContractSpec:
        """Stream a listing without putting it on the watchlist (the open order ticket's), until
        ``unfollow``; refused as ``watch`` refuses, and asked again as ``watch`` asks again when
        its stream was refused or ended."""
        spec = self.parse(symbol)
        if spec.key in self._followed and not self.is_refused(spec.key):
            return spec
        await self._keep(spec, self._followed, beside=self._watched)
        return spec

    async def _keep(self, spec: ContractSpec, kept: dict[str, ContractSpec], *, beside: dict[str, ContractSpec]) -> None:
        """Stream ``spec`` (unless ``beside``, the other of watched and followed, streams it
        already; a stream refused for want of a line is asked again, and still refused is said
        here too, not followed in silence) and keep it in ``kept``; the quote its stream already
        has is handed on: its first ticks came while the stream was starting, before the listing
        was kept."""
        streams = self.streaming and self.provider.is_connected
        if streams and (spec.key not in beside or self.is_refused(spec.key)):
            await self.provider.stream_quote(spec)
        kept[spec.key] = spec
        if streams and (current := self.provider.streamed_quote(spec.key)) is not None:
            self._on_quote(current)

    async def unfollow(self, key: str) -> None:
        if self._followed.pop(key, None) is not None and key not in self._watched:
            await self._stop(key)

    def watch_later(self, symbols: Iterable[str]) -> list[str]:
        """Listings remembered from an earlier session: added without asking the broker (they
        stream from the next connect). Returns what could not be read."""
        bad = []
        for symbol in symbols:
            try:
                spec = self.parse(symbol)
            except BadInput:
                bad.append(symbol)
                continue
            self._watched.setdefault(spec.key, spec)
        return bad

    async def unwatch(self, key: str) -> None:
        if self._watched.pop(key, None) is not None and key not in self._followed:
            await self._stop(key)

    async def _stop(self, key: str) -> None:
        self._latest.pop(key, None)
        self._refusals.pop(key, None)
        if self.streaming and self.provider.is_connected:
            try:
                await self.provider.stop_quote(key)
            except ExecutionError as exc:
                log.warning("%s: stopping its quotes failed (%s)", key, exc)
                return
            await self._ask_refused_again()

    async def _ask_refused_again(self) -> None:
        """A stream ended, a market data line is free: the first watched listing refused for want
        of one is asked again (it stayed refused until typed again or the next connection)."""
        spec = next((spec for key, spec in self._watched.items() if isinstance(self._refusals.get(key), MarketDataLinesFull)),
                    None)
        if spec is None:
            return
        try:
            await self._keep(spec, self._watched, beside=self._followed)
        except StreamRefused as exc:  # another program of the account took the line, or IB ended it
            self._on_refused(exc)
            return
        except ExecutionError as exc:
            log.warning("%s: no quotes (%s)", spec.key, exc)
            return
        if self.is_refused(spec.key):  # streaming, no tick yet: no longer said refused
            self._on_quote(Quote(spec.key))

    async def start(self) -> list[str]:
        """Stream every watched (and followed) listing on the current connection, their answers
        awaited together; returns the ones refused."""
        specs = list({**self._followed, **self._watched}.values())
        if not specs:
            return []
        outcome = await self.provider.stream_quotes(specs)
        refused = []
        for spec in specs:
            failure = outcome.get(spec.key)
            if isinstance(failure, UnknownContract):  # a saved listing IB no longer knows
                failure = StreamRefused(spec.key, f"{spec.key}: no quotes, no such listing ({failure})", "no such listing")
            if isinstance(failure, StreamRefused):  # names the listing
                self._on_refused(failure)
                refused.append(str(failure))
            elif failure is not None:
                log.warning("%s: no quotes (%s)", spec.key, failure)
                refused.append(f"{spec.key}: {failure}")
        return refused

    async def _restart(self, state: ConnectionState) -> None:
        if self._watched or self._followed:
            await self.start()

    def _on_refused(self, refusal: StreamRefused) -> None:
        """A listing's stream refused or ended after its first answer (or at a reconnect): a
        quote that says why goes to the listeners, and the log warns, once until its stream is
        accepted: a reconnect asks every listing again, and a refusal heard again (the lines
        still full, still not subscribed) is not news. A watched listing's row says it; so does
        the order ticket following a listing of its own (it was only logged: the ticket's price
        stopped with no word)."""
        key = refusal.key
        if key not in self._watched and key not in self._followed:
            log.warning("%s", refusal)
            return
        said = self._refusals.get(key)
        self._refusals[key] = refusal
        if said is not None and str(said) == str(refusal) and self.is_refused(key):
            log.debug("%s (still)", refusal)
            return
        log.warning("%s", refusal)
        self._on_quote(Quote(key, refused=str(refusal), refused_word=refusal.word))

    def _on_quote(self, quote: Quote) -> None:
        if quote.key not in self._watched and quote.key not in self._followed:
            return
        if quote.refused is None:  # streaming: a refusal heard from now on is news again
            self._refusals.pop(quote.key, None)
        self._latest[quote.key] = quote
        for listener in list(self._listeners):
            try:
                listener(quote)
            except Exception:  # a failing subscriber must not stop the others
                log.exception("quote listener failed")
