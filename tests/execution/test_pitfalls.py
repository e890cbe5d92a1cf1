"""Every pitfall of docs/ib-notes.md against the simulator over a real socket (SQLite and
MariaDB): corrections, late commissions, duplicates, reconnects with fills in the gap,
PendingSubmit, local cancels, modify of done trades, external orders, failed queries, the
account guard, connection states and shared pacing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.core.order_state import EventKind
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import TradeFill
from services.db.repositories import OrderRepository, PositionRepository
from services.domain import OrderState, OrderType, Side, TradeMode
from services.execution.errors import AccountGuardError, BrokerError, LiveConfirmRequired, QueryFailed
from services.execution.events import ConnectionState, OrderStatusEvent
from services.execution.writer import LocalOrderEvent
from services.ibsim.messages import COMMISSION_REPORT
from tests.fixtures.proxy import TwsHoldProxy
from tests.fixtures.waiting import wait_until

from .conftest import build_stack, make_snapshot
from .test_actions import _order, _settle

pytestmark = pytest.mark.timeout(90)


def db_fills(db):
    with db.session() as session:
        return list(session.scalars(select(TradeFill).order_by(TradeFill.id)))


def assert_db_matches_ledger(db, sim):
    """Current (non-superseded) fills == the simulator's executions (latest revisions)."""
    current = {f.exec_id: (f.order_ref, f.symbol, f.side, f.quantity, f.price) for f in db_fills(db) if not f.superseded}
    expected = {e.exec_id: (e.order_ref, e.symbol, "BUY" if e.side == "BOT" else "SELL", e.shares, e.price) for e in sim.executions()}
    assert current == expected
    superseded = {f.exec_id for f in db_fills(db) if f.superseded}
    all_sent = {entry["execId"] for entry in sim.ledger()}
    assert superseded == all_sent - set(expected)


async def test_execution_corrections_supersede_and_never_double_count(stack):
    stack.sim.faults.exec_correction = True
    record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10))
    await _settle(stack, record.id, {OrderState.FILLED})
    await _until(lambda: len(db_fills(stack.db)) == 2, stack, "the original fill and its correction stored")
    first, second = db_fills(stack.db)
    assert first.exec_id.endswith(".01") and second.exec_id == first.exec_base_id + ".02"
    assert (first.superseded, second.superseded) == (True, False)
    assert second.price == first.price + Decimal("0.01")
    order = _order(stack.db, record.id)
    assert order.filled_quantity == Decimal(10) and order.avg_fill_price == second.price
    with stack.db.session() as session:
        pos = PositionRepository(session).get(stack.provider.account, "AAPL")
    # IB's average cost carries the buy's commission (1.00 on 10 shares), booked once, on the
    # corrected price (docs/ib-average-cost.md); the simulator's book says the same
    await _until(lambda: db_fills(stack.db)[1].commission is not None, stack, "the correction's commission stored")
    with stack.db.session() as session:
        pos = PositionRepository(session).get(stack.provider.account, "AAPL")
    assert (pos.quantity, pos.average_cost) == (Decimal(10), second.price + Decimal("1.00") / 10)
    assert pos.average_cost == stack.sim.position("AAPL").avg_cost.quantize(Decimal("0.00000001"))
    assert_db_matches_ledger(stack.db, stack.sim)


async def _until(predicate, stack, message, timeout=5.0):
    """Wait until ``predicate()`` holds, flushing the writer before each look."""

    async def holds():
        await stack.writer.flush()
        return predicate()

    await wait_until(holds, timeout, message, interval=0.01)


async def test_late_commission_fills_in(database, simulator):
    # The commission report is held by a proxy on the line until the fill is stored, then
    # released: the order of events is fixed by the test, not by a timer.
    proxy = TwsHoldProxy("127.0.0.1", simulator.port, hold={COMMISSION_REPORT})
    await proxy.start()
    simulator.faults.late_commission = True
    simulator.faults.late_commission_delay = 0
    stack = await build_stack(database, simulator, port=proxy.port)
    try:
        record = await stack.actions.manual_order("NVDA", Side.BUY, Decimal(50))
        await _settle(stack, record.id, {OrderState.FILLED})
        await wait_until(lambda: proxy.held, 5, "the commission report to reach the proxy")
        [fill] = db_fills(stack.db)
        assert fill.commission is None  # stored at once, commission unknown yet
        assert proxy.release() == 1
        await _until(lambda: db_fills(stack.db)[0].commission is not None, stack, "the late commission stored")
        [fill] = db_fills(stack.db)
        assert fill.commission == Decimal("1.00")  # 50 x 0.005 below the USD 1 minimum
        assert_db_matches_ledger(stack.db, stack.sim)
    finally:
        await stack.close()
        await proxy.cut()


async def test_duplicate_execdetails_and_statuses_leave_one_fill(stack):
    stack.sim.faults.duplicate_status = True
    record = await stack.actions.manual_order("META", Side.BUY, Decimal(2))
    await _settle(stack, record.id, {OrderState.FILLED})
    [fill] = db_fills(stack.db)
    # the same execution again: live duplicate and via reqExecutions (reconciliation)
    [execution] = await stack.provider.executions()
    stack.writer.submit(execution)
    stack.writer.submit(execution)
    report = await stack.reconciler.reconcile()
    assert report.missing_fills == []
    assert [f.exec_id for f in db_fills(stack.db)] == [fill.exec_id]
    assert _order(stack.db, record.id).filled_quantity == Decimal(2)
    with stack.db.session() as session:
        assert PositionRepository(session).get(stack.provider.account, "META").quantity == Decimal(2)


async def test_connection_dropped_mid_run_fills_in_gap_are_recovered(stack, ib_log_guard):
    ib_log_guard.allow(r"Peer closed connection")
    states = []
    stack.provider.subscribe(lambda ev: states.append(ev.state))
    ids = []
    for symbol, limit in (("AAPL", "225"), ("MSFT", "410"), ("NVDA", "136")):
        ids.append((await stack.actions.manual_order(symbol, Side.BUY, Decimal(5), OrderType.LMT, Decimal(limit))).id)
    for i in ids:
        await _settle(stack, i, {OrderState.ACCEPTED})
    reconnected = asyncio.Event()
    stack.provider.add_resync_hook(lambda state: _set(reconnected))
    stack.sim.drop_connections()
    await wait_until(lambda: stack.provider.state is ConnectionState.DISCONNECTED, 5, "the provider to see the drop")
    # fills while we are away: prices cross the resting orders
    stack.sim.set_price("AAPL", "224")
    stack.sim.set_price("MSFT", "409")
    assert len(stack.sim.executions()) == 2 and db_fills(stack.db) == []
    await asyncio.wait_for(reconnected.wait(), 10)  # the first backoff step is 1 s
    await stack.writer.flush()
    assert stack.provider.reconnect_attempts[0] == 1.0
    assert states[-2:] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert ConnectionState.DISCONNECTED in states
    assert_db_matches_ledger(stack.db, stack.sim)
    assert [_order(stack.db, i).status for i in ids] == [OrderState.FILLED, OrderState.FILLED, OrderState.ACCEPTED]
    with stack.db.session() as session:
        positions = {p.symbol: p.quantity for p in PositionRepository(session).list(project_id=0)}
    assert positions == {"AAPL": Decimal(5), "MSFT": Decimal(5)}
    from services.audit import AuditLog

    [entry] = [e for e in AuditLog(stack.db).list(action="reconcile") if e.payload["missing_fills"]]
    assert sorted(entry.payload["missing_fills"]) == sorted(e.exec_id for e in stack.sim.executions())


def _set(event):
    event.set()
    return asyncio.sleep(0)


async def test_1100_lost_and_1102_restored_reconciles(stack, ib_log_guard):
    ib_log_guard.allow(r"Error 110[02], reqId -1")
    states = []
    stack.provider.subscribe(lambda ev: states.append(ev.state))
    passes_before = stack.reconciler.last_report
    stack.provider.ib.wrapper.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.", "")
    assert stack.provider.state is ConnectionState.LOST
    stack.provider.ib.wrapper.error(-1, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.", "")
    assert states == [ConnectionState.LOST, ConnectionState.RESTORED]
    await _until(lambda: stack.reconciler.last_report is not passes_before, stack, "a reconciliation pass after 1102")


async def test_unacknowledged_order_stays_submitted_and_is_never_resent(stack):
    stack.sim.faults.add_rule(symbols={"GOOGL"}, ack_delay=60)
    _, snapshot_id = make_snapshot(stack.db, "slow", {"GOOGL": "0.01"})
    run = await stack.service.create_run("slow", snapshot_id, TradeMode.PAPER, {})
    result = await stack.service.execute(run.id, portfolio_value=Decimal(100000))
    stack.service.ack_timeout = 0.3
    waiting = await stack.service.wait_acknowledged(run.id)
    assert waiting == list(result.sent)
    await stack.writer.flush()  # the SUBMITTED event may still be queued on a busy machine
    view = await stack.service.view(run.id)
    assert [o.status for o in view.orders] == [OrderState.SUBMITTED]
    # executing the run again: the broker holds it (PendingSubmit) so nothing is resent
    again = await stack.service.execute(run.id)
    assert again.sent == ()
    assert len(stack.sim.orders()) == 1


async def test_in_flight_order_unknown_to_ib_is_resolved_not_resent(stack):
    with stack.db.unit_of_work() as session:
        order = OrderRepository(session).create("GHOST-1", "AAPL", Side.BUY, Decimal(1), account=stack.provider.account)
        order_id = order.id
    stack.writer.submit(LocalOrderEvent("GHOST-1", EventKind.SUBMITTED, ib_order_id=999))
    await stack.writer.flush()
    assert _order(stack.db, order_id).status is OrderState.SUBMITTED
    report = await stack.reconciler.reconcile()
    assert report.resolved_unknown == ["GHOST-1"]
    order = _order(stack.db, order_id)
    assert order.status is OrderState.CANCELED
    assert stack.sim.orders() == []  # never resent
    # what the order's history (the blotter's details) says of it: the reconciliation's reason,
    # not "Cancelled: canceled" alone, as if the broker had canceled an order it never had (seen
    # after a demo restart whose simulator did not hold the last session's working sell)
    from services.console_queries import order_details

    last = order_details(stack.db, order_id).events[-1]
    assert (last.source, last.to_state) == ("reconcile", "CANCELED")
    assert last.message == ("IB does not know this order after a targeted query: closed as never received, not resent "
                            "(Cancelled: canceled)")


async def test_order_ids_alone_never_match(stack):
    record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), OrderType.LMT, Decimal("225"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    # a status with our IB order id but another permId and no orderRef (ids rolled back)
    stack.writer.submit(OrderStatusEvent(record.ib_order_id, 777777, 1, "Filled", Decimal(1), Decimal(0), Decimal("1"), None))
    await stack.writer.flush()
    assert _order(stack.db, record.id).status is OrderState.ACCEPTED


async def test_modify_of_a_done_trade_is_refused_not_asserted(stack):
    record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1))
    await _settle(stack, record.id, {OrderState.FILLED})
    with pytest.raises(BrokerError) as info:
        await stack.provider.modify_order(record.client_order_id, Decimal(2), None)
    assert info.value.code == "not_modifiable"
    from services.execution.errors import BadInput

    with pytest.raises(BadInput):
        await stack.actions.replace(record.id, quantity=Decimal(2))


async def test_external_orders_are_recorded_not_dropped(stack, ib_client):
    other = await ib_client(client_id=9)
    from ib_async import LimitOrder, Stock

    [contract] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    trade = other.placeOrder(contract, LimitOrder("BUY", 3, 220.0, orderRef="by-hand"))
    await wait_until(lambda: trade.orderStatus.status == "Submitted", 5, "the external order acknowledged")
    report = await stack.reconciler.reconcile()
    assert report.external == ["by-hand"]
    with stack.db.session() as session:
        ext = OrderRepository(session).get_by_client_id("by-hand")
    assert (ext.is_external, ext.symbol, ext.quantity, ext.status) == (True, "AAPL", Decimal(3), OrderState.ACCEPTED)
    # a second pass changes nothing
    assert (await stack.reconciler.reconcile()).external == []


async def test_failed_query_aborts_the_pass_and_is_retried(stack, monkeypatch):
    record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(2))
    await _settle(stack, record.id, {OrderState.FILLED})
    # lose the fill locally, as if it had happened during a gap
    with stack.db.unit_of_work() as session:
        session.execute(TradeFill.__table__.delete())
    real = stack.provider.executions
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) <= 2:  # the direct pass and the first retry fail
            raise QueryFailed("executions: no answer within 5 s")
        return await real()

    monkeypatch.setattr(stack.provider, "executions", flaky)
    with pytest.raises(QueryFailed):
        await stack.reconciler.reconcile()
    assert db_fills(stack.db) == []  # an aborted pass wrote nothing ("unknown", never "empty")
    stack.reconciler.retry_delays = (0.05,)
    report = await stack.reconciler.reconcile_with_retry()
    assert len(calls) == 3 and len(report.missing_fills) == 1 and stack.reconciler.failures == 1
    assert [f.exec_id for f in db_fills(stack.db)] == [e.exec_id for e in stack.sim.executions()]


async def test_account_guard_live_mode_refuses_a_paper_account(database, simulator):
    with pytest.raises(AccountGuardError):
        await build_stack(database, simulator, mode=TradeMode.LIVE, live_token="LIVE")


async def test_account_guard_paper_mode_refuses_a_live_account(database, sim_config):
    from services.ibsim import IBGatewaySimulator

    sim = IBGatewaySimulator(sim_config(accounts=("U7654321",)))
    await sim.start(host="127.0.0.1", port=0)
    try:
        with pytest.raises(AccountGuardError) as info:
            await build_stack(database, sim, mode=TradeMode.PAPER)
        assert info.value.exit_code == 4
        with pytest.raises(LiveConfirmRequired):
            await build_stack(database, sim, mode=TradeMode.LIVE, live_token=None)
        # live market data: a live run refuses delayed prices (execution.allow_delayed_prices_live)
        live = await build_stack(database, sim, mode=TradeMode.LIVE, live_token=" Live ", market_data_type="live")
        try:
            assert live.provider.account == "U7654321"
            with pytest.raises(LiveConfirmRequired):
                await live.actions.manual_order("AAPL", Side.BUY, Decimal(1), live_token=None)
            assert sim.orders() == []
            # with the word, a live run trades the live account
            _, snapshot_id = make_snapshot(database, "live-ok", {"AAPL": "0.01"})
            run = await live.service.create_run("live-ok", snapshot_id, TradeMode.LIVE, {}, live_token="LIVE")
            with pytest.raises(LiveConfirmRequired):
                await live.service.execute(run.id, live_token="")
            result = await live.service.execute(run.id, live_token="live", portfolio_value=Decimal(100000))
            assert len(result.sent) == 1 and await live.service.wait_done(run.id, 5) == []
            assert [(o.account, o.order_ref) for o in sim.orders()] == [("U7654321", result.sent[0])]
        finally:
            await live.close()
    finally:
        await sim.stop()


async def test_orders_cancels_and_market_data_share_one_pacing_budget(database, simulator):
    from services.execution.pacing import PacingLimiter

    class CountingLimiter(PacingLimiter):
        """Counts every message charged to the budget (the window itself forgets them after a
        second, which a loaded machine easily exceeds)."""

        charged = 0

        async def acquire(self) -> None:
            self.charged += 1
            await super().acquire()

        def try_acquire(self) -> bool:
            taken = super().try_acquire()
            self.charged += taken
            return taken

        def record(self) -> None:
            self.charged += 1
            super().record()

    limiter = CountingLimiter(45, 1.0)
    stack = await build_stack(database, simulator, pacing=limiter)
    try:
        await stack.provider.qualify(["AAPL"])
        start = limiter.granted
        await stack.provider.market_prices(["AAPL"])
        assert limiter.granted - start == 1  # the snapshot
        record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), OrderType.LMT, Decimal("225"))
        await stack.provider.cancel_order(record.client_order_id, record.ib_order_id)
        # market data (x2: the action's risk check prices too), positions, the order, the cancel
        assert limiter.granted - start >= 4
        assert stack.provider.pacing is limiter
    finally:
        await stack.close()


async def test_stuck_pending_submit_is_canceled_then_looked_up_never_resent(stack, ib_log_guard):
    """The one recovery (services.execution.recovery.AutoRecovery): an order IB never
    acknowledged is canceled, then looked up; with no retries allowed it is never sent again."""
    from datetime import UTC, datetime, timedelta

    from services.db.repositories import SettingsRepository
    from services.execution.recovery import AutoRecovery

    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 60, "max_auto_retries": 0})
    recovery = AutoRecovery(stack.db, stack.provider, stack.writer, stack.reconciler, stack.service.leases, actor="tester",
                            busy_runs=stack.service.executing_runs)
    stack.sim.faults.add_rule(symbols={"GOOGL"}, ack_delay=60)
    _, snapshot_id = make_snapshot(stack.db, "stuck", {"GOOGL": "0.01"})
    run = await stack.service.create_run("stuck", snapshot_id, TradeMode.PAPER, {})
    [coid] = (await stack.service.execute(run.id, portfolio_value=Decimal(100000))).sent
    await stack.writer.flush()
    assert (await recovery.run_once()).canceled == ()  # not old enough yet
    result = await recovery.run_once(datetime.now(UTC) + timedelta(seconds=120))
    assert coid in result.canceled and result.sent == () and result.replaced == ()
    await wait_until(lambda: stack.sim.orders() and stack.sim.orders()[0].status == "Cancelled", 10,
                     "the simulator never canceled the unacknowledged order")
    await stack.writer.flush()
    view = await stack.service.view(run.id)
    [order] = view.orders
    assert order.status is OrderState.CANCELED
    assert [o.status for o in stack.sim.orders()] == ["Cancelled"] and len(stack.sim.orders()) == 1
    with stack.db.session() as session:
        events = [(e.from_state, e.to_state, e.source) for e in
                  session.scalars(select(OrderEventRow).where(OrderEventRow.order_id == order.id))]
    assert (OrderState.SUBMITTED, OrderState.CANCEL_REQUESTED, "recovery") in [(a, b, str(c)) for a, b, c in events]
