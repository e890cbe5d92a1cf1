"""A replace's verdict before it is asked (``OrderActions.check_replace``): the Replace dialog
shows it as the trader types and enables Replace only when it passes. It is the replace's own
gates, so the two agree: a replace the risk rules block is blocked by the check in the words the
replace refuses it in, one that passes passes both; and the check sends, stores and audits
nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.audit import AuditLog
from services.db.repositories import OrderRepository, SettingsRepository
from services.domain import OrderState, OrderType, Side
from services.execution.errors import BadInput, RiskBlocked

from .test_actions import _events, _settle

pytestmark = pytest.mark.timeout(60)


def _risk_limits(db, **limits) -> None:
    with db.unit_of_work() as session:
        settings = SettingsRepository(session)
        settings.set_risk_defaults({**settings.risk_defaults(), **limits})


def _actions_of(db, order_id) -> list[str]:
    return [e.action for e in AuditLog(db).list(entity_type="trade_order", entity_id=order_id)]


async def test_the_check_of_a_replace_agrees_with_the_replace_and_sends_nothing(stack):
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    with stack.db.session() as session:
        stored = SettingsRepository(session).risk_defaults()
    _risk_limits(stack.db, max_position_ratio=Decimal("0.0001"))  # any MSFT position is too big a part now
    events, audited = len(_events(stack.db, record.id)), _actions_of(stack.db, record.id)

    blocked = await stack.actions.check_replace(record.id, quantity=Decimal(7))
    assert not blocked.may_replace
    assert [r.rsplit(" (", 1)[1] for r in blocked.reasons()] == ["max_position_ratio)"], blocked.reasons()
    assert (blocked.quantity, blocked.limit_price) == (Decimal(7), Decimal("405.00"))  # the order as it would stand
    # nothing went, nothing was written: the order, its events, its audit trail as they were
    assert (len(_events(stack.db, record.id)), _actions_of(stack.db, record.id)) == (events, audited)
    [sim_order] = stack.sim.open_orders()
    assert sim_order.quantity == Decimal(5)

    with pytest.raises(RiskBlocked) as refused:
        await stack.actions.replace(record.id, quantity=Decimal(7))
    assert str(refused.value) == blocked.refusal()  # the same verdict, in the same words
    assert _actions_of(stack.db, record.id)[-1] == "order.replace_refused"

    # a refusal that is not risk's is raised as the replace raises it
    with pytest.raises(BadInput, match=r"405.125 is not on the 0.01 tick grid"):
        await stack.actions.check_replace(record.id, limit_price=Decimal("405.125"))

    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults(stored)  # the limits as they were: it passes
    passing = await stack.actions.check_replace(record.id, quantity=Decimal(7), limit_price=Decimal("406.50"))
    assert passing.may_replace and passing.reasons() == [], passing.reasons()
    result = await stack.actions.replace(record.id, quantity=Decimal(7), limit_price=Decimal("406.50"))
    assert result.method == "modify"
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    with stack.db.session() as session:
        order = OrderRepository(session).get(record.id)
        assert (order.quantity, order.limit_price) == (Decimal(7), Decimal("406.50"))
