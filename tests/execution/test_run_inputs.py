"""A run's builder parameters, as the window's Preview stored them, are the ones `execute
--snapshot` builds and sends with when no builder option is given (app/commands/preview.py:
"an option not given is left to the run's stored parameters"). They were replaced by the
command's empty set, so the plan the trader reviewed (LMT, a 20 % cash buffer: 105 AAPL) went
out as the builder's defaults (MKT: 131 AAPL)."""

from __future__ import annotations

import argparse
from decimal import Decimal

from app.commands.preview import add_builder_options, builder_values
from services.core.preview_form import run_inputs
from services.domain import TradeMode

from .conftest import make_snapshot


def _orders(result):
    return [(d.symbol, d.quantity, str(d.order_type), d.limit_price) for d in result.drafts]


async def test_execute_without_builder_options_sends_what_the_window_previewed(stack):
    service = stack.service
    project_id, snapshot = make_snapshot(stack.db, "kept", {"AAPL": "0.3", "MSFT": "0.3"})
    builder, value = run_inputs({"order_type": "LMT", "limit_offset_bps": "10", "cash_buffer": "0.2", "portfolio_value": "100000"})
    window = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, builder=builder, portfolio_value=value)
    parser = argparse.ArgumentParser()
    add_builder_options(parser, defaults=False)
    args = parser.parse_args([])  # execute --snapshot ID --portfolio-value 100000: no builder option
    run = await service.prepare_run(None, snapshot, TradeMode.PAPER, builder=builder_values(args), risk_overrides=list(args.risk))
    assert run.id == window.run_id
    command = await service.preview(run.id, Decimal(100000), unless_it_has_orders=True)
    assert command is not None and _orders(command) == _orders(window)
    assert {o[2] for o in _orders(command)} == {"LMT"}
    # an option given still wins over the stored one
    given = parser.parse_args(["--order-type", "MKT"])
    run = await service.prepare_run(None, snapshot, TradeMode.PAPER, builder=builder_values(given), risk_overrides=[])
    changed = await service.preview(run.id, Decimal(100000), unless_it_has_orders=True)
    assert changed is not None and {o[2] for o in _orders(changed)} == {"MKT"}
    assert [o[1] for o in _orders(changed)] == [o[1] for o in _orders(window)]  # the cash buffer kept


async def test_a_preview_without_a_portfolio_value_uses_the_capital_or_net_liquidation_not_the_last_one(stack):
    """The documented default of an empty value (README, the window's tooltip, --portfolio-value's
    help): the project's capital, else NetLiquidation. A value given to one preview stuck to the
    day's run: the next preview with none (an emptied window field, `preview --save` with no
    --portfolio-value) built from 50,000 again. Only execute of the previewed run inherits it."""
    from services.books import BooksService

    service = stack.service
    project_id, snapshot = make_snapshot(stack.db, "pv", {"AAPL": "0.15", "MSFT": "0.15"})
    given = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, portfolio_value=Decimal(50000))
    assert given.plan.portfolio_value == Decimal(50000)
    net_liquidation = await stack.provider.net_liquidation()
    assert net_liquidation != Decimal(50000)
    # the window's emptied field is None, as the command's missing option
    _builder, value = run_inputs({"portfolio_value": ""})
    emptied = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, portfolio_value=value)
    assert emptied.run_id == given.run_id  # the same day's run
    assert emptied.plan.portfolio_value == net_liquidation
    BooksService(stack.db, "tester").set_capitals({"pv": "80000"})
    with_capital = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER)
    assert with_capital.plan.portfolio_value == Decimal(80000)
    # execute (`execute --snapshot ID` with none) alone inherits: it sends what the trader previewed
    previewed = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, portfolio_value=Decimal(50000))
    run = await service.prepare_run(None, snapshot, TradeMode.PAPER, builder={}, risk_overrides=[])
    assert run.id == previewed.run_id
    result = await service.execute(run.id)
    assert result.plan_id is not None
    sent = await service.plan(result.plan_id)
    assert sent.portfolio_value == Decimal(50000)
    assert [(o.symbol, o.quantity) for o in sent.orders] == [(d.symbol, d.quantity) for d in previewed.drafts]



async def test_a_builder_value_the_builder_refuses_is_not_stored_in_the_run(stack):
    """`preview --save --order-type LMT --limit-bps 10000` was refused (exit 2) after the value
    had been committed to the day's run: a later `execute --snapshot ID` with no builder option
    failed with a limit it was never given. Checked before anything is stored."""
    import pytest
    from sqlalchemy import func, select

    from services.db.models import TradeRun
    from services.execution.errors import BadInput

    service = stack.service
    project_id, snapshot = make_snapshot(stack.db, "bad-builder", {"AAPL": "0.15", "MSFT": "0.15"})
    refused = {"order_type": "LMT", "limit_offset_bps": Decimal(10000)}
    with pytest.raises(BadInput, match="limit offset"):
        await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, builder=refused, portfolio_value=Decimal(100000))
    with stack.db.session() as session:  # not even the run: created and refused in one transaction
        assert session.scalar(select(func.count(TradeRun.id))) == 0
    window = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, builder={"order_type": "LMT",
                                            "limit_offset_bps": Decimal(10)}, portfolio_value=Decimal(100000))
    with pytest.raises(BadInput, match="limit offset"):  # an existing run keeps what it had
        await service.prepare_run(None, snapshot, TradeMode.PAPER, builder=refused)
    run = await service.prepare_run(None, snapshot, TradeMode.PAPER, builder={})  # execute --snapshot ID
    assert run.id == window.run_id
    command = await service.preview(run.id, Decimal(100000), unless_it_has_orders=True)
    assert command is not None and _orders(command) == _orders(window)


async def test_a_limit_offset_is_refused_with_market_orders_and_dropped_when_the_type_is_changed_to_mkt(stack):
    """An offset given with MKT was stored and silently ignored; `execute --order-type MKT` over
    the window's LMT + 20 bps kept the 20 bps under market orders. An offset given with MKT is
    refused (nothing stored); a stored one under a type changed to MKT is dropped, so the
    run's parameters say what its orders are."""
    import pytest

    from services.db.models import TradeRun
    from services.execution.errors import BadInput

    service = stack.service
    project_id, snapshot = make_snapshot(stack.db, "offset", {"AAPL": "0.15", "MSFT": "0.15"})
    with pytest.raises(BadInput, match=r"a limit offset \(20 bps\) is for LMT orders"):
        await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, builder={"limit_offset_bps": Decimal(20)},
                                       portfolio_value=Decimal(100000))
    window = await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, portfolio_value=Decimal(100000),
                                            builder={"order_type": "LMT", "limit_offset_bps": Decimal(20)})
    assert {o[2] for o in _orders(window)} == {"LMT"}
    with pytest.raises(BadInput, match="is for LMT orders"):  # both given: refused, the run keeps LMT + 20
        await service.prepare_run(None, snapshot, TradeMode.PAPER, builder={"order_type": "MKT", "limit_offset_bps": "20"})
    run = await service.prepare_run(None, snapshot, TradeMode.PAPER, builder={"order_type": "MKT"})  # execute --order-type MKT
    assert run.id == window.run_id
    with stack.db.session() as session:
        stored = session.get(TradeRun, run.id).params["builder"]
    assert stored["order_type"] == "MKT" and "limit_offset_bps" not in stored
    changed = await service.preview(run.id, Decimal(100000), unless_it_has_orders=True)
    assert changed is not None and {o[2] for o in _orders(changed)} == {"MKT"}
    assert {o[3] for o in _orders(changed)} == {None}


async def test_a_run_stored_with_mkt_and_an_offset_before_the_refusal_still_previews(stack):
    """The window sent its disabled offset field with MKT: such runs are stored. Their next
    preview (execute with no builder option) builds market orders, not a ValueError."""
    from sqlalchemy import update

    from services.db.models import TradeRun

    service = stack.service
    project_id, snapshot = make_snapshot(stack.db, "legacy", {"AAPL": "0.15"})
    run = await service.prepare_run(project_id, snapshot, TradeMode.PAPER)
    with stack.db.unit_of_work() as session:
        session.execute(update(TradeRun).where(TradeRun.id == run.id).values(
            params={"builder": {"order_type": "MKT", "limit_offset_bps": "20"}, "risk_overrides": []}))
    preview = await service.preview(run.id, Decimal(100000))
    assert {(o[2], o[3]) for o in _orders(preview)} == {("MKT", None)}


async def test_a_portfolio_value_finer_than_a_plan_keeps_is_refused_before_anything_is_stored(stack):
    """100000.123456789 (nine places; a plan's portfolio value keeps eight) was stored as the
    plan's 100000.12345679 while its hash and the run's parameters kept the value as typed: the
    stored plan no longer matched its hash (``PlanRepository.verify`` False)."""
    import pytest
    from sqlalchemy import func, select

    from services.db.models import TradeRun
    from services.execution.errors import BadInput

    service = stack.service
    project_id, snapshot = make_snapshot(stack.db, "fine-value", {"AAPL": "0.15"})
    with pytest.raises(BadInput) as refused:
        await service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, portfolio_value=Decimal("100000.123456789"))
    assert str(refused.value) == ("portfolio value 100000.123456789 has more than 8 decimal places "
                                  "(it would be stored rounded)")
    with stack.db.session() as session:
        assert session.scalar(select(func.count(TradeRun.id))) == 0
