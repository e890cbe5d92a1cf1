"""Cancel All acts on the connected account: another account's orders in the same database (its
runs' unsent orders, its working ones) are not this session's to cancel. It skipped them in
silence, and the trader took 'cancel requested' for everything; it now says, per account, what it
left."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, update

from services.db.models import TradeOrder
from services.domain import OrderState
from tests.fixtures.waiting import wait_until

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
    said = LEFT.format(connected=connected)
    done = await run(cli_args(db_url, sim.port, "cancel-all"))
    assert done.code == 0, done.err
    # a global cancel, said as the window says it: not 'cancel requested for 1 working order'
    assert done.out.strip().endswith("Global cancel sent to the broker: every open order of the account, TWS's "
                                     "included (1 of this console's among them)"), done.out
    assert f"trading-console: Cancel All: orders of another account: {said}" in done.err  # it said "cancel-all: ..."
    done = await run(cli_args(db_url, sim.port, "cancel-all", "--json"))
    assert done.code == 0, done.err  # the connected account's Cancel All did what it could
    assert json.loads(done.out)["other_accounts"] == [said]
    assert f"trading-console: Cancel All: orders of another account: {said}" in done.err  # the window's words


async def test_a_cancel_all_closes_later_only_its_own_accounts_escaped_orders(database, make_simulator):
    """The Cancel All's rule for an unsent order that escaped it (``close_stopped``, run by the
    run's next execute or a recovery pass) keeps to the account it acted on: another account's
    unsent orders were left to that account's run, as the Cancel All said, and are not closed
    behind the trader's back at that run's next execute; the connected account's escaped order is."""
    from services.db.repositories import SettingsRepository
    from services.execution.halt_unsent import CANCEL_ALL_STOP, close_stopped

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
        assert list(SettingsRepository(session).cancel_all_marks()) == [connected]  # the account it acted on
        # the connected account's order given back NEW after the Cancel All (a dead sender's claim)
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == mine[0]).values(status=OrderState.NEW))
    with database.unit_of_work() as session:
        closed = close_stopped(session)
    assert closed == {CANCEL_ALL_STOP: mine}
    assert _statuses(database, mine + theirs) == [OrderState.CANCELED, OrderState.NEW, OrderState.NEW]


def test_a_cancel_alls_line_says_what_the_broker_confirmed_before_it_was_said():
    """The window says a Cancel All's line once its call returns; the broker may have confirmed
    some or all of its cancels by then (the activity log said them first): the line is not a
    bare request said after its answer."""
    from services.execution.cancel_all_outcome import CanceledOrders

    canceled = CanceledOrders([11, 12])
    assert canceled.headline() == "Cancel requested for this console's 2 working orders"
    assert canceled.headline(1) == "Cancel requested for this console's 2 working orders (1 canceled at the broker so far)"
    assert canceled.headline(2) == "Cancel All: this console's 2 working orders canceled at the broker"
    assert CanceledOrders([]).headline(0) == "Nothing to cancel: this console has no working orders"


def test_a_cancel_all_of_an_unknown_account_stops_every_accounts_orders():
    """A Cancel All recorded before its account was (or with none connected) counts for every
    account: the safe side."""
    from datetime import UTC, datetime

    from services.db.models import EVERY_ACCOUNT
    from services.db.repositories.settings import last_cancel_all_concerning
    from services.execution.halt_unsent import CANCEL_ALL_STOP, HALT, stopped_by

    before, mark = datetime(2026, 12, 1, 15, tzinfo=UTC), datetime(2026, 12, 1, 16, tzinfo=UTC)

    def stop(account, canceled_all_account, halted_at=None):
        marks = {canceled_all_account or EVERY_ACCOUNT: mark}
        return stopped_by(before, halted_at, last_cancel_all_concerning(marks, account))

    assert stop(OTHER, None) is CANCEL_ALL_STOP
    assert stop(OTHER, "DU1") is None
    assert stop("DU1", "DU1") is CANCEL_ALL_STOP
    assert stop(None, "DU1") is CANCEL_ALL_STOP  # an order of no known account: every Cancel All's
    assert stop(OTHER, "DU1", halted_at=mark) is HALT  # a halt stops every account


async def _two_accounts(database, make_simulator):
    """A stack on each of two accounts of one login (client ids 1 and 2), on one database."""
    sim = await make_simulator(accounts=("DU1234567", OTHER), state_file=None, ledger_file=None)
    mine = await build_stack(database, sim, client_id=1, account="DU1234567")
    try:
        theirs = await build_stack(database, sim, client_id=2, account=OTHER)
    except BaseException:
        await mine.close()
        raise
    return mine, theirs


async def test_a_cancel_all_is_not_forgotten_when_another_accounts_cancel_all_comes_after_it(database, make_simulator):
    """Only the last Cancel All's account was known: the connected account's Cancel All followed
    by another account's left the connected account's escaped unsent order open to its run's next
    execute and to recovery, as if it had never been canceled. Each account's last Cancel All
    counts for its orders (``cancel_all_marks``)."""
    from services.execution.halt_unsent import CANCEL_ALL_STOP, close_stopped

    mine, theirs = await _two_accounts(database, make_simulator)
    try:
        own, others = _orders_of_two_accounts(database, mine.provider.account)
        await mine.actions.cancel_all()
        # after it, one acting on the other account alone (a global one marks every account of the login)
        await theirs.actions.cancel_all(one_by_one=True)
        await mine.writer.flush()
        await theirs.writer.flush()
    finally:
        await mine.close()
        await theirs.close()
    assert _statuses(database, own + others) == [OrderState.CANCELED] * 3
    with database.unit_of_work() as session:
        # the connected account's order given back NEW after its Cancel All (a dead sender's claim)
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == own[0]).values(status=OrderState.NEW))
    with database.unit_of_work() as session:
        assert close_stopped(session) == {CANCEL_ALL_STOP: own}


@pytest.mark.parametrize("one_by_one", [False, True], ids=["global", "one-by-one"])
async def test_a_global_cancel_all_closes_later_the_escaped_orders_of_every_account_of_its_login(
        database, make_simulator, one_by_one):
    """IB's global cancel cancels the orders of every account of the login at the broker, and its
    marker was the connected account's alone: another account's unsent order that escaped the
    Cancel All (a dead sender's claim given back NEW) was sent by that account's run's next
    execute or recovery after the trader canceled everything. The global form sets the marker of
    every account of the login, one moment for all (``cancel_all_marks``), and the same rule
    (``close_stopped``) closes their escaped orders; one by one, only the connected account's."""
    from services.db.repositories import SettingsRepository
    from services.execution.halt_unsent import CANCEL_ALL_STOP, close_stopped

    mine, theirs = await _two_accounts(database, make_simulator)
    try:
        own, others = _orders_of_two_accounts(database, mine.provider.account)
        await mine.actions.cancel_all(one_by_one=one_by_one)
        await mine.writer.flush()
    finally:
        await mine.close()
        await theirs.close()
    with database.unit_of_work() as session:
        marks = SettingsRepository(session).cancel_all_marks()
        assert sorted(marks) == sorted([mine.provider.account] + ([] if one_by_one else [OTHER]))
        assert len(set(marks.values())) == 1  # one moment for all
        # every order given back NEW after the Cancel All (dead senders' claims)
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id.in_(own + others)).values(status=OrderState.NEW))
    with database.unit_of_work() as session:
        closed = close_stopped(session)
    assert {k: sorted(v) for k, v in closed.items()} == {CANCEL_ALL_STOP: sorted(own + ([] if one_by_one else others))}
    assert _statuses(database, others) == [OrderState.NEW if one_by_one else OrderState.CANCELED] * 2


async def test_recovery_does_not_send_what_its_accounts_cancel_all_stopped_after_another_accounts_cancel_all(
        database, make_simulator):
    """The same for a recovery pass: a run's orders a sender held through the connected account's
    Cancel All and gave back NEW are closed by recovery, never sent, though another account's
    Cancel All came after it."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from services.domain import TradeMode

    from .conftest import make_snapshot
    from .stop_helpers import recovery_of
    from .test_auto_recovery import TIMEOUT, _settings

    mine, theirs = await _two_accounts(database, make_simulator)
    try:
        _settings(database)
        _, snapshot_id = make_snapshot(database, "held", {"MSFT": "0.01", "AAPL": "0.01"})
        run = await mine.service.create_run("held", snapshot_id, TradeMode.PAPER, {})
        preview = await mine.service.preview(run.id, Decimal("100000"))
        await mine.service._db(mine.service._insert_orders, run.id, preview.plan)  # stored, for its sender
        coids = [d.client_order_id for d in preview.plan.orders]
        leases = mine.service.leases
        mine.actions.senders_timeout = 0.3
        async with leases.hold(run.id) as lease:
            await asyncio.to_thread(leases.start_sending, lease)  # a sender at work, of another process
            claim_id, claimed = await asyncio.to_thread(leases.claim_many, lease, coids)
            assert claimed == set(coids)
            canceled = await mine.actions.cancel_all(one_by_one=True)
            assert canceled.senders_not_stopped  # said still sending, its claims left to it
            await asyncio.to_thread(leases.unclaim, claim_id, coids, "not sent: Cancel All")
            await asyncio.to_thread(leases.stop_sending, lease)
        # after it, one acting on the other account alone (a global one marks every account of the login)
        await theirs.actions.cancel_all(one_by_one=True)
        assert _statuses(database, coids) == [OrderState.NEW] * len(coids)

        result = await recovery_of(mine).run_once(now=datetime.now(UTC) + timedelta(seconds=TIMEOUT + 1))

        assert result.sent == () and mine.sim.orders() == []  # nothing went out after its Cancel All
        assert sorted(s.client_order_id for s in result.skipped) == sorted(coids)
        assert all("Cancel All" in s.reason for s in result.skipped), result.skipped
        assert _statuses(database, coids) == [OrderState.CANCELED] * len(coids)
    finally:
        await mine.close()
        await theirs.close()


async def test_recovery_replaces_a_dead_order_sent_before_another_accounts_cancel_all(database, make_simulator, ib_log_guard):
    """An order of account B lost on its way to the gateway (proven dead, nothing filled) is
    re-placed by B's recovery though a Cancel All of account A came after it went out: that
    Cancel All left B's orders as they are. (It was refused, 'sent before the Cancel All ...,
    which canceled everything', as if B's trader had canceled it.)"""
    from .stop_helpers import recovery_of
    from .test_auto_recovery import _later, _run_with_ibm_lost, _settings

    sim_a = await make_simulator(state_file=None, ledger_file=None)
    sim_b = await make_simulator(accounts=(OTHER,), state_file=None, ledger_file=None)
    canceler = await build_stack(database, sim_a, client_id=2)
    trader = await build_stack(database, sim_b, client_id=1, account=OTHER)
    try:
        assert canceler.provider.account != OTHER
        _settings(database)
        _run_id, ibm = await _run_with_ibm_lost(trader, ib_log_guard, "lost")
        await canceler.actions.cancel_all()

        result = await recovery_of(trader).run_once(now=_later())

        assert result.skipped == ()
        [replaced] = result.replaced
        assert (replaced.client_order_id, replaced.retry) == (ibm.client_order_id, 1)
        assert [o.order_ref for o in sim_b.orders() if o.symbol == "IBM"] == [replaced.replacement]
    finally:
        await trader.close()
        await canceler.close()


async def test_reconciliation_gives_back_a_dead_senders_claims_of_another_account_than_the_cancel_alls(
        database, make_simulator):
    """A dead sender of account B had claimed its run's orders (IB never saw them), then a Cancel
    All of account A came. B's reconciliation gives the claims back NEW for the run's next
    holder, as with no Cancel All: that one left B's orders as they are. (They were closed as
    'claimed by a sender that is gone, before the Cancel All', canceled behind B's trader's back.)"""
    from decimal import Decimal

    from services.domain import TradeMode

    from .conftest import make_snapshot
    from .stop_helpers import closing_messages, run_orders
    from .test_lease import _dead_holder

    sim_a = await make_simulator(state_file=None, ledger_file=None)
    sim_b = await make_simulator(accounts=(OTHER,), state_file=None, ledger_file=None)
    canceler = await build_stack(database, sim_a, client_id=2)
    trader = await build_stack(database, sim_b, client_id=1, account=OTHER)
    try:
        _, snapshot_id = make_snapshot(database, "dead", {"MSFT": "0.01", "AAPL": "0.01"})
        run = await trader.service.create_run("dead", snapshot_id, TradeMode.PAPER, {})
        preview = await trader.service.preview(run.id, Decimal("100000"))
        await trader.service._db(trader.service._insert_orders, run.id, preview.plan)
        coids = [d.client_order_id for d in preview.plan.orders]
        _dead_holder(database, run.id, coids)  # claimed a minute ago, by a process that is gone
        await canceler.actions.cancel_all()

        report = await trader.reconciler.reconcile()
        await trader.writer.flush()

        assert report.resolved_unknown == [] and sorted(report.released) == sorted(coids)
        orders = run_orders(database, run.id)
        assert {(o.status, o.ib_order_id) for o in orders} == {(OrderState.NEW, None)}
        assert not [m for o in orders for m in closing_messages(database, o.id)]
    finally:
        await trader.close()
        await canceler.close()


async def _resting_order_of(stack) -> str:
    """A buy limit below the market of ``stack``'s account, placed by its session (as its run's
    sender would: the risk check is not what this test is about), working at the broker."""
    from decimal import Decimal

    from services.db.repositories import OrderRepository
    from services.execution.listings import request_for_order

    _, [coid] = _run_with_orders(stack.db, 1)
    limit = (stack.sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
    with stack.db.unit_of_work() as session:
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == coid)
                        .values(account=stack.provider.account, order_type="LMT", limit_price=limit))
    with stack.db.session() as session:
        order = OrderRepository(session).get_by_client_id(coid)
    await stack.provider.place_order(request_for_order(order))
    await wait_until(lambda: _statuses(stack.db, [coid]) == [OrderState.ACCEPTED], 10,
                     lambda: f"the order working: {_statuses(stack.db, [coid])}")
    return coid


def _at_sim(sim, client_order_id: str) -> str:
    [order] = [o for o in sim.orders() if o.order_ref == client_order_id]
    return order.status


@pytest.mark.parametrize("one_by_one", [False, True], ids=["global", "one-by-one"])
async def test_cancel_all_says_what_it_did_to_the_other_accounts_of_the_same_login(database, make_simulator, one_by_one):
    """IB's global cancel acts on every account of the login (managedAccounts), not on the
    connected one alone: another account's order working at the broker is canceled there, and
    Cancel All said it 'left as they are'. It now says so, and cancels that account's unsent
    orders as the connected account's (it said them left to its run, whose sender went on
    sending them after the Cancel All), and says that; one by one, it leaves them all, and says
    that."""
    mine, theirs = await _two_accounts(database, make_simulator)
    try:
        assert mine.provider.login_accounts() == ("DU1234567", OTHER)
        working = await _resting_order_of(theirs)
        _own, others = _orders_of_two_accounts(database, mine.provider.account)
        canceled = await mine.actions.cancel_all(one_by_one=one_by_one, wait=True)
        await mine.writer.flush()
        if one_by_one:
            assert canceled.headline() == "Cancel requested for this console's 1 working order"
            assert canceled.other_accounts == ((
                f"account {OTHER}: 3 open orders left as they are (2 not sent yet); Cancel All acts on the connected "
                f"account DU1234567 only: connect to {OTHER} to cancel them"),)
            assert _at_sim(mine.sim, working) == "Submitted"  # left, as said
            assert _statuses(database, others) == [OrderState.NEW, OrderState.NEW]  # left to their run, as said
        else:
            assert canceled.headline() == (
                "Global cancel sent to the broker: every open order of the login's accounts DU1234567, "
                f"{OTHER}, TWS's included (1 of this console's among them)")
            assert canceled.other_accounts == ((
                f"account {OTHER}, of the same login: the global cancel asked the broker to cancel its 1 order there "
                "too (IB's global cancel acts on every account of the login); its 2 orders not sent yet canceled "
                "before they went; its runs' senders stop before their next order (this Cancel All's marker is every "
                "account's of the login)"),)
            await wait_until(lambda: _statuses(database, [working]) == [OrderState.CANCELED], 10,
                             lambda: f"the other account's order: {_statuses(database, [working])}")
            assert _at_sim(mine.sim, working) == "Cancelled"  # canceled at the broker, as said
            assert _statuses(database, others) == [OrderState.CANCELED, OrderState.CANCELED]  # as said
    finally:
        await mine.close()
        await theirs.close()
