"""An order another API client id placed (a command's ``--client-id 7``, another window) is one IB
lets only that client change or cancel one by one. The window's Replace dialog said "Risk:
passed." and enabled Replace, which then failed with "order ... is not open in this session"; a
row's Cancel and Cancel All one by one said to "reconcile, then cancel it", which cannot help.
Each now says who placed it and what reaches it, and the replace's check refuses it before
Replace is pressed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderState, OrderType, Side
from services.execution.errors import BadInput, BrokerError

from .conftest import build_stack
from .test_actions import _settle

pytestmark = pytest.mark.timeout(60)

PLACED_ELSEWHERE = (r"was placed by API client id 11, not this session's \(client id 1\): IB lets only the client "
                    r"that placed an order {} it one by one; do it from a session with client id 11 \(a command's "
                    r"--client-id 11\), or cancel everything at the broker \(IB's global cancel\)")


async def test_an_order_another_client_id_placed_is_said_so_by_replace_cancel_and_cancel_all(database, simulator):
    mine = await build_stack(database, simulator, client_id=1)
    other = await build_stack(database, simulator, client_id=11)
    try:
        record = await other.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
        await _settle(other, record.id, {OrderState.ACCEPTED})
        placed = f"order {record.id} \\({record.client_order_id}\\) "

        with pytest.raises(BadInput, match=placed + PLACED_ELSEWHERE.format("change")):
            await mine.actions.check_replace(record.id, quantity=Decimal(7))
        with pytest.raises(BadInput, match=placed + PLACED_ELSEWHERE.format("change")):
            await mine.actions.replace(record.id, limit_price=Decimal("404.00"))
        with pytest.raises(BrokerError, match=placed + PLACED_ELSEWHERE.format("cancel")) as refused:
            await mine.actions.cancel(record.id)
        # Cancel All's question names it before, in the row's Cancel's words (it named none), and
        # its outcome after, the same
        assert mine.actions.placed_by_other_clients() == [str(refused.value)]
        assert other.actions.placed_by_other_clients() == []  # its own client's to cancel
        result = await mine.actions.cancel_all(one_by_one=True)
        assert result.not_canceled == (str(refused.value),), result.not_canceled

        [working] = simulator.open_orders()  # untouched at the broker, as it was placed
        assert (working.order_ref, working.quantity, working.limit_price) == (record.client_order_id, Decimal(5),
                                                                              Decimal("405.00"))
        # its own client still changes it as before
        assert (await other.actions.check_replace(record.id, quantity=Decimal(7))).may_replace
    finally:
        await mine.close()
        await other.close()
