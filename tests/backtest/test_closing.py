"""A backtest left `running` by a process that is gone is closed as failed by whoever looks next
(services.backtest.closing), with its open runs and orders; a live one, or one whose process
cannot be told from here, is left alone."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from services.backtest import closing
from services.backtest.closing import close_abandoned
from services.backtest.costs import FillAt
from services.backtest.heartbeat import STALE_AFTER
from services.backtest.prices import PriceBook
from services.backtest.requests import load_backtest
from services.backtest.runner import Backtester, BacktestSpec
from services.db.models import Backtest, OrderEvent, TradeOrder, TradeRun
from services.db.repositories import ProjectRepository, RunRepository
from services.domain import OrderState, RunStatus, TradeMode
from services.execution.lease import process_key

from .abandoned import HOST, dead_key, own_key, rebooted_key, running_backtest
from .data import generated_bars, monthly_snapshots


def _state(database, backtest_id: int, run_ids: list[int], coids: list[str]):
    with database.session() as session:
        row = session.get(Backtest, backtest_id)
        runs = [session.get(TradeRun, run_id) for run_id in run_ids]
        orders = list(session.scalars(select(TradeOrder).where(TradeOrder.client_order_id.in_(coids))))
        events = {o.client_order_id: session.scalars(select(OrderEvent).where(OrderEvent.order_id == o.id)
                                                     .order_by(OrderEvent.id.desc())).first() for o in orders}
        return (row.status, row.message, [(r.status, r.message) for r in runs],
                {o.client_order_id: o.status for o in orders}, events)


def _closed_as_failed(database, backtest_id: int, runs: list[int], coids: list[str], message: str) -> None:
    """The backtest's row failed with ``message``, its runs failed and its orders canceled."""
    status, said, run_states, orders, _ = _state(database, backtest_id, runs, coids)
    assert (status, said) == ("failed", message)
    assert {s for s, _ in run_states} == {RunStatus.FAILED} and set(orders.values()) == {OrderState.CANCELED}


def test_a_backtest_whose_process_is_gone_is_closed_failed_with_its_runs_and_orders(database):
    dead, runs, coids = running_backtest(database, host=HOST, key=dead_key(), pid=4242)
    live, live_runs, live_coids = running_backtest(database, host=HOST, key=own_key(), pid=os.getpid())

    closed = close_abandoned(database)

    message = f"the process running it ended (pid 4242 on {HOST}) after its rebalance of 2024-04-01"
    assert [(c.id, c.message) for c in closed] == [(dead, message)]
    status, said, run_states, orders, events = _state(database, dead, runs, coids)
    assert (status, said) == ("failed", message)
    why = f"backtest {dead} failed: {message}"
    assert run_states == [(RunStatus.FAILED, why), (RunStatus.FAILED, why)]
    assert orders == {coids[0]: OrderState.CANCELED, coids[1]: OrderState.CANCELED}
    for event in events.values():  # through the state machine, with the reason
        assert event.to_state is OrderState.CANCELED and event.payload["note"] == why, event.payload
    # the live backtest (this very process) is left as it is, its run and orders too
    status, said, run_states, orders, _ = _state(database, live, live_runs, live_coids)
    assert (status, said) == ("running", None)
    assert [s for s, _ in run_states] == [RunStatus.RUNNING, RunStatus.QUEUED]
    assert set(orders.values()) == {OrderState.NEW, OrderState.ACCEPTED}
    assert close_abandoned(database) == []  # closed once


def test_a_reboot_ends_it_but_another_machines_backtest_is_left_to_its_machine(database):
    rebooted, runs, coids = running_backtest(database, host=HOST, key=rebooted_key())
    elsewhere, other_runs, other_coids = running_backtest(database, host="another-host", key=rebooted_key())
    unknown, _, _ = running_backtest(database, host=HOST, key=None)  # a row older than the process columns

    assert [c.id for c in close_abandoned(database)] == [rebooted]
    assert _state(database, rebooted, runs, coids)[0] == "failed"
    assert _state(database, elsewhere, other_runs, other_coids)[0] == "running"
    assert load_backtest(database, unknown).status == "running"


async def test_the_next_backtest_and_reading_one_close_an_abandoned_backtest(database):
    dead, runs, coids = running_backtest(database, host=HOST, key=dead_key())
    assert load_backtest(database, dead).status == "failed"  # reading it

    again, runs, coids = running_backtest(database, host=HOST, key=dead_key())
    symbols = [f"N{i}" for i in range(4)]
    snapshots = monthly_snapshots(symbols, date(2024, 1, 1), date(2024, 1, 31), names=(2, 3))
    spec = BacktestSpec(Decimal(10_000), FillAt.CLOSE, commission="none",
                        builder={"rounding": "floor", "lot_size": Decimal(1)}, end=date(2024, 1, 5))
    outcome = await Backtester(database, PriceBook(generated_bars(symbols, date(2023, 12, 20), date(2024, 1, 31))),
                               snapshots, spec).run()
    assert outcome.status == "done"
    assert _state(database, again, runs, coids)[:2] == (
        "failed", f"the process running it ended (pid 4242 on {HOST}) after its rebalance of 2024-04-01")
    with database.session() as session:  # the new backtest names its own process
        row = session.get(Backtest, outcome.backtest_id)
        assert (row.host, row.pid, row.process_key) == (HOST, os.getpid(), process_key())


def test_another_machines_backtest_is_closed_once_its_heartbeat_is_older_than_the_bound(database):
    """Its process cannot be seen from here: the heartbeat tells. Fresh: left running; older
    than the bound: failed, naming the host and the last beat; none (a row older than the
    heartbeat): left to its machine."""
    now = datetime.now(UTC)
    silent_at = now - STALE_AFTER - timedelta(seconds=30)
    silent, runs, coids = running_backtest(database, host="another-host", key=rebooted_key(), pid=77,
                                           heartbeat=silent_at)
    beating, _, _ = running_backtest(database, host="another-host", key=rebooted_key(), heartbeat=now - timedelta(seconds=20))
    older, _, _ = running_backtest(database, host="another-host", key=rebooted_key(), heartbeat=None)

    closed = close_abandoned(database)

    message = (f"its process on another-host (pid 77) stopped answering at {silent_at:%Y-%m-%d %H:%M:%S} UTC "
               f"(no heartbeat for over 10 minutes) after its rebalance of 2024-04-01")
    assert [(c.id, c.message) for c in closed] == [(silent, message)]
    _closed_as_failed(database, silent, runs, coids, message)
    assert load_backtest(database, beating).status == "running" and load_backtest(database, older).status == "running"
    # a shorter bound, as stated by the caller, closes the one still beating 20 s ago
    assert [c.id for c in close_abandoned(database, stale_after=timedelta(seconds=10))] == [beating]


def test_a_process_alive_on_this_machine_is_not_closed_for_an_old_heartbeat(database):
    live, _, _ = running_backtest(database, host=HOST, key=own_key(), pid=os.getpid(),
                                  heartbeat=datetime.now(UTC) - timedelta(days=1))
    assert close_abandoned(database) == []
    assert load_backtest(database, live).status == "running"


def test_two_looks_at_once_close_an_abandoned_backtest_exactly_once(database, monkeypatch):
    """The panel and the next backtest's start both judge it abandoned at the same moment (a
    barrier holds each after its judgement until the other has judged too): one closes it, the
    other finds it closed; one cancel per order, the winner's message kept.

    The race is shown to have happened, not assumed: both looks passed the barrier (each had
    read the row running and judged it before either closed), and both then tried the close,
    which the conditional update granted to one only. Without the overlap the second look
    would simply not see the row running and the outcome would look the same."""
    dead, runs, coids = running_backtest(database, host=HOST, key=dead_key(), pid=4242)
    both_judged = threading.Barrier(2, timeout=30)
    passed: list[int] = []  # the barrier's arrival indices: 0 and 1 once both looks judged
    claims: list[bool] = []  # what each look's close_backtest answered
    real_holder_gone, real_close = closing.holder_gone, closing.close_backtest

    def judged_then_wait(host, key):
        gone = real_holder_gone(host, key)
        passed.append(both_judged.wait())
        return gone

    def close_and_tell(*args, **kwargs):
        claimed = real_close(*args, **kwargs)
        claims.append(claimed)
        return claimed

    monkeypatch.setattr(closing, "holder_gone", judged_then_wait)
    monkeypatch.setattr(closing, "close_backtest", close_and_tell)
    with ThreadPoolExecutor(2) as pool:
        looks = [pool.submit(close_abandoned, database) for _ in range(2)]
        results = [look.result(timeout=60) for look in looks]

    assert sorted(passed) == [0, 1], f"the two looks did not both judge before either closed: {passed}"
    assert sorted(claims) == [False, True], f"both looks should have tried the close, one granted: {claims}"
    assert sorted(len(r) for r in results) == [0, 1], results
    (winner,) = [c for r in results for c in r]
    assert winner.id == dead
    _closed_as_failed(database, dead, runs, coids, winner.message)
    with database.session() as session:
        cancels = session.scalars(select(OrderEvent.order_id).join(TradeOrder, TradeOrder.id == OrderEvent.order_id)
                                  .where(TradeOrder.client_order_id.in_(coids),
                                         OrderEvent.to_state == OrderState.CANCELED)).all()
    assert sorted(cancels) == sorted(set(cancels)) and len(cancels) == 2  # one cancel each


def test_the_second_close_of_a_backtest_changes_nothing(database):
    dead, _, _ = running_backtest(database, host=HOST, key=dead_key())
    assert closing.close_backtest(database, dead, "failed", {}, "first")
    assert not closing.close_backtest(database, dead, "canceled", {"days": 1}, "second")
    with database.session() as session:
        row = session.get(Backtest, dead)
        assert (row.status, row.message, row.results) == ("failed", "first", {})


def test_a_closer_killed_between_the_row_and_the_runs_is_finished_by_a_later_look(database):
    """The row closed, the closer gone before its runs and orders (kill -9 in between): a look a
    minute later closes them with the row's verdict; a row closed just now is left to its closer."""
    stranded, runs, coids = running_backtest(database, host=HOST, key=dead_key())
    just_closed, fresh_runs, fresh_coids = running_backtest(database, host=HOST, key=dead_key())
    with database.unit_of_work() as session:
        for backtest_id, ago in ((stranded, timedelta(minutes=2)), (just_closed, timedelta(0))):
            row = session.get(Backtest, backtest_id)
            row.status, row.message, row.finished_at = "failed", "its closer's verdict", datetime.now(UTC) - ago

    assert close_abandoned(database) == []  # nothing newly abandoned: no verdict said again

    status, said, run_states, orders, _ = _state(database, stranded, runs, coids)
    why = f"backtest {stranded} failed: its closer's verdict"
    assert (status, said) == ("failed", "its closer's verdict")
    assert run_states == [(RunStatus.FAILED, why), (RunStatus.FAILED, why)]
    assert set(orders.values()) == {OrderState.CANCELED}
    _, _, run_states, orders, _ = _state(database, just_closed, fresh_runs, fresh_coids)
    assert [s for s, _ in run_states] == [RunStatus.RUNNING, RunStatus.QUEUED]
    assert set(orders.values()) == {OrderState.NEW, OrderState.ACCEPTED}


def test_the_open_run_looks_are_served_by_the_status_mode_index(database):
    """The closer's looks for open backtest runs (``mode = 'backtest' AND status IN (...)``: the
    closed backtest's runs, the half-closed sweep) seek ``ix_trade_runs_status_mode``: the open
    runs of that mode, not every mode's."""
    from sqlalchemy import event

    running_backtest(database, host=HOST, key=dead_key(), pid=4242)
    with database.unit_of_work() as session:  # open runs of another mode: the status alone would read them too
        project = ProjectRepository(session).get_or_create("paper")
        for day in range(1, 29):
            RunRepository(session).create(project.id, mode=TradeMode.PAPER, trade_date=date(2024, 2, day),
                                          status=RunStatus.RUNNING if day % 2 else RunStatus.QUEUED)
    looks: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, *_):
        if "FROM trade_runs" in statement and "trade_runs.status IN" in statement and statement.startswith("SELECT"):
            looks.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        assert len(close_abandoned(database)) == 1
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)

    assert len(looks) == 2, looks  # the closed backtest's open runs, then the half-closed sweep
    with database.engine.connect() as connection:
        for statement, parameters in looks:
            if database.engine.dialect.name == "sqlite":
                plan = " ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
                assert "USING INDEX ix_trade_runs_status_mode (status=? AND mode=?)" in plan, (statement, plan)
            else:
                plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).mappings().one()
                assert (plan["key"], plan["key_len"]) == ("ix_trade_runs_status_mode", "196"), (statement, dict(plan))


def test_a_row_of_a_version_before_heartbeats_is_closed_once_it_is_a_day_old(database):
    """A `running` row with no heartbeat and no process to look at (written by a version before
    either) stayed running for ever; once it began over a day ago it is closed as failed, saying
    why. One that began an hour ago is left: its process could still be at work."""
    from services.backtest.closing import UNTOLD_AFTER

    old, runs, coids = running_backtest(database, host=None, key=None, pid=None)
    young, _, _ = running_backtest(database, host=None, key=None, pid=None)
    began = datetime.now(UTC) - UNTOLD_AFTER - timedelta(minutes=5)
    with database.unit_of_work() as session:
        session.get(Backtest, old).created_at = began
        session.get(Backtest, young).created_at = datetime.now(UTC) - timedelta(hours=1)

    closed = close_abandoned(database)

    message = (f"it began at {began:%Y-%m-%d %H:%M} UTC under a version of the console that wrote no heartbeat, "
               f"over 1 day ago, and its process cannot be seen from here after its rebalance of 2024-04-01")
    assert [(c.id, c.message) for c in closed] == [(old, message)]
    _closed_as_failed(database, old, runs, coids, message)
    assert load_backtest(database, young).status == "running"


async def test_a_dead_backtests_last_rebalance_is_one_seek_of_its_own_runs(database):
    """The closer says how far a dead backtest had gone (its last rebalance's day, or none) as
    before, now by one seek of ``ix_trade_runs_backtest``: it read the params of every backtest
    run newer than that one, of every backtest run for one that died before its first rebalance."""
    from sqlalchemy import event, update

    symbols = [f"N{i}" for i in range(4)]
    prices = PriceBook(generated_bars(symbols, date(2023, 12, 20), date(2024, 3, 29)))

    async def backtest(end: date) -> int:
        spec = BacktestSpec(Decimal(10_000), FillAt.CLOSE, commission="none",
                            builder={"rounding": "floor", "lot_size": Decimal(1)}, end=end)
        return (await Backtester(database, prices, monthly_snapshots(symbols, date(2024, 1, 1), end, names=(2, 3)),
                                 spec).run()).backtest_id

    earlier, later = await backtest(date(2024, 2, 29)), await backtest(date(2024, 3, 29))
    with database.unit_of_work() as session:  # both as their process left them, killed; and one killed before any rebalance
        session.execute(update(Backtest).where(Backtest.id.in_([earlier, later]))
                        .values(status="running", host=HOST, pid=4242, process_key=dead_key()))
        never = Backtest(status="running", params={}, host=HOST, pid=4242, process_key=dead_key())
        session.add(never)
        session.flush()
        never_id = never.id
    looks: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, *_):
        if statement.startswith("SELECT") and "FROM trade_runs" in statement and "ORDER BY trade_runs.id DESC" in statement:
            looks.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        closed = {c.id: c.message for c in close_abandoned(database)}
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)

    ended = f"the process running it ended (pid 4242 on {HOST})"
    assert closed == {earlier: f"{ended} after its rebalance of 2024-02-01", later: f"{ended} after its rebalance of 2024-03-01",
                      never_id: f"{ended} before its first rebalance"}
    assert len(looks) == 3, looks
    with database.engine.connect() as connection:
        for statement, parameters in looks:
            if database.engine.dialect.name == "sqlite":
                plan = " ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
                assert plan == "SEARCH trade_runs USING INDEX ix_trade_runs_backtest (backtest_id=?)", (statement, plan)
            else:
                plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).mappings().one()
                assert (plan["key"], plan["ref"]) == ("ix_trade_runs_backtest", "const"), (statement, dict(plan))
                assert "filesort" not in (plan["Extra"] or ""), (statement, dict(plan))
