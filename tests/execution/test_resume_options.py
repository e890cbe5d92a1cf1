"""A run that has orders is resumed as it was built: `execute --snapshot` (and `preview --save`)
of the day's run given builder options, risk overrides or a portfolio value that differ from the
run's own are refused (exit 2, each named, nothing stored or sent), not silently dropped. The
trader who typed `--lot-size 10` got `"created": false` and the run's lots of 1 (SQLite and
MariaDB, the simulator over a real socket, the commands as real processes)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.db.models import OrderPlan, TradeOrder, TradeRun
from services.domain import TradeMode
from services.execution.errors import BadInput
from services.execution.runs.resumed_inputs import FORM

from .cli_helpers import cli_args, run, until_client_gone
from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(120)


def _rows(db) -> tuple[int, int, int, list]:
    """How many runs, plans and orders are stored, and every run's params."""
    with db.session() as session:
        return (session.scalar(select(func.count(TradeRun.id))), session.scalar(select(func.count(OrderPlan.id))),
                session.scalar(select(func.count(TradeOrder.id))),
                [r.params for r in session.scalars(select(TradeRun).order_by(TradeRun.id))])


async def _executed(db_url, simulator, tmp_path) -> tuple[list[str], list]:
    """The day's run of a snapshot, executed: the command line's common part, and what was sent."""
    snapshot = tmp_path / "resume.csv"
    snapshot.write_text("symbol,weight\nAAPL,0.05\nMSFT,0.02\n")
    base = ["--snapshot", str(snapshot), "--project", "resume", "--mode", "paper"]
    first = await run(cli_args(db_url, simulator.port, "execute", *base, "--portfolio-value", "100000",
                               "--risk", "max_order_notional=50000", "--wait-seconds", "10", "--json"))
    assert first.code == 0, first.err
    assert first.json["run"]["created"] is True
    sent = sorted((o.symbol, o.quantity) for o in simulator.orders())
    assert [s for s, _ in sent] == ["AAPL", "MSFT"]
    await until_client_gone(simulator, 1)
    return base, sent


@pytest.mark.slow  # `python -m app` subprocesses
async def test_execute_refuses_options_a_resumed_run_would_not_use(db_url, database, simulator, tmp_path):
    port = simulator.port
    base, sent = await _executed(db_url, simulator, tmp_path)
    stored = _rows(database)

    # what the trader typed differs from the run's: refused, each option named with both values
    lots = await run(cli_args(db_url, port, "execute", *base, "--lot-size", "10", "--cash-buffer", "5",
                              "--wait-seconds", "0", "--json"))
    assert lots.code == 2, lots.err
    assert lots.json["error"] == "bad_input"
    message = lots.json["message"]
    assert "--lot-size: stored 1, given 10" in message and "--cash-buffer: stored 0%, given 5%" in message, message
    assert "--new-run" in message and "Nothing was stored or sent" in message
    assert "--rounding" not in message  # not given: not compared
    await until_client_gone(simulator, 1)
    value_and_risk = await run(cli_args(db_url, port, "execute", *base, "--portfolio-value", "50000",
                                        "--risk", "max_order_notional=100", "max_order_quantity=5", "--wait-seconds", "0"))
    assert value_and_risk.code == 2
    assert "--portfolio-value: stored 100000, given 50000" in value_and_risk.err, value_and_risk.err
    assert "--risk max_order_notional: stored 50000, given 100" in value_and_risk.err
    assert "--risk max_order_quantity: stored not overridden, given 5" in value_and_risk.err
    await until_client_gone(simulator, 1)
    assert _rows(database) == stored  # no run, plan, order or parameter written
    assert sorted((o.symbol, o.quantity) for o in simulator.orders()) == sent  # nothing sent

    # the run's own values, or none: resumed as before
    same = await run(cli_args(db_url, port, "execute", *base, "--lot-size", "1", "--portfolio-value", "100000.00",
                              "--risk", "max_order_notional=50000", "--wait-seconds", "0", "--json"))
    assert same.code == 0, same.err
    assert same.json["run"]["created"] is False and same.json["run"]["sent"] == []
    await until_client_gone(simulator, 1)

    # the way the message names: a fresh run, built with what was typed
    fresh = await run(cli_args(db_url, port, "execute", *base, "--new-run", "--lot-size", "10", "--portfolio-value", "100000",
                               "--wait-seconds", "10", "--json"))
    assert fresh.code == 0, fresh.err
    assert fresh.json["run"]["created"] is True
    # built with lots of 10 from the project's book (22 AAPL, 5 MSFT held): 21.9 AAPL is 20, 2.0 MSFT is none
    assert {(o["symbol"], o["side"], o["quantity"]) for o in fresh.json["orders"]} == {("AAPL", "SELL", "2"), ("MSFT", "SELL", "5")}


@pytest.mark.slow  # `python -m app` subprocesses
async def test_preview_save_refuses_builder_options_a_run_with_orders_would_not_use(db_url, database, simulator, tmp_path):
    """`preview --save --lot-size 10` of that run stored a plan built with its lots of 1."""
    base, _sent = await _executed(db_url, simulator, tmp_path)
    stored = _rows(database)
    previewed = await run(cli_args(db_url, simulator.port, "preview", *base[:4], "--save", "--lot-size", "10",
                                   "--risk", "max_order_notional=50000", "--json"))
    assert previewed.code == 2, previewed.err
    assert "--lot-size: stored 1, given 10" in previewed.json["message"]
    assert "--risk" not in previewed.json["message"]  # the run's own override
    assert _rows(database) == stored  # no plan stored
    await until_client_gone(simulator, 1)
    # the builder's defaults filled in, not typed: previewed as before (its orders the run's own
    # again, so blocked as duplicates: a run sends one plan)
    defaults = await run(cli_args(db_url, simulator.port, "preview", *base[:4], "--save", "--json"))
    assert defaults.code == 3 and defaults.json["plan_id"], defaults.err
    assert {r["blocks"][0]["code"] for r in defaults.json["risk"]["results"]} == {"duplicate_order"}


async def test_the_windows_preview_of_a_run_with_orders_refuses_a_form_that_differs(stack):
    """The window's Preview shares the use case (``preview_snapshot``, every field of its form
    given): a run that has orders was previewed with its stored builder values whatever the form
    said. Differing now refused; the same form previews as before."""
    service = stack.service
    project_id, snapshot = make_snapshot(stack.db, "window", {"AAPL": "0.05"})
    form = {"lot_size": "1", "rounding": "nearest", "cash_buffer": "0", "order_type": "MKT", "min_order_value": "0",
            "liquidate_unlisted": False}
    previewed = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, builder=form, portfolio_value=Decimal(100000))
    result = await service.execute(previewed.run_id)
    assert result.plan_id is not None and result.sent
    with pytest.raises(BadInput) as refused:
        await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, builder={**form, "lot_size": "10"},
                                       portfolio_value=Decimal(100000), wording=FORM)
    assert "Lot size: stored 1, given 10" in str(refused.value) and "Preview in a new run" in str(refused.value)
    again = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, builder=form, portfolio_value=Decimal(100000))
    assert again.run_id == previewed.run_id and again.executed_plan_id == result.plan_id
