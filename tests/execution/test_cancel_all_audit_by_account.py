"""The audit entry of a Cancel All (``order.cancel_all``) names, by account, every order it
canceled or asked the broker to cancel. It listed under ``orders`` the connected account's alone:
what a global cancel did to the login's other accounts (their orders at the broker, their unsent
ones canceled here) was only in the words of ``other_accounts``, not in the tamper-evident record
as order ids. ``accounts`` now holds them, per account it acted on; ``orders`` stays as it was."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.audit_actions import AuditAction
from services.db.models import TradeOrder
from services.domain import OrderState
from tests.fixtures.waiting import wait_until

from .stop_helpers import audits
from .test_cancel_all_other_accounts import (
    OTHER,
    _orders_of_two_accounts,
    _resting_order_of,
    _statuses,
    _two_accounts,
)

pytestmark = pytest.mark.timeout(60)


def _ids(db, coids) -> list[int]:
    with db.session() as session:
        return sorted(session.scalars(select(TradeOrder.id).where(TradeOrder.client_order_id.in_(coids))))


@pytest.mark.parametrize("one_by_one", [False, True], ids=["global", "one-by-one"])
async def test_the_audit_entry_of_a_cancel_all_names_by_account_every_order_it_canceled(
        database, make_simulator, one_by_one):
    mine, theirs = await _two_accounts(database, make_simulator)
    try:
        connected = mine.provider.account
        working = await _resting_order_of(theirs)  # the other account's, at the broker
        own, others = _orders_of_two_accounts(database, connected)  # unsent: one here, two of the other account
        canceled = await mine.actions.cancel_all(one_by_one=one_by_one, wait=True)
        await mine.writer.flush()
        if not one_by_one:
            await wait_until(lambda: _statuses(database, [working]) == [OrderState.CANCELED], 10,
                             lambda: f"the other account's order: {_statuses(database, [working])}")
    finally:
        await mine.close()
        await theirs.close()
    [entry] = audits(database, AuditAction.ORDER_CANCEL_ALL)
    assert entry["orders"] == list(canceled) == _ids(database, own)  # as before: the connected account's
    by_account = {account: sorted(ids) for account, ids in entry["accounts"].items()}
    if one_by_one:
        assert by_account == {connected: _ids(database, own)}  # the other account's orders left, as said
    else:
        assert by_account == {connected: _ids(database, own), OTHER: _ids(database, [working, *others])}
        assert _statuses(database, others) == [OrderState.CANCELED] * 2  # what it names, it canceled
