"""Auto-recovery (services.execution.recovery) against the simulator over a real socket, on SQLite
and MariaDB: an order lost on its way to the gateway (the simulator's ``lost=N`` fault) is
canceled, looked up and re-placed once; every refusal is audited; a NEW order never sent is sent.
The clock is injected (``run_once(now=...)``): nothing waits for the timeout to pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import AuditLog, OrderEvent, TradeOrder
from services.db.repositories import SettingsRepository
from services.domain import EventSource, OrderState, OrderType, RunStatus, Side, TradeMode
from services.execution.recovery import AutoRecovery, RecoveryResult
from tests.fixtures.waiting import wait_until

from .conftest import build_stack, make_snapshot

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5  # new_timeout_seconds for these tests; the injected clock steps over it


def _recovery(stack, **kwargs) -> AutoRecovery:
    return AutoRecovery(stack.db, stack.provider, stack.writer, stack.reconciler, stack.service.leases, actor="tester",
                        busy_runs=stack.service.executing_runs, **kwargs)


def _settings(db, **values) -> None:
    with db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": TIMEOUT, **values})


def _orders(db, symbol: str) -> list[TradeOrder]:
    with db.session() as session:
        rows = list(session.scalars(select(TradeOrder).where(TradeOrder.symbol == symbol).order_by(TradeOrder.id)))
        session.expunge_all()
        return rows


def _audit(db, action: str) -> list[dict]:
    with db.session() as session:
        return [row.payload for row in session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))]


def _recovery_events(db, order_id: int) -> list[tuple[str, str]]:
    with db.session() as session:
        return [(e.event_type, e.message or "") for e in session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.source == EventSource.RECOVERY).order_by(OrderEvent.id))]


async def _run_with_ibm_lost(stack, ib_log_guard, project: str) -> tuple[int, TradeOrder]:
    """A run of IBM and AAPL whose IBM placeOrder the simulator loses; returns (run id, the IBM order)."""
    ib_log_guard.allow(r"^Error 10147, ")  # the cancel of the lost order: IB does not know it
    stack.sim.faults.add_rule(symbols={"IBM"}, lost=1)
    _, snapshot_id = make_snapshot(stack.db, project, {"IBM": "0.01", "AAPL": "0.01"})
    run = await stack.service.create_run(project, snapshot_id, TradeMode.PAPER, {})
    result = await stack.service.execute(run.id, portfolio_value=Decimal("100000"))
    assert len(result.sent) == 2

    async def aapl_filled() -> bool:
        await stack.writer.flush()
        return _orders(stack.db, "AAPL")[0].status is OrderState.FILLED

    await wait_until(aapl_filled, 10, "the AAPL order to fill")
    [ibm] = _orders(stack.db, "IBM")
    assert ibm.status is OrderState.SUBMITTED
    assert [o for o in stack.sim.orders() if o.symbol == "IBM"] == []  # the gateway never saw it
    return run.id, ibm


def _later(seconds: float = TIMEOUT + 1) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_a_lost_order_is_canceled_looked_up_and_replaced_once(stack, ib_log_guard):
    _settings(stack.db)
    run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "lost")
    recovery = _recovery(stack)

    early = await recovery.run_once()  # younger than the timeout: not stuck yet
    assert early.considered == () and not early.acted

    result = await recovery.run_once(now=_later())
    assert isinstance(result, RecoveryResult)
    assert result.considered == (ibm.client_order_id,)
    assert result.canceled == (ibm.client_order_id,)
    [replaced] = result.replaced
    assert (replaced.client_order_id, replaced.retry) == (ibm.client_order_id, 1)
    assert result.skipped == ()
    # which order was re-placed, what it is and its new name, in the pass's one line (the window's
    # activity log, `recover`, `serve`): a bare "re-placed 1" named none
    from services.core.wording import describe_order
    from services.db.convert import to_order_record

    named = describe_order(to_order_record(ibm), with_id=False)
    assert named.startswith("BUY ") and " IBM " in named
    assert f"re-placed 1 ({named}, {ibm.client_order_id} as {replaced.replacement})," in result.headline()
    # the order canceled named the same way (a bare "canceled 1" named none)
    assert f"canceled 1 ({named}, {ibm.client_order_id}), sent 0," in result.headline()
    assert result.to_dict()["orders"] == {ibm.client_order_id: named}
    assert result.to_dict()["replaced"] == [{"client_order_id": ibm.client_order_id, "replacement": replaced.replacement,
                                             "retry": 1, "order": named}]

    assert await stack.service.wait_done(run_id, 10) == []
    await stack.writer.flush()
    dead, new = _orders(stack.db, "IBM")
    assert dead.status is OrderState.CANCELED and dead.filled_quantity == 0
    assert (new.client_order_id, new.replaces_order_id, new.retry_count, new.run_id) == (replaced.replacement, dead.id, 1, run_id)
    assert new.status is OrderState.FILLED and new.quantity == dead.quantity == new.filled_quantity
    assert (await stack.service.get_run(run_id)).status is RunStatus.DONE  # the replacement stands for the dead order
    # the ledger: exactly one execution set for IBM, the replacement's
    ibm_executions = [e for e in stack.sim.executions() if e.symbol == "IBM"]
    assert {e.order_ref for e in ibm_executions} == {new.client_order_id}
    assert sum(e.shares for e in ibm_executions) == new.quantity
    # every step on the order's events and in the audit log
    kinds = [kind for kind, _ in _recovery_events(stack.db, dead.id)]
    assert [k for k in kinds if k.startswith("recovery_")] == ["recovery_cancel", "recovery_replace"]
    assert "ack_timeout" in kinds  # the state machine's record of the cancel (from the writer)
    assert [p["client_order_id"] for p in _audit(stack.db, "order.recovery_replace")] == [ibm.client_order_id]
    assert [p["replaces"] for p in _audit(stack.db, "order.recovery_replacement")] == [ibm.client_order_id]

    again = await recovery.run_once(now=_later(2 * TIMEOUT + 10))
    assert again.considered == () and not again.acted
    assert len([e for e in stack.sim.executions() if e.symbol == "IBM"]) == len(ibm_executions)


async def test_no_retry_allowed_nothing_replaced_and_the_reason_audited(stack, ib_log_guard):
    _settings(stack.db, max_auto_retries=0)
    _, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "no-retry")
    recovery = _recovery(stack)
    result = await recovery.run_once(now=_later())
    assert result.canceled == (ibm.client_order_id,) and result.replaced == ()
    [skip] = result.skipped
    assert skip.client_order_id == ibm.client_order_id and "max_auto_retries 0" in skip.reason
    # the orders canceled and skipped named as a re-placed one is: what it is, and which
    from services.core.wording import describe_order
    from services.db.convert import to_order_record

    named = describe_order(to_order_record(ibm), with_id=False)
    assert result.headline().endswith(f"canceled 1 ({named}, {ibm.client_order_id}), sent 0, re-placed 0, "
                                      f"skipped 1 ({named}, {ibm.client_order_id})"), result.headline()
    [refused] = _audit(stack.db, "order.recovery_refused")
    assert refused["client_order_id"] == ibm.client_order_id and "max_auto_retries 0" in refused["reason"]
    assert ("recovery_refused", skip.reason) in _recovery_events(stack.db, ibm.id)
    assert [o.client_order_id for o in _orders(stack.db, "IBM")] == [ibm.client_order_id]
    assert [e for e in stack.sim.executions() if e.symbol == "IBM"] == []
    # decided for good: the next pass does not reconsider it (nor audit it again)
    again = await recovery.run_once(now=_later(3 * TIMEOUT))
    assert again.considered == () and len(_audit(stack.db, "order.recovery_refused")) == 1


async def test_price_moved_beyond_the_deviation_not_replaced(stack, ib_log_guard, monkeypatch):
    _settings(stack.db, max_price_deviation_pct=1.5)
    _, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "moved")
    stack.sim.set_price("IBM", Decimal("211.60") * Decimal("1.03"))  # +3 % from the plan's reference
    asked = []  # the account's values are asked for only for a replacement's risk check
    real_buying_power = stack.provider.buying_power

    async def buying_power():
        asked.append("buying power")
        return await real_buying_power()

    monkeypatch.setattr(stack.provider, "buying_power", buying_power)
    result = await _recovery(stack).run_once(now=_later())
    assert asked == []
    assert result.replaced == ()
    [skip] = result.skipped
    assert skip.client_order_id == ibm.client_order_id
    assert "max_price_deviation_pct 1.5" in skip.reason and "price moved" in skip.reason
    assert [p["reason"] for p in _audit(stack.db, "order.recovery_refused")] == [skip.reason]
    assert len(_orders(stack.db, "IBM")) == 1


def _risk_limits(db, **limits) -> None:
    with db.unit_of_work() as session:
        settings = SettingsRepository(session)
        settings.set_risk_defaults({**settings.risk_defaults(), **limits})


async def test_a_replacement_todays_risk_limits_block_is_not_placed(stack, ib_log_guard):
    """The plan passed at 25,000 per order; the trader has since lowered the limit below the
    order's value: the replacement is a new order at the broker and meets today's limits."""
    _settings(stack.db)
    _, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "limits")
    _risk_limits(stack.db, max_order_notional=500)
    recovery = _recovery(stack)
    result = await recovery.run_once(now=_later())
    assert result.canceled == (ibm.client_order_id,) and result.replaced == ()
    [skip] = result.skipped
    assert skip.client_order_id == ibm.client_order_id
    assert "blocked by risk now" in skip.reason and "max_order_notional" in skip.reason and "above 500" in skip.reason
    assert [p["reason"] for p in _audit(stack.db, "order.recovery_refused")] == [skip.reason]
    assert ("recovery_refused", skip.reason) in _recovery_events(stack.db, ibm.id)
    assert [o.client_order_id for o in _orders(stack.db, "IBM")] == [ibm.client_order_id]  # nothing stored
    assert [e for e in stack.sim.executions() if e.symbol == "IBM"] == []
    assert (await recovery.run_once(now=_later(3 * TIMEOUT))).considered == ()  # decided for good


async def test_a_stored_limit_of_another_version_refuses_the_replacement_and_the_pass_goes_on(stack, ib_log_guard):
    """A risk limit another version stored refuses every order a ticket or a preview would send
    (tests/execution/test_unknown_risk_setting.py): the replacement too. It was raised out of the
    pass (bad input, not a broker error), so the pass failed with a traceback, a minute after a
    minute, and decided nothing more; it is a refusal of that replacement, said and audited."""
    _settings(stack.db)
    _, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "another-version")
    _risk_limits(stack.db, some_future_rule="3")
    result = await _recovery(stack).run_once(now=_later())
    assert result.canceled == (ibm.client_order_id,) and result.replaced == ()
    [skip] = result.skipped
    assert "risk.some_future_rule = 3 is a setting of another version" in skip.reason, skip.reason
    assert "trade-settings unset risk.some_future_rule" in skip.reason and skip.reason.endswith("not re-placed")
    assert [p["reason"] for p in _audit(stack.db, "order.recovery_refused")] == [skip.reason]
    assert [o.client_order_id for o in _orders(stack.db, "IBM")] == [ibm.client_order_id]  # nothing stored


async def test_a_replacement_stands_for_the_dead_order_in_the_days_order_count(stack, ib_log_guard):
    """Two orders today (IBM lost, AAPL filled) and max_daily_orders 2: the replacement takes
    the dead order's place, it is not a third order."""
    _settings(stack.db)
    run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "count")
    _risk_limits(stack.db, max_daily_orders=2)
    result = await _recovery(stack).run_once(now=_later())
    assert [r.client_order_id for r in result.replaced] == [ibm.client_order_id] and result.skipped == ()
    assert await stack.service.wait_done(run_id, 10) == []
    _risk_limits(stack.db, max_daily_orders=1)  # below the day's count: a replacement would be refused
    from services.execution.order_risk import Replacing, check_order, market_inputs, order_draft
    from services.execution.recovery_finding import order_row

    spec = (await stack.service._db(order_row, stack.db, ibm.id))["spec"]
    inputs = await market_inputs(stack.provider, spec, ask_tick=False)
    draft = order_draft(spec, Side.BUY, ibm.quantity, OrderType.MKT, inputs, "CHECK-1")
    with stack.db.session() as session:
        report = check_order(session, TradeMode.PAPER, draft, inputs, replacing=Replacing(ibm.created_at, OrderState.CANCELED))
    assert {b.rule for b in report.all_blocks()} == {"max_daily_orders", "account_daily_orders"}


async def test_market_closed_not_replaced_unless_allowed_outside_rth(stack, ib_log_guard):
    _settings(stack.db, allow_replace_outside_rth=False)
    _, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "closed")
    asked = []

    def closed(spec) -> bool:
        asked.append(spec.key)
        return False

    result = await _recovery(stack, session_open=closed).run_once(now=_later())
    assert asked == ["IBM"] and result.replaced == ()
    [skip] = result.skipped
    assert "outside its regular session" in skip.reason and "allow_replace_outside_rth" in skip.reason
    assert [p["client_order_id"] for p in _audit(stack.db, "order.recovery_refused")] == [ibm.client_order_id]


async def test_a_lost_order_the_trader_canceled_is_not_replaced(stack, ib_log_guard):
    _settings(stack.db)
    _, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "trader")
    await stack.actions.cancel(ibm.id)
    await stack.reconciler.reconcile()  # IB does not know it: closed as never received
    [closed] = _orders(stack.db, "IBM")
    assert closed.status is OrderState.CANCELED and closed.ib_perm_id is None
    result = await _recovery(stack).run_once(now=_later())
    assert result.considered == () and len(_orders(stack.db, "IBM")) == 1


async def test_a_run_another_process_sends_is_left_to_it_then_recovered(stack, ib_log_guard):
    from services.execution.lease import LeaseManager

    _settings(stack.db)
    run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "busy")
    other = LeaseManager(stack.db, client_id=99)  # another process's sender holds the run
    async with other.hold(run_id):
        first = await _recovery(stack).run_once(now=_later())
    assert first.canceled == (ibm.client_order_id,) and first.replaced == ()
    [skip] = first.skipped
    assert "being sent by another process" in skip.reason
    assert len(_orders(stack.db, "IBM")) == 1  # nothing stored for a sender it does not hold
    # a passing reason: the next pass decides again (the order is closed by then: proven dead)
    second = await _recovery(stack).run_once(now=_later())
    assert second.considered == (ibm.client_order_id,) and [r.client_order_id for r in second.replaced] == [ibm.client_order_id]
    assert await stack.service.wait_done(run_id, 10) == []


# MariaDB only (not a skip on SQLite: its file lives on one machine, under one clock)
@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)
async def test_a_pass_on_a_machine_whose_clock_is_off_recovers_the_run(stack, ib_log_guard):
    """The run's lease is stamped and judged by the database server's clock, so a pass on a
    machine whose clock is 10 s off the server's takes it as any other would (it used to leave
    the run, refused for the skew, until the clocks were put right)."""
    from .test_lease import _Clock, _server_follows

    _settings(stack.db)
    with _server_follows(stack.db, _Clock(server_skew=timedelta(seconds=-10))):
        run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "skewed")
        result = await _recovery(stack).run_once(now=_later())
        assert result.canceled == (ibm.client_order_id,) and result.skipped == ()
        assert [r.client_order_id for r in result.replaced] == [ibm.client_order_id]
        assert await stack.service.wait_done(run_id, 10) == []


async def test_a_new_order_never_sent_is_sent_by_recovery(stack):
    _settings(stack.db)
    _, snapshot_id = make_snapshot(stack.db, "crashed", {"MSFT": "0.01"})
    run = await stack.service.create_run("crashed", snapshot_id, TradeMode.PAPER, {})
    preview = await stack.service.preview(run.id, Decimal("100000"))
    # the process died between storing the plan's orders and sending them
    await stack.service._db(stack.service._insert_orders, run.id, preview.plan)
    [msft] = _orders(stack.db, "MSFT")
    assert msft.status is OrderState.NEW and stack.sim.orders() == []

    recovery = _recovery(stack)
    assert (await recovery.run_once()).considered == ()  # stored a moment ago: its sender may be at work
    result = await recovery.run_once(now=_later())
    assert result.considered == (msft.client_order_id,) and result.sent == (msft.client_order_id,)
    assert result.canceled == () and result.replaced == () and result.skipped == ()
    assert await stack.service.wait_done(run.id, 10) == []
    await stack.writer.flush()
    [msft] = _orders(stack.db, "MSFT")
    assert msft.status is OrderState.FILLED and msft.retry_count == 0 and msft.replaces_order_id is None
    assert [o.order_ref for o in stack.sim.orders()] == [msft.client_order_id]
    assert [kind for kind, _ in _recovery_events(stack.db, msft.id)] == ["recovery_send"]
    assert (await recovery.run_once(now=_later(3 * TIMEOUT))).considered == ()


async def test_a_live_session_given_the_word_at_connect_recovers_as_the_recover_command_does(database, make_simulator):
    """The window declined at start and connected later with the LIVE word typed (the word goes
    to the broker connection: app/main.py): its recovery, built before the word, refused every
    stuck order of the live account as "not given the LIVE word", for good, while `recover
    --live-token LIVE` sent them. Recovery now reads the session's word at each pass, and the
    lack of it is a passing refusal, never a final one."""
    from services.execution.recovery import NO_LIVE_WORD, PASSING_REFUSALS

    sim = await make_simulator(accounts=("U7654321",))
    stack = await build_stack(database, sim, mode=TradeMode.LIVE, live_token=None, connect=False, market_data_type="live")
    try:
        recovery = _recovery(stack)  # built before the word, as the window's engine is
        stack.provider.arm_live_token("LIVE")  # Trading -> Connect with the word typed
        await stack.provider.connect()
        _settings(stack.db)
        _, snapshot_id = make_snapshot(stack.db, "live-crashed", {"AAPL": "0.01"})
        run = await stack.service.create_run("live-crashed", snapshot_id, TradeMode.LIVE, {}, live_token="LIVE")
        preview = await stack.service.preview(run.id, Decimal("100000"))
        await stack.service._db(stack.service._insert_orders, run.id, preview.plan)  # stored, never sent
        [aapl] = _orders(stack.db, "AAPL")
        result = await recovery.run_once(now=_later())
        assert result.skipped == () and result.sent == (aapl.client_order_id,)
        assert [o.order_ref for o in sim.orders()] == [aapl.client_order_id]
        assert NO_LIVE_WORD in PASSING_REFUSALS  # had it been refused for want of the word: asked again next pass
    finally:
        await stack.close()


async def test_the_longest_timeout_the_setting_takes_finds_nothing_stuck_instead_of_failing(stack):
    """``trade-settings set auto_recovery.new_timeout_seconds=1e12`` is accepted (0 to 1e12):
    every pass then failed with OverflowError "date value out of range" (``recover`` exit 2, the
    window's timer, ``serve`` and ``execute``'s wait too) instead of finding no order that old."""
    _settings(stack.db, new_timeout_seconds=10**12)
    _, snapshot_id = make_snapshot(stack.db, "patient", {"MSFT": "0.01"})
    run = await stack.service.create_run("patient", snapshot_id, TradeMode.PAPER, {})
    preview = await stack.service.preview(run.id, Decimal("100000"))
    await stack.service._db(stack.service._insert_orders, run.id, preview.plan)
    recovery = _recovery(stack)
    result = await recovery.run_once(now=_later(3600))
    assert result.considered == () and result.sent == () and stack.sim.orders() == []


async def test_halted_nothing_sent_and_the_unsent_orders_closed_by_the_halt(stack):
    """A run's order never sent is closed by the halt itself (audited with it), so no recovery
    pass, during the halt or after the resume, sends it (tests/execution/test_halt_then_resume.py)."""
    _settings(stack.db)
    _, snapshot_id = make_snapshot(stack.db, "halted", {"MSFT": "0.01"})
    run = await stack.service.create_run("halted", snapshot_id, TradeMode.PAPER, {})
    preview = await stack.service.preview(run.id, Decimal("100000"))
    await stack.service._db(stack.service._insert_orders, run.id, preview.plan)
    halted = await stack.actions.halt()
    [msft] = _orders(stack.db, "MSFT")
    assert msft.status is OrderState.CANCELED and halted.unsent_canceled == (msft.client_order_id,)
    assert [p["unsent_canceled"] for p in _audit(stack.db, "trading.halt")] == [[msft.client_order_id]]
    result = await _recovery(stack).run_once(now=_later())
    assert result.considered == () and result.sent == ()
    await stack.actions.resume()
    result = await _recovery(stack).run_once(now=_later())
    assert result.considered == () and result.sent == ()
    assert stack.sim.orders() == []


async def test_waiting_on_a_run_recovers_its_lost_order(stack, ib_log_guard):
    """What ``execute --wait-seconds`` does: wait in steps, a recovery pass after each step that
    left something working; the real clock here, with a one-second timeout."""
    _settings(stack.db, new_timeout_seconds=1)
    run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "waiting")
    recovery = _recovery(stack)
    async with stack.service.hold_run(run_id):  # as the command: the run's lease held while waiting
        still = await recovery.wait_recovering(lambda seconds: stack.service.wait_done(run_id, seconds), 15, step=0.3)
    assert still == []
    await stack.writer.flush()
    dead, new = _orders(stack.db, "IBM")
    assert (dead.client_order_id, dead.status) == (ibm.client_order_id, OrderState.CANCELED)
    assert (new.replaces_order_id, new.retry_count, new.status) == (dead.id, 1, OrderState.FILLED)
    assert {e.order_ref for e in stack.sim.executions() if e.symbol == "IBM"} == {new.client_order_id}


@pytest.mark.slow  # a `python -m app` subprocess
async def test_recover_command_replaces_an_order_lost_before_a_reconnect(database, db_url, simulator, ib_log_guard):
    """``trading-console recover --json``: the command's connection reconciles first and closes the
    lost order as never received; recovery then decides on it (proven dead) and re-places it."""
    from .cli_helpers import cli_args, run, until_client_gone
    from .conftest import build_stack

    stack = await build_stack(database, simulator)
    try:
        _settings(database, new_timeout_seconds=0)
        _, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "cli")
    finally:
        await stack.close()
    await until_client_gone(simulator, 1)

    out = await run(cli_args(db_url, simulator.port, "recover", "--json"))
    assert out.code == 0, out.err
    data = out.json
    assert data["considered"] == [ibm.client_order_id] and data["canceled"] == [] and data["skipped"] == []
    [replaced] = data["replaced"]
    assert (replaced["client_order_id"], replaced["retry"]) == (ibm.client_order_id, 1)
    await wait_until(lambda: any(e.symbol == "IBM" for e in simulator.executions()), 10, "the replacement to fill")
    assert {e.order_ref for e in simulator.executions() if e.symbol == "IBM"} == {replaced["replacement"]}
    dead, new = _orders(database, "IBM")
    assert (dead.status, new.replaces_order_id, new.retry_count) == (OrderState.CANCELED, dead.id, 1)
    await until_client_gone(simulator, 1)

    again = await run(cli_args(db_url, simulator.port, "recover"))
    assert again.code == 0, again.err
    assert again.out.startswith("Auto-recovery: considered 0,")  # the window's words (RecoveryResult.headline): it said "auto-recovery:"
    assert len([o for o in simulator.orders() if o.symbol == "IBM"]) == 1


@pytest.mark.parametrize("mode,connected,state,token,refusal", [
    ("paper", True, "ACTIVE", None, None),
    ("live", True, "ACTIVE", None, "live mode and this session was not given the LIVE word"),
    ("live", True, "ACTIVE", "LIVE", None),
    ("paper", False, "ACTIVE", None, "not connected"),
    ("paper", True, "HALTED", None, "trading is HALTED"),
    ("paper", True, "REDUCING", None, "trading is REDUCING"),
])
def test_nothing_is_sent_halted_disconnected_or_live_without_the_word(mode, connected, state, token, refusal):
    from types import SimpleNamespace

    from services.domain import TradingState

    provider = SimpleNamespace(mode=mode, is_connected=connected, account="")
    recovery = AutoRecovery(None, provider, None, None, None, actor="tester", live_token=token)  # type: ignore[arg-type]
    assert recovery._refusals.gate({"trading_state": TradingState(state)}) == refusal


def test_a_pass_names_five_orders_of_a_kind_and_counts_the_rest():
    """The pass's one line stays a line: the first orders of each kind named, the others counted."""
    from services.execution.recovery_outcomes import Skipped

    refs = [f"C-{i}" for i in range(1, 8)]
    result = RecoveryResult(datetime.now(UTC), tuple(refs), skipped=tuple(Skipped(r, "not connected") for r in refs),
                            named=tuple((r, f"BUY {i} IBM MKT") for i, r in enumerate(refs, 1)))
    assert result.describe() == ("considered 7, canceled 0, sent 0, re-placed 0, skipped 7 (BUY 1 IBM MKT, C-1; "
                                 "BUY 2 IBM MKT, C-2; BUY 3 IBM MKT, C-3; BUY 4 IBM MKT, C-4; BUY 5 IBM MKT, C-5 "
                                 "and 2 more)")
