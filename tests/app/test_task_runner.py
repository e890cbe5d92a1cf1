"""TaskRunner's logging of a task's failure: a refusal of the trader's input is a warning with its
message, a fault of the code an error with its traceback; both reach the trader's message."""

from __future__ import annotations

import logging

from app.tasks import TaskRunner
from services.execution.errors import BadInput
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
