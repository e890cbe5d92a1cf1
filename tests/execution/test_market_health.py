"""The market-health gate against the simulator over a real socket (SQLite and MariaDB): data
farms (2103 blocks, 2104 clears), lost connectivity (1100 until 1102), a closed market (an
exchange holiday, by an injected clock), the trading date of a run, and the audited way around
the gate (``require_market_health=False``, ``execute --no-market-health``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
from sqlalchemy import select

from services.db.models import AuditLog
from services.db.repositories import OrderRepository
from services.domain import OrderType, Side, TradeMode
from services.execution.errors import MarketUnhealthy
from tests.fixtures.waiting import wait_until

from .cli_helpers import cli_args, run
from .conftest import build_stack, make_snapshot

pytestmark = pytest.mark.timeout(60)

CHRISTMAS = datetime(2026, 12, 25, 16, 0, tzinfo=UTC)  # 11:00 in New York, a weekday, the exchange closed
SATURDAY_EVENING = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)


def _audit_actions(db) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def _orders_of(db, run_id):
    with db.session() as session:
        return OrderRepository(session).list_by_run(run_id)


def _gateway_says(sim, code: int, text: str, client_id: int = 1) -> None:
    """The gateway's notice to one client (request id -1), as a real gateway sends it."""
    sim._sessions[client_id].error(-1, code, text)


async def _until_health(stack, healthy: bool) -> None:
    health = stack.service.health
    await wait_until(lambda: health.status().healthy is healthy, 5, f"market health to be {healthy}: {health.status().describe()}")


async def test_2103_blocks_a_run_with_the_reason_and_2104_clears_it(database, simulator):
    stack = await build_stack(database, simulator)
    try:
        await _until_health(stack, True)  # the farms' OK came at connect
        _, snapshot = make_snapshot(database, "farms", {"AAPL": "0.01"})
        run = await stack.service.prepare_run("farms", snapshot, TradeMode.PAPER)
        _gateway_says(simulator, 2103, "Market data farm connection is broken:usfarm")
        await _until_health(stack, False)
        with pytest.raises(MarketUnhealthy) as refused:
            await stack.service.execute(run.id, portfolio_value=Decimal(100000))
        assert "2103" in str(refused.value) and "usfarm" in str(refused.value)
        assert _orders_of(database, run.id) == [] and simulator.orders() == []
        assert "run.market_health_refused" in _audit_actions(database)

        _gateway_says(simulator, 2104, "Market data farm connection is OK:usfarm")
        await _until_health(stack, True)
        result = await stack.service.execute(run.id, portfolio_value=Decimal(100000))
        assert len(result.sent) == 1
        assert not await stack.service.wait_done(run.id, 10)
    finally:
        await stack.close()


async def test_lost_connectivity_blocks_until_1102(database, simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 110[02]")  # ib_async logs the connectivity codes as errors
    stack = await build_stack(database, simulator)
    try:
        await _until_health(stack, True)
        _gateway_says(simulator, 1100, "Connectivity between IB and Trader Workstation has been lost.")
        await _until_health(stack, False)
        with pytest.raises(MarketUnhealthy, match="1100"):
            await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), project="manual")
        _gateway_says(simulator, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")
        await _until_health(stack, True)
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), project="manual")
        assert order.client_order_id
    finally:
        await stack.close()


async def test_the_health_heard_starts_at_the_first_connection_and_says_each_change_once(database, simulator, ib_log_guard):
    """A paper window's start logged "Market not healthy: not connected to the gateway" four
    times, with a toast, before "Market healthy again" 80 ms later (seen under Xvfb): each step of
    the first connection and each farm notice of its handshake told the listeners the same
    reason. The first connection is the connection indicator's to say; after it, a change is
    told once. The gate itself answers as before."""
    ib_log_guard.allow(r"Peer closed connection")  # the gateway dropping us, as this test asks
    stack = await build_stack(database, simulator, connect=False)
    heard: list[str] = []
    try:
        stack.service.health.subscribe(lambda report: heard.append(report.describe()))
        assert not stack.service.health.status().healthy  # not connected: the gate refuses
        await stack.provider.connect()
        await _until_health(stack, True)
        assert "not connected to the gateway" not in heard, heard
        assert len(heard) == len(set(heard)), heard
        simulator.drop_connections()  # the gateway goes away: said once, whatever the steps that follow
        await _until_health(stack, False)
        await _until_health(stack, True)  # reconnected
        assert heard.count("not connected to the gateway") == 1, heard
        assert all(first != second for first, second in pairwise(heard)), heard
    finally:
        await stack.close()


async def test_skipping_the_gate_is_audited(database, simulator):
    stack = await build_stack(database, simulator)
    try:
        await _until_health(stack, True)
        _, snapshot = make_snapshot(database, "skip", {"AAPL": "0.01"})
        run = await stack.service.prepare_run("skip", snapshot, TradeMode.PAPER)
        _gateway_says(simulator, 2103, "Market data farm connection is broken:usfarm")
        await _until_health(stack, False)
        result = await stack.service.execute(run.id, portfolio_value=Decimal(100000), require_market_health=False)
        assert len(result.sent) == 1
        assert "run.market_health_skipped" in _audit_actions(database)
    finally:
        await stack.close()


async def test_a_run_refused_because_trading_is_halted_is_audited_as_the_market_health_refusals_are(database, simulator):
    """A HALTED refusal before the preview left no trail of the attempt, where an unhealthy
    market's refusal is audited: both say, in the audit, why the run sent nothing."""
    from services.domain import TradingState
    from services.execution.errors import TradingHalted

    stack = await build_stack(database, simulator)
    try:
        _, snapshot = make_snapshot(database, "halted", {"AAPL": "0.01"})
        run = await stack.service.prepare_run("halted", snapshot, TradeMode.PAPER)
        assert (await stack.actions.halt()).state is TradingState.HALTED
        with pytest.raises(TradingHalted):
            await stack.service.execute(run.id, portfolio_value=Decimal(100000))
        with database.session() as session:
            entry = session.scalars(select(AuditLog).where(AuditLog.action == "run.halted_refused")).one()
        assert (entry.entity_type, entry.entity_id, entry.payload) == ("trade_run", str(run.id), {"trading_state": "HALTED"})
        assert _orders_of(database, run.id) == [] and simulator.orders() == []
    finally:
        await stack.close()


async def test_a_market_order_on_an_exchange_holiday_is_refused(database, make_simulator):
    sim = await make_simulator(market_hours="regular", clock=lambda: CHRISTMAS)
    stack = await build_stack(database, sim, clock=lambda: CHRISTMAS)
    try:
        await _until_health(stack, True)  # connected, farms OK: only the market is closed
        sim.set_price("AAPL", "100")
        with pytest.raises(MarketUnhealthy, match=r"AAPL.*market closed.*a market order is refused"):
            await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), project="manual")
        with pytest.raises(MarketUnhealthy, match="outside_rth"):
            await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), OrderType.LMT, Decimal(100), project="manual")
        _, snapshot = make_snapshot(database, "holiday", {"AAPL": "0.01"})
        run = await stack.service.prepare_run("holiday", snapshot, TradeMode.PAPER)
        assert run.trade_date == date(2026, 12, 28)  # the next session
        with pytest.raises(MarketUnhealthy, match="market closed"):
            await stack.service.execute(run.id, portfolio_value=Decimal(100000))
        assert sim.orders() == [] and _orders_of(database, run.id) == []
        # a limit order may rest when the trader allows it outside the regular session
        resting = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), OrderType.LMT, Decimal(100), project="manual",
                                                   outside_rth=True)
        await wait_until(lambda: [o.status for o in sim.orders()] == ["PreSubmitted"], 5, "the limit order to rest")
        assert sim.orders()[0].outside_rth and resting.order_type is OrderType.LMT
    finally:
        await stack.close()


async def test_the_trading_date_of_a_run_on_a_weekend_evening_is_the_next_session(database, simulator):
    stack = await build_stack(database, simulator, clock=lambda: SATURDAY_EVENING)
    try:
        _, snapshot = make_snapshot(database, "weekend", {"AAPL": "0.01"})
        run = await stack.service.prepare_run("weekend", snapshot, TradeMode.PAPER)
        assert run.trade_date == date(2026, 12, 7)  # Monday, not Saturday the 5th
    finally:
        await stack.close()


async def test_demo_hours_trade_at_any_hour(database, make_simulator):
    """The simulator's default hours (always): a market order goes on a holiday evening."""
    sim = await make_simulator(clock=lambda: CHRISTMAS)
    stack = await build_stack(database, sim, clock=lambda: CHRISTMAS)
    try:
        await _until_health(stack, True)
        await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), project="manual")
        await wait_until(lambda: len(sim.executions()) == 1, 5, "the fill")
    finally:
        await stack.close()


@pytest.mark.slow
async def test_execute_no_market_health_is_audited(db_url, simulator, tmp_path):
    snapshot = tmp_path / "snap.csv"
    snapshot.write_text("symbol,weight\nAAPL,0.01\n")
    done = await run(cli_args(db_url, simulator.port, "execute", "--snapshot", str(snapshot), "--project", "nohealth",
                              "--mode", "paper", "--portfolio-value", "100000", "--wait-seconds", "5", "--no-market-health", "--json"))
    assert done.code == 0, done.err
    audit = await run(cli_args(db_url, simulator.port, "audit", "list", "--action", "run.market_health_skipped", "--json",
                               connection=False))
    assert audit.code == 0, audit.err
    assert "run.market_health_skipped" in audit.out


async def test_delayed_prices_block_a_live_run_unless_configured(database, make_simulator):
    from services.db.repositories import SettingsRepository
    from services.execution.errors import RiskBlocked

    sim = await make_simulator(accounts=("U7654321",))
    stack = await build_stack(database, sim, mode=TradeMode.LIVE, live_token="LIVE")  # the default: delayed data
    try:
        _, snapshot = make_snapshot(database, "delayed", {"AAPL": "0.01"})
        run = await stack.service.create_run("delayed", snapshot, TradeMode.LIVE, {}, live_token="LIVE")
        preview = await stack.service.preview(run.id, Decimal(100000))
        assert [b.code for b in preview.report.all_blocks()] == ["delayed_price"]
        with pytest.raises(RiskBlocked, match="delayed_price"):
            await stack.service.execute(run.id, live_token="LIVE", portfolio_value=Decimal(100000))
        with database.unit_of_work() as session:
            SettingsRepository(session).set_execution({"allow_delayed_prices_live": True})
        assert not (await stack.service.preview(run.id, Decimal(100000))).report.blocked
    finally:
        await stack.close()


async def test_session_open_for_auto_recovery(database, make_simulator):
    """``MarketHealth.session_open(spec)``: the broker's hours once known, else the calendar."""
    from services.core.contracts import ContractSpec

    sim = await make_simulator(clock=lambda: CHRISTMAS)  # always open, by the simulator's hours
    stack = await build_stack(database, sim, clock=lambda: CHRISTMAS)
    try:
        health = stack.service.health
        aapl = ContractSpec.of("AAPL")
        assert not health.session_open(aapl)  # hours not asked yet: the calendar says Christmas
        await stack.provider.trading_hours(aapl)
        assert health.session_open(aapl)
    finally:
        await stack.close()


def _refuse_modify(session, order, req) -> None:
    session.error(order.order_id, 105, "Order being modified does not match original order")


async def test_a_replace_whose_new_order_would_be_refused_cancels_nothing(database, make_simulator, ib_log_guard):
    """A replace that must cancel and send anew runs the new order's gates first: refused, the
    original order is still working, not canceled with nothing in its place."""
    ib_log_guard.allow(r"^Error 105, ")
    sim = await make_simulator(market_hours="regular", clock=lambda: CHRISTMAS)
    stack = await build_stack(database, sim, clock=lambda: CHRISTMAS)
    try:
        await _until_health(stack, True)
        sim.set_price("MSFT", "410")
        # a market order sent around the gate, held until the open: its new form is a market order, refused today
        held = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), project="manual", require_market_health=False)
        await wait_until(lambda: [o.status for o in sim.orders()] == ["PreSubmitted"], 5, "the market order to be held")
        with pytest.raises(MarketUnhealthy) as refused:
            await stack.actions.replace(held.id, quantity=Decimal(7))
        assert [(o.status, o.quantity) for o in sim.orders()] == [("PreSubmitted", 5)]  # not canceled
        assert f"order {held.id} not replaced, it is still working unchanged" in str(refused.value)
        assert "market closed" in str(refused.value)
        # a limit order resting for the open (regular hours only), whose change in place IB refuses
        resting = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual",
                                                   require_market_health=False)
        await wait_until(lambda: [o.status for o in sim.orders()] == ["PreSubmitted"] * 2, 5, "the limit order to rest")
        sim._modify = _refuse_modify
        with pytest.raises(MarketUnhealthy) as refused:
            await stack.actions.replace(resting.id, limit_price=Decimal("406.00"))
        assert f"order {resting.id} not replaced" in str(refused.value)
        assert "105" in str(refused.value) and "outside_rth" in str(refused.value)

        assert [(o.status, o.quantity) for o in sim.orders()] == [("PreSubmitted", 5), ("PreSubmitted", 5)]
        assert sim.orders()[1].limit_price == Decimal("405.00")

        async def both_working() -> bool:
            await stack.writer.flush()
            with database.session() as session:
                stored = [(o.id, str(o.status), o.quantity) for o in OrderRepository(session).list()]
            return sorted(stored) == [(held.id, "ACCEPTED", 5), (resting.id, "ACCEPTED", 5)]

        await wait_until(both_working, 5, "both orders to be stored working, as they were")
        assert _audit_actions(database).count("order.replace_refused") == 2
    finally:
        await stack.close()


async def test_a_replacement_outside_the_session_is_judged_with_the_originals_outside_rth(database, make_simulator, ib_log_guard):
    """A limit order the trader let rest outside the regular session: its new form (IB refused
    the change in place) may rest too, and goes with outside-RTH as the original did."""
    ib_log_guard.allow(r"^Error 105, ")
    sim = await make_simulator(market_hours="regular", clock=lambda: CHRISTMAS)
    stack = await build_stack(database, sim, clock=lambda: CHRISTMAS)
    try:
        await _until_health(stack, True)
        sim.set_price("MSFT", "410")
        resting = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual",
                                                   outside_rth=True)
        await wait_until(lambda: [o.status for o in sim.orders()] == ["PreSubmitted"], 5, "the limit order to rest")
        sim._modify = _refuse_modify
        result = await stack.actions.replace(resting.id, limit_price=Decimal("406.00"))
        assert result.method == "cancel_and_new"
        [new] = sim.open_orders()
        assert (new.outside_rth, new.quantity, new.limit_price) == (True, 5, Decimal("406.00"))
    finally:
        await stack.close()
