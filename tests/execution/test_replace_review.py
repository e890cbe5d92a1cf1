"""Adversarial review of replace (services.execution.replace_order.ReplaceOrder.replace) against the
simulator over a real socket, SQLite and MariaDB: what a refused replace leaves behind must not
reach the broker with a later one, and a replace of a partly filled order never buys more than
the trader asked for in total."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderState, OrderType, Side, TradingState
from services.execution.errors import TradingHalted

from .test_actions import _order, _settle

pytestmark = pytest.mark.timeout(60)


async def test_a_replace_refused_after_its_modify_leaves_nothing_for_the_next_replace_to_send(stack, ib_log_guard):
    """The trader raises a working LMT order from 5 to 7; IB refuses the change in place (105)
    and trading was halted meanwhile, so the replace stops with the order 'still working
    unchanged' (5 at IB). After resume the trader changes only its limit: IB must get 5 shares at
    the new limit. The refused 7 stayed on ib_async's Order object and went out with it (7 at IB,
    2 more bought than the trader ever confirmed)."""
    ib_log_guard.allow(r"^Error 105, ")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    accept_modify = stack.sim._modify

    def refuse_while_the_trader_halts(session, order, req) -> None:
        stack.actions._set_state(TradingState.HALTED, {"cancel_all": False})  # Halt pressed as IB answers
        session.error(order.order_id, 105, "Order being modified does not match original order")

    stack.sim._modify = refuse_while_the_trader_halts
    with pytest.raises(TradingHalted, match="still working unchanged"):
        await stack.actions.replace(record.id, quantity=Decimal(7))
    assert [(o.quantity, o.limit_price) for o in stack.sim.open_orders()] == [(Decimal(5), Decimal("405.00"))]

    asked: list[tuple[Decimal, Decimal]] = []

    def accept_and_note(session, order, req) -> None:
        asked.append((req.quantity, req.limit_price))
        accept_modify(session, order, req)

    stack.sim._modify = accept_and_note
    await stack.actions.resume()
    result = await stack.actions.replace(record.id, limit_price=Decimal("406.00"))

    assert asked == [(Decimal(5), Decimal("406.00"))]  # was [(7, 406)]: the refused quantity went with it
    assert result.method == "modify"
    assert [(o.quantity, o.limit_price) for o in stack.sim.open_orders()] == [(Decimal(5), Decimal("406.00"))]
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    stored = _order(stack.db, record.id)
    assert (stored.quantity, stored.limit_price) == (Decimal(5), Decimal("406.00"))


async def _partly_filled_replace_racing_a_fill(database, make_simulator, ib_log_guard, total: Decimal):
    """BUY 30 AAPL LMT, 10 filled; replaced to ``total`` in all; IB refuses the change in place
    (105), so the order is canceled and sent anew; while the cancel is pending (PendingCancel)
    another 10 fill. Returns (stack, order, result) with the original CANCELED, 20 filled."""
    from .conftest import build_stack

    ib_log_guard.allow(r"^Error (105|202), ")
    sim = await make_simulator()
    stack = await build_stack(database, sim)
    sim.faults.add_rule(symbols={"AAPL"}, fill_mode="partial")  # 10 at a time
    sim.faults.cancel_delay = 0.5  # PendingCancel first, Cancelled 0.5 s later
    sim.hold_partial_fills()
    _bid, ask = sim.quote("AAPL")
    order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(30), OrderType.LMT, ask + Decimal(1), project="P")
    await _settle(stack, order.id, {OrderState.PARTIALLY_FILLED})
    assert _order(stack.db, order.id).filled_quantity == Decimal(10)
    sim._modify = lambda session, o, req: session.error(o.order_id, 105, "Order being modified does not match original order")
    cancel, fill = sim._cancel, sim._fill

    def cancel_as_fills_go_on(o) -> None:
        cancel(o)
        sim.release_partial_fills()  # one more part fills while the cancel is pending

    def fill_then_hold(o, *args) -> None:
        fill(o, *args)
        if o.order_ref == order.client_order_id and o.filled == 20:
            sim.hold_partial_fills()

    sim._cancel, sim._fill = cancel_as_fills_go_on, fill_then_hold
    result = await stack.actions.replace(order.id, quantity=total)
    await _settle(stack, order.id, {OrderState.CANCELED})
    assert _order(stack.db, order.id).filled_quantity == Decimal(20)
    sim.release_partial_fills()
    return stack, order, result


async def test_a_replace_of_a_partly_filled_order_racing_a_fill_buys_the_new_total_and_no_more(database, make_simulator, ib_log_guard):
    """25 asked in all, 20 filled once the cancel is confirmed: the new order is for 5, the
    account holds 25; the fill that raced the cancel is not bought twice."""
    stack, order, result = await _partly_filled_replace_racing_a_fill(database, make_simulator, ib_log_guard, Decimal(25))
    try:
        assert result.method == "cancel_and_new"
        await _settle(stack, result.new_order_id, {OrderState.FILLED})
        new = _order(stack.db, result.new_order_id)
        assert (new.quantity, new.filled_quantity, new.replaces_order_id) == (Decimal(5), Decimal(5), order.id)
        assert stack.sim.positions() == {"AAPL": Decimal(25)}
    finally:
        await stack.close()


async def test_a_replace_overtaken_by_fills_sends_nothing_and_says_so_in_the_audit_log(database, make_simulator, ib_log_guard):
    """15 asked in all, 20 filled by the time the cancel is confirmed: nothing is sent (more than
    asked was bought, nothing can undo it), and the audit log says what became of the replace:
    it said nothing of it."""
    from services.audit import AuditLog

    stack, order, result = await _partly_filled_replace_racing_a_fill(database, make_simulator, ib_log_guard, Decimal(15))
    try:
        assert (result.method, result.new_order_id) == ("nothing", None)
        assert [o.order_ref for o in stack.sim.orders()] == [order.client_order_id]
        assert stack.sim.positions() == {"AAPL": Decimal(20)}
        [entry] = AuditLog(stack.db).list(action="order.replace", entity_type="trade_order", entity_id=order.id)
        assert entry.payload["method"] == "nothing" and entry.payload["quantity"] == "15"
        assert entry.payload["reason"] == "20 filled before the cancel, of the 15 asked in all: nothing left to send"
    finally:
        await stack.close()


async def test_a_replace_of_an_order_that_filled_meanwhile_says_so_at_once_and_sends_nothing(stack, ib_log_guard):
    """The order fills as the trader's change reaches IB: IB refuses the change (104, can't modify
    a filled order), then the cancel of the cancel-and-new (161 / 10148: not cancelable). The
    replace says the order filled and sends nothing; it waited out its whole confirm_timeout for
    a Cancelled that never comes and failed 'cancel not confirmed' of a filled order."""
    import asyncio

    ib_log_guard.allow(r"^Error (104|161), ")
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    modify = stack.sim._modify

    def filled_first(session, order, req) -> None:
        stack.sim.set_price("MSFT", "400")  # crosses: filled before the change is looked at
        modify(session, order, req)

    stack.sim._modify = filled_first
    stack.actions.confirm_timeout = 30

    result = await asyncio.wait_for(stack.actions.replace(record.id, limit_price=Decimal("404.00")), 10)

    assert (result.method, result.new_order_id) == ("nothing", None)
    assert "filled" in result.message
    await _settle(stack, record.id, {OrderState.FILLED})
    assert [o.order_ref for o in stack.sim.orders()] == [record.client_order_id]
    assert stack.sim.positions() == {"MSFT": Decimal(5)}


async def test_a_replace_whose_cancel_a_cancel_all_overtook_sends_no_new_order(stack, ib_log_guard):
    """The trader replaces a working order (IB refuses the change in place: cancel, then a new
    order) and presses Cancel All while the cancel is pending. Once the cancel is confirmed the
    replacement must not go out: it would be working at the broker after Cancel All returned."""
    import asyncio

    from services.execution.errors import SendingStopped
    from tests.fixtures.waiting import wait_until

    ib_log_guard.allow(r"^Error (105|202), ")
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    stack.sim._modify = lambda session, o, req: session.error(o.order_id, 105, "Order being modified does not match original order")
    stack.sim.faults.cancel_delay = 3600  # Cancelled only when the test says so
    stack.actions.confirm_timeout = 30

    replace = asyncio.create_task(stack.actions.replace(record.id, limit_price=Decimal("406.00")))
    await wait_until(lambda: [o.status for o in stack.sim.orders()] == ["PendingCancel"], 10, "the replace's cancel to be pending")
    canceled_all = await stack.actions.cancel_all()
    assert canceled_all == [record.id]
    [pending] = stack.sim.orders()
    stack.sim._cancelled(pending)  # the broker confirms the cancel

    with pytest.raises(SendingStopped, match="Cancel All"):
        await asyncio.wait_for(replace, 10)
    assert [(o.order_ref, o.status) for o in stack.sim.orders()] == [(record.client_order_id, "Cancelled")]
    await _settle(stack, record.id, {OrderState.CANCELED})


async def test_a_change_the_broker_rejects_leaves_the_order_working_and_modifiable(stack, ib_log_guard):
    """IB rejects the new form of the order (201: a margin check, a size or price limit), not the
    way of changing it: a new order of that form would be rejected alike. The replace stops
    there, the original working as it was (it was canceled and sent anew, the trader left with
    nothing once IB rejected the new order too), and a later change goes in place (ib_async had
    taken the 201 for the end of the order and refused every later modify as 'already
    Cancelled')."""
    from services.execution.errors import BrokerError

    ib_log_guard.allow(r"^Error 201, ")
    ib_log_guard.allow(r"Canceled order")  # ib_async's word for its local mark, undone
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    accept_modify = stack.sim._modify
    margin = "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY ..."
    stack.sim._modify = lambda session, o, req: session.error(o.order_id, 201, margin)

    with pytest.raises(BrokerError, match="still working unchanged") as refused:
        await stack.actions.replace(record.id, quantity=Decimal(50))

    assert "201" in str(refused.value)
    assert [(o.order_ref, o.status, o.quantity) for o in stack.sim.orders()] == [(record.client_order_id, "Submitted", Decimal(5))]
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    stored = _order(stack.db, record.id)
    assert (stored.quantity, stored.limit_price, stored.rejected_reason) == (Decimal(5), Decimal("405.00"), None)

    stack.sim._modify = accept_modify
    result = await stack.actions.replace(record.id, limit_price=Decimal("406.00"))
    assert result.method == "modify"
    assert [(o.quantity, o.limit_price) for o in stack.sim.open_orders()] == [(Decimal(5), Decimal("406.00"))]


async def test_two_replaces_of_one_order_at_once_send_one_new_order(stack, ib_log_guard):
    """Two sessions (two windows, a window and a command) replace the same working order at the
    same moment; IB refuses both changes in place, so each cancels and sends anew. One new order
    goes out: the other is refused, never a second order for the same remainder."""
    import asyncio

    ib_log_guard.allow(r"^Error (105|161|202), ")
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    stack.sim._modify = lambda session, o, req: session.error(o.order_id, 105, "Order being modified does not match original order")
    stack.sim.faults.cancel_delay = 0.3

    outcomes = await asyncio.gather(stack.actions.replace(record.id, quantity=Decimal(6)),
                                    stack.actions.replace(record.id, quantity=Decimal(7)), return_exceptions=True)

    from services.execution.errors import BrokerError

    new_orders = [o for o in stack.sim.orders() if o.order_ref != record.client_order_id]
    assert [o.order_ref for o in new_orders] == [f"{record.client_order_id}-R1"], outcomes
    [refused] = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    # said as a replace refused (it was the database's 'order ... already exists', or a second order)
    assert isinstance(refused, BrokerError) and "another session replaced it at the same moment" in str(refused), outcomes


@pytest.mark.parametrize("one_by_one", [True, False])
async def test_a_cancel_all_while_a_replacement_waits_its_turn_at_the_limiter_stops_it(stack, ib_log_guard, one_by_one):
    """The replace's new order is stored and handed to the provider, where it waits its turn at
    the pacing limiter (IB's 50 messages a second: seconds behind a run's orders); the trader
    presses Cancel All meanwhile. The new order must not go out after Cancel All returned: it
    went, working at the broker, and one by one the database even said it CANCELED (canceled as
    unsent while it waited)."""
    import asyncio

    from services.execution.errors import SendingStopped

    ib_log_guard.allow(r"^Error (105|202), ")
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    stack.sim._modify = lambda session, o, req: session.error(o.order_id, 105, "Order being modified does not match original order")
    place = stack.provider.place_order
    waiting, turn = asyncio.Event(), asyncio.Event()

    async def at_the_limiter(request, check=None):
        waiting.set()
        await turn.wait()  # its turn comes after the Cancel All
        return await place(request, check=check)

    stack.provider.place_order = at_the_limiter
    replace = asyncio.create_task(stack.actions.replace(record.id, quantity=Decimal(6)))
    await asyncio.wait_for(waiting.wait(), 10)
    await stack.actions.cancel_all(one_by_one=one_by_one)
    turn.set()

    with pytest.raises(SendingStopped, match="Cancel All"):
        await asyncio.wait_for(replace, 10)
    assert [(o.order_ref, o.status) for o in stack.sim.orders()] == [(record.client_order_id, "Cancelled")]
    await stack.writer.flush()
    with stack.db.session() as session:
        from services.db.repositories import OrderRepository

        new = OrderRepository(session).get_by_client_id(f"{record.client_order_id}-R1")
        assert (new.status, new.ib_order_id) == (OrderState.CANCELED, None)


async def test_a_cancel_all_of_another_process_while_a_replacement_waits_its_turn_stops_it(stack, ib_log_guard):
    """As above, the Cancel All pressed in another process (another window, `cancel-all`): the
    replacement waiting at this process's pacing limiter is stopped as a run's sender is, by the
    marker it looks at while it waits; it went out after that Cancel All returned."""
    import asyncio

    from services.execution.errors import SendingStopped
    from tests.fixtures.waiting import wait_until

    from .conftest import build_stack

    ib_log_guard.allow(r"^Error (105|202), ")
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    stack.sim._modify = lambda session, o, req: session.error(o.order_id, 105, "Order being modified does not match original order")
    place = stack.provider.place_order
    waiting, turn = asyncio.Event(), asyncio.Event()

    def stops(check) -> bool:
        try:
            check()
        except SendingStopped:
            return True
        return False

    async def at_the_limiter(request, check=None):
        waiting.set()
        await turn.wait()
        # its turn: the write step's check, once the watcher has had its look at the marker
        await wait_until(lambda: stops(check), 5, "the replacement to see the other process's Cancel All")
        return await place(request, check=check)

    stack.provider.place_order = at_the_limiter
    other = await build_stack(stack.db, stack.sim, client_id=2)
    try:
        replace = asyncio.create_task(stack.actions.replace(record.id, quantity=Decimal(6)))
        await asyncio.wait_for(waiting.wait(), 10)
        await other.actions.cancel_all()
        turn.set()
        with pytest.raises(SendingStopped, match="Cancel All"):
            await asyncio.wait_for(replace, 15)
    finally:
        await other.close()
    assert [(o.order_ref, o.status) for o in stack.sim.orders()] == [(record.client_order_id, "Cancelled")]
