"""The shared pacing limiter: at most N messages per interval across orders, cancels and market
data (IB answers error 100 above about 50/s and may disconnect; ib_async throttles at 45/s).

It is the strict form of a token bucket: each of the ``capacity`` tokens comes back exactly one
``interval`` after it was spent, so no window of ``interval`` seconds ever holds more than
``capacity`` messages (a classic refill-rate bucket lets ``capacity + rate*interval`` through).
Messages are also spaced by ``min_spacing`` (default ``interval / capacity``, 22 ms at 45/s): a
burst of 45 that the receiver reads late must not meet the next burst inside its one-second
window (the simulator, like TWS, counts by its own receive time and answers error 100). Spacing
costs nothing in throughput: N messages still take (N - 1) / 45 seconds.

When the receiver still says we were too fast (IB's error 100: the message was dropped), the
limiter pauses and then runs at a lower rate for a while (``slow_down``): half the budget per
violation, never below ``min_rate``, back to the full budget after ``recover_after`` seconds
without a new violation. A burst of errors 100 (one per dropped message) counts as one violation.

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
        min_spacing: float | None = None,
        margin: float = 0.0,
        min_rate: int = 5,
        recover_after: float = 30.0,
    ) -> None:
        if capacity < 1 or interval <= 0:
            raise ValueError("capacity must be >= 1 and interval > 0")
        self.capacity = capacity
        self.interval = interval
        self.min_spacing = interval / capacity if min_spacing is None else min_spacing
        self.margin = margin  # a token comes back interval + margin after use (clock jitter)
        self._next_slot: float | None = None  # the spacing schedule (not the actual send times)
        self._clock = clock
        self._sleep = sleep
        self._spent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waits = 0  # how often a caller had to wait (for benchmarks and tests)
        self.pauses = 0
        self.granted = 0  # tokens handed out by acquire / try_acquire, ever
        self.recorded = 0  # messages counted after they were sent (``record``), ever
        self.min_rate = max(1, min(min_rate, capacity))
        self.recover_after = recover_after
        self._rate = capacity  # the current budget per interval (lower after a violation)
        self._slow_until: float | None = None
        self._last_slow_down: float | None = None
        self.slow_downs = 0

    @property
    def rate(self) -> int:
        """Messages per interval allowed now (``capacity`` unless slowed down)."""
        self._restore(self._clock())
        return self._rate

    def _restore(self, now: float) -> None:
        if self._slow_until is not None and now >= self._slow_until:
            self._rate = self.capacity
            self._slow_until = None

    def _spacing(self) -> float:
        if self._rate == self.capacity:
            return self.min_spacing
        return max(self.min_spacing, self.interval / self._rate)

    def _expire(self, now: float) -> None:
        # the epsilon absorbs float rounding of ``now + wait`` after a sleep
        while self._spent and now >= self._spent[0] + self.interval + self.margin - 1e-9:
            self._spent.popleft()

    def available(self) -> int:
        now = self._clock()
        self._expire(now)
        self._restore(now)
        return max(0, self._rate - len(self._spent))

    def _wait_time(self, now: float) -> float:
        self._expire(now)
        self._restore(now)
        wait = 0.0
        if len(self._spent) >= self._rate:
            # the token that must come back first: the rate-th most recent one
            wait = self._spent[len(self._spent) - self._rate] + self.interval + self.margin - now
        if self._next_slot is not None:
            wait = max(wait, self._next_slot - now)
        return wait if wait > 1e-9 else 0.0

    def _take(self, now: float) -> None:
        self._spent.append(now)
        self.granted += 1
        spacing = self._spacing()
        if spacing <= 0:
            self._next_slot = None
        else:
            # Slots follow a schedule, so a late wake-up (a busy loop) is caught up instead of
            # adding up over hundreds of messages; after an idle time at most two slots are early.
            base = now if self._next_slot is None else max(self._next_slot, now - 2 * spacing)
            self._next_slot = base + spacing

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the receiver said we were too fast: error 100)."""
        until = self._clock() + seconds
        self._next_slot = until if self._next_slot is None else max(self._next_slot, until)
        self.pauses += 1

    def slow_down(self, pause: float = 1.0) -> bool:
        """The receiver dropped a message (error 100): send nothing for ``pause`` seconds, then
        at half the current rate (not below ``min_rate``) until ``recover_after`` seconds pass
        without another violation. Violations within ``pause`` of the last slow-down are the
        same burst: they extend the pause but do not halve the rate again. Returns whether the
        rate was lowered."""
        now = self._clock()
        self._restore(now)
        self.pause(pause)
        lowered = False
        if self._last_slow_down is None or now - self._last_slow_down >= pause:
            self._rate = max(self.min_rate, self._rate // 2)
            self._last_slow_down = now
            self.slow_downs += 1
            lowered = True
        self._slow_until = now + pause + self.recover_after
        return lowered

    def record(self) -> None:
        """Count a message sent without asking (a library's own request): it uses the budget
        of the window too, so that the next ``acquire`` waits for it."""
        now = self._clock()
        self._expire(now)
        self._spent.append(now)
        self.recorded += 1

    def restamp_last(self) -> None:
        """The message of the last token granted has left now: its token comes back one
        interval after now, not after the grant (the two differ when the sender was held up in
        between, and the receiver counts what it receives)."""
        if self._spent:
            self._spent[-1] = max(self._spent[-1], self._clock())

    def try_acquire(self) -> bool:
        now = self._clock()
        if self._wait_time(now) > 0:
            return False
        self._take(now)
        return True

    async def acquire(self) -> None:
        """Wait for a token, first come first served."""
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._wait_time(now)
                if wait <= 0:
                    self._take(now)
                    return
                self.waits += 1
                await self._sleep(wait)

    async def __aenter__(self) -> PacingLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc) -> None:
        return None
