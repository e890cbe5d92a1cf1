"""Every message to IB goes out one at a time through the shared pacing limiter, and a message
IB dropped for going too fast (error 100) is asked again, never silently lost.

Why one at a time: ib_async's batch helpers (``qualifyContractsAsync``, ``reqTickersAsync``) put
every request on the socket at once and its own throttle then releases them in bursts of 45. The
receiver counts messages by its own clock, so a burst read a little late and the next burst read
on time land in the same one-second window: error 100, the message is dropped, and the request's
future never resolves (see docs/ib-pacing.md). ``ib_async.Client.send`` is synchronous, so the
spacing has to happen before calling into ib_async: ``PacedSender.send`` waits for a token, then
calls one ib_async function that writes exactly one message.

Error 100 names no request (the simulator, like the Gateway, answers it with reqId -1), so a
dropped message is found by what never got an answer:

* queries (contract details, market data snapshots, open orders, ...): ``PacedSender.ask_each``
  re-sends the requests still unanswered once the line has been quiet for ``settle`` seconds
  after a violation (or after ``request_timeout`` without one), up to ``attempts`` times, then
  fails with the keys (symbols) that never got an answer. Asking a query twice is harmless.
* orders, modifications and cancels: ``InFlightOrders`` (below).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from services.core.wording import counted

from .errors import QueryFailed
from .pacing import PacingLimiter

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 3
DEFAULT_SETTLE = 2.0  # seconds without a new error 100 before unanswered requests are re-sent


class PacedSender:
    def __init__(self, client: Any, pacing: PacingLimiter, *, request_timeout: float, attempts: int = DEFAULT_ATTEMPTS,
                 settle: float = DEFAULT_SETTLE) -> None:
        self.client = client
        self.pacing = pacing
        self.request_timeout = request_timeout
        self.attempts = max(1, attempts)
        self.settle = settle
        self.violations = 0
        self.last_violation_at: float | None = None  # loop time
        self.resent = 0  # requests asked again (tests, benchmarks)
        self._credit = 0
        self._violation_waiters: list[asyncio.Future] = []
        self._install_counter()

    # ------------------------------------------------------------------ sending
    def _install_counter(self) -> None:
        """Messages ib_async sends on its own (connect-time requests, market data type...) use
        the budget too: they are recorded when they leave, so the next paced message waits for
        them. Paced messages were counted by ``acquire`` (the credit), and their token is stamped
        again when the message has left."""
        original = self.client.sendMsg

        def counted(msg):
            result = original(msg)
            # Stamped after the message left, not when its token was granted: a pause between
            # the two (a garbage collection, a busy loop) must not shift the window early.
            if msg:
                if self._credit > 0:
                    self._credit -= 1
                    self.pacing.restamp_last()
                else:
                    self.pacing.record()
            return result

        self.client.sendMsg = counted

    async def send(self, fn: Callable[..., Any], *args: Any, check: Callable[[], None] | None = None,
                   around: Callable[[], AbstractAsyncContextManager] | None = None) -> Any:
        """Wait for a token, then call ``fn`` (one ib_async call that writes one message now);
        returns what it returns. ``check`` runs after the wait, right before ``fn`` with no await in
        between (still connected? the run's lease still good?): when it raises, nothing is sent.
        ``around`` (a look at the database that ``check`` then judges, a mark held while the
        message is written) is entered after the wait and left once ``fn`` returned."""
        await self.pacing.acquire()
        if around is None:
            return self._write(fn, args, check)
        async with around():
            return self._write(fn, args, check)

    def _write(self, fn: Callable[..., Any], args: tuple, check: Callable[[], None] | None) -> Any:
        if check is not None:
            check()
        self._credit = 1
        try:
            return fn(*args)
        finally:
            self._credit = 0  # a call that sent nothing must not leave a credit behind

    # ------------------------------------------------------------------ violations
    def on_violation(self) -> None:
        self.violations += 1
        self.last_violation_at = asyncio.get_running_loop().time()
        waiters, self._violation_waiters = self._violation_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _next_violation(self) -> asyncio.Future:
        waiter = asyncio.get_running_loop().create_future()
        self._violation_waiters.append(waiter)
        return waiter

    async def quiet(self) -> None:
        """Return once ``settle`` seconds passed since the last violation."""
        loop = asyncio.get_running_loop()
        while self.last_violation_at is not None:
            left = self.last_violation_at + self.settle - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(left)

    async def _answers(self, futures: Iterable[asyncio.Future], violations_before: int,
                       timeout: float | None = None) -> None:
        """Wait until every future is done, or ``request_timeout`` passed, or (after an error 100)
        ``settle`` seconds passed since both the last violation and the last request: what is
        still unanswered then was dropped."""
        loop = asyncio.get_running_loop()
        sent_at = loop.time()  # the last request just left: its answer gets ``settle`` at least
        deadline = sent_at + (self.request_timeout if timeout is None else timeout)
        pending = {f for f in futures if not f.done()}
        while pending:
            limit = deadline
            if self.violations > violations_before and self.last_violation_at is not None:
                limit = min(deadline, max(self.last_violation_at, sent_at) + self.settle)
            left = limit - loop.time()
            if left <= 0:
                return
            waiter = self._next_violation()
            try:
                done, _ = await asyncio.wait(pending | {waiter}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not waiter.done():
                    waiter.cancel()
                # only a violation empties the list: without one, every wait would stay in it
                if waiter in self._violation_waiters:
                    self._violation_waiters.remove(waiter)
            pending -= done

    async def answer_or_dropped(self, future: asyncio.Future, violations_before: int, timeout: float) -> bool:
        """Wait for one request's answer (at most ``timeout`` s); False when an error 100 came
        after it was sent and the line was then quiet for ``settle`` s without its answer: IB
        dropped it, and it must be asked again."""
        await self._answers([future], violations_before, timeout)
        return future.done() or self.violations == violations_before

    async def ask_each(self, keys: Iterable[Hashable], start: Callable[[Any], asyncio.Future], what: str,
                       check: Callable[[], None] | None = None, lines: Lines | None = None) -> dict[Any, asyncio.Future]:
        """``start(key)`` sends one request and returns the future of its answer. Every key is
        sent through the limiter; keys left unanswered are sent again (a new request), at most
        ``attempts`` times in all. With ``lines`` each request holds one of them from its send
        until its answer (IB's market data lines): at most that many are open at once. Returns
        key -> done future (result or exception)."""
        answered: dict[Any, asyncio.Future] = {}
        pending = list(dict.fromkeys(keys))
        for attempt in range(1, self.attempts + 1):
            before = self.violations
            futures = {}
            try:
                for key in pending:
                    if lines is not None:
                        await lines.take()
                    try:
                        futures[key] = await self.send(start, key, check=check)
                    except BaseException:
                        if lines is not None:
                            lines.give_back()
                        raise
                    if lines is not None:
                        lines.hold(futures[key])
                await self._answers(futures.values(), before)
            except BaseException:
                for future in futures.values():
                    _answer_unawaited(future)
                raise
            finally:
                if lines is not None:  # an unanswered request was dropped: it holds no line at IB
                    lines.release_all()
            for key, future in futures.items():
                if future.done():
                    answered[key] = future
            pending = [k for k in pending if k not in answered]
            if not pending:
                return answered
            dropped = self.violations > before
            if attempt < self.attempts:
                self.resent += len(pending)
                log.warning("%s: %s without an answer%s (%s); asking again (attempt %d of %d)", what, counted(len(pending), "request"),
                            " after IB's pacing error 100" if dropped else f" within {self.request_timeout:g} s",
                            _names(pending), attempt + 1, self.attempts)
        failure = QueryFailed(f"{what}: no answer for {counted(len(pending), 'request')} after {counted(self.attempts, 'attempt')}"
                              f"{' (IB reported pacing errors 100)' if self.violations else ''}: {_names(pending)}")
        failure.answered = answered  # what did get an answer (e.g. contracts worth keeping)
        raise failure

    async def ask(self, start: Callable[[], asyncio.Future], what: str,
                  check: Callable[[], None] | None = None) -> Any:
        """One request (a query with no key), asked again if unanswered; its result."""
        done = await self.ask_each([what], lambda _key: start(), what, check=check)
        return done[what].result()


# IB's market data lines: 100 for every account at least (more with commissions or booster
# packs), shared by TWS's windows and every API client of the account. A market data request
# beyond them is refused with error 101 (``MAX_TICKERS``). The account's number is a setting
# (app.settings: [ib] market_data_lines); this is its default.
MARKET_DATA_LINES = 100
MAX_TICKERS = 101  # IB's "Max number of tickers has been reached": no market data line left


class Lines:
    """A budget of simultaneously open requests (IB's market data lines: a snapshot holds one
    until its end; beyond the account's allowance IB answers error 101 \"Max number of tickers
    has been reached\"). ``take`` waits for a free line, ``hold`` gives it back when the
    request's answer comes, ``release_all`` gives back the lines of requests left unanswered.

    ``within``: a budget shared with other callers (the connection's snapshot lines): a line is
    taken from both, so that callers at once never hold more than the shared budget together."""

    def __init__(self, count: int, within: Lines | None = None) -> None:
        self.count = max(1, count)
        self.within = within
        self._free = asyncio.Semaphore(self.count)
        self._held: set[asyncio.Future] = set()
        self.most_open = 0  # the most lines held at once (tests)

    async def take(self) -> None:
        await self._free.acquire()
        if self.within is not None:
            try:
                await self.within.take()
            except BaseException:
                self._free.release()
                raise

    def give_back(self) -> None:
        self._free.release()
        if self.within is not None:
            self.within.give_back()

    def hold(self, future: asyncio.Future) -> None:
        self._held.add(future)
        self.most_open = max(self.most_open, len(self._held))
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future) -> None:
        if future in self._held:
            self._held.discard(future)
            self.give_back()

    def release_all(self) -> None:
        for future in list(self._held):
            self._done(future)


def both_checks(first: Callable[[], None] | None, second: Callable[[], None] | None) -> Callable[[], None] | None:
    """One check made of two (either may be None): the first, then the second."""
    if first is None or second is None:
        return first or second

    def check() -> None:
        first()
        second()

    return check


def _answer_unawaited(future: asyncio.Future) -> None:
    """A request's answer that nobody will wait for (the questions stopped half-way: the connection
    dropped, the caller was canceled): its exception is taken when it comes. ib_async fails every
    open request with ConnectionError('Socket disconnect') on a drop, and asyncio printed "Future
    exception was never retrieved" with it on a command's stderr when the future was freed."""
    future.add_done_callback(lambda done: done.cancelled() or done.exception())


def _names(keys: list, limit: int = 20) -> str:
    names = ", ".join(str(k) for k in keys[:limit])
    return names + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class InFlight:
    order_id: int
    order_ref: str
    kind: str  # place | modify | cancel
    resend: Callable[[], Any]
    sent_at: float  # loop time
    attempts: int = 1
    check: Callable[[], None] | None = None  # the message's own check before it is sent again (a run's lease)


class InFlightOrders:
    """Order messages (placeOrder, modify, cancel) not yet answered by IB.

    Anything IB says about the order id (openOrder, orderStatus, an execution, an error other
    than 100) answers it. After an error 100, once the line is quiet, what was sent before the
    violation and is still unanswered may have been dropped:

    * a new order is sent again only when the broker provably does not have it: its orderRef is
      neither among the open nor the completed orders (both asked after the suspect message, on
      the same connection, so the broker had processed it). It is sent again with the same
      orderId and orderRef: if the broker did have it after all, the same orderId makes it a
      modification with the same values (or error 103/104 for a finished one), never a second
      order. A failed lookup resends nothing (unknown is not "absent").
    * a modification or a cancel is sent again as it is: both are idempotent.

    At most ``attempts`` sends per message; then it is reported (``on_report``) and left to the
    ack-timeout recovery and reconciliation.
    """

    def __init__(self, sender: PacedSender, lookup: Callable[[], Awaitable[set[str]]],
                 on_report: Callable[[InFlight, str, bool], None], check: Callable[[], None] | None = None) -> None:
        self.sender = sender
        self.lookup = lookup
        self.on_report = on_report  # (entry, message, gave_up)
        self.check = check
        self._entries: dict[int, InFlight] = {}
        self.resent_ids: set[int] = set()
        self._task: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def track(self, order_id: int, order_ref: str, kind: str, resend: Callable[[], Any],
              check: Callable[[], None] | None = None) -> None:
        if order_id:
            self._entries[order_id] = InFlight(order_id, order_ref, kind, resend, asyncio.get_running_loop().time(), check=check)

    def answered(self, order_id: int) -> None:
        self._entries.pop(order_id, None)

    def clear(self) -> None:
        """A new connection: reconciliation takes over what was in flight."""
        self._entries.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def on_violation(self) -> None:
        if self._entries and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._recover())

    def _suspects(self) -> list[InFlight]:
        cutoff = self.sender.last_violation_at
        if cutoff is None:
            return []
        return [e for e in self._entries.values() if e.sent_at <= cutoff]

    async def _recover(self) -> None:
        failed_lookups = 0
        while True:
            await self.sender.quiet()
            suspects = self._suspects()
            if not suspects:
                return
            at_broker: set[str] = set()
            if any(e.kind == "place" for e in suspects):
                try:
                    at_broker = await self.lookup()
                except Exception as exc:  # noqa: BLE001 - unknown is not "absent": nothing is sent again
                    failed_lookups += 1
                    if failed_lookups >= self.sender.attempts:
                        for entry in suspects:
                            self._entries.pop(entry.order_id, None)
                            self.on_report(entry, f"unanswered after IB's pacing error 100 and the broker's orders "
                                                  f"cannot be read ({exc}): not sent again (reconciliation decides)", True)
                        return
                    log.warning("after a pacing error: cannot look the unanswered orders up (%s); will retry", exc)
                    await asyncio.sleep(self.sender.settle)
                    continue
            for entry in suspects:
                if self._entries.get(entry.order_id) is not entry:
                    continue  # answered meanwhile
                if entry.kind == "place" and entry.order_ref in at_broker:
                    self._entries.pop(entry.order_id, None)
                    continue
                if entry.attempts >= self.sender.attempts:
                    self._entries.pop(entry.order_id, None)
                    self.on_report(entry, f"no answer from IB after {entry.attempts} sends and pacing errors (100); "
                                          "not sent again (recovery and reconciliation decide)", True)
                    continue
                entry.attempts += 1
                self.resent_ids.add(entry.order_id)
                what = {"place": "order not at the broker", "modify": "modification unanswered",
                        "cancel": "cancel unanswered"}[entry.kind]
                try:
                    # the message's own check may read the database first (a run's sender: a Cancel
                    # All or halt of another process), after the pacing wait, right before the write
                    await self.sender.send(entry.resend, check=both_checks(self.check, entry.check),
                                           around=getattr(entry.check, "around_resend", None))
                except Exception as exc:  # noqa: BLE001 - disconnected, refused by its check, or ib_async refuses
                    self._entries.pop(entry.order_id, None)
                    # said once it is known: a report of "sent again" before a refused resend
                    # put a send in the order's record that never happened
                    # (a warning: a check's refusal, a Cancel All or halt, is what was wanted)
                    self.on_report(entry, f"{what} after IB's pacing error 100: not sent again ({exc}); "
                                          "reconciliation decides", False)
                    continue
                entry.sent_at = asyncio.get_running_loop().time()
                self.on_report(entry, f"{what} after IB's pacing error 100: sent again, same orderId "
                                      f"(send {entry.attempts} of {self.sender.attempts})", False)
            if not self._entries:
                return
            # wait for the answers to what was sent again (or for the next violation)
            await asyncio.sleep(self.sender.settle)
            if not self._suspects():
                return
