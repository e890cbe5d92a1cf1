"""A demo session's audit entries say its runs' mode as the demo window says it: "demo". Its
runs are stored paper (TradeMode has no demo: the demo's orders go to the built-in simulator as a
paper account's go to IB's), and ``run.create`` / ``run.execute`` wrote that "paper" into the
audit log, where it read as IB's paper account beside the window's demo badge, its execute
question and its run names (services.core.wording.mode_word). Only what new entries record: the
chain's stored entries are never rewritten. A session that is not the demo's says its mode as
stored."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from services.audit import AuditLog
from services.db.models import TradeRun
from services.execution.manual import ManualOrders, Ticket

pytestmark = pytest.mark.timeout(60)


def _modes(db) -> dict[str, list[str]]:
    """The ``mode`` of each run.create and run.execute entry, and the runs' stored modes."""
    entries = AuditLog(db).list(limit=1000)
    with db.session() as session:
        stored = [str(mode) for mode in session.scalars(select(TradeRun.mode))]
    return {**{action: [e.payload["mode"] for e in entries if e.action == action] for action in ("run.create", "run.execute")},
            "runs": stored}


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)  # what is written, not how a server keeps it
async def test_a_demo_sessions_run_entries_say_demo(db_url, isolated_user_dirs):
    from app.composition import build_stack
    from app.settings import load_settings

    # the demo window's stack (app.composition: the one way the window gets it), on the test's database
    settings = replace(load_settings(env={}), db_url=db_url, profile="demo")
    stack = await build_stack(settings, demo=True, record_equity=False,
                              simulator_options={"walk_interval": None, "fill_interval": 0.02})
    try:
        await stack.engine.manual.send(Ticket.of("AAPL", "BUY", quantity="2"))
        await stack.writer.flush()
        assert _modes(stack.db) == {"run.create": ["demo"], "run.execute": ["demo"], "runs": ["paper"]}
    finally:
        await stack.close()


async def test_a_paper_sessions_run_entries_say_paper(stack):
    await ManualOrders(stack.service).send(Ticket.of("AAPL", "BUY", quantity="2"))
    await stack.writer.flush()
    assert _modes(stack.db) == {"run.create": ["paper"], "run.execute": ["paper"], "runs": ["paper"]}
