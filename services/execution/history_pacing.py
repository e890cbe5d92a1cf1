"""IB's historical-data pacing, on top of the message limiter (pacing.py).

IB's rules (docs/ib-pacing.md, "Historical data"): no identical historical request within 15
seconds, no six or more requests for the same contract, exchange and data type within 2
seconds, no more than 60 requests in any 10 minutes. A violation is error 162 ("pacing
violation") and the request gets no bars. ``HistoricalPacing.acquire`` waits until a request
keeps all three, with a small margin for the receiver's clock; the limits are parameters so a
test can shrink the 10-minute window.

IB counts per gateway session, not per process: with ``shared`` (history_log.DbHistoryLog, set
by the execution engine) the requests every process of the console sent to the gateway are read
from the database before each request, and the request is recorded there in the same locked
unit of work, so a second command, or the window and a command, share one window. Times are
wall-clock seconds (``time.time``) so that processes compare them.

A pacing violation IB answers anyway (a request the console did not send: TWS's own charts,
another program) is reported with ``violated``: the next request waits until the oldest request
known in the window has left it (the whole window when none is known), at least the 15 seconds
of the identical-request rule.

Clock and sleep are injectable so the unit tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Protocol

MAX_REQUESTS = 60
WINDOW_SECONDS = 600.0
IDENTICAL_SECONDS = 15.0
SAME_CONTRACT_REQUESTS = 5  # six or more within 2 s is a violation
SAME_CONTRACT_SECONDS = 2.0
MARGIN_SECONDS = 0.5  # the receiver counts by its own clock


class SharedHistory(Protocol):
    """The requests every process sent to the gateway (history_log.DbHistoryLog)."""

    def reserve(self, contract: str, request: str, now: float, since: float,
                delay: Callable[[Sequence[tuple[float, str, str]]], float]) -> float: ...


def _text(key: Hashable) -> str:
    """A contract or request key as the shared history keeps it."""
    return "|".join(map(str, key)) if isinstance(key, tuple) else str(key)


class HistoricalPacing:
    def __init__(self, *, max_requests: int = MAX_REQUESTS, window: float = WINDOW_SECONDS,
                 identical: float = IDENTICAL_SECONDS, same_contract: int = SAME_CONTRACT_REQUESTS,
                 same_contract_window: float = SAME_CONTRACT_SECONDS, margin: float = MARGIN_SECONDS,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 shared: SharedHistory | None = None) -> None:
        self.max_requests = max_requests
        self.window = window
        self.identical = identical
        self.same_contract = same_contract
        self.same_contract_window = same_contract_window
        self.margin = margin
        self.shared = shared
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._by_contract: dict[str, deque[float]] = {}
        self._by_request: dict[str, float] = {}
        self._blocked_until = 0.0  # after a violation IB answered (``violated``)
        self._lock = asyncio.Lock()
        self.requests = 0  # granted, ever (tests and the download report count them)
        self.waited = 0.0  # seconds spent waiting, ever
        self.violations = 0  # pacing violations IB answered, ever

    @property
    def horizon(self) -> float:
        """How far back a request still matters to any rule."""
        return max(self.window, self.identical, self.same_contract_window) + self.margin

    def delay(self, contract: Hashable, request: Hashable, now: float) -> float:
        """Seconds to wait before ``request`` (on ``contract``) keeps every rule; 0: send now."""
        contract, request = _text(contract), _text(request)
        waits = [0.0, self._blocked_until - now]
        while self._sent and self._sent[0] <= now - self.window - self.margin:
            self._sent.popleft()
        if len(self._sent) >= self.max_requests:
            waits.append(self._sent[len(self._sent) - self.max_requests] + self.window + self.margin - now)
        recent = self._by_contract.get(contract)
        if recent:
            while recent and recent[0] <= now - self.same_contract_window - self.margin:
                recent.popleft()
            if len(recent) >= self.same_contract:
                waits.append(recent[len(recent) - self.same_contract] + self.same_contract_window + self.margin - now)
        last = self._by_request.get(request)
        if last is not None:
            waits.append(last + self.identical + self.margin - now)
        return max(waits)

    def record(self, contract: Hashable, request: Hashable, now: float) -> None:
        self._note(now, _text(contract), _text(request))
        self.requests += 1

    def _note(self, at: float, contract: str, request: str) -> None:
        self._sent.append(at)
        self._by_contract.setdefault(contract, deque()).append(at)
        self._by_request[request] = max(at, self._by_request.get(request, at))

    def _replace(self, sent: Sequence[tuple[float, str, str]]) -> None:
        """What the shared history says was sent (oldest first), instead of what this process knows."""
        self._sent.clear()
        self._by_contract.clear()
        self._by_request.clear()
        for at, contract, request in sent:
            self._note(at, contract, request)

    async def acquire(self, contract: Hashable, request: Hashable) -> None:
        """Wait until the request may go, then count it as sent (call just before sending)."""
        async with self._lock:
            while True:
                now = self._clock()
                if self.shared is None:
                    wait = self.delay(contract, request, now)
                else:
                    def decide(sent: Sequence[tuple[float, str, str]], now: float = now) -> float:
                        self._replace(sent)
                        return self.delay(contract, request, now)

                    wait = await asyncio.to_thread(self.shared.reserve, _text(contract), _text(request), now,
                                                   now - self.horizon, decide)
                if wait <= 0:
                    self.record(contract, request, now)
                    return
                self.waited += wait
                await self._sleep(wait)

    async def violated(self) -> float:
        """IB answered a request with a pacing violation: the window is full by IB's count. The
        next request waits until the oldest request known in the window leaves it (the whole
        window when none is known), and at least as long as the identical-request rule asks.
        Returns the seconds from now."""
        async with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window - self.margin:
                self._sent.popleft()
            frees = self._sent[0] + self.window + self.margin if self._sent else now + self.window + self.margin
            self._blocked_until = max(self._blocked_until, frees, now + self.identical + self.margin)
            self.violations += 1
            return self._blocked_until - now
