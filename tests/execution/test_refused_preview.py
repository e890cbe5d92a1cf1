"""A preview refused after its run was created (the day's run is created, or reused, in one
transaction and previewed in later ones) left the run QUEUED with no plan and nothing saying why:
the audit log showed a ``run.create`` that nothing followed, and the run's decision trail read
"no plan yet", as if a preview were still to come. The refusal is now kept with the run: its
message says it, ``plan.refused`` audits it, and the day's next preview of the snapshot reuses
the run and clears it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.commands.trail import render
from services.audit import AuditLog
from services.db.models import OrderPlan, TradeRun
from services.domain import RunStatus, TradeMode
from services.execution.errors import BadInput, UnknownContract
from services.trail_queries import decision_trail

from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(90)


def _runs_and_plans(db) -> tuple[list[TradeRun], int]:
    with db.session() as session:
        return list(session.scalars(select(TradeRun))), session.scalar(select(func.count()).select_from(OrderPlan)) or 0


def _actions(db, run_id: int) -> list[tuple[str, dict]]:
    return [(e.action, e.payload) for e in AuditLog(db).list(entity_type="trade_run", entity_id=run_id)]


@pytest.mark.parametrize("how", ["preview", "execute"])
async def test_a_preview_refused_over_an_unknown_symbol_leaves_its_run_explained(stack, ib_log_guard, how):
    ib_log_guard.allow(r"Error 200, .*ZZZZNOPE")
    _project, snapshot = make_snapshot(stack.db, "typo", {"AAPL": "0.01", "ZZZZNOPE": "0.01"})
    with pytest.raises(UnknownContract) as refused:
        if how == "preview":  # the window's Preview, `preview --save`
            await stack.service.preview_snapshot("typo", snapshot, TradeMode.PAPER, portfolio_value=Decimal(100000))
        else:  # `execute --snapshot`: the run prepared, then previewed under its lease
            run = await stack.service.prepare_run("typo", snapshot, TradeMode.PAPER)
            await stack.service.execute(run.id, portfolio_value=Decimal(100000))
    said = str(refused.value)
    # what the trader is told is unchanged: the symbol, the snapshot and what to do
    assert said.startswith(f"unknown contract: ZZZZNOPE (in snapshot {snapshot}, test.csv of project typo): IB knows")

    runs, plans = _runs_and_plans(stack.db)
    assert plans == 0 and len(runs) == 1
    run = runs[0]
    # the run stays the day's run (a later preview reuses it), saying why it has no plan
    assert run.status is RunStatus.QUEUED and run.message == f"preview refused: {said}"
    assert [a for a, _ in _actions(stack.db, run.id)] == ["run.create", "plan.refused"]
    assert _actions(stack.db, run.id)[1][1] == {"code": "unknown_contract", "message": said}
    assert AuditLog(stack.db).verify(full=True).ok
    trail = decision_trail(stack.db, run_id=run.id)
    assert trail.title == f"Run {run.id}, no plan: preview refused: {said}"
    assert render(trail).splitlines()[0] == f"Run {run.id}, no plan: preview refused: {said}"  # as the Decisions panel heads it
    assert trail.to_dict()["no_plan"] == f"preview refused: {said}"
    assert stack.sim.orders() == []


async def test_the_days_next_preview_reuses_the_refused_run_and_clears_the_refusal(stack):
    _project, snapshot = make_snapshot(stack.db, "later", {"AAPL": "0.01"})
    # a risk override is read by the risk engine, at the preview: stored with the run before
    with pytest.raises(BadInput, match="max_order_notional") as refused:
        await stack.service.preview_snapshot("later", snapshot, TradeMode.PAPER, risk_overrides=["max_order_notional=abc"],
                                             portfolio_value=Decimal(100000))
    (refused_run,), _ = _runs_and_plans(stack.db)
    assert refused_run.message == f"preview refused: {refused.value}"

    result = await stack.service.preview_snapshot("later", snapshot, TradeMode.PAPER, portfolio_value=Decimal(100000))
    assert result.run_id == refused_run.id and result.plan is not None and result.plan.order_count == 1
    (run,), plans = _runs_and_plans(stack.db)
    assert plans == 1 and run.status is RunStatus.QUEUED and run.message is None
    assert "preview_refused" not in (run.params or {})
    assert [a for a, _ in _actions(stack.db, run.id)] == ["run.create", "plan.refused"]  # the refusal stays audited
    trail = decision_trail(stack.db, run_id=run.id)
    assert trail.title == f"Preview not sent: run {run.id}, plan {result.plan.id}" and trail.to_dict()["no_plan"] is None
    assert AuditLog(stack.db).verify(full=True).ok


async def test_a_refusal_that_cannot_be_recorded_is_still_the_one_said(stack, monkeypatch, caplog):
    """Recording the refusal is a write of its own: a database that refuses it is logged, and the
    trader is still told why the preview was refused, not the database's error."""
    _project, snapshot = make_snapshot(stack.db, "unrecorded", {"AAPL": "0.01"})

    def database_gone(*_args):
        raise OSError("database gone")

    monkeypatch.setattr(stack.service, "_record_refusal", database_gone)
    with pytest.raises(BadInput, match="max_order_notional"):
        await stack.service.preview_snapshot("unrecorded", snapshot, TradeMode.PAPER, risk_overrides=["max_order_notional=abc"],
                                             portfolio_value=Decimal(100000))
    assert "its refused preview (max_order_notional" in caplog.text and "database gone" in caplog.text
