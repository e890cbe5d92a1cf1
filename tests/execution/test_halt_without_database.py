"""Halt and Cancel All while the database server is down (services/execution/unrecorded.py).

The broker is still there and orders may be working at it: a halt with Cancel All used to fail
at its first database write, and the orders stayed working. Now what needs no database is done
at once (this process's senders stop, the cancel goes to the broker), and the halt, the Cancel
All's marker and their audit entries are written as soon as the database answers again, each
saying it was recorded late. The server is a private ``mariadbd`` the test kills and restarts
(tests/fixtures/mariadb.py), never the shared one.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.audit_actions import AuditAction
from services.db import Database
from services.db.models import AuditLog
from services.db.repositories import SettingsRepository
from services.domain import OrderState, OrderType, Side, TradingState
from services.execution.errors import TradingHalted
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_actions import _order, _settle

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # a private server started and killed


@pytest.fixture
def private_database(private_mariadb_url):
    db = Database(private_mariadb_url)
    yield db
    db.dispose()


async def _two_working_orders(stack) -> list[int]:
    ids = [(await stack.actions.manual_order(symbol, Side.BUY, Decimal(10), OrderType.LMT, Decimal(limit))).id
           for symbol, limit in (("AAPL", "225"), ("MSFT", "405"))]
    for order_id in ids:
        await _settle(stack, order_id, {OrderState.ACCEPTED})
    return ids


def _working_at_simulator(simulator) -> list[str]:
    return [o.order_ref for o in simulator.orders() if o.status in ("Submitted", "PreSubmitted")]


def _entries(db, action: AuditAction) -> list[dict]:
    with db.session() as session:
        return [row.payload for row in session.scalars(select(AuditLog).where(AuditLog.action == action.value)
                                                       .order_by(AuditLog.id))]


async def test_a_halt_with_cancel_all_while_the_database_is_down_cancels_at_the_broker_and_is_recorded_when_it_returns(
        private_mariadb, private_database, simulator):
    stack = await build_stack(private_database, simulator)
    stack.actions.unrecorded.retry_initial = stack.actions.unrecorded.retry_max = 0.1
    try:
        ids = await _two_working_orders(stack)
        await asyncio.to_thread(private_mariadb.kill)  # SIGKILL: the server is gone, the broker is not

        halted = await stack.actions.halt(cancel_all=True)

        assert halted.state is TradingState.HALTED
        assert "the halt is not recorded yet: the database did not answer" in halted.headline()
        assert halted.canceled is not None and halted.canceled.everything
        assert "the database did not answer" in halted.canceled.headline()
        assert any("Cancel All: its marker and audit entry are not recorded yet" in line for line in halted.canceled.left_lines())
        await wait_until(lambda: not _working_at_simulator(simulator), 15, lambda: (
            f"the broker's orders canceled; still working: {_working_at_simulator(simulator)}"))
        # held by this process meanwhile: nothing new goes out, asked before any database call
        assert stack.actions.unrecorded.halt_pending
        with pytest.raises(TradingHalted):
            await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1), OrderType.LMT, Decimal("225"))

        await asyncio.to_thread(private_mariadb.start)
        assert await stack.actions.unrecorded.wait_written(60), f"still unrecorded: {stack.actions.unrecorded.waiting}"
        assert not stack.actions.unrecorded.halt_pending
        with private_database.session() as session:
            assert SettingsRepository(session).trading_state() is TradingState.HALTED
        halt_entry, = _entries(private_database, AuditAction.TRADING_HALT)
        assert halt_entry["to"] == "HALTED" and halt_entry["cancel_all"] is True
        assert "database server unreachable" in halt_entry["recorded_late"]["not_recorded_then"]
        cancel_entry, = _entries(private_database, AuditAction.TRADING_CANCEL_ALL)
        assert cancel_entry["global"] is True and "asked_at" in cancel_entry["recorded_late"]
        # the broker's answers, kept by the writer while the database was down, are written too
        for order_id in ids:
            await _settle(stack, order_id, {OrderState.CANCELED}, timeout=60)
    finally:
        await stack.close()


async def test_cancel_all_one_by_one_while_the_database_is_down_cancels_what_the_broker_holds_open(
        private_mariadb, private_database, simulator):
    stack = await build_stack(private_database, simulator)
    stack.actions.unrecorded.retry_initial = stack.actions.unrecorded.retry_max = 0.1
    try:
        ids = await _two_working_orders(stack)
        refs = sorted(_order(private_database, order_id).client_order_id for order_id in ids)
        await asyncio.to_thread(private_mariadb.kill)

        canceled = await stack.actions.cancel_all(one_by_one=True)

        assert sorted(canceled.at_broker_alone) == refs and not canceled.not_canceled
        assert canceled.headline() == ("Cancel sent to the broker for 2 orders of this account it holds open "
                                       "(the database did not answer: read from the broker)")
        await wait_until(lambda: not _working_at_simulator(simulator), 15, "the broker's orders canceled")
        assert not stack.actions.unrecorded.halt_pending  # a Cancel All is no halt: trading stays as it was

        await asyncio.to_thread(private_mariadb.start)
        assert await stack.actions.unrecorded.wait_written(60), f"still unrecorded: {stack.actions.unrecorded.waiting}"
        cancel_entry, = _entries(private_database, AuditAction.TRADING_CANCEL_ALL)
        assert cancel_entry["global"] is False and cancel_entry["recorded_late"]["asked_at"]
        with private_database.session() as session:
            assert SettingsRepository(session).trading_state() is TradingState.ACTIVE
        for order_id in ids:
            await _settle(stack, order_id, {OrderState.CANCELED}, timeout=60)
    finally:
        await stack.close()


@pytest.mark.parametrize("command", [("halt", "--cancel-all"), ("cancel-all",)], ids=["halt", "cancel-all"])
async def test_a_commands_cancel_all_while_the_database_is_down_goes_to_the_broker_and_says_nothing_is_recorded(
        private_mariadb, private_database, private_mariadb_url, simulator, command):
    """`halt --cancel-all` and `cancel-all` failed at once with the database down ("database
    server unreachable"), the orders still working. A command cannot stay to write a halt: the
    cancel goes to the broker, and it fails (5) saying the halt is not in force and nothing is
    recorded."""
    from .cli_helpers import cli_args, run

    stack = await build_stack(private_database, simulator)
    try:
        await _two_working_orders(stack)
        await asyncio.to_thread(private_mariadb.kill)
        result = await run(cli_args(private_mariadb_url, simulator.port, *command, "--json", client_id=7))
        assert result.code == 5, result.err
        said = result.json
        assert said["error"] == "database_unreachable" and said["global"] is True
        halt = command[0] == "halt"
        assert said["message"].startswith("trading is NOT halted and the Cancel All is not recorded" if halt
                                          else "the Cancel All is not recorded"), said
        assert f"run `trading-console {command[0]}` again once it answers" in result.err
        await wait_until(lambda: not _working_at_simulator(simulator), 15, lambda: (
            f"the global cancel at the broker; still working: {_working_at_simulator(simulator)}"))
    finally:
        await asyncio.to_thread(private_mariadb.start)
        await stack.close()


async def test_a_rows_cancel_while_the_database_is_down_goes_by_the_order_as_shown(private_mariadb, private_database,
                                                                                  simulator):
    """A row's Cancel read the order from the database first and failed; it now goes by the
    order as the window shows it (its client order id and broker id): cancels always go out.
    Without the row (a command's `cancel ID`) it still fails, saying the database did not answer."""
    from sqlalchemy.exc import OperationalError

    stack = await build_stack(private_database, simulator)
    stack.actions.unrecorded.retry_initial = stack.actions.unrecorded.retry_max = 0.1
    try:
        first, second = await _two_working_orders(stack)
        shown = await stack.actions.order(first)
        other = (await stack.actions.order(second)).client_order_id
        await asyncio.to_thread(private_mariadb.kill)

        canceled = await stack.actions.cancel(first, shown=shown)

        assert canceled.outcome().startswith("requested at the broker; the database did not answer"), canceled.outcome()
        assert "its audit entry is not recorded yet" in canceled.outcome()
        await wait_until(lambda: _working_at_simulator(simulator) == [other], 15,
                         lambda: f"only the other order still working: {_working_at_simulator(simulator)}")
        with pytest.raises(OperationalError):
            await stack.actions.cancel(second)  # no row to go by

        await asyncio.to_thread(private_mariadb.start)
        assert await stack.actions.unrecorded.wait_written(60), f"still unrecorded: {stack.actions.unrecorded.waiting}"
        entry, = _entries(private_database, AuditAction.ORDER_CANCEL)
        assert entry["client_order_id"] == shown.client_order_id and entry["recorded_late"]["asked_at"]
        await _settle(stack, first, {OrderState.CANCELED}, timeout=60)
        await _settle(stack, second, {OrderState.ACCEPTED}, timeout=60)
    finally:
        await stack.close()


async def test_a_resume_waits_for_the_halt_the_database_did_not_answer(private_mariadb, private_database, simulator):
    """Written after a resume, a halt the database did not answer would undo it: the resume
    writes it first, and is refused while it cannot (the halt holding)."""
    from services.execution.errors import Refused

    stack = await build_stack(private_database, simulator, connect=False)
    stack.actions.unrecorded.retry_initial = stack.actions.unrecorded.retry_max = 0.1
    stack.actions.confirm_timeout = 0.5
    try:
        await asyncio.to_thread(private_mariadb.kill)
        await stack.actions.halt()
        with pytest.raises(Refused, match="the halt asked while the database did not answer is not recorded yet"):
            await stack.actions.resume()
        assert stack.actions.unrecorded.halt_pending

        await asyncio.to_thread(private_mariadb.start)
        stack.actions.confirm_timeout = 60  # the deadline of the wait for the halt's write
        assert await stack.actions.resume() is TradingState.ACTIVE
        with private_database.session() as session:
            assert SettingsRepository(session).trading_state() is TradingState.ACTIVE
            actions = [row.action for row in session.scalars(select(AuditLog).order_by(AuditLog.id))
                       if row.action in (AuditAction.TRADING_HALT.value, AuditAction.TRADING_RESUME.value)]
        assert actions == [AuditAction.TRADING_HALT.value, AuditAction.TRADING_RESUME.value]
    finally:
        await stack.close()


async def test_a_halt_command_whose_database_dies_after_it_opened_it_says_the_halt_is_not_recorded(
        private_mariadb, private_mariadb_url, simulator, monkeypatch, capsys):
    """A command cannot stay to write what the database did not answer: it said "written as soon
    as it answers" and ended (or only that its events were not written). It now sends the cancel,
    waits its write_timeout for the database, and exits 5 saying the halt is NOT recorded and
    what to run."""
    from app.cli import main
    from services.execution.actions import OrderActions

    halt = OrderActions.halt

    async def halt_after_the_database_died(self, **kwargs):
        await asyncio.to_thread(private_mariadb.kill)  # the command opened its database; it dies now
        return await halt(self, **kwargs)

    monkeypatch.setattr(OrderActions, "halt", halt_after_the_database_died)
    monkeypatch.setenv("TC_WRITE_TIMEOUT", "1")
    stack = await build_stack(Database(private_mariadb_url), simulator)
    try:
        ids = await _two_working_orders(stack)
        code = await asyncio.to_thread(main, ["--db-url", private_mariadb_url, "--log-level", "WARNING", "halt",
                                              "--cancel-all", "--ib-port", str(simulator.port), "--client-id", "7",
                                              "--connect-timeout", "5"])
        out, err = capsys.readouterr()
        assert code == 5, err
        assert "Global cancel sent to the broker" in out, out
        assert ("NOT recorded, the database did not answer before this command ended: the halt asked at" in err
                and "run `trading-console halt` again once it answers" in err), err
        await wait_until(lambda: not _working_at_simulator(simulator), 15, "the broker's cancel")
        await asyncio.to_thread(private_mariadb.start)
        for order_id in ids:  # the window's stack writes the broker's answers it heard
            await _settle(stack, order_id, {OrderState.CANCELED}, timeout=60)
        with stack.db.session() as session:
            assert SettingsRepository(session).trading_state() is TradingState.ACTIVE  # nothing halted it
    finally:
        await stack.close()
        stack.db.dispose()
