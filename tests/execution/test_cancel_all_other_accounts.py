"""Cancel All acts on the connected account: another account's orders in the same database (its
runs' unsent orders, its working ones) are not this session's to cancel. It skipped them in
silence, and the trader took 'cancel requested' for everything; it now says, per account, what it
left."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from services.db.models import TradeOrder
from services.domain import OrderState

from .cli_helpers import cli_args, run
from .conftest import build_stack
from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(60)

OTHER = "DU7654321"


def _statuses(db, coids) -> list[OrderState]:
    with db.session() as session:
        found = dict(session.execute(select(TradeOrder.client_order_id, TradeOrder.status)
                                     .where(TradeOrder.client_order_id.in_(coids))).all())
    return [OrderState(found[c]) for c in coids]


def _orders_of_two_accounts(db, connected: str) -> tuple[list[str], list[str]]:
    """Unsent (NEW) orders: one of the connected account, two of another."""
    _, coids = _run_with_orders(db, 3)
    with db.unit_of_work() as session:
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == coids[0]).values(account=connected))
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id.in_(coids[1:])).values(account=OTHER))
    return coids[:1], coids[1:]


LEFT = (f"account {OTHER}: 2 open orders left as they are (2 not sent yet); Cancel All acts on the connected "
        f"account {{connected}} only: connect to {OTHER} to cancel them")


@pytest.mark.parametrize("one_by_one", [False, True])
async def test_cancel_all_names_the_orders_of_other_accounts_it_left(database, make_simulator, one_by_one):
    sim = await make_simulator(state_file=None, ledger_file=None)
    stack = await build_stack(database, sim)
    try:
        connected = stack.provider.account
        assert connected and connected != OTHER
        mine, theirs = _orders_of_two_accounts(database, connected)
        canceled = await stack.actions.cancel_all(one_by_one=one_by_one)
        await stack.writer.flush()
        assert len(canceled) == 1 and canceled.not_canceled == ()
        assert canceled.other_accounts == (LEFT.format(connected=connected),)
        assert _statuses(database, mine) == [OrderState.CANCELED]
        assert _statuses(database, theirs) == [OrderState.NEW, OrderState.NEW]  # left, and said
    finally:
        await stack.close()


@pytest.mark.slow  # a `python -m app` subprocess that connects and reconciles
async def test_cancel_all_command_says_the_orders_of_other_accounts_it_left(database, db_url, make_simulator):
    sim = await make_simulator(state_file=None, ledger_file=None)
    connected = sim.config.accounts[0]
    _orders_of_two_accounts(database, connected)
    done = await run(cli_args(db_url, sim.port, "cancel-all", "--json"))
    assert done.code == 0, done.err  # the connected account's Cancel All did what it could
    said = LEFT.format(connected=connected)
    assert json.loads(done.out)["other_accounts"] == [said]
    assert f"cancel-all: orders of other accounts: {said}" in done.err


async def test_a_cancel_all_closes_later_only_its_own_accounts_escaped_orders(database, make_simulator):
    """The Cancel All's rule for an unsent order that escaped it (``close_stopped``, run by the
    run's next execute or a recovery pass) keeps to the account it acted on: another account's
    unsent orders were left to that account's run, as the Cancel All said, and are not closed
    behind the trader's back at that run's next execute; the connected account's escaped order is."""
    from services.execution.halt_unsent import CANCEL_ALL_STOP, close_stopped, last_cancel_all_account

    sim = await make_simulator(state_file=None, ledger_file=None)
    stack = await build_stack(database, sim)
    try:
        connected = stack.provider.account
        mine, theirs = _orders_of_two_accounts(database, connected)
        await stack.actions.cancel_all()
        await stack.writer.flush()
    finally:
        await stack.close()
    with database.unit_of_work() as session:
        assert last_cancel_all_account(session) == connected
        # the connected account's order given back NEW after the Cancel All (a dead sender's claim)
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == mine[0]).values(status=OrderState.NEW))
    with database.unit_of_work() as session:
        closed = close_stopped(session)
    assert closed == {CANCEL_ALL_STOP: mine}
    assert _statuses(database, mine + theirs) == [OrderState.CANCELED, OrderState.NEW, OrderState.NEW]


def test_a_cancel_all_of_an_unknown_account_stops_every_accounts_orders():
    """A Cancel All recorded before its account was (or with none connected) counts for every
    account: the safe side."""
    from datetime import UTC, datetime

    from services.execution.halt_unsent import CANCEL_ALL_STOP, HALT, stopped_by

    before, mark = datetime(2026, 12, 1, 15, tzinfo=UTC), datetime(2026, 12, 1, 16, tzinfo=UTC)
    assert stopped_by(before, None, mark, account=OTHER, canceled_all_account=None) is CANCEL_ALL_STOP
    assert stopped_by(before, None, mark, account=OTHER, canceled_all_account="DU1") is None
    assert stopped_by(before, None, mark, account="DU1", canceled_all_account="DU1") is CANCEL_ALL_STOP
    assert stopped_by(before, mark, mark, account=OTHER, canceled_all_account="DU1") is HALT  # a halt stops every account
