"""Order actions against the simulator: partial fills, rejects, cancel, replace, cancel-all,
halt/resume, manual orders; each audited with the acting user."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import OrderEvent as OrderEventRow
from services.db.repositories import FillRepository, OrderRepository, SettingsRepository
from services.domain import OrderState, OrderType, Side, TradeMode, TradingState
from services.execution.errors import BadInput, TradingHalted
from tests.fixtures.waiting import wait_until

from .conftest import build_stack, make_snapshot

pytestmark = pytest.mark.timeout(60)


def _events(db, order_id):
    with db.session() as session:
        return list(session.scalars(select(OrderEventRow).where(OrderEventRow.order_id == order_id).order_by(OrderEventRow.id)))


def _order(db, order_id):
    with db.session() as session:
        return OrderRepository(session).get(order_id)


async def _settle(stack, order_id, states, timeout=5.0):
    """Wait until the stored order is in one of ``states`` (the writer flushed before each look)."""

    async def settled():
        await stack.writer.flush()
        return _order(stack.db, order_id).status in states

    await wait_until(settled, timeout, lambda: f"order {order_id} to be {sorted(map(str, states))}; "
                                               f"it is {_order(stack.db, order_id).status}", interval=0.01)


async def test_partial_fills_become_one_filled_order(stack):
    stack.sim.faults.add_rule(symbols={"AAPL"}, fill_mode="partial")
    record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(30), project="manual")
    await _settle(stack, record.id, {OrderState.FILLED})
    order = _order(stack.db, record.id)
    with stack.db.session() as session:
        fills = FillRepository(session).list_by_order(record.id)
    assert [f.quantity for f in fills] == [Decimal(10)] * 3
    assert order.filled_quantity == Decimal(30)
    assert order.avg_fill_price == sum(f.price for f in fills) / 3
    states = [e.to_state for e in _events(stack.db, record.id) if e.from_state != e.to_state]
    assert OrderState.PARTIALLY_FILLED in states and states[-1] is OrderState.FILLED


async def test_reject_201_stores_code_and_text(stack, ib_log_guard):
    ib_log_guard.allow(r"Error 201")
    ib_log_guard.allow(r"Canceled order")
    stack.sim.faults.reject_symbols.add("TSLA")
    record = await stack.actions.manual_order("TSLA", Side.BUY, Decimal(3))
    await _settle(stack, record.id, {OrderState.REJECTED})
    order = _order(stack.db, record.id)
    assert order.rejected_reason.startswith("201: Order rejected - reason:the simulator is configured to reject")
    assert order.filled_quantity == 0


async def test_informational_10349_never_cancels(stack, ib_log_guard):
    ib_log_guard.allow(r"Error 10349")  # ib_async logs it as an error and marks the trade Cancelled
    stack.sim.faults.add_rule(symbols={"NVDA"}, info_10349=True)
    record = await stack.actions.manual_order("NVDA", Side.BUY, Decimal(2), OrderType.LMT, Decimal("135.00"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    await stack.writer.flush()
    events = _events(stack.db, record.id)
    assert any(e.event_type == "warning" and e.message.startswith("10349:") for e in events)
    assert _order(stack.db, record.id).status is OrderState.ACCEPTED
    assert [o.status for o in stack.sim.open_orders()] == ["Submitted"]
    # still modifiable (ib_async's local "Cancelled" was undone)
    result = await stack.actions.replace(record.id, quantity=Decimal(3))
    assert result.method == "modify"
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    assert [o.quantity for o in stack.sim.open_orders()] == [Decimal(3)]


async def test_cancel_one_order(stack):
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    canceled = await stack.actions.cancel(record.id, wait=True)
    after = canceled.order
    assert canceled.note == ""  # the plain way: nothing more to say
    # wait=True returns once the broker confirmed: the record it returns is already final
    assert (after.id, after.client_order_id, after.status) == (record.id, record.client_order_id, OrderState.CANCELED)
    assert after.filled_quantity == 0
    assert stack.sim.open_orders() == []
    # in a replace's words (services.core.replace_rules.nothing_to): "order 1 is already CANCELED" before
    with pytest.raises(BadInput, match=rf"^order {record.id}: the order is CANCELED: nothing to cancel$"):
        await stack.actions.cancel(record.id)
    transitions = [(e.from_state, e.to_state) for e in _events(stack.db, record.id) if e.from_state != e.to_state]
    assert (OrderState.ACCEPTED, OrderState.CANCEL_REQUESTED) in transitions
    assert transitions[-1] == (OrderState.CANCEL_REQUESTED, OrderState.CANCELED)
    from services.audit import AuditLog

    entries = AuditLog(stack.db).list(entity_type="trade_order", entity_id=record.id)
    assert [(e.actor, e.action) for e in entries] == [("tester", "order.manual"), ("tester", "order.cancel")]
    assert entries[-1].payload == {"client_order_id": record.client_order_id}
    assert AuditLog(stack.db).verify().ok


async def test_replace_limit_order_modifies_in_place(stack):
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    result = await stack.actions.replace(record.id, quantity=Decimal(7), limit_price=Decimal("406.50"))
    assert result.method == "modify" and result.new_order_id is None
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    order = _order(stack.db, record.id)
    assert (order.quantity, order.limit_price, order.ib_order_id) == (Decimal(7), Decimal("406.50"), record.ib_order_id)
    [sim_order] = stack.sim.open_orders()
    assert (sim_order.quantity, sim_order.limit_price, sim_order.order_id) == (Decimal(7), Decimal("406.50"), record.ib_order_id)
    # a replace that crosses fills at once
    await stack.actions.replace(record.id, limit_price=Decimal("420.00"))
    await _settle(stack, record.id, {OrderState.FILLED})


async def test_replacing_a_partly_filled_sell_is_checked_for_what_it_still_sells(stack):
    """30 AAPL held; a SELL 30 LMT fills 10 and works on; the trader lowers the limit of the rest.
    The check took the order's whole 30 against the 20 held after the fill and blocked it
    ("selling 30 of 20 held would go short"); it sells 20 more, exactly what is held."""
    bought = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(30), project="P")
    await _settle(stack, bought.id, {OrderState.FILLED})
    stack.sim.faults.add_rule(symbols={"AAPL"}, fill_mode="partial")
    stack.sim.hold_partial_fills()
    bid, _ask = stack.sim.quote("AAPL")
    sell = await stack.actions.manual_order("AAPL", Side.SELL, Decimal(30), OrderType.LMT, bid - Decimal("1.00"), project="P")
    await _settle(stack, sell.id, {OrderState.PARTIALLY_FILLED})
    assert _order(stack.db, sell.id).filled_quantity == Decimal(10)
    result = await stack.actions.replace(sell.id, limit_price=bid - Decimal("2.00"))
    assert result.method == "modify"
    # more than is held is still refused: 10 filled, 25 more of the 20 left
    from services.execution.errors import RiskBlocked

    with pytest.raises(RiskBlocked, match="selling 25"):
        await stack.actions.replace(sell.id, quantity=Decimal(35))
    stack.sim.release_partial_fills()


async def test_replace_refuses_what_the_ticket_refuses_off_the_grid_or_fractional_before_the_broker(stack):
    """The ticket's rules are the replace's (services.core.replace_rules): a limit off the
    listing's tick grid (IB: error 110, which would have made the replace cancel the working
    order and send a new one IB refuses too) and a fractional quantity are refused before
    anything reaches the broker; the working order stays as it is."""
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    with pytest.raises(BadInput, match=r"limit price 405.125 is not on the 0.01 tick grid \(nearest: 405.12 or 405.13\)"):
        await stack.actions.replace(record.id, limit_price=Decimal("405.125"))
    with pytest.raises(BadInput, match=r"^order 1: quantity: must be a whole number: '6\.5'$"):
        await stack.actions.replace(record.id, quantity=Decimal("6.5"))
    order = _order(stack.db, record.id)
    assert (order.status, order.quantity, order.limit_price) == (OrderState.ACCEPTED, Decimal(5), Decimal("405.00"))
    [sim_order] = stack.sim.open_orders()
    assert (sim_order.quantity, sim_order.limit_price) == (Decimal(5), Decimal("405.00"))


async def test_replace_market_order_cancels_then_sends_a_linked_order(stack, ib_log_guard):
    stack.sim.faults.add_rule(order_ref=r"^SLOWMKT-1$", ack_delay=30)
    record = await stack.actions.manual_order("AMZN", Side.BUY, Decimal(4), client_order_id="SLOWMKT-1")
    assert record.status is OrderState.SUBMITTED
    result = await stack.actions.replace(record.id, quantity=Decimal(6))
    assert result.method == "cancel_and_new"
    await _settle(stack, record.id, {OrderState.CANCELED})
    await _settle(stack, result.new_order_id, {OrderState.FILLED})
    new = _order(stack.db, result.new_order_id)
    assert (new.replaces_order_id, new.quantity, new.client_order_id, new.symbol) == (record.id, Decimal(6), "SLOWMKT-1-R1", "AMZN")
    assert stack.sim.positions() == {"AMZN": Decimal(6)}


async def test_cancel_all_working_orders(stack):
    ids = []
    for symbol, limit in (("MSFT", "405"), ("AAPL", "222"), ("META", "555")):
        rec = await stack.actions.manual_order(symbol, Side.BUY, Decimal(1), OrderType.LMT, Decimal(limit))
        ids.append(rec.id)
    for i in ids:
        await _settle(stack, i, {OrderState.ACCEPTED})
    canceled = await stack.actions.cancel_all()
    assert sorted(canceled) == sorted(ids)
    for i in ids:
        await _settle(stack, i, {OrderState.CANCELED})
    assert stack.sim.open_orders() == []


async def test_cancel_all_one_by_one(stack):
    ids = [(await stack.actions.manual_order(s, Side.BUY, Decimal(1), OrderType.LMT, Decimal(p))).id for s, p in (("MSFT", "405"), ("AAPL", "222"))]
    for i in ids:
        await _settle(stack, i, {OrderState.ACCEPTED})
    assert sorted(await stack.actions.cancel_all(one_by_one=True)) == sorted(ids)
    for i in ids:
        await _settle(stack, i, {OrderState.CANCELED})


async def test_halt_blocks_execute_and_modifications_and_survives_restart(database, simulator):
    first = await build_stack(database, simulator)
    try:
        working = await first.actions.manual_order("MSFT", Side.BUY, Decimal(2), OrderType.LMT, Decimal("405.00"))
        await _settle(first, working.id, {OrderState.ACCEPTED})
        assert (await first.actions.halt()).state is TradingState.HALTED
    finally:
        await first.close()
    # a new process: the state comes from the database
    second = await build_stack(database, simulator, client_id=2)
    try:
        with database.session() as session:
            assert SettingsRepository(session).trading_state() is TradingState.HALTED
        _, snapshot_id = make_snapshot(database, "halted", {"AAPL": "0.01"})
        run = await second.service.create_run("halted", snapshot_id, TradeMode.PAPER, {})
        orders_before = len(simulator.orders())
        with pytest.raises(TradingHalted) as info:
            await second.service.execute(run.id, portfolio_value=Decimal(100000))
        assert info.value.exit_code == 3
        # what to do, for a run and a ticket alike ("resume before executing" was said of one order too)
        assert str(info.value) == ("trading is HALTED: nothing is sent until trading is resumed (the blotter's Resume, "
                                   "`trading-console resume`)")
        with pytest.raises(TradingHalted):
            await second.actions.manual_order("AAPL", Side.BUY, Decimal(1))
        with pytest.raises(TradingHalted):
            await second.actions.replace(working.id, quantity=Decimal(3))
        assert len(simulator.orders()) == orders_before
        assert await second.actions.resume() is TradingState.ACTIVE
        result = await second.service.execute(run.id, portfolio_value=Decimal(100000))
        assert len(result.sent) == 1
    finally:
        await second.close()


async def test_halt_with_cancel_all(stack):
    rec = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(2), OrderType.LMT, Decimal("405.00"))
    await _settle(stack, rec.id, {OrderState.ACCEPTED})
    halted = await stack.actions.halt(cancel_all=True)
    assert halted.state is TradingState.HALTED and halted.canceled is not None and halted.canceled.not_canceled == ()
    await _settle(stack, rec.id, {OrderState.CANCELED})


async def test_replace_limit_order_without_confirmation_falls_back_to_cancel_and_new(stack):
    # inside the simulator's acknowledgement delay a modification gets no answer
    stack.sim.faults.add_rule(order_ref=r"^SLOWLMT-1$", ack_delay=30)
    stack.actions.confirm_timeout = 0.5
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(4), OrderType.LMT, Decimal("405"), client_order_id="SLOWLMT-1")
    result = await stack.actions.replace(record.id, quantity=Decimal(6))
    assert result.method == "cancel_and_new"
    await _settle(stack, record.id, {OrderState.CANCELED})
    await _settle(stack, result.new_order_id, {OrderState.ACCEPTED})
    new = _order(stack.db, result.new_order_id)
    assert (new.client_order_id, new.replaces_order_id, new.quantity, new.limit_price, new.order_type) == (
        "SLOWLMT-1-R1", record.id, Decimal(6), Decimal("405"), "LMT")
    assert [(o.order_ref, o.status) for o in stack.sim.orders()] == [("SLOWLMT-1", "Cancelled"), ("SLOWLMT-1-R1", "Submitted")]
    events = [(e.event_type, e.to_state) for e in _events(stack.db, record.id)]
    assert ("replace_rejected", OrderState.SUBMITTED) in events
    # the new order's audit entry writes its numbers as the replace's own entry does ("6", not
    # the "6.000000" of 6 less the stored filled 0, nor the kept limit's "405.00000000")
    from services.audit import AuditLog

    [sent] = AuditLog(stack.db).list(action="order.replace_new", entity_id=result.new_order_id)
    [replaced] = AuditLog(stack.db).list(action="order.replace", entity_id=record.id)
    assert (sent.payload["quantity"], sent.payload["limit_price"]) == ("6", "405"), sent.payload
    assert (replaced.payload["quantity"], replaced.payload["limit_price"]) == ("6", "405"), replaced.payload
