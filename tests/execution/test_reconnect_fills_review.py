"""Adversarial review: orders the broker filled while the console was disconnected, their
executions arriving with the reconciliation on reconnect without their commission reports (held
on the line), the reports coming later or never; SQLite and MariaDB. The orders end FILLED, the
fills are stored once, and each commission is filled in once it is known (later on the line, or
by the next reconciliation), never counted twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.db.repositories import PositionRepository
from services.domain import OrderState, OrderType, Side
from services.execution.events import ConnectionState
from services.ibsim.messages import COMMISSION_REPORT
from tests.fixtures.proxy import TwsHoldProxy
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_actions import _order, _settle
from .test_pitfalls import assert_db_matches_ledger, db_fills

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("reports", ["late", "lost"])
async def test_fills_of_a_disconnect_without_their_commissions_are_stored_once_and_completed(database, simulator, ib_log_guard,
                                                                                            reports):
    ib_log_guard.allow(r"Peer closed connection")
    proxy = TwsHoldProxy("127.0.0.1", simulator.port, hold={COMMISSION_REPORT})
    proxy.holding = False
    await proxy.start()
    stack = await build_stack(database, simulator, port=proxy.port)
    try:
        ids = [(await stack.actions.manual_order(symbol, Side.BUY, Decimal(5), OrderType.LMT, Decimal(limit), project="gap")).id
               for symbol, limit in (("AAPL", "225"), ("MSFT", "410"))]
        for order_id in ids:
            await _settle(stack, order_id, {OrderState.ACCEPTED})
        reconciled = asyncio.Event()
        stack.provider.add_resync_hook(lambda state: _set(reconciled))
        proxy.holding = True  # from now on the commission reports stay on the line
        simulator.drop_connections()
        await wait_until(lambda: stack.provider.state is ConnectionState.DISCONNECTED, 5, "the provider to see the drop")
        simulator.set_price("AAPL", "224")  # both fill while the console is away
        simulator.set_price("MSFT", "409")
        await asyncio.wait_for(reconciled.wait(), 15)
        await stack.writer.flush()

        assert [_order(stack.db, i).status for i in ids] == [OrderState.FILLED, OrderState.FILLED]
        assert_db_matches_ledger(stack.db, simulator)
        assert [f.commission for f in db_fills(stack.db)] == [None, None]  # not known yet
        assert proxy.held
        if reports == "late":
            proxy.release()
        else:
            proxy.held.clear()  # lost on the line: the next reconciliation asks again
            proxy.holding = False
            await stack.reconciler.reconcile()

        async def commissions_known() -> bool:
            await stack.writer.flush()
            return all(f.commission is not None for f in db_fills(stack.db))

        await wait_until(commissions_known, 10, "the commissions to be filled in")
        expected = {e.exec_id: e.commission for e in simulator.executions()}
        assert {f.exec_id: f.commission for f in db_fills(stack.db)} == expected
        assert_db_matches_ledger(stack.db, simulator)
        with stack.db.session() as session:
            held = {p.symbol: (p.quantity, p.average_cost) for p in PositionRepository(session).list(project_id=0)}
        # IB's average cost carries the commission (docs/ib-average-cost.md), booked once it is known
        at_broker = {s: (p.quantity, p.avg_cost) for s, p in simulator._account_book().positions.items()}
        assert held == at_broker and {s: q for s, (q, _c) in held.items()} == {"AAPL": Decimal(5), "MSFT": Decimal(5)}
    finally:
        await stack.close()
        await proxy.cut()


def _set(event):
    event.set()
    return asyncio.sleep(0)
