"""A project's orders another run stored and has not sent yet count as if they filled, as its
orders still working do (docs/project-books.md, "Unsent orders count too"), against the
simulator over a real socket, on SQLite and MariaDB. Run 1 stored its orders and died (halted,
stopped mid-send, a crash) before sending them; the trader imported the same targets again the
same day and run 2, building from the filled book and the working orders only, built and sent
the same orders again; recovery (or a resumed `execute`) then sent run 1's: twice the target at
the broker. The account's exposure counts another project's unsent orders the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.books import BooksService
from services.db.repositories import SettingsRepository
from services.domain import OrderState, RunStatus, TradeMode
from services.execution.recovery import AutoRecovery

from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(90)

TARGETS = {"AAPL": "0.1", "MSFT": "0.05"}


async def _stored_not_sent(stack, project: str, capital: str, targets: dict[str, str]):
    """A run of ``project`` whose plan's orders are stored NEW and never sent (the process died
    between storing and sending them: what a halted or stopped run leaves too); its plan."""
    _, snapshot = make_snapshot(stack.db, project, targets)
    BooksService(stack.db, "tester").set_capitals({project: capital})
    run = await stack.service.prepare_run(project, snapshot, TradeMode.PAPER)
    preview = await stack.service.preview(run.id)
    assert preview.drafts and not preview.blocked
    await stack.service._db(stack.service._insert_orders, run.id, preview.plan)
    view = await stack.service.view(run.id)
    assert {o.status for o in view.orders} == {OrderState.NEW} and stack.sim.orders() == []
    return run.id, preview.plan


@pytest.mark.parametrize("sent_by", ["recovery", "execute"])
async def test_a_second_run_of_the_same_targets_builds_nothing_while_the_first_runs_orders_wait_unsent(stack, sent_by):
    run_1, plan_1 = await _stored_not_sent(stack, "P", "100000", TARGETS)
    intended = {o.symbol: o.quantity for o in plan_1.orders}
    assert set(intended) == set(TARGETS)
    coids = tuple(o.client_order_id for o in plan_1.orders)

    # the same targets imported again the same day: run 2 counts run 1's unsent orders as filled
    _, second = make_snapshot(stack.db, "P", TARGETS)
    again = await stack.service.preview_snapshot("P", second, TradeMode.PAPER)
    assert again.run_id != run_1
    assert [(d.symbol, d.quantity) for d in again.drafts] == []
    assert not again.blocked
    assert again.plan.positions == {} and again.plan.working == intended
    assert set(again.plan.working_orders) == set(coids) and set(again.plan.unsent_orders) == set(coids)
    listed = ", ".join(f"{s} +{q.normalize():f}" for s, q in sorted(intended.items()))
    assert again.working_note == f"counted as filled: 2 unsent orders of this project: {listed}"
    executed = await stack.service.execute(again.run_id)
    assert executed.sent == () and executed.status is RunStatus.DONE

    # run 1's orders go out later, as they were stored: the broker holds the target once
    if sent_by == "recovery":
        with stack.db.unit_of_work() as session:
            SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 5})
        recovery = AutoRecovery(stack.db, stack.provider, stack.writer, stack.reconciler, stack.service.leases,
                                actor="tester", busy_runs=stack.service.executing_runs)
        passed = await recovery.run_once(now=datetime.now(UTC) + timedelta(seconds=60))
        assert set(passed.sent) == set(coids)
    else:
        resumed = await stack.service.execute(run_1)
        assert set(resumed.sent) == set(coids)
    assert await stack.service.wait_done(run_1, 10) == []
    await stack.writer.flush()
    assert sorted(o.order_ref for o in stack.sim.orders()) == sorted(coids)
    assert {s: q for s, q in stack.sim.positions().items() if q} == intended

    # filled, they are the book now: a third run of the same targets still builds nothing
    _, third = make_snapshot(stack.db, "P", TARGETS)
    once_more = await stack.service.preview_snapshot("P", third, TradeMode.PAPER)
    assert once_more.drafts == () and once_more.plan.positions == intended and once_more.working_note == ""


async def test_account_gross_exposure_counts_another_projects_orders_not_sent_yet(stack):
    """A's run stored a large AAPL buy and stopped before sending it (recovery sends it later):
    B's preview sees the account as if it filled (together over the NetLiquidation; B alone is
    not), as it does A's order once working at the broker."""
    with stack.db.unit_of_work() as session:
        settings = SettingsRepository(session)
        settings.set_risk_defaults({**settings.risk_defaults(), "max_position_ratio": None, "max_order_notional": None})
    _, b_snap = make_snapshot(stack.db, "B", {"AAPL": "0.5"})
    BooksService(stack.db, "tester").set_capitals({"B": "600000"})
    alone = await stack.service.preview_snapshot("B", b_snap, TradeMode.PAPER)
    assert not alone.blocked  # 0.5 of 600,000 in AAPL: well inside the account's NetLiquidation

    await _stored_not_sent(stack, "A", "800000", {"AAPL": "0.95"})  # some 760,000 of AAPL, unsent

    together = await stack.service.preview_snapshot("B", b_snap, TradeMode.PAPER, new_run=True)
    assert together.blocked
    assert {b.rule for b in together.report.all_blocks()} == {"account_gross_exposure"}
    assert together.working_note == ""  # A's order is not B's: counted in the account, not in B's book
