"""The shared pacing limiter on a fake clock: never more than 45 messages in any second."""

from __future__ import annotations

import asyncio

import pytest

from services.execution.ib_provider import backoff_delays
from services.execution.pacing import PacingLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


async def test_without_spacing_45_pass_at_once_then_one_second_later():
    clock = FakeClock()
    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=clock.sleep, min_spacing=0)
    times = []
    for _ in range(100):
        await limiter.acquire()
        times.append(clock.now)
    assert times[:45] == [0.0] * 45
    assert times[45:90] == [1.0] * 45
    assert times[90:] == [2.0] * 10
    assert limiter.waits == 2


@pytest.mark.parametrize("spacing", [0, None])
async def test_no_window_of_one_second_holds_more_than_capacity(spacing):
    clock = FakeClock()
    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=clock.sleep, min_spacing=spacing)
    times = []
    for i in range(300):
        if i % 7 == 0:
            clock.now += 0.13  # callers arrive irregularly
        await limiter.acquire()
        times.append(clock.now)
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0 - 1e-6)
        assert in_window <= 45
    # and the limiter never made anyone wait while a token was free
    assert len(times) == 300


async def test_try_acquire_and_available():
    clock = FakeClock()
    limiter = PacingLimiter(3, 1.0, clock=clock, sleep=clock.sleep, min_spacing=0)
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert limiter.available() == 0
    clock.now = 0.999
    assert limiter.available() == 0
    clock.now = 1.0
    assert limiter.available() == 3


async def test_concurrent_callers_share_one_budget():
    clock = FakeClock()
    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=clock.sleep, min_spacing=0)
    times: list[float] = []

    async def caller() -> None:
        async with limiter:
            times.append(clock.now)

    await asyncio.gather(*(caller() for _ in range(135)))
    assert sorted(times) == [0.0] * 45 + [1.0] * 45 + [2.0] * 45


async def test_default_spacing_smooths_bursts_without_losing_throughput():
    clock = FakeClock()
    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(500):
        await limiter.acquire()
        times.append(clock.now)
    gaps = {round(b - a, 6) for a, b in zip(times, times[1:])}
    assert gaps == {round(1 / 45, 6)}
    assert times[-1] == pytest.approx(499 / 45)  # 500 messages: 11.09 s, the bound is 500/45 = 11.1 s
    assert not limiter.try_acquire()  # the next one must wait for its spacing


async def test_late_wake_ups_do_not_add_up():
    clock = FakeClock()

    async def late_sleep(seconds: float) -> None:  # a busy loop wakes every sleeper 5 ms late
        clock.now += seconds + 0.005

    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=late_sleep)
    times = []
    for _ in range(500):
        await limiter.acquire()
        times.append(clock.now)
    # at most one late wake-up per one-second window (11 x 5 ms), not 500 x 5 ms = 2.5 s
    assert times[-1] <= 499 / 45 + 12 * 0.005 + 1e-6
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0 - 1e-6) <= 45


async def test_pause_after_a_pacing_violation():
    clock = FakeClock()
    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=clock.sleep, min_spacing=0)
    await limiter.acquire()
    limiter.pause(1.0)
    assert not limiter.try_acquire()
    await limiter.acquire()
    assert clock.now == 1.0 and limiter.pauses == 1
    await limiter.acquire()
    assert clock.now == 1.0  # after the pause the normal budget applies


async def test_recorded_messages_use_the_budget():
    clock = FakeClock()
    limiter = PacingLimiter(3, 1.0, clock=clock, sleep=clock.sleep, min_spacing=0)
    limiter.record()
    limiter.record()
    await limiter.acquire()
    assert not limiter.try_acquire()
    await limiter.acquire()
    assert clock.now == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        PacingLimiter(0)
    with pytest.raises(ValueError):
        PacingLimiter(45, 0)


def test_reconnect_backoff_doubles_from_one_second_to_sixty():
    gen = backoff_delays()
    assert [next(gen) for _ in range(9)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
