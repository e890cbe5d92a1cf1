"""The writer's health in the window: shown in the status bar for as long as it is true."""

from __future__ import annotations

import pytest

from services.execution.writer import WriterHealth
from tests.app.conftest import run


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_status_bar_shows_the_writers_problems_until_they_are_gone(qloop, open_console):
    async def scenario():
        console = await open_console()
        bar = console.window.statusBar()
        writer = console.stack.writer
        try:
            writer._set_health(WriterHealth(True, 3, "database unreachable: refused", parked=1,
                                            parked_reason="ValueError: bad row", journaled=5, journal_path="/tmp/j.jsonl"))
            text = bar.currentMessage()
            assert "database unreachable: refused; 3 events waiting in memory" in text
            assert "5 events kept in the journal /tmp/j.jsonl" in text
            assert "1 event the database refused, retried until written (ValueError: bad row)" in text
            # a password in the driver's words is masked, as the commands mask it (WriterHealth.describe):
            # the window showed it as said
            writer._set_health(WriterHealth(True, 1, "database unreachable: mysql+pymysql://trader:s3cret@db/test refused"))
            assert "trader:***@db/test" in bar.currentMessage() and "s3cret" not in bar.currentMessage(), bar.currentMessage()
            writer._set_health(WriterHealth(False, 0))
            assert bar.currentMessage() == "Database reachable again: every event written"
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
def test_status_bar_shows_the_market_health_with_its_reason(qloop, open_console):
    """The market-health gate's reason (a data farm broken) stays in the status bar until the
    farm is back (the gateway's 2103, then 2104)."""

    async def scenario():
        console = await open_console()
        bar = console.window.statusBar()
        health = console.stack.engine.health
        try:
            assert health is not None and health.status().healthy  # demo: the simulator's farms are OK
            health.on_notice(2103, "Market data farm connection is broken:usfarm")
            assert bar.currentMessage() == "Market not healthy: data farm broken: 2103 Market data farm connection is broken:usfarm"
            health.on_notice(2104, "Market data farm connection is OK:usfarm")
            assert bar.currentMessage() == "Market healthy again"
        finally:
            await console.close()

    run(qloop, scenario())
