"""The shared pacing limiter on a fake clock: never more than 45 messages in any second."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from services.execution.ib_connection import backoff_delays
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


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most messages in any ``window`` seconds (half-open, as the receiver counts)."""
    return max(sum(1 for t in times[i:] if t < start + window - 1e-6) for i, start in enumerate(times))


@pytest.mark.parametrize("spacing", [0, None])
async def test_no_window_of_one_second_holds_more_than_capacity(spacing):
    clock = FakeClock()
    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=clock.sleep, min_spacing=spacing)
    gap = 1 / 45 if spacing is None else 0.0
    times, arrivals = [], []
    for i in range(300):
        if i % 7 == 0:
            clock.now += 0.13  # callers arrive irregularly
        arrivals.append(clock.now)
        await limiter.acquire()
        times.append(clock.now)
    assert max_in_window(times) <= 45
    # and the limiter never made anyone wait longer than needed: no message left later than its
    # arrival, the spacing after the previous one and one second after the 45th before it require
    for i, (arrived, sent) in enumerate(zip(arrivals, times, strict=True)):
        needed = arrived
        if i >= 1:
            needed = max(needed, times[i - 1] + gap)
        if i >= 45:
            needed = max(needed, times[i - 45] + 1.0)
        assert arrived - 1e-9 <= sent <= needed + 1e-6, f"message {i} waited {sent - needed:.3f} s too long"


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
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
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


async def test_error_100_halves_the_rate_for_a_while_then_restores_it():
    clock = FakeClock()
    limiter = PacingLimiter(40, 1.0, clock=clock, sleep=clock.sleep, recover_after=10.0, min_rate=5)
    await limiter.acquire()
    assert limiter.slow_down(pause=1.0) is True
    assert limiter.slow_down(pause=1.0) is False  # the same burst of errors: halved once
    assert limiter.rate == 20 and limiter.slow_downs == 1
    times = []
    for _ in range(41):
        await limiter.acquire()
        times.append(clock.now)
    assert times[0] == pytest.approx(1.0)  # nothing during the pause
    assert max_in_window(times) <= 20 and times[-1] - times[0] == pytest.approx(40 / 20)
    clock.now += 1.5  # a later violation halves again, never below min_rate
    assert limiter.slow_down(pause=1.0) and limiter.rate == 10
    limiter.slow_down(pause=0.0)
    limiter.slow_down(pause=0.0)
    assert limiter.rate == 5
    clock.now += 10.0 + 1.0  # recover_after without a violation: the full budget again
    assert limiter.rate == 40
    start = clock.now
    for _ in range(40):
        await limiter.acquire()
    assert clock.now - start < 1.0  # 40 in a second (at the slowed 5/s: 8 s)


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


async def test_a_message_held_up_after_its_token_counts_from_when_it_left():
    """The receiver counts what it receives: a sender held up between the grant and the write
    (a garbage collection, a busy loop) must not let the next window start early. The paced
    sender stamps each token again once its message has left (PacedSender's counter)."""
    from services.execution.paced import PacedSender

    clock = FakeClock()
    limiter = PacingLimiter(45, 1.0, clock=clock, sleep=clock.sleep, min_spacing=0)
    left: list[float] = []

    class Client:
        def sendMsg(self, msg):  # ib_async's name
            left.append(clock.now)

    client = Client()
    sender = PacedSender(client, limiter, request_timeout=1.0)

    def send_after(delay: float):
        clock.now += delay  # held up after the token was granted, before the write
        client.sendMsg("1\0")

    await sender.send(send_after, 0.05)  # the first message leaves 50 ms after its grant
    for _ in range(60):
        await sender.send(send_after, 0.0)
    assert max_in_window(left) <= 45, sorted(left)
    assert left[45] >= left[0] + 1.0  # the 46th waits a second from when the first left
