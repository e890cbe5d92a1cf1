"""Runs end to end against the simulator over a real socket, on SQLite and MariaDB."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.core.builder import client_order_id
from services.db.repositories import (
    OrderRepository,
    PositionRepository,
    RunRepository,
    SettingsRepository,
)
from services.domain import OrderState, RunStatus, Side, TradeMode
from services.execution.errors import LiveConfirmRequired

from .conftest import build_stack, make_snapshot

pytestmark = pytest.mark.timeout(60)


async def test_paper_run_from_snapshot_to_fills_and_again_places_nothing(stack):
    project_id, snapshot_id = make_snapshot(stack.db, "alpha", {"AAPL": "0.01", "MSFT": "0.005"})
    run = await stack.service.create_run("alpha", snapshot_id, TradeMode.PAPER, {})
    assert run.created and run.status is RunStatus.QUEUED
    result = await stack.service.execute(run.id, portfolio_value=Decimal("100000"))
    # 1% of 100k at 228.50 -> 4 AAPL (nearest lot); 0.5% at 415.20 -> 1 MSFT
    with stack.db.session() as session:
        installation = SettingsRepository(session).installation_id()
    assert sorted(result.sent) == sorted(client_order_id(run.id, s, Side.BUY, n, installation)
                                         for s, n in (("AAPL", 1), ("MSFT", 2)))
    assert await stack.service.wait_done(run.id, 10) == []
    await stack.writer.flush()
    view = await stack.service.view(run.id)
    assert view.run.status is RunStatus.DONE
    by_symbol = {o.symbol: o for o in view.orders}
    assert by_symbol["AAPL"].quantity == Decimal(4) and by_symbol["MSFT"].quantity == Decimal(1)
    assert all(o.status is OrderState.FILLED and o.filled_quantity == o.quantity for o in view.orders)
    assert {f.exec_id for f in view.fills} == {e.exec_id for e in stack.sim.executions()}
    assert all(f.commission == Decimal("1.00") for f in view.fills)  # IB Pro fixed: USD 1 minimum
    with stack.db.session() as session:
        positions = {(p.project_id, p.symbol): p.quantity for p in PositionRepository(session).list()}
    assert positions == {(project_id, "AAPL"): Decimal(4), (project_id, "MSFT"): Decimal(1),
                         (None, "AAPL"): Decimal(4), (None, "MSFT"): Decimal(1)}
    assert stack.sim.positions() == {"AAPL": Decimal(4), "MSFT": Decimal(1)}

    # the same snapshot again on the same day: the same run, nothing new placed
    again = await stack.service.create_run("alpha", snapshot_id, TradeMode.PAPER, {})
    assert again.id == run.id and not again.created
    placed_before = len(stack.sim.orders())
    result2 = await stack.service.execute(again.id)
    assert result2.sent == ()
    assert len(stack.sim.orders()) == placed_before


async def test_live_run_refused_without_token_at_service_layer(stack):
    _, snapshot_id = make_snapshot(stack.db, "beta", {"AAPL": "0.01"})
    with pytest.raises(LiveConfirmRequired) as info:
        await stack.service.create_run("beta", snapshot_id, TradeMode.LIVE, {}, live_token="  nope ")
    assert info.value.code == "live_confirm_required" and info.value.exit_code == 4
    with stack.db.session() as session:
        assert RunRepository(session).list() == []
    # the token is trimmed and case-insensitive
    run = await stack.service.create_run("beta", snapshot_id, TradeMode.LIVE, {}, live_token="  live ")
    assert run.mode is TradeMode.LIVE
    # execute re-checks the token, and a paper connection never executes a live run
    with pytest.raises(LiveConfirmRequired):
        await stack.service.execute(run.id, live_token=None)


async def test_a_backtests_input_snapshot_is_never_traded_by_its_id(stack):
    """A backtest stores its dated snapshots as inputs (hidden from `snapshot list` and the
    window); `preview --save --snapshot ID` and `execute --snapshot ID` of such an id created a
    paper run and sent its orders (live too, with the word). The backtest's own runs still use it;
    importing the same file makes it a snapshot to trade."""
    from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository
    from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE
    from services.execution.errors import BadInput

    with stack.db.unit_of_work() as session:
        project = ProjectRepository(session).get_or_create("bt")
        snapshot_id = SnapshotRepository(session).create_with_items(
            project.id, "2024-01-02.csv", "f" * 64, [SnapshotItemInput("AAPL", Decimal("0.01"))], note=BACKTEST_INPUT_NOTE).id
    for mode in (TradeMode.PAPER, TradeMode.LIVE):
        with pytest.raises(BadInput, match=f"snapshot {snapshot_id} is a backtest's input, not a snapshot to trade"):
            await stack.service.create_run(None, snapshot_id, mode, {}, live_token="LIVE")
        with pytest.raises(BadInput, match="a backtest's input"):
            await stack.service.preview_snapshot("bt", snapshot_id, mode, live_token="LIVE")
    with stack.db.session() as session:
        assert RunRepository(session).list() == [] and OrderRepository(session).list() == []
    assert stack.sim.orders() == []
    assert (await stack.service.create_run(None, snapshot_id, TradeMode.BACKTEST, {})).created


async def test_preview_stores_prices_and_builder_params_and_uses_net_liquidation(stack):
    _, snapshot_id = make_snapshot(stack.db, "gamma", {"AAPL": "0.001", "NVDA": "0.002"})
    run = await stack.service.create_run("gamma", snapshot_id, TradeMode.PAPER, {"builder": {"rounding": "floor"}})
    preview = await stack.service.preview(run.id)
    # the simulator's account: NetLiquidation 1,000,000 -> 1,000 USD of AAPL, 2,000 USD of NVDA
    assert preview.portfolio_value == Decimal("1000000")
    assert {d.symbol: d.quantity for d in preview.drafts} == {"AAPL": Decimal(4), "NVDA": Decimal(14)}
    stored = (await stack.service.get_run(run.id)).params
    assert stored["prices"] == {"AAPL": "228.5", "NVDA": "138.1"}
    assert stored["builder"]["rounding"] == "floor" and stored["portfolio_value"] == "1000000"
    assert stored["risk"]["verdict"] == "ready"
    # the preview is stored as a frozen plan: its orders, reference prices and verdict
    from services.db.plan_repository import PlanRepository

    with stack.db.session() as session:
        plan = PlanRepository(session).get(preview.plan_id)
    assert [o.symbol for o in plan.orders] == ["AAPL", "NVDA"] and plan.orders == preview.drafts
    assert {s: r.price for s, r in plan.prices.items()} == {"AAPL": Decimal("228.5"), "NVDA": Decimal("138.1")}
    assert plan.verdict == "ready" and plan.run_id == run.id and len(plan.content_hash) == 64
    assert stack.sim.orders() == []  # a preview sends nothing


async def test_blocked_run_sends_nothing(stack):
    from services.execution.errors import RiskBlocked

    _, snapshot_id = make_snapshot(stack.db, "delta", {"AAPL": "0.5"})
    run = await stack.service.create_run("delta", snapshot_id, TradeMode.PAPER, {})
    with pytest.raises(RiskBlocked) as info:
        await stack.service.execute(run.id, portfolio_value=Decimal(1000000))
    assert info.value.exit_code == 3 and "max_order_notional" in str(info.value)
    after = await stack.service.get_run(run.id)
    assert after.status is RunStatus.BLOCKED and "max_order_notional" in after.message
    assert stack.sim.orders() == []
    with stack.db.session() as session:
        assert OrderRepository(session).list_by_run(run.id) == []


async def test_a_run_blocked_once_then_executed_does_not_keep_the_blocked_message(stack):
    """Blocked by risk, previewed again with a looser limit and executed: the run sent its orders
    but still said "max_order_notional: ..." (the message of the attempt that sent nothing)."""
    from services.execution.errors import RiskBlocked

    project_id, snapshot_id = make_snapshot(stack.db, "stale", {"AAPL": "0.05"})
    tight = await stack.service.preview_snapshot(project_id, snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(100000),
                                                 risk_overrides=["max_order_notional=1000"])
    assert tight.plan.verdict == "blocked"
    with pytest.raises(RiskBlocked):
        await stack.service.execute(tight.run_id)
    blocked = await stack.service.get_run(tight.run_id)
    assert blocked.status is RunStatus.BLOCKED and "max_order_notional" in blocked.message
    # previewed again with the settings' limits, then executed
    again = await stack.service.preview_snapshot(project_id, snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(100000))
    assert again.run_id == tight.run_id and again.plan.verdict == "ready"
    result = await stack.service.execute(tight.run_id)
    assert len(result.sent) == 1
    after = await stack.service.get_run(tight.run_id)
    assert after.status is not RunStatus.BLOCKED and "max_order_notional" not in (after.message or ""), after.message


async def test_new_run_option_overrides_idempotency(stack):
    _, snapshot_id = make_snapshot(stack.db, "eps", {"AAPL": "0.01"})
    first = await stack.service.create_run("eps", snapshot_id, TradeMode.PAPER, {})
    same = await stack.service.create_run("eps", snapshot_id, TradeMode.PAPER, {})
    other = await stack.service.create_run("eps", snapshot_id, TradeMode.PAPER, {}, new_run=True)
    paper_vs_live = await stack.service.create_run("eps", snapshot_id, TradeMode.LIVE, {}, live_token="LIVE")
    assert same.id == first.id and other.id != first.id and paper_vs_live.id not in (first.id, other.id)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_two_fresh_databases_give_different_client_order_ids(stack, simulator, tmp_path):
    """A fresh database trading the same account must not reuse an earlier database's ids (IB
    blocks every order as 'already used'); within one database the ids stay deterministic."""
    from services.db import Database
    from services.db.migrate import upgrade

    other_url = f"sqlite:///{(tmp_path / 'other.sqlite3').as_posix()}"
    upgrade(other_url)
    other = Database(other_url)
    second = await build_stack(other, simulator, client_id=2)
    try:
        drafts = []
        for db, service in ((stack.db, stack.service), (other, second.service)):
            _, snapshot_id = make_snapshot(db, "same", {"AAPL": "0.01", "MSFT": "0.005"})
            run = await service.create_run("same", snapshot_id, TradeMode.PAPER, {})
            assert run.id == 1
            preview = await service.preview(run.id, portfolio_value=Decimal("100000"))
            again = await service.preview(run.id, portfolio_value=Decimal("100000"))
            assert [d.client_order_id for d in preview.drafts] == [d.client_order_id for d in again.drafts]
            drafts.append([d.client_order_id for d in preview.drafts])
        assert len(drafts[0]) == len(drafts[1]) == 2
        assert not set(drafts[0]) & set(drafts[1])
        with stack.db.session() as a, other.session() as b:
            assert SettingsRepository(a).installation_id() != SettingsRepository(b).installation_id()
    finally:
        await second.close()
        other.dispose()
