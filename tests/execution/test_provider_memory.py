"""What the broker adapter keeps must not grow with the orders and queries of a session.

ib_async keeps every trade and fill of a connection, and reconciliation's queries add the
day's finished orders and executions again at every reconnect: the provider drops the finished
ones from those books (the soak's memory grew ~6 MB at every dropped connection)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderState, Side
from services.execution import ib_provider

from .test_actions import _settle

pytestmark = pytest.mark.timeout(60)


async def test_reconciliation_queries_leave_no_finished_trade_in_the_client_library(stack, monkeypatch):
    for symbol in ("AAPL", "MSFT", "KO"):
        record = await stack.actions.manual_order(symbol, Side.BUY, Decimal(3))
        await _settle(stack, record.id, {OrderState.FILLED})
    price = (await stack.provider.market_prices(["IBM"]))["IBM"]
    resting = await stack.actions.manual_order("IBM", Side.BUY, Decimal(1), "LMT", (price * Decimal("0.98")).quantize(Decimal("0.01")))
    wrapper = stack.provider.ib.wrapper
    assert len(wrapper.fills) >= 3  # kept by ib_async so far
    monkeypatch.setattr(ib_provider, "FORGET_FINISHED_AFTER", 0.0, raising=False)  # "quiet long enough" is now
    report = await stack.reconciler.reconcile()
    assert report.executions >= 3 and report.completed_orders >= 3  # the answers were used
    done = [t for t in wrapper.trades.values() if t.isDone()]
    assert done == [] and wrapper.fills == {}
    # and the adapter's own maps to orderRef keep the working order alone (they grew by one
    # entry per order for the whole session)
    assert set(stack.provider._ref_by_perm_id.values()) == {_ref(stack, resting.id)}
    assert set(stack.provider._ref_by_order_id.values()) <= {_ref(stack, resting.id)}
    # the working order stays known to ib_async (a modify or cancel needs its Trade)
    assert [t.order.orderRef for t in wrapper.trades.values()] == [_ref(stack, resting.id)]
    assert await stack.actions.cancel(resting.id, wait=True)


async def test_answered_queries_leave_no_waiter_behind(stack):
    # each wait for an answer also waits for IB's pacing error 100; without one, those waits
    # stayed in the sender's list for good (the soak: hundreds of futures a minute)
    for _ in range(3):
        await stack.reconciler.reconcile()
        await stack.provider.market_prices(["AAPL", "MSFT"])
    assert stack.provider.sender._violation_waiters == []


def _ref(stack, order_id):
    from .test_actions import _order

    return _order(stack.db, order_id).client_order_id


async def test_the_completed_orders_answer_builds_no_client_library_trade(stack):
    # ib_async built a Trade (with 21 eventkit Events, ~12 KB) per finished order of the day at
    # every reconciliation: the reconnect's memory peak grew with the day's orders (the soak's
    # steps at each dropped connection)
    refs = set()
    for symbol in ("AAPL", "MSFT", "KO"):
        record = await stack.actions.manual_order(symbol, Side.BUY, Decimal(2))
        await _settle(stack, record.id, {OrderState.FILLED})
        refs.add(_ref(stack, record.id))
    wrapper = stack.provider.ib.wrapper
    stack.provider.forget_finished(older_than=0.0)
    assert wrapper.trades == {} and wrapper.permId2Trade == {}
    answer = await stack.provider.completed_orders()
    assert refs <= {event.order_ref for event in answer}
    assert all(event.completed and event.status == "Filled" for event in answer if event.order_ref in refs)
    assert wrapper.trades == {} and wrapper.permId2Trade == {}  # nothing added to ib_async's books
    assert "completedOrders" not in wrapper._results  # the request's bookkeeping ended


def _bookkeeping(provider) -> dict[str, int]:
    """Sizes of everything the adapter and the client library keep per connection: handlers on
    every eventkit event, the wrapper's, the provider's and the sender's containers, tasks."""
    import asyncio

    ib = provider.ib
    sizes = {f"ib.{name}": len(event) for name, event in vars(ib).items() if name.endswith("Event")}
    sizes |= {f"conn.{name}": len(getattr(ib.client.conn, name)) for name in ("hasData", "disconnected")}
    for owner, label in ((ib.wrapper, "wrapper"), (provider, "provider"), (provider.sender, "sender"),
                         (provider.inflight, "inflight")):
        sizes |= {f"{label}.{name}": len(value) for name, value in vars(owner).items() if isinstance(value, (dict, list, set))}
    sizes["tasks"] = len(asyncio.all_tasks())
    return sizes


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_twenty_reconnects_leave_no_handler_waiter_or_task_behind(database, simulator, ib_log_guard):
    """Each reconnect re-runs the connect path (handlers, attempts, resync hooks): what it leaves
    behind must not pile up with the number of reconnects."""
    import asyncio

    from services.execution.events import ConnectionState
    from tests.fixtures.waiting import wait_until

    from .conftest import build_stack

    async def no_wait(_seconds: float) -> None:
        await asyncio.sleep(0)

    ib_log_guard.allow(r"Peer closed connection|Connection reset by peer")  # the drops are the point
    built = await build_stack(database, simulator, sleep=no_wait)
    connected = []
    built.provider.subscribe(lambda event: connected.append(event) if event.state is ConnectionState.CONNECTED else None)

    async def reconnect() -> None:
        seen = len(connected)
        simulator.drop_connections()
        await wait_until(lambda: len(connected) > seen and built.provider.is_connected, 20, "connected again after the drop")
        # the reconnect loop runs the resync (reconciliation) before it ends
        await wait_until(lambda: built.provider._reconnect_task.done() and not built.provider._hook_tasks, 20,
                         "the resync after the reconnect")
        await built.writer.flush()

    try:
        record = await built.actions.manual_order("AAPL", Side.BUY, Decimal(2))
        await _settle(built, record.id, {OrderState.FILLED})
        for _ in range(2):
            await reconnect()
        after_two = _bookkeeping(built.provider)
        for _ in range(20):
            await reconnect()
        after_twenty_two = _bookkeeping(built.provider)
        grown = {name: (after_two.get(name), size) for name, size in after_twenty_two.items()
                 if size > after_two.get(name, 0) and name != "provider.reconnect_attempts"}
        assert grown == {}, grown
        assert len(built.provider.reconnect_attempts) == 22  # one per drop, and bounded (last 100)
    finally:
        await built.close()


async def test_the_executions_answer_builds_no_client_library_fill_and_keeps_the_commissions(stack):
    # the same for reqExecutions: a Fill (~5 KB) per execution of the day at every reconciliation
    refs = set()
    for symbol in ("AAPL", "MSFT"):
        record = await stack.actions.manual_order(symbol, Side.BUY, Decimal(2))
        await _settle(stack, record.id, {OrderState.FILLED})
        refs.add(_ref(stack, record.id))
    wrapper = stack.provider.ib.wrapper
    stack.provider.forget_finished(older_than=0.0)
    assert wrapper.fills == {}
    answer = [event for event in await stack.provider.executions() if event.order_ref in refs]
    assert {event.order_ref for event in answer} == refs
    assert all(event.source == "reconcile" and event.commission is not None for event in answer)
    assert wrapper.fills == {} and wrapper.trades == {}  # nothing added to ib_async's books
    assert stack.provider._answered_executions == {}


async def test_reconciliation_does_not_resubmit_executions_stored_with_their_commission(stack, monkeypatch):
    # every execution of the day went to the writer again at every reconnect, for nothing (the
    # writer changes nothing for a fill it has with its commission) but a peak the process kept
    from services.execution.events import ExecutionEvent
    from tests.fixtures.waiting import wait_until

    record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(2))
    await _settle(stack, record.id, {OrderState.FILLED})
    ref = _ref(stack, record.id)
    await wait_until(lambda: _fills_with_commission(stack.db, record.id), 10, "the fills stored with their commission")
    submitted = []
    submit = stack.writer.submit
    monkeypatch.setattr(stack.writer, "submit", lambda event: (submitted.append(event), submit(event))[1])
    report = await stack.reconciler.reconcile()
    assert report.executions >= 1 and report.missing_fills == []
    assert [e for e in submitted if isinstance(e, ExecutionEvent) and e.order_ref == ref] == []


def _fills_with_commission(db, order_id) -> bool:
    from sqlalchemy import select

    from services.db.models import TradeFill

    with db.session() as session:
        commissions = session.scalars(select(TradeFill.commission).where(TradeFill.order_id == order_id)).all()
    return bool(commissions) and all(c is not None for c in commissions)
