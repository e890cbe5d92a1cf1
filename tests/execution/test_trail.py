"""The decision trail of a filled paper run against the simulator, on SQLite and MariaDB: the
signals, order decisions, risk decisions per rule, state changes and portfolio snapshots; an
altered decision record makes `audit verify` name the plan's entry and the record; the `trail`
command prints it (JSON shape, unknown ids)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from services.audit import AuditLog
from services.db.models import AuditLog as AuditRow
from services.db.models import TrailRiskDecision
from services.domain import TradeMode
from services.trail_queries import TRAIL_LISTS, TrailNotFound, decision_trail

from .cli_helpers import cli_args, run

pytestmark = pytest.mark.timeout(90)

RULES_PER_ORDER = {"trading_state", "price", "duplicate_order", "short_sale", "max_order_notional", "max_order_quantity",
                   "max_position_ratio", "max_daily_orders", "price_collar"}


def scored_snapshot(db, project: str) -> int:
    from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository

    rows = [SnapshotItemInput("AAPL", Decimal("0.01"), Decimal("0.91"), 1),
            SnapshotItemInput("MSFT", Decimal("0.005"), Decimal("0.55"), 2),
            SnapshotItemInput("NVDA", Decimal("0.001"), Decimal("0.12"), 3)]  # 1 share, below the minimum order value
    with db.unit_of_work() as session:
        project_id = ProjectRepository(session).get_or_create(project).id
        digest = hashlib.sha256(project.encode()).hexdigest()
        return SnapshotRepository(session).create_with_items(project_id, "signals.csv", digest, rows).id


async def filled_run(stack) -> int:
    snapshot_id = scored_snapshot(stack.db, "alpha")
    run = await stack.service.prepare_run("alpha", snapshot_id, TradeMode.PAPER, builder={"min_order_value": "200"})
    await stack.service.execute(run.id, portfolio_value=Decimal("100000"))
    assert await stack.service.wait_done(run.id, 10) == []
    await stack.writer.flush()
    return run.id


async def test_the_trail_of_a_filled_run_holds_every_decision_and_what_followed(stack):
    run_id = await filled_run(stack)
    trail = decision_trail(stack.db, run_id=run_id)
    assert trail.executed and trail.plan_id is not None

    # the signals as the preview saw them: weight, score, rank and the price it used
    assert [(s["symbol"], s["weight"], s["score"], s["rank"], s["price"]) for s in trail.signals] == [
        ("AAPL", "0.01", "0.91", 1, "228.5"), ("MSFT", "0.005", "0.55", 2, "415.2"), ("NVDA", "0.001", "0.12", 3, "138.1")]
    assert {s["plan_id"] for s in trail.signals} == {trail.plan_id} and {s["run_id"] for s in trail.signals} == {run_id}

    # why each order exists: 1 % of 100k at 228.50 is 4.376368 shares, rounded to 4
    decisions = {d["symbol"]: d for d in trail.order_decisions}
    aapl = decisions["AAPL"]
    assert (aapl["action"], aapl["reason"], aapl["sequence"]) == ("buy", "order", 1)
    assert (aapl["target_weight"], aapl["raw_quantity"], aapl["target_quantity"], aapl["current_quantity"], aapl["delta"],
            aapl["rounding"], aapl["rounding_mode"], aapl["price"]) == (
        "0.01", "4.376368", "4", "0", "4", "-0.376368", "nearest", "228.5")
    assert (decisions["MSFT"]["action"], decisions["MSFT"]["target_quantity"]) == ("buy", "1")
    # and why NVDA got none
    nvda = decisions["NVDA"]
    assert (nvda["action"], nvda["reason"], nvda["sequence"]) == ("skip", "below_min_order_value", None)
    assert "below 200" in nvda["message"]

    # every rule's verdict per order, with what it measured and its limit, plus the account's rules
    per_order = [r for r in trail.risk_decisions if r["scope"] == "order"]
    assert {(r["symbol"], r["rule"]) for r in per_order} == {(s, rule) for s in ("AAPL", "MSFT") for rule in RULES_PER_ORDER}
    assert all(r["verdict"] == "pass" for r in trail.risk_decisions)
    notional = next(r for r in per_order if r["symbol"] == "AAPL" and r["rule"] == "max_order_notional")
    assert (notional["measured"], notional["limit_value"]) == ("914", "25000")
    account = {r["rule"]: r for r in trail.risk_decisions if r["scope"] == "account"}
    assert set(account) == {"max_gross_exposure", "max_orders_per_run"}
    assert (account["max_orders_per_run"]["measured"], account["max_orders_per_run"]["limit_value"]) == ("2", "100")
    # (4 x 228.50 + 415.20) / 100,000
    assert (account["max_gross_exposure"]["measured"], account["max_gross_exposure"]["limit_value"]) == ("0.013292", "1")

    # the order state log: each order from NEW to FILLED
    reached = {(c["symbol"], c["to_state"]) for c in trail.state_changes}
    assert {("AAPL", "FILLED"), ("MSFT", "FILLED"), ("AAPL", "SUBMITTED")} <= reached

    # the project's portfolio at its fill batches and at the run's end
    snapshots = trail.portfolio_snapshots
    assert snapshots and snapshots[-1]["reason"] == "run_end"
    final = snapshots[-1]
    assert {p["symbol"]: p["quantity"] for p in final["positions"]} == {"AAPL": "4", "MSFT": "1"}
    assert final["plan_id"] == trail.plan_id and final["project_id"] is not None
    fills = (await stack.service.view(run_id)).fills
    spent = sum(f.quantity * f.price + f.commission for f in fills)
    assert Decimal(final["cash"]) == -spent
    assert Decimal(final["equity"]) == Decimal(final["cash"]) + Decimal(final["market_value"])

    # the plan's trail is the run's (it executed it); an unknown id is refused
    assert decision_trail(stack.db, plan_id=trail.plan_id) == trail
    with pytest.raises(TrailNotFound, match="run 999 does not exist"):
        decision_trail(stack.db, run_id=999)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_an_altered_risk_decision_makes_audit_verify_name_the_entry_and_record(stack, db_url):
    run_id = await filled_run(stack)
    trail = decision_trail(stack.db, run_id=run_id)
    with stack.db.session() as session:
        entry = session.scalars(select(AuditRow).where(AuditRow.action == "plan.create",
                                                       AuditRow.entity_id == str(trail.plan_id))).one()
        notional = session.scalars(select(TrailRiskDecision).where(
            TrailRiskDecision.plan_id == trail.plan_id, TrailRiskDecision.rule == "max_order_notional")).first()
        assert entry.payload["trail_hash"] and notional is not None and notional.verdict == "pass"
    # someone turns a rule's verdict around after the fact
    with stack.db.engine.begin() as connection:
        connection.execute(text("UPDATE trail_risk_decisions SET verdict = 'block' WHERE id = :id"), {"id": notional.id})

    verified = await run(cli_args(db_url, 0, "audit", "verify", connection=False))
    assert verified.code == 1, verified
    assert f"audit entry {entry.id} " in verified.err and f"(record trail_risk_decisions {notional.id})" in verified.err
    assert f"decision trail of plan {trail.plan_id}" in verified.err and "was altered" in verified.err
    result = AuditLog(stack.db).verify()
    assert not result.ok and result.first_broken_id == entry.id and result.record == f"trail_risk_decisions {notional.id}"
    # the command prints the result's one wording, the window's label says the same diagnosis
    assert verified.err == result.describe() + "\n"
    assert result.describe(short=True) == f"Decision records altered at entry {entry.id}"


async def test_after_an_intact_verification_the_full_walk_finds_an_altered_record(stack):
    """As for the audit entries themselves: a verification walks from its checkpoint, and the
    checkpoint cannot vouch for what was changed behind it; --full does."""
    run_id = await filled_run(stack)
    trail = decision_trail(stack.db, run_id=run_id)
    log = AuditLog(stack.db)
    assert log.verify().ok
    with stack.db.engine.begin() as connection:
        connection.execute(text("UPDATE trail_risk_decisions SET measured = '1' WHERE plan_id = :p AND scope = 'account'"),
                           {"p": trail.plan_id})
    assert log.verify().ok  # nothing new since the checkpoint
    result = log.verify(full=True)
    assert not result.ok and (result.record or "").startswith("trail_risk_decisions ")


async def test_a_removed_decision_record_breaks_the_trail_hash(stack):
    run_id = await filled_run(stack)
    trail = decision_trail(stack.db, run_id=run_id)
    with stack.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM trail_order_decisions WHERE plan_id = :p AND symbol = 'NVDA'"), {"p": trail.plan_id})
    result = AuditLog(stack.db).verify()
    assert not result.ok and result.record is None
    assert "were added, removed or re-hashed" in (result.reason or "")


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_trail_command_prints_the_five_lists_and_refuses_unknown_ids(stack, db_url):
    run_id = await filled_run(stack)
    printed = await run(cli_args(db_url, 0, "trail", "--run", str(run_id), "--json", connection=False))
    assert printed.code == 0, printed
    body = printed.json
    assert set(TRAIL_LISTS) <= set(body) and all(isinstance(body[name], list) and body[name] for name in TRAIL_LISTS)
    assert body["run_id"] == run_id and body["executed"] is True
    assert body == decision_trail(stack.db, run_id=run_id).to_dict()

    as_text = await run(cli_args(db_url, 0, "trail", "--plan", str(body["plan_id"]), connection=False))
    assert as_text.code == 0, as_text
    for title in ("Signals (3)", "Order decisions (3)", "Risk decisions", "State changes", "Portfolio snapshots"):
        assert title in as_text.out
    assert "below_min_order_value" in as_text.out and "max_gross_exposure" in as_text.out
    # for people, a weight and a ratio rule's figures read as the window shows them; --json stays exact
    rows = [line.split() for line in as_text.out.splitlines()]
    assert ["AAPL", "1.00%", "0.91", "1", "228.50"] in rows  # the signal of weight 0.01, its price as the panels show it
    assert next(r for r in rows if r[1:3] == ["AAPL", "buy"])[:5] == ["1", "AAPL", "buy", "order", "1.00%"]
    assert ["account", "max_gross_exposure", "1.33%", "100.00%", "pass"] in rows
    assert [s["weight"] for s in body["signals"] if s["symbol"] == "AAPL"] == ["0.01"]
    # quantities with their significant digits, money to the cent (they printed "4.000000", "99987.3150")
    decision = next(d for d in body["order_decisions"] if d["symbol"] == "AAPL")
    assert next(r for r in rows if r[1:3] == ["AAPL", "buy"])[6:9] == [
        format(Decimal(decision[k]).normalize(), ",f") for k in ("target_quantity", "current_quantity", "delta")]
    # an order's value as money and its quantity grouped, as the Decisions panel shows them (one wording)
    notional = next(r for r in body["risk_decisions"] if r["rule"] == "max_order_notional" and r["symbol"] == "AAPL")
    assert ["order", "1", "AAPL", "max_order_notional", f"{Decimal(notional['measured']):,.2f}",
            f"{Decimal(notional['limit_value']):,.2f}", "pass"] in rows
    # the short-sale rule's floor and the price rule's age limit with their words ("0" and "300" read as limits of 0 and 300 what)
    after = format(Decimal(decision["target_quantity"]).normalize(), ",f")  # the position after the buy
    assert next(r for r in rows if r[1:4] == ["1", "AAPL", "short_sale"])[4:] == [after, "≥", "0", "pass"]
    # and the price's age measured against that limit in the same words
    age = next(r["measured"] for r in body["risk_decisions"] if r["rule"] == "price" and r["symbol"] == "AAPL")
    # (to a tenth of a second, cut: the clock's microseconds are no reading for a trader)
    tenths = Decimal(age).quantize(Decimal("0.1"), rounding="ROUND_DOWN")
    assert next(r for r in rows if r[1:4] == ["1", "AAPL", "price"])[4:] == [f"{tenths:,f}", "s", "300", "s", "pass"]
    snapshot = body["portfolio_snapshots"][-1]
    assert Decimal(snapshot["market_value"]) > 1000 and f"{Decimal(snapshot['market_value']):,.2f}" in as_text.out

    unknown = await run(cli_args(db_url, 0, "trail", "--plan", "9999", connection=False))
    assert (unknown.code, unknown.out, unknown.err) == (2, "", "trading-console: plan 9999 does not exist\n")


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_backtests_run_is_titled_as_the_backtest_it_was_not_as_an_executed_run(database):
    """Walked under Xvfb: a rebalance double-clicked in the Backtest panel opened in Decisions as
    "Run 5, plan 6 (executed)", the words of a paper or live run whose orders went to the
    broker; the trader could not tell its 30 state changes were a replay. A paper run keeps its
    title."""
    from services.db.models import OrderPlan
    from services.db.repositories import ProjectRepository, RunRepository

    titles = {}
    for mode in (TradeMode.BACKTEST, TradeMode.PAPER):
        with database.unit_of_work() as session:
            project_id = ProjectRepository(session).get_or_create(f"alpha-{mode}").id
            run_id = RunRepository(session).create(project_id, mode=mode, params={}).id
            plan = OrderPlan(run_id=run_id, project_id=project_id, mode=mode, portfolio_value=Decimal(100000),
                             verdict="PASS", content_hash="0" * 64)
            session.add(plan)
            session.flush()
            plan_id = plan.id
            session.execute(text("UPDATE trade_runs SET params = :p WHERE id = :r"),
                            {"p": f'{{"plan_id": {plan_id}}}', "r": run_id})
        trail = decision_trail(database, run_id=run_id)
        assert trail.executed
        titles[mode] = (trail.title, run_id, plan_id)
    title, run_id, plan_id = titles[TradeMode.BACKTEST]
    assert title == f"Backtest run {run_id}, plan {plan_id} (executed in the backtest, never sent to a broker)"
    title, run_id, plan_id = titles[TradeMode.PAPER]
    assert title == f"Run {run_id}, plan {plan_id} (executed)"
