"""The shared pacing limiter: at most N messages per interval across orders, cancels and market
data (IB answers error 100 above about 50/s and may disconnect; ib_async throttles at 45/s).

It is the strict form of a token bucket: each of the ``capacity`` tokens comes back exactly one
``interval`` after it was spent, so no window of ``interval`` seconds ever holds more than
``capacity`` messages (a classic refill-rate bucket lets ``capacity + rate*interval`` through).
Clock and sleep are injectable so the unit tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

IB_MAX_MESSAGES_PER_SECOND = 45


class PacingLimiter:
    def __init__(
        self,
        capacity: int = IB_MAX_MESSAGES_PER_SECOND,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if capacity < 1 or interval <= 0:
            raise ValueError("capacity must be >= 1 and interval > 0")
        self.capacity = capacity
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._spent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waits = 0  # how often a caller had to wait (for benchmarks and tests)

    def _expire(self, now: float) -> None:
        # the epsilon absorbs float rounding of ``now + wait`` after a sleep
        while self._spent and now >= self._spent[0] + self.interval - 1e-9:
            self._spent.popleft()

    def available(self) -> int:
        self._expire(self._clock())
        return self.capacity - len(self._spent)

    def try_acquire(self) -> bool:
        now = self._clock()
        self._expire(now)
        if len(self._spent) < self.capacity:
            self._spent.append(now)
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token, first come first served."""
        async with self._lock:
            while True:
                now = self._clock()
                self._expire(now)
                if len(self._spent) < self.capacity:
                    self._spent.append(now)
                    return
                self.waits += 1
                await self._sleep(self._spent[0] + self.interval - now)

    async def __aenter__(self) -> "PacingLimiter":
        await self.acquire()
        return self

    async def __aexit__(self, *exc) -> None:
        return None
