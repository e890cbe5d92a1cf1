"""Book-keeping of fills (positions, average cost, realized P&L, cash) as a property: whatever
the sequence of fills and execution corrections, a flat book has turned exactly its realized
P&L into cash."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ibsim import IBGatewaySimulator, SimConfig
from services.ibsim.config import OrderFaults
from services.ibsim.model import SimOrder

fills = st.lists(
    st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 500), st.integers(5000, 20000), st.booleans()),
    min_size=1, max_size=12,
)


def fill(sim: IBGatewaySimulator, order_id: int, action: str, quantity: int, cents: int, corrected: bool = False) -> None:
    order = SimOrder(order_id=order_id, client_id=1, perm_id=order_id, account=sim.config.account, symbol="AAPL",
                     con_id=265598, action=action, quantity=Decimal(quantity), order_type="MKT", limit_price=None, tif="DAY")
    sim._orders[order.perm_id] = order
    sim._fill(order, Decimal(quantity), Decimal(cents) / 100, OrderFaults(exec_correction=corrected))


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
@settings(max_examples=150, deadline=None)
@given(fills)
def test_flat_book_turns_realized_pnl_into_cash(sequence):
    sim = IBGatewaySimulator(SimConfig())
    for i, (action, quantity, cents, corrected) in enumerate(sequence, start=1):
        fill(sim, i, action, quantity, cents, corrected)  # a correction moves the price by 0.01
    held = sum((Decimal(q) if a == "BUY" else -Decimal(q)) for a, q, _, _ in sequence)
    assert sim.position("AAPL").quantity == held
    if held:  # close it at 100.00 (the mid is irrelevant to the fill price here)
        fill(sim, len(sequence) + 1, "SELL" if held > 0 else "BUY", abs(int(held)), 10000)
    position = sim.position("AAPL")
    realized = sum((e.realized_pnl or Decimal(0)) for e in sim.executions())
    assert position.quantity == 0 and position.avg_cost == 0
    assert abs((sim.cash - sim.config.initial_cash) - realized) < Decimal("1e-12")
    assert abs(position.realized_pnl - realized) < Decimal("1e-12")
    corrections = sum(1 for *_, corrected in sequence if corrected)
    assert len(sim.ledger()) == len(sim.executions()) + corrections


def test_reversal_through_zero_opens_at_the_fill_price():
    sim = IBGatewaySimulator(SimConfig())
    fill(sim, 1, "BUY", 100, 10000)  # 100 @ 100.00, commission 1.00 -> avg cost 100.01
    fill(sim, 2, "SELL", 300, 11000)  # closes 100, opens -200 @ 110.00; commission 1.50
    position = sim.position("AAPL")
    assert position.quantity == -200
    # closing part: (110 - 100.01) * 100 - 1.50 * 100/300
    assert position.realized_pnl == Decimal("999") - Decimal("0.5")
    assert position.avg_cost == Decimal("110") - Decimal("1.00") / 200  # a short's commission comes off the proceeds
    assert [e.realized_pnl for e in sim.executions()] == [None, Decimal("998.5")]
