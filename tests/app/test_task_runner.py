"""TaskRunner's logging of a task's failure: a refusal of the trader's input is a warning with its
message, a fault of the code an error with its traceback; both reach the trader's message."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.tasks import TaskRunner
from services.books import BooksError
from services.execution.errors import (
    BadInput,
    LiveConfirmRequired,
    PlanRefused,
    RiskBlocked,
    TradingHalted,
    UnknownContract,
)
from tests.app.conftest import run


async def _refused() -> None:
    raise BadInput("'AAPL!' is not a symbol: type a ticker such as AAPL, or SAP@IBIS:EUR")


async def _broken() -> None:
    raise KeyError("positions")


def test_a_bad_input_refusal_is_a_warning_without_a_traceback_and_a_crash_keeps_its(qloop, caplog):
    said: list[tuple[str, str]] = []
    runner = TaskRunner(on_error=lambda what, message: said.append((what, message)))

    async def scenario():
        runner.run(_refused(), what="Quote")
        runner.run(_broken(), what="Positions")
        await runner.drain()

    with caplog.at_level(logging.WARNING, logger="app.tasks"):
        run(qloop, scenario())
    by_what = {r.getMessage().split(" ")[0]: r for r in caplog.records if r.name == "app.tasks"}
    refused, broken = by_what["Quote"], by_what["Positions"]
    assert refused.levelno == logging.WARNING and refused.exc_info is None
    assert refused.getMessage() == "Quote refused: 'AAPL!' is not a symbol: type a ticker such as AAPL, or SAP@IBIS:EUR"
    assert broken.levelno == logging.ERROR and broken.exc_info is not None and broken.exc_info[0] is KeyError
    assert said == [("Quote", "'AAPL!' is not a symbol: type a ticker such as AAPL, or SAP@IBIS:EUR"),
                    ("Positions", "'positions'")]


@pytest.mark.parametrize("refusal", [
    RiskBlocked("risk check failed: AAPL: order notional 30000 above max_order_notional 25000"),
    TradingHalted("trading is HALTED: resume to send"),
    PlanRefused("plan 3 is 20 minutes old: preview again"),
    LiveConfirmRequired("live_confirm_required: type LIVE to trade a live account"),
    UnknownContract("IB knows no listing of ZZZZNOPE"),
    BooksError("not enough unassigned AAPL: 3 unassigned, 5 asked"),
], ids=lambda e: type(e).__name__)
def test_every_refusal_of_the_trader_is_a_warning_without_a_traceback(qloop, caplog, refusal):
    """A risk block, a plan too old, a halt, a live order without the word: the engine refusing
    what the trader asked, said to the trader, is not a fault of the code."""
    said: list[tuple[str, str]] = []
    runner = TaskRunner(on_error=lambda what, message: said.append((what, message)))

    async def refused() -> None:
        raise refusal

    async def scenario():
        runner.run(refused(), what="Execute")
        await runner.drain()

    with caplog.at_level(logging.WARNING, logger="app.tasks"):
        run(qloop, scenario())
    [record] = [r for r in caplog.records if r.name == "app.tasks"]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().startswith("Execute refused: ") and said and said[0][0] == "Execute"


def test_drain_waits_for_the_tasks_in_flight_not_the_lasting_follower_and_names_what_it_left(qloop):
    """The database follower runs until it is cancelled: drain waited for it too, so every drain
    of an open window lasted its whole timeout (5 s) and then went on as if all had ended."""
    runner = TaskRunner()

    async def scenario():
        follower = runner.run(asyncio.Event().wait(), what="Follow the database", lasting=True)
        runner.run(asyncio.sleep(0), what="Preview")
        left_while_open = await runner.drain(timeout=60)
        follower_running = not follower.done()
        runner.run(asyncio.Event().wait(), what="Stuck")
        left_stuck = await runner.drain(timeout=0.05)
        runner.cancel_all()
        left_closed = await runner.drain(timeout=60)
        return left_while_open, follower_running, left_stuck, left_closed, follower.cancelled()

    left_while_open, follower_running, left_stuck, left_closed, follower_cancelled = run(qloop, scenario())
    assert left_while_open == [] and follower_running
    assert left_stuck == ["Stuck"]  # not the follower: it is not waited for
    assert left_closed == [] and follower_cancelled  # once cancelled, drain waits for its end
