"""The suite's one polling helper fails with a message that names what did not happen."""

from __future__ import annotations

import pytest

from tests.fixtures.waiting import wait_until, wait_until_blocking


async def test_wait_until_returns_once_true_and_awaits_async_predicates():
    calls = []

    async def third_time():
        calls.append(1)
        return len(calls) >= 3

    await wait_until(third_time, 5, "three calls", interval=0)
    assert len(calls) == 3


async def test_wait_until_fails_after_the_deadline_with_the_message():
    state = {"status": "Submitted"}
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s waiting for the order to fill \(it is Submitted\)"):
        await wait_until(lambda: False, 0.05, lambda: f"the order to fill (it is {state['status']})")


def test_wait_until_blocking_fails_with_the_message():
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s waiting for the child"):
        wait_until_blocking(lambda: False, 0.05, "the child")
