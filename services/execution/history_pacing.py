"""IB's historical-data pacing, on top of the message limiter (pacing.py).

IB's rules (docs/ib-pacing.md, "Historical data"): no identical historical request within 15
seconds, no six or more requests for the same contract, exchange and data type within 2
seconds, no more than 60 requests in any 10 minutes. A violation is error 162 ("pacing
violation") and the request gets no bars. ``HistoricalPacing.acquire`` waits until a request
keeps all three, with a small margin for the receiver's clock; the limits are parameters so a
test can shrink the 10-minute window.

Clock and sleep are injectable so the unit tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

MAX_REQUESTS = 60
WINDOW_SECONDS = 600.0
IDENTICAL_SECONDS = 15.0
SAME_CONTRACT_REQUESTS = 5  # six or more within 2 s is a violation
SAME_CONTRACT_SECONDS = 2.0
MARGIN_SECONDS = 0.5  # the receiver counts by its own clock


class HistoricalPacing:
    def __init__(self, *, max_requests: int = MAX_REQUESTS, window: float = WINDOW_SECONDS,
                 identical: float = IDENTICAL_SECONDS, same_contract: int = SAME_CONTRACT_REQUESTS,
                 same_contract_window: float = SAME_CONTRACT_SECONDS, margin: float = MARGIN_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.max_requests = max_requests
        self.window = window
        self.identical = identical
        self.same_contract = same_contract
        self.same_contract_window = same_contract_window
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._by_contract: dict[Hashable, deque[float]] = {}
        self._by_request: dict[Hashable, float] = {}
        self._lock = asyncio.Lock()
        self.requests = 0  # granted, ever (tests and the download report count them)
        self.waited = 0.0  # seconds spent waiting, ever

    def delay(self, contract: Hashable, request: Hashable, now: float) -> float:
        """Seconds to wait before ``request`` (on ``contract``) keeps every rule; 0: send now."""
        waits = [0.0]
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
        self._sent.append(now)
        self._by_contract.setdefault(contract, deque()).append(now)
        self._by_request[request] = now
        self.requests += 1

    async def acquire(self, contract: Hashable, request: Hashable) -> None:
        """Wait until the request may go, then count it as sent (call just before sending)."""
        async with self._lock:
            while (wait := self.delay(contract, request, self._clock())) > 0:
                self.waited += wait
                await self._sleep(wait)
            self.record(contract, request, self._clock())
