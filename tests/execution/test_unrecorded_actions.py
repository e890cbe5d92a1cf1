"""The waiting list of what a halt or Cancel All could not write (services/execution/unrecorded.py),
as logic: written in the order taken once the database answers, a failure that is no outage
logged once and tried again (a halt stays held meanwhile), what is left said when the engine
stops. The real outage is tests/execution/test_halt_without_database.py's."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from services.execution.unrecorded import UnrecordedActions
from tests.fixtures.waiting import wait_until


def _refused() -> OperationalError:
    return OperationalError("BEGIN", {}, Exception(2003, "Can't connect to MySQL server on '127.0.0.1'"))


async def test_written_in_the_order_taken_once_the_database_answers():
    waiting = UnrecordedActions(inline=True, retry_initial=0.001, retry_max=0.002)
    answers = iter([_refused(), _refused()])
    written: list[tuple[str, dict]] = []
    said: list[str] = []
    waiting.subscribe(said.append)

    def write(what):
        def attempt(late: dict) -> None:
            failure = next(answers, None)
            if failure is not None:
                raise failure
            written.append((what, late))
        return attempt

    words = waiting.add("the halt", write("halt"), _refused(), halt=True)
    waiting.add("the Cancel All", write("cancel all"), _refused(), parts="its marker and audit entry", plural=True)
    assert words.startswith("the halt is not recorded yet: the database did not answer (database server unreachable")
    assert waiting.halt_pending and waiting.waiting == ("the halt", "the Cancel All")
    assert await waiting.wait_written(10)
    assert [what for what, _ in written] == ["halt", "cancel all"]
    assert all(set(late) == {"asked_at", "not_recorded_then"} for _, late in written)
    assert not waiting.halt_pending and waiting.waiting == ()
    assert [line.split(" asked at ")[0] for line in said] == ["Recorded now: the halt", "Recorded now: the Cancel All"]


async def test_a_failure_that_is_no_outage_is_logged_once_and_the_halt_stays_held(caplog):
    waiting = UnrecordedActions(inline=True, retry_initial=0.001, retry_max=0.001)
    tries = []

    def broken(_late: dict) -> None:
        tries.append(1)
        raise RuntimeError("a bug, not an outage")

    caplog.set_level(logging.WARNING, logger="services.execution.unrecorded")
    waiting.add("the halt", broken, _refused(), halt=True)
    await wait_until(lambda: len(tries) >= 3, 10, "tried again after the failure")
    assert waiting.halt_pending and waiting.waiting == ("the halt",)  # never dropped
    assert sum("could not be recorded; trying again" in r.message for r in caplog.records) == 1
    await waiting.stop()
    assert any(r.levelno == logging.ERROR and "not recorded" in r.message and "the halt asked at" in r.message
               for r in caplog.records)
