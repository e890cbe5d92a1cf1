"""A run stopped by a halt, then trading resumed: its orders that were not sent are never sent
automatically, whatever the timing of auto-recovery's passes. They are closed (CANCELED, the halt
named as the reason, audited) when the halt stops the run; the trader sends them again only by
previewing and executing again, which prices them for the market as it is then.

Before, what happened to them depended on the timing: a recovery pass during the halt refused
them for good and left them NEW forever (abandoned, yet counted as the project's intent), while
with no pass until after the resume the first pass sent them, possibly hours later, with no
fresh price check and without the trader confirming again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from services.db.models import TradeOrder
from services.db.repositories import SettingsRepository
from services.domain import OrderState, TradeMode
from services.execution.lease import release_claims
from tests.execution.stop_helpers import audits as _audits
from tests.execution.stop_helpers import closing_messages as _closing_messages
from tests.execution.stop_helpers import recovery_of as _recovery
from tests.execution.stop_helpers import run_orders as _run_orders

from .conftest import make_snapshot
from .pacing_helpers import hold_the_second_order

pytestmark = [pytest.mark.timeout(90), pytest.mark.parametrize("db_backend", ["sqlite", "mysql"], indirect=True)]

SYMBOLS = ["AAPL", "MSFT", "IBM"]
HALT_REASON = "trading HALTED"


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=60)  # past the 5 s timeout set below


async def _halted_mid_run(stack) -> tuple[int, str]:
    """A run of three orders halted while its second waits its turn at the pacing limiter: the
    first is at the broker, the other two were never sent. Returns (run id, the sent order)."""
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 5})
    _, snapshot_id = make_snapshot(stack.db, "halted", {s: "0.01" for s in SYMBOLS})
    run = await stack.service.create_run("halted", snapshot_id, TradeMode.PAPER, {})
    sender = stack.provider.sender
    write_at_once = sender.send
    waiting, turn = hold_the_second_order(stack)
    try:
        sending = asyncio.ensure_future(stack.service.execute(run.id, portfolio_value=Decimal(1_000_000)))
        await asyncio.wait_for(waiting.wait(), 20)
        await stack.actions.halt()
        turn.set()
        result = await asyncio.wait_for(sending, 20)
    finally:
        sender.send = write_at_once
    await stack.writer.flush()
    assert result.stopped == HALT_REASON and len(result.sent) == 1
    return run.id, result.sent[0]


def _assert_unsent_closed_by_the_halt(stack, run_id: int, sent: str) -> None:
    orders = _run_orders(stack.db, run_id)
    unsent = [o for o in orders if o.client_order_id != sent]
    assert len(unsent) == 2
    assert {(o.status, o.ib_order_id) for o in unsent} == {(OrderState.CANCELED, None)}
    for order in unsent:
        assert any("HALTED" in message for message in _closing_messages(stack.db, order.id)), order.client_order_id
    # the broker saw only the order sent before the halt
    assert {o.order_ref for o in stack.sim.orders()} == {sent}


async def test_a_recovery_pass_during_the_halt_then_resume_sends_nothing_the_halt_stopped(stack):
    run_id, sent = await _halted_mid_run(stack)
    during = await _recovery(stack).run_once(now=_later())
    assert during.sent == () and during.replaced == ()
    assert await stack.actions.resume()
    after = await _recovery(stack).run_once(now=_later())
    assert after.sent == () and after.replaced == ()
    await stack.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
    _assert_unsent_closed_by_the_halt(stack, run_id, sent)


async def test_no_recovery_pass_until_after_resume_sends_nothing_the_halt_stopped(stack):
    run_id, sent = await _halted_mid_run(stack)
    assert await stack.actions.resume()
    after = await _recovery(stack).run_once(now=_later())
    assert after.sent == () and after.replaced == ()
    await stack.provider.ib.reqCurrentTimeAsync()
    _assert_unsent_closed_by_the_halt(stack, run_id, sent)
    # audited: the halt closed what was NEW, the stopped sender what it had claimed
    [halt] = _audits(stack.db, "trading.halt")
    closed = set(halt["unsent_canceled"]) | {c for p in _audits(stack.db, "run.unsent_closed_by_halt") for c in p["orders"]}
    assert closed == {o.client_order_id for o in _run_orders(stack.db, run_id)} - {sent}


async def test_after_resume_the_trader_sends_them_again_only_by_previewing_again(stack):
    run_id, sent = await _halted_mid_run(stack)
    assert await stack.actions.resume()
    # executing the halted run again sends nothing: its unsent orders were closed by the halt
    again = await stack.service.execute(run_id, portfolio_value=Decimal(1_000_000))
    assert again.sent == ()
    # a new preview of the snapshot prices them for the market as it is; the order at the broker
    # counts as the project's (docs/project-books.md), the closed ones do not
    sent_symbol = next(o.symbol for o in _run_orders(stack.db, run_id) if o.client_order_id == sent)
    preview = await stack.service.preview_snapshot("halted", _snapshot_of(stack.db, run_id), TradeMode.PAPER,
                                                   portfolio_value=Decimal(1_000_000), new_run=True)
    assert preview.plan is not None
    assert {o.symbol for o in preview.plan.orders} == set(SYMBOLS) - {sent_symbol}


def _snapshot_of(db, run_id: int) -> int:
    from services.db.models import TradeRun

    with db.session() as session:
        return session.scalars(select(TradeRun.snapshot_id).where(TradeRun.id == run_id)).one()


# ---------------------------------------------------------------- a sender that died holding them

DEAD_CLAIM = "dead-lease/claim-1"


async def _halted_while_a_dead_sender_held_them(stack) -> tuple[int, list[str]]:
    """A run's orders stored, claimed by a sender whose process then died (SENDING: the halt's
    own closing leaves a claimed order to its sender), the halt, then the claims given back NEW
    as reconciliation does for a gone sender. Returns (run id, the orders)."""
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 5})
    _, snapshot_id = make_snapshot(stack.db, "orphaned", {s: "0.01" for s in SYMBOLS[:2]})
    run = await stack.service.create_run("orphaned", snapshot_id, TradeMode.PAPER, {})
    preview = await stack.service.preview(run.id, Decimal(1_000_000))
    await stack.service._db(stack.service._insert_orders, run.id, preview.plan)
    with stack.db.unit_of_work() as session:
        session.execute(update(TradeOrder).where(TradeOrder.run_id == run.id)
                        .values(status=OrderState.SENDING, claimed_by=DEAD_CLAIM, claimed_at=datetime.now(UTC)))
    halted = await stack.actions.halt()
    assert halted.state.value == "HALTED" and _audits(stack.db, "trading.halt")[0].get("unsent_canceled", []) == []
    coids = [o.client_order_id for o in _run_orders(stack.db, run.id)]
    assert release_claims(stack.db, [(c, DEAD_CLAIM) for c in coids], "its sender is gone") == coids
    return run.id, coids


def _assert_closed_not_sent(stack, run_id: int) -> None:
    orders = _run_orders(stack.db, run_id)
    assert {(o.status, o.ib_order_id) for o in orders} == {(OrderState.CANCELED, None)}
    for order in orders:
        assert any("HALTED" in message for message in _closing_messages(stack.db, order.id)), order.client_order_id
    assert stack.sim.orders() == []


async def test_a_recovery_pass_during_the_halt_closes_what_a_dead_sender_gave_back(stack):
    run_id, coids = await _halted_while_a_dead_sender_held_them(stack)
    during = await _recovery(stack).run_once(now=_later())
    assert during.sent == () and {s.client_order_id for s in during.skipped} == set(coids)
    assert all("HALTED" in s.reason and "closed as canceled" in s.reason for s in during.skipped)
    assert [p["client_order_id"] for p in _audits(stack.db, "order.recovery_refused")] == coids
    assert await stack.actions.resume()
    after = await _recovery(stack).run_once(now=_later())
    assert after.considered == () and after.sent == ()
    await stack.provider.ib.reqCurrentTimeAsync()
    _assert_closed_not_sent(stack, run_id)


async def test_no_recovery_pass_until_after_resume_closes_what_a_dead_sender_gave_back(stack):
    run_id, coids = await _halted_while_a_dead_sender_held_them(stack)
    assert await stack.actions.resume()
    after = await _recovery(stack).run_once(now=_later())
    assert after.sent == () and {s.client_order_id for s in after.skipped} == set(coids)
    assert all("stored before the halt" in s.reason and "closed as canceled" in s.reason for s in after.skipped)
    assert [p["client_order_id"] for p in _audits(stack.db, "order.recovery_refused")] == coids
    await stack.provider.ib.reqCurrentTimeAsync()
    _assert_closed_not_sent(stack, run_id)


async def test_executing_the_run_after_resume_closes_what_a_dead_sender_gave_back(stack):
    run_id, coids = await _halted_while_a_dead_sender_held_them(stack)
    assert await stack.actions.resume()
    again = await stack.service.execute(run_id, portfolio_value=Decimal(1_000_000))
    assert again.sent == ()
    assert [p["orders"] for p in _audits(stack.db, "run.unsent_closed_by_halt")] == [coids]
    await stack.provider.ib.reqCurrentTimeAsync()
    _assert_closed_not_sent(stack, run_id)
