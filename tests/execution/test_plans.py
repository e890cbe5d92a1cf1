"""Frozen plans: what the trader confirmed is what is sent, or nothing is (SQLite and MariaDB,
the simulator over a real socket, the headless commands as real processes)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from services.db.models import OrderPlan, TradeOrder
from services.db.plan_repository import PlanRepository
from services.db.repositories import SettingsRepository
from services.domain import TradeMode
from services.execution.errors import PlanRefused

from .cli_helpers import cli_args, run, until_client_gone
from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(120)


def _orders_in_db(db) -> int:
    from sqlalchemy import func, select

    with db.session() as session:
        return session.scalar(select(func.count(TradeOrder.id))) or 0


def _sent(sim) -> list[tuple]:
    return sorted((o.order_ref, o.symbol, o.action, o.quantity) for o in sim.orders())


def _planned(plan) -> list[tuple]:
    return sorted((o.client_order_id, o.symbol, str(o.side), o.quantity) for o in plan.orders)


async def test_a_plan_whose_price_moved_sends_nothing_and_names_the_symbol(stack):
    _, snapshot_id = make_snapshot(stack.db, "drift", {"AAPL": "0.01", "MSFT": "0.005"})
    preview = await stack.service.preview_snapshot("drift", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    assert {o.symbol: o.quantity for o in preview.plan.orders} == {"AAPL": Decimal(44), "MSFT": Decimal(12)}
    stack.sim.set_price("AAPL", Decimal("342.75"))  # +50 %
    with pytest.raises(PlanRefused) as info:
        await stack.service.execute_plan(preview.plan_id)
    assert info.value.exit_code == 3 and info.value.code == "plan_price_moved"
    assert "AAPL: 228.5 -> 342.75" in str(info.value) and "MSFT" not in str(info.value)
    assert stack.sim.orders() == [] and _orders_in_db(stack.db) == 0


async def test_an_unmoved_plan_sends_exactly_its_orders(stack):
    _, snapshot_id = make_snapshot(stack.db, "exact", {"AAPL": "0.01", "MSFT": "0.005", "NVDA": "0.002"})
    preview = await stack.service.preview_snapshot("exact", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    stack.sim.set_price("AAPL", Decimal("229.00"))  # +0.2 %: inside the default 1 %
    result = await stack.service.execute_plan(preview.plan_id)
    assert result.plan_id == preview.plan_id and not result.failed
    assert result.unsent == () and result.stopped is None  # every order went out
    assert await stack.service.wait_acknowledged(result.run_id, 10) == []
    # what the broker received is the plan, order for order (quantities were not rebuilt at 229)
    assert _sent(stack.sim) == _planned(preview.plan)
    run = await stack.service.get_run(result.run_id)
    assert run.params["plan_id"] == preview.plan_id
    with stack.db.session() as session:
        assert PlanRepository(session).verify(preview.plan_id)


async def test_a_plan_older_than_its_limit_is_refused(stack):
    _, snapshot_id = make_snapshot(stack.db, "stale", {"AAPL": "0.01"})
    preview = await stack.service.preview_snapshot("stale", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_execution({"plan_max_age_seconds": 60})
        session.execute(update(OrderPlan).where(OrderPlan.id == preview.plan_id)
                        .values(created_at=preview.plan.created_at - timedelta(seconds=61)))
    with pytest.raises(PlanRefused) as info:
        await stack.service.execute_plan(preview.plan_id)
    assert info.value.code == "plan_stale" and "older than the 60 s allowed" in str(info.value)
    assert stack.sim.orders() == [] and _orders_in_db(stack.db) == 0


async def test_a_second_plan_of_an_executed_run_is_not_sent(stack):
    _, snapshot_id = make_snapshot(stack.db, "twice", {"AAPL": "0.01"})
    first = await stack.service.preview_snapshot("twice", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    second = await stack.service.preview_snapshot("twice", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    assert first.run_id == second.run_id and first.plan_id != second.plan_id
    await stack.service.execute_plan(first.plan_id)
    assert await stack.service.wait_acknowledged(first.run_id, 10) == []
    sent = _sent(stack.sim)
    assert len(sent) == 1
    with pytest.raises(PlanRefused) as info:
        await stack.service.execute_plan(second.plan_id)
    assert info.value.code == "plan_superseded"
    assert _sent(stack.sim) == sent  # nothing more
    # the executed plan itself is idempotent: executing it again resumes, sends nothing new
    again = await stack.service.execute_plan(first.plan_id)
    assert again.sent == () and _sent(stack.sim) == sent


async def test_a_changed_plan_no_longer_matches_its_hash(stack):
    _, snapshot_id = make_snapshot(stack.db, "tamper", {"AAPL": "0.01"})
    preview = await stack.service.preview_snapshot("tamper", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    orders = [dict(o) for o in (o.to_dict() for o in preview.plan.orders)]
    orders[0]["quantity"] = "4400"
    with stack.db.unit_of_work() as session:
        session.execute(update(OrderPlan).where(OrderPlan.id == preview.plan_id).values(orders=orders))
    with stack.db.session() as session:
        assert not PlanRepository(session).verify(preview.plan_id)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_cli_preview_save_then_execute_plan(db_url, simulator, tmp_path):
    snapshot = tmp_path / "snap.csv"
    snapshot.write_text("symbol,weight\nAAPL,0.01\nMSFT,0.005\n")
    port = simulator.port
    saved = await run(cli_args(db_url, port, "preview", "--snapshot", str(snapshot), "--project", "cli-plan", "--save",
                               "--portfolio-value", "1000000", "--json"))
    assert saved.code == 0, saved.err
    plan_id = saved.json["plan_id"]
    assert {o["symbol"]: o["quantity"] for o in saved.json["orders"]} == {"AAPL": "44", "MSFT": "12"}
    assert saved.json["prices_source"] in ("broker (live)", "broker (delayed)")  # the settings choose the data type
    assert set(saved.json["prices"]) == {"AAPL", "MSFT"}
    await until_client_gone(simulator, 1)

    simulator.set_price("MSFT", Decimal("500"))  # +20 %
    refused = await run(cli_args(db_url, port, "execute", "--plan", str(plan_id), "--wait-seconds", "0", "--json"))
    assert refused.code == 3, refused.err
    assert "MSFT: 415.2 -> 500" in refused.err and simulator.orders() == []
    await until_client_gone(simulator, 1)

    simulator.set_price("MSFT", Decimal("415.20"))
    sent = await run(cli_args(db_url, port, "execute", "--plan", str(plan_id), "--wait-seconds", "10", "--json"))
    assert sent.code == 0, sent.err
    assert sent.json["run"]["plan_id"] == plan_id and sent.json["run"]["status"] == "done"
    assert sorted((o.symbol, o.quantity) for o in simulator.orders()) == [("AAPL", Decimal(44)), ("MSFT", Decimal(12))]


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_cli_preview_against_the_broker_equals_the_window_preview(db_url, stack):
    """The command and the window build the same plan from the same snapshot, account and prices."""
    simulator = stack.sim
    _, snapshot_id = make_snapshot(stack.db, "same", {"AAPL": "0.01", "MSFT": "0.005"})
    window = await stack.service.preview_snapshot("same", snapshot_id, TradeMode.PAPER)
    cli = await run(cli_args(db_url, simulator.port, "preview", "--snapshot", str(snapshot_id), "--json", client_id=7))
    assert cli.code == 0, cli.err
    assert cli.json["run_id"] == window.run_id
    assert [(o["client_order_id"], o["symbol"], o["side"], o["quantity"], o["reference_price"]) for o in cli.json["orders"]] == \
        [(o.client_order_id, o.symbol, str(o.side), str(o.quantity), str(o.reference_price)) for o in window.plan.orders]
    assert cli.json["portfolio_value"] == format(window.plan.portfolio_value.normalize(), "f")
    assert cli.json["risk"]["verdict"] == window.plan.verdict


async def test_a_preview_unless_the_run_has_orders_is_the_preview_until_it_has_some(stack):
    """``execute``'s preview (its order count read with the run): the same plan as a plain
    preview while the run has sent nothing; nothing once it has orders (it is resumed)."""
    _, snapshot_id = make_snapshot(stack.db, "unless", {"AAPL": "0.01", "MSFT": "0.005"})
    run = await stack.service.prepare_run("unless", snapshot_id, TradeMode.PAPER)
    plain = await stack.service.preview(run.id, Decimal(1_000_000))
    checked = await stack.service.preview(run.id, Decimal(1_000_000), unless_it_has_orders=True)
    assert checked is not None and checked.plan is not None and plain.plan is not None
    assert checked.plan.id != plain.plan.id  # each stored its own plan
    assert [o.to_dict() for o in checked.plan.orders] == [o.to_dict() for o in plain.plan.orders]
    assert checked.plan.verdict == plain.plan.verdict and checked.plan.portfolio_value == plain.plan.portfolio_value
    assert {k: r.price for k, r in checked.plan.prices.items()} == {k: r.price for k, r in plain.plan.prices.items()}
    result = await stack.service.execute_plan(checked.plan.id)
    assert result.sent and await stack.service.wait_acknowledged(run.id, 10) == []
    assert await stack.service.preview(run.id, Decimal(1_000_000), unless_it_has_orders=True) is None
    assert (await stack.service.preview(run.id, Decimal(1_000_000))).plan is not None  # a plain preview still previews


@pytest.mark.slow  # a `python -m app` subprocess
async def test_cli_preview_save_takes_allow_short_as_its_offline_preview_does(database, db_url, simulator, tmp_path):
    """`preview --snapshot FILE --allow-short` accepted the negative weight offline, but with
    --save the file was parsed for storage without it and refused (exit 2: shorting is not
    allowed). The caller's allow_short now reaches the one parse-for-storage path."""
    from services.console_queries import projects_and_snapshots

    short = tmp_path / "short.csv"
    short.write_text("symbol,weight,price\nAAPL,0.01,228.50\nMSFT,-0.005,415.20\n")
    risk = ["--risk", "allow_short=true", "max_order_notional=off", "max_position_ratio=off"]
    offline = await run(cli_args(db_url, simulator.port, "preview", "--snapshot", str(short), "--allow-short",
                                 "--portfolio-value", "1000000", *risk, "--json", connection=False))
    assert offline.code == 0, offline.err
    saved = await run(cli_args(db_url, simulator.port, "preview", "--snapshot", str(short), "--allow-short", "--save",
                               "--project", "shorts", "--portfolio-value", "1000000", *risk, "--json"))
    assert saved.code == 0, saved.err
    sides = {"AAPL": "BUY", "MSFT": "SELL"}  # the short sold, as offline
    assert {o["symbol"]: o["side"] for o in offline.json["orders"]} == sides
    assert {o["symbol"]: o["side"] for o in saved.json["orders"]} == sides
    assert "shorts" in {p.name for p in projects_and_snapshots(database)[0]}


async def test_a_blocked_plan_saved_is_not_offered_the_execute_command(db_url, simulator, tmp_path):
    """`preview --save` of a plan risk blocks printed "plan 1 stored (hash ...): trading-console
    execute --plan 1 --plan-hash ...", the command execute then refused (exit 3): it says the plan
    is blocked and what to change instead."""
    snapshot = tmp_path / "s.csv"
    snapshot.write_text("symbol,weight,price\nAAPL,0.5,228.50\n")
    saved = await run(cli_args(db_url, simulator.port, "preview", "--snapshot", str(snapshot), "--project", "blocked",
                               "--save", "--portfolio-value", "100000", "--risk", "max_order_notional=1000"))
    assert saved.code == 3, saved.err
    last = saved.out.strip().splitlines()[-1]
    assert last.startswith("plan 1 stored (hash ") and ", blocked by risk: execute refuses it; preview again" in last, last
    assert "execute --plan" not in saved.out


@pytest.mark.slow  # `python -m app` subprocesses
async def test_cli_execute_takes_allow_short_as_preview_does_and_sends_the_previewed_plan(db_url, simulator, tmp_path):
    """`execute` had no --allow-short: a short snapshot FILE previewed with `preview --save
    --allow-short` could not be executed as a file (argparse refused the option; without it the
    file is refused, as preview refuses it). Now the option reaches the same parse for storage
    and the day's run sends what was previewed."""
    short = tmp_path / "short.csv"
    short.write_text("symbol,weight,price\nAAPL,0.01,228.50\nMSFT,-0.005,415.20\n")
    risk = ["--risk", "allow_short=true", "max_order_notional=off", "max_position_ratio=off"]
    port = simulator.port
    saved = await run(cli_args(db_url, port, "preview", "--snapshot", str(short), "--allow-short", "--save",
                               "--project", "shorts", "--portfolio-value", "1000000", *risk, "--json"))
    assert saved.code == 0, saved.err
    previewed = sorted((o["symbol"], o["side"], Decimal(o["quantity"])) for o in saved.json["orders"])
    assert [(s, side) for s, side, _ in previewed] == [("AAPL", "BUY"), ("MSFT", "SELL")]
    await until_client_gone(simulator, 1)

    refused = await run(cli_args(db_url, port, "execute", "--snapshot", str(short), "--project", "shorts", *risk,
                                 "--wait-seconds", "0", "--json"))
    assert refused.code == 2 and "short" in refused.err, refused.err  # as `preview` without it
    assert simulator.orders() == []
    await until_client_gone(simulator, 1)

    sent = await run(cli_args(db_url, port, "execute", "--snapshot", str(short), "--project", "shorts", "--allow-short",
                              *risk, "--wait-seconds", "10", "--json"))
    assert sent.code == 0, sent.err
    assert sent.json["run"]["id"] == saved.json["run_id"] and not sent.json["run"]["created"]  # the previewed run
    assert sorted((o.symbol, o.action, o.quantity) for o in simulator.orders()) == previewed


async def test_a_plan_changed_after_it_was_confirmed_is_not_sent(database, make_simulator):
    """The LIVE dialog certified plan N's own numbers (its orders, its hash); ``execute_plan``
    then read plan N again from the database and sent whatever its rows held by then: a row
    changed after the confirmation (4,400 shares for 44) went out as confirmed, though the plan
    no longer matched the hash its audit entry certified. Refused now, nothing sent: a plan
    whose rows no longer hash to its stored hash, and one whose hash is not the one confirmed
    (the rows and the hash both rewritten)."""
    from services.core.plans import content_hash
    from services.db.plan_repository import _content_of
    from services.preview_session import PreviewSession

    from .conftest import build_stack

    sim = await make_simulator(accounts=("U7654321",))
    stack = await build_stack(database, sim, mode=TradeMode.LIVE, live_token="LIVE", market_data_type="live")
    try:
        _, snapshot_id = make_snapshot(stack.db, "changed", {"AAPL": "0.01"})
        preview = await stack.service.preview_snapshot("changed", snapshot_id, TradeMode.LIVE, live_token="LIVE",
                                                       portfolio_value=Decimal(1_000_000))
        confirmed = preview.plan
        assert [o.quantity for o in confirmed.orders] == [Decimal(44)]
        orders = [o.to_dict() for o in confirmed.orders]
        orders[0]["quantity"] = "4400"
        with stack.db.unit_of_work() as session:
            session.execute(update(OrderPlan).where(OrderPlan.id == confirmed.id).values(orders=orders))
        with pytest.raises(PlanRefused) as info:
            await stack.service.execute_plan(confirmed.id, "LIVE")
        assert info.value.code == "plan_changed" and f"plan {confirmed.id}" in str(info.value)

        # the rows changed and their hash written to match: not the plan the trader confirmed
        with stack.db.unit_of_work() as session:
            row = session.get(OrderPlan, confirmed.id)
            row.content_hash = content_hash(_content_of(row, PlanRepository(session).get(confirmed.id)))
        with stack.db.session() as session:
            assert PlanRepository(session).verify(confirmed.id)
        session_of_window = PreviewSession()
        session_of_window.start(preview, 1)
        with pytest.raises(PlanRefused) as info:
            await session_of_window.send(stack.service, preview.run_id, "LIVE", confirmed_plan=confirmed.id)
        assert info.value.code == "plan_changed" and "not the plan you confirmed" in str(info.value)
        assert sim.orders() == [] and _orders_in_db(stack.db) == 0
    finally:
        await stack.close()


async def test_the_live_confirmation_of_a_limit_plan_says_its_value_at_the_limits(stack):
    """The LIVE dialog of a run showed its gross notional at the reference prices only; the risk
    rules judged its buy limits at their limits (above the market by the builder's offset), a
    larger figure. The rows it shows beside the gross (PreviewResult.confirm_rows) now say the
    plan's own orders' value as the rules measured it, and how it bounds the money."""
    _, snapshot_id = make_snapshot(stack.db, "limits", {"AAPL": "0.01", "MSFT": "0.005"})
    preview = await stack.service.preview_snapshot("limits", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000),
                                                   builder={"order_type": "LMT", "limit_offset_bps": "10"})
    plan = preview.plan
    assert [(o.symbol, o.quantity, o.limit_price, o.reference_price) for o in plan.orders] == [
        ("AAPL", Decimal(44), Decimal("228.72"), Decimal("228.5")), ("MSFT", Decimal(12), Decimal("415.61"), Decimal("415.2"))]
    assert plan.gross_notional == Decimal("15036.40")  # at the reference prices, the dialog's Gross notional
    assert preview.confirm_rows() == (
        ("Project", "limits"), ("Snapshot", preview.subject.snapshot),
        ("Buys", "2 orders: at most 15,051.00 USD at their limits (about 15,036.40 at the market)"))


async def test_the_paper_confirmation_of_a_limit_plan_states_the_live_ones_rows(stack):
    """The window's paper question before a run ("Send plan N: 2 orders, gross notional
    15,036.40 USD, to the paper account ...?") stated the gross at the reference prices alone,
    while the LIVE dialog of the same plan said what its buys are worth as the risk rules
    measured them, at their limits. The question now states the same rows, from the same
    function (PreviewResult.confirm_rows), under its sentence."""
    _, snapshot_id = make_snapshot(stack.db, "limits", {"AAPL": "0.01", "MSFT": "0.005"})
    preview = await stack.service.preview_snapshot("limits", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000),
                                                   builder={"order_type": "LMT", "limit_offset_bps": "10"})
    plan = preview.plan
    assert preview.confirm_question("paper", "DU1234567") == (
        f"Send plan {plan.id}: 2 orders, gross notional 15,036.40 USD, to the paper account DU1234567?\n\n"
        f"Project: limits\nSnapshot: {preview.subject.snapshot}\n"
        "Buys: 2 orders: at most 15,051.00 USD at their limits (about 15,036.40 at the market)")
    assert all(f"{label}: {text}" in preview.confirm_question("paper", None) for label, text in preview.confirm_rows())


async def test_a_plan_is_confirmed_by_its_hash_or_a_prefix_of_at_least_twelve_digits(stack):
    """``execute_plan(confirmed_hash=...)`` took the whole hash only (the window's); the command
    line names the content reviewed by the hash `preview` prints, its first 12 hex digits. One
    rule (services.core.plans.hash_confirms): the hash or a prefix of 12 or more, either case;
    a shorter text confirms nothing (bad input), another plan's refuses (plan_changed)."""
    from services.core.plans import hash_confirms
    from services.execution.errors import BadInput

    full = "0123456789abcdef" * 4
    assert hash_confirms(full, full) and hash_confirms(full, full[:12]) and hash_confirms(full, full[:20].upper())
    assert not hash_confirms(full, full[:11]) and not hash_confirms(full, "") and not hash_confirms(full, "g" * 12)
    assert not hash_confirms(full, full[1:13]) and not hash_confirms(full, full + "0")

    _, first_id = make_snapshot(stack.db, "first", {"AAPL": "0.01"})
    _, second_id = make_snapshot(stack.db, "second", {"MSFT": "0.005"})
    first = await stack.service.preview_snapshot("first", first_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    second = await stack.service.preview_snapshot("second", second_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000))
    with pytest.raises(BadInput, match="not a plan hash"):
        await stack.service.execute_plan(first.plan_id, confirmed_hash=first.plan.content_hash[:8])
    with pytest.raises(PlanRefused) as info:
        await stack.service.execute_plan(first.plan_id, confirmed_hash=second.plan.content_hash[:12])
    assert info.value.exit_code == 3 and info.value.code == "plan_changed"
    assert stack.sim.orders() == [] and _orders_in_db(stack.db) == 0
    result = await stack.service.execute_plan(first.plan_id, confirmed_hash=first.plan.content_hash[:12])
    assert result.plan_id == first.plan_id and result.unsent == ()
    assert await stack.service.wait_acknowledged(result.run_id, 10) == []
    assert _sent(stack.sim) == _planned(first.plan)


async def test_a_preview_says_what_its_whole_snapshot_targets_not_the_traded_names_share(stack):
    """The totals line under the preview said "target weight" of the orders' weights summed:
    here 90.00% (AAPL alone is traded; MSFT and NVDA are below the min order value) of a snapshot
    targeting 97 %, and 97 % still with a 5 % cash buffer. The preview now says the snapshot's
    whole weight and what the buffer leaves of it."""
    _, snapshot_id = make_snapshot(stack.db, "whole", {"AAPL": "0.9", "MSFT": "0.05", "NVDA": "0.02"})
    preview = await stack.service.preview_snapshot("whole", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000),
                                                   builder={"cash_buffer": Decimal("0.05"), "min_order_value": Decimal(60_000)})
    assert [o.symbol for o in preview.drafts] == ["AAPL"]
    assert preview.targeted == "target weight 97.00%, 92.15% after the 5.00% cash buffer"
    plain = await stack.service.preview_snapshot("whole", snapshot_id, TradeMode.PAPER, portfolio_value=Decimal(1_000_000),
                                                 builder={"cash_buffer": Decimal(0), "min_order_value": Decimal(60_000)})
    assert plain.targeted == "target weight 97.00%"
