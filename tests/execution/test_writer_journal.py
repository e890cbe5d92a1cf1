"""The writer's backlog survives any outage (SQLite and MariaDB): beyond the memory limit it is
spilled to the journal and replayed when the database returns; a writer stopped during an outage
leaves everything in the journal and the next one writes it, exactly once. Events the database
refuses are a published health problem until they are written."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from services.db.repositories import OrderRepository, PositionRepository
from services.domain import OrderState, OrderType, Side
from services.execution.writer import EventWriter, WriterHealth
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_actions import _settle
from .test_db_outage import FlakyDatabase
from .test_pitfalls import assert_db_matches_ledger, db_fills

pytestmark = pytest.mark.timeout(120)


def _swap_writer(stack, writer) -> None:
    stack.writer = stack.service.writer = stack.actions.writer = stack.reconciler.writer = writer


def _order(db, order_id):
    with db.session() as session:
        return OrderRepository(session).get(order_id)


def _account_position(db, account, symbol):
    with db.session() as session:
        return PositionRepository(session).get(account, symbol)


def _journal_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _fills_while_down(stack, simulator, flaky, symbol="AAPL"):
    order = await stack.actions.manual_order(symbol, Side.BUY, Decimal(30), OrderType.LMT, Decimal("225"))
    await _settle(stack, order.id, {OrderState.ACCEPTED})
    flaky.down = True
    simulator.faults.add_rule(symbols={symbol}, fill_mode="partial")
    simulator.set_price(symbol, "224")
    await wait_until(lambda: len(simulator.ledger()) == 3, 20, "three fills at the simulator")
    return order


async def test_backlog_beyond_the_limit_goes_to_the_journal_and_is_replayed_once(database, simulator, tmp_path):
    stack = await build_stack(database, simulator)
    await stack.writer.stop()
    flaky = FlakyDatabase(database)
    journal = tmp_path / "writer-journal.jsonl"
    writer = EventWriter(flaky, stack.provider.events, retry_initial=0.02, retry_max=0.05, buffer_limit=4,
                         account=stack.provider.account, journal_path=journal)
    _swap_writer(stack, writer)
    health: list[WriterHealth] = []
    writer.subscribe_health(health.append)
    writer.start()
    try:
        order = await _fills_while_down(stack, simulator, flaky)
        await wait_until(lambda: writer.health.journaled >= 4, 20, "the backlog spilled to the journal")
        assert len(writer._pending) < 4  # memory stays bounded
        lines = _journal_lines(journal)
        assert len(lines) == writer.health.journaled
        assert {line["type"] for line in lines} >= {"ExecutionEvent"}
        assert writer.health.degraded and "kept in the journal" in writer.health.describe()
        assert db_fills(database) == []
        flaky.down = False
        await wait_until(lambda: not writer.health.problem, 20, "the journal replayed")
        await writer.flush()
        assert not journal.exists() and not journal.with_name(journal.name + ".offset").exists()
        assert_db_matches_ledger(database, simulator)
        await _settle(stack, order.id, {OrderState.FILLED})
        # nothing doubled: the order and the position count each fill once
        assert _order(database, order.id).filled_quantity == Decimal(30)
        assert _account_position(database, stack.provider.account, "AAPL").quantity == Decimal(30)
        assert len(db_fills(database)) == len(simulator.ledger())
        assert health[0].degraded and not health[-1].problem
    finally:
        await stack.close()


async def test_a_writer_stopped_during_an_outage_leaves_all_in_the_journal_for_the_next(database, simulator, tmp_path):
    stack = await build_stack(database, simulator)
    await stack.writer.stop()
    flaky = FlakyDatabase(database)
    journal = tmp_path / "writer-journal.jsonl"
    writer = EventWriter(flaky, stack.provider.events, retry_initial=0.02, retry_max=0.05,
                         account=stack.provider.account, journal_path=journal)
    _swap_writer(stack, writer)
    writer.start()
    try:
        order = await _fills_while_down(stack, simulator, flaky)
        await wait_until(lambda: writer.health.degraded, 20, "the outage noticed")
        failures = flaky.failures
        # the command ends, the database is still away: one more attempt at once, then the
        # journal; the stop does not retry for its whole timeout (a stack's is 10 s)
        await writer.stop(drain=True, timeout=10)
        assert flaky.failures - failures <= 1, flaky.failures - failures
        spilled = _journal_lines(journal)
        assert spilled and writer.health.journaled == len(spilled) and writer.backlog == 0
        assert db_fills(database) == []

        # the next process: the database is back; its writer replays the journal first
        following = EventWriter(database, account=stack.provider.account, journal_path=journal)
        _swap_writer(stack, following)
        health: list[WriterHealth] = []
        following.subscribe_health(health.append)
        following.start()
        await following.flush(timeout=20)
        assert following.events_written == len(spilled)
        assert not journal.exists()
        assert not following.health.problem and health[-1].journaled == 0
        assert_db_matches_ledger(database, simulator)
        assert _order(database, order.id).filled_quantity == Decimal(30)

        # and a third one finds nothing to replay: each line was written exactly once
        third = EventWriter(database, journal_path=journal)
        third.start()
        await third.flush(timeout=5)
        assert third.events_written == 0
        await third.stop()
        assert _order(database, order.id).filled_quantity == Decimal(30)
        assert _account_position(database, stack.provider.account, "AAPL").quantity == Decimal(30)
    finally:
        await stack.close()


async def test_a_refused_event_is_a_health_problem_until_written(database, simulator, monkeypatch):
    stack = await build_stack(database, simulator)
    await stack.writer.stop()
    writer = EventWriter(database, stack.provider.events, account=stack.provider.account,
                         parked_retry_initial=0.05, parked_retry_max=0.1)
    _swap_writer(stack, writer)
    health: list[WriterHealth] = []
    writer.subscribe_health(health.append)
    broken = {"on": True}
    original = writer.projection._on_execution

    def refusing(session, batch, ev):
        if broken["on"]:
            raise ValueError(f"cannot store {ev.exec_id} (test)")
        return original(session, batch, ev)

    monkeypatch.setattr(writer.projection, "_on_execution", refusing)
    writer.start()
    try:
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10))
        await wait_until(lambda: writer.health.parked >= 1, 20, "the refused execution published")
        parked = writer.health
        assert parked.problem and not parked.degraded
        assert "refused" in parked.describe() and "cannot store" in parked.describe()
        assert db_fills(database) == []
        broken["on"] = False  # fixed (a new release, a repaired row): the retry writes it
        await wait_until(lambda: not writer.health.problem, 20, "the parked events written")
        assert len(db_fills(database)) == 1
        await _settle(stack, order.id, {OrderState.FILLED})
        assert [h.parked for h in health][-1] == 0 and any(h.parked for h in health)
    finally:
        await stack.close()


def test_journal_codec_round_trips_every_event_kind(tmp_path):
    from datetime import UTC, datetime

    from services.core.order_state import EventKind
    from services.domain import EventSource
    from services.execution.events import BrokerErrorEvent, CommissionEvent, ExecutionEvent, OrderStatusEvent
    from services.execution.journal import EventJournal
    from services.execution.writer import JOURNAL_CODEC, LocalOrderEvent, PositionTruth, ReconciledStatus

    when = datetime(2026, 11, 20, 15, 0, 0, 123456, tzinfo=UTC)
    events = [
        ExecutionEvent(exec_id="e.01.01", ib_order_id=7, perm_id=5, client_id=1, order_ref="R-1", account="DU1", symbol="AAPL",
                       side="BUY", shares=Decimal("1.5"), price=Decimal("225.010"), time=when,
                       raw={"execId": "e.01.01", "nested": {"px": Decimal("1.10")}, "list": [1, "a"]}),
        CommissionEvent(exec_id="e.01.01", commission=Decimal("0.35"), raw={}),
        OrderStatusEvent(7, 5, 1, "Submitted", Decimal(0), Decimal(10), None, None, order_ref="R-1", time=when),
        BrokerErrorEvent(7, 201, "rejected", order_ref="R-1"),
        LocalOrderEvent("R-1", EventKind.REPLACE_REQUESTED, EventSource.USER, quantity=Decimal(5), payload={"why": "x"}),
        ReconciledStatus("R-1", "Filled", Decimal(10), 5, 7, "done", {"k": "v"}),
        PositionTruth("DU1", "AAPL", Decimal("-3"), Decimal("224.5")),
    ]
    journal = EventJournal(tmp_path / "j.jsonl", JOURNAL_CODEC)
    journal.append(events[:3])
    journal.append(events[3:])
    assert journal.pending() == len(events)
    with journal.replay(4) as first:
        assert first == events[:4]
        assert first[0].raw == events[0].raw and first[0].time == when  # raw is not part of equality
    assert journal.pending() == 3
    with pytest.raises(RuntimeError), journal.replay(10) as rest:  # not committed: replayed again later
        assert rest == events[4:]
        raise RuntimeError("the batch failed")
    with journal.replay(10) as rest:
        assert rest == events[4:]
        assert [type(e) for e in rest] == [type(e) for e in events[4:]]
    assert not journal.path.exists() and not journal.has_events()
