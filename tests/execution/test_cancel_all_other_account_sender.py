"""A Cancel All acts on the connected account and tells the trader that other accounts' orders are
left as they are. Its marker was one for the whole installation: a Cancel All of account A
stopped a sender of account B (another login, another gateway, one database), which gave back
its claims and canceled at the broker the orders it had written. The marker is now per account
(``cancel_all_marks``): a sender, and the Cancel All's wait for senders, look only at the
Cancel Alls that concern their account; one whose account is unknown concerns every account.

The sender's second placeOrder is held at the pacing limiter until the Cancel All has returned
(as tests/execution/test_cancel_all_sent_after.py does); its watcher's next look is after the
test, and each order is a chunk of its own, so the sender looks at the database once, right
before its third order: no timing decides what it sees."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.db.repositories import SettingsRepository
from services.domain import OrderState, TradeMode

# loaded before the watcher's interval is patched: its SENDERS_TIMEOUT is computed from that
# interval at import (test_cancel_all_sent_after.py)
from services.execution import cancel_all as _cancel_all  # noqa: F401
from services.execution import sending
from services.execution.lease import LeaseManager
from services.execution.sending import CANCEL_ALL, OrderSender
from tests.fixtures.waiting import wait_until

from .conftest import build_stack, make_snapshot
from .pacing_helpers import hold_the_second_order, synthetic_symbols
from .stop_helpers import ended_canceled, run_statuses
from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(90)

A, B = "DU1111111", "DU2222222"
N = 4



def _cancel_all_of(db, account: str | None):
    """A Cancel All's marker, as another process's Cancel All of ``account`` writes it."""
    with db.unit_of_work() as session:
        return SettingsRepository(session).mark_cancel_all(datetime.now(UTC), account)


# ------------------------------------------------------------------ the rule, on the database


@pytest.mark.parametrize("canceled, stops", [(A, False), (B, True), (None, True)],
                         ids=["another-account", "its-account", "unknown-account"])
async def test_a_sender_stops_at_a_cancel_all_of_its_account_or_of_an_unknown_one(database, canceled, stops):
    run_id, _ = _run_with_orders(database, 1)
    leases = LeaseManager(database)
    async with leases.hold(run_id) as lease:
        sender = OrderSender(database, provider=SimpleNamespace(account=B), writer=None, leases=leases,
                             stop_requested=lambda: None)
        _, sender._mark = leases.start_sending(lease, B)
        mark = _cancel_all_of(database, canceled)
        assert sender._stop_in_database() == (CANCEL_ALL if stops else None)
        assert sender._cancel_all_since_start() is stops
        # the Cancel All waits for the senders it stops, and only for them
        assert [h.run_id for h in leases.senders_before(mark, canceled)] == ([run_id] if stops else [])
        # a resend after IB's error 100 looks at the same marker
        _, _, marked_at = leases.mark_resending(lease, sender._mark, B)
        assert marked_at is None  # still marked as sending: not marked again
        leases.stop_sending(lease)


# ------------------------------------------------------------------ two logins, one database


async def _stacks(database, make_simulator, monkeypatch, sender_account: str, *, one_login: bool = False):
    """(the sender's simulator, the sender's stack, the canceler's stack): the canceler on
    account A, the sender on ``sender_account`` (account B: another gateway, as another login
    is; with ``one_login``, the same gateway, whose login manages both accounts), each order a
    chunk of its own, the watcher's next look after the test."""
    monkeypatch.setattr(sending, "SEND_WATCH_INTERVAL", 60.0)
    monkeypatch.setattr(sending, "SEND_CHECK_CHUNK", 1)  # a look at the database before each order
    # the simulator funds its first account only: the sender's, B, when both are of one login
    sim_a = await make_simulator(accounts=(B, A) if one_login else (A,), synthetic_symbols=N, state_file=None,
                                 ledger_file=None, market_hours="closed")
    sim_b = sim_a if sender_account == A or one_login else await make_simulator(
        accounts=(B,), synthetic_symbols=N, state_file=None, ledger_file=None, market_hours="closed")
    sender = await build_stack(database, sim_b, client_id=1, account=sender_account)
    canceler = await build_stack(database, sim_a, client_id=2, account=A)
    canceler.actions.senders_timeout = 0.3  # it gives up waiting for a held sender it stops
    return sim_b, sender, canceler


async def _sending_held(database, sender, project: str):
    waiting, turn = hold_the_second_order(sender)
    _, snapshot_id = make_snapshot(database, project, {s: "0.004" for s in synthetic_symbols(N)})
    run = await sender.service.create_run(project, snapshot_id, TradeMode.PAPER, {})
    sending_run = asyncio.ensure_future(sender.service.execute(run.id, portfolio_value=Decimal(1_000_000),
                                                               require_market_health=False))
    await asyncio.wait_for(waiting.wait(), 20)
    return run, sending_run, turn


async def test_a_cancel_all_of_another_account_leaves_a_sender_sending_and_its_orders_working(
        database, make_simulator, monkeypatch):
    sim_b, sender, canceler = await _stacks(database, make_simulator, monkeypatch, B)
    try:
        run, sending_run, turn = await _sending_held(database, sender, "other")
        canceled = await canceler.actions.cancel_all()
        assert canceled.senders_not_stopped == ()  # not waited for: not its to stop
        turn.set()
        result = await asyncio.wait_for(sending_run, 30)
        assert result.stopped is None
        assert len(result.sent) == N
        assert result.canceled_after_cancel_all == () and result.not_canceled_after_cancel_all == ()
        await sender.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
        assert sorted(o.order_ref for o in sim_b.open_orders()) == sorted(result.sent)
        await sender.writer.flush()
        await wait_until(lambda: set(run_statuses(database, run.id).values()) == {OrderState.ACCEPTED}, 10,
                         lambda: f"the run's orders working: {run_statuses(database, run.id)}")
    finally:
        await sender.close()
        await canceler.close()


async def test_a_cancel_all_of_its_own_account_still_stops_a_sender_of_another_process(
        database, make_simulator, monkeypatch):
    sim, sender, canceler = await _stacks(database, make_simulator, monkeypatch, A)
    try:
        run, sending_run, turn = await _sending_held(database, sender, "same")
        canceled = await canceler.actions.cancel_all()
        assert [s.split(" ")[1] for s in canceled.senders_not_stopped] == [str(run.id)]  # held past the wait
        turn.set()  # its held order goes out after the Cancel All; its next look stops it
        result = await asyncio.wait_for(sending_run, 30)
        assert result.stopped == CANCEL_ALL
        assert len(result.sent) == 2
        assert result.sent[1] in result.canceled_after_cancel_all  # written after the Cancel All: canceled by it
        await sender.provider.ib.reqCurrentTimeAsync()
        await ended_canceled(sim, sender, database, run.id, result.sent)
    finally:
        await sender.close()
        await canceler.close()


@pytest.mark.parametrize("one_by_one", [False, True], ids=["global", "one-by-one"])
async def test_a_global_cancel_all_stops_a_sender_of_another_account_of_its_login(
        database, make_simulator, monkeypatch, one_by_one):
    """IB's global cancel cancels at the broker every open order of the login, account B's too:
    B's sender went on sending its run's other orders after it (the marker was A's alone), and
    the trader who pressed Cancel All on the login saw orders go out after it. The global form
    marks every account of the login: B's sender is waited for, stops at its next look and
    cancels what it sent after the Cancel All, and B's orders not sent yet are canceled before
    they go. One by one, Cancel All acts on A's orders alone: B's sender goes on sending."""
    sim, sender, canceler = await _stacks(database, make_simulator, monkeypatch, B, one_login=True)
    try:
        run, sending_run, turn = await _sending_held(database, sender, "login")
        canceled = await canceler.actions.cancel_all(one_by_one=one_by_one)
        turn.set()
        result = await asyncio.wait_for(sending_run, 30)
        await sender.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
        await sender.writer.flush()
        if one_by_one:
            assert canceled.senders_not_stopped == ()  # not waited for: not its to stop
            assert result.stopped is None and len(result.sent) == N
            assert sorted(o.order_ref for o in sim.open_orders()) == sorted(result.sent)
            await wait_until(lambda: set(run_statuses(database, run.id).values()) == {OrderState.ACCEPTED}, 10,
                             lambda: f"the run's orders working: {run_statuses(database, run.id)}")
            return
        assert [s.split(" ")[1] for s in canceled.senders_not_stopped] == [str(run.id)]  # held past the wait
        assert result.stopped == CANCEL_ALL
        assert len(result.sent) == 2  # the held one went out after the Cancel All; nothing after it
        assert result.sent[1] in result.canceled_after_cancel_all  # canceled by its sender
        assert canceled.other_accounts == ((
            f"account {B}, of the same login: the global cancel asked the broker to cancel its 2 orders there too "
            f"(IB's global cancel acts on every account of the login); its 2 orders not sent yet canceled before they "
            f"went; its runs' senders stop before their next order (this Cancel All's marker is every account's of "
            f"the login)"),)
        await ended_canceled(sim, sender, database, run.id, result.sent)
    finally:
        await sender.close()
        await canceler.close()


async def test_a_replacement_of_another_account_goes_out_through_a_cancel_all_of_this_one(
        database, make_simulator, ib_log_guard):
    """A trader of account B replaces a working order (IB refuses the change in place: cancel, then
    a new order); a Cancel All of account A lands while the cancel is pending. The new order goes
    out: that Cancel All left B's orders as they are. (It was refused, 'a Cancel All ... canceled
    everything', leaving B's trader with the original canceled and nothing in its place.)"""
    from services.domain import OrderType, Side

    from .test_actions import _settle

    ib_log_guard.allow(r"^Error (105|202), ")
    sim_a = await make_simulator(accounts=(A,), state_file=None, ledger_file=None)
    sim_b = await make_simulator(accounts=(B,), state_file=None, ledger_file=None)
    trader = await build_stack(database, sim_b, client_id=1, account=B)
    canceler = await build_stack(database, sim_a, client_id=2, account=A)
    try:
        sim_b.set_price("MSFT", "410")
        record = await trader.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"),
                                                   project="manual")
        await _settle(trader, record.id, {OrderState.ACCEPTED})
        sim_b._modify = lambda session, o, req: session.error(o.order_id, 105, "Order being modified does not match original order")
        sim_b.faults.cancel_delay = 3600  # Cancelled only when the test says so
        trader.actions.confirm_timeout = 30

        replace = asyncio.create_task(trader.actions.replace(record.id, limit_price=Decimal("406.00")))
        await wait_until(lambda: [o.status for o in sim_b.orders()] == ["PendingCancel"], 10, "the replace's cancel to be pending")
        await canceler.actions.cancel_all()
        [pending] = sim_b.orders()
        sim_b._cancelled(pending)  # the broker confirms the cancel

        replaced = await asyncio.wait_for(replace, 10)
        assert replaced.method == "cancel_and_new" and replaced.new_order_id is not None
        await _settle(trader, replaced.new_order_id, {OrderState.ACCEPTED})
        assert [(o.order_ref, o.status) for o in sim_b.orders()] == [
            (record.client_order_id, "Cancelled"), (f"{record.client_order_id}-R1", "Submitted")]
    finally:
        await trader.close()
        await canceler.close()
