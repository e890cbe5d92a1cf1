"""Two units of work of one run that write its params at once, on MariaDB: neither loses what the
other wrote. Each reads the run's params and writes the whole dict back (a preview its prices and
builder, an execute the plan it sends, ``prepare_run`` the trader's builder parameters); read
without a lock under READ COMMITTED, the one that wrote last put back what it had read before the
other's commit. A preview in the window while ``execute --plan`` sent the run's plan dropped its
``plan_id``: the run looked as if no plan had been executed, the window offered Execute on the new
plan, and that execute resumed the orders at the broker ("0 sent") instead of refusing it as
superseded.

Each test holds the audit chain's head in another transaction (``Other``), runs the first unit of
work until it waits for the head holding the run's row (it wrote its params), then the second
until it waits for that row too, then lets them go. No sleeps: the waits are seen in SHOW ENGINE
INNODB STATUS, with a deadline. MariaDB only: SQLite's unit of work takes the database's write
lock at BEGIN IMMEDIATE, so the second cannot read before the first commits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from services.core.plans import Plan, PriceRef
from services.db.models import AuditChainHead, TradeRun
from services.domain import TradeMode
from services.execution.errors import BadInput
from services.execution.listings import snapshot_specs
from services.execution.runs import PreviewResult, TradeService
from tests.fixtures.waiting import wait_until_blocking

from .conftest import make_snapshot
from .test_lock_conflicts import _create
from .test_real_deadlocks import DEADLINE_S, Other, _service

pytestmark = [pytest.mark.timeout(90), pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)],
                                                               indirect=True)]


class _Unit:
    """One unit of work run in a thread of its own; what it returned or raised."""

    def __init__(self, name: str, work: Callable[[], Any]) -> None:
        self.got: list[tuple[bool, Any]] = []
        self.thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self.got.append((True, work()))
        except BaseException as exc:  # raised in the test's thread, by result()
            self.got.append((False, exc))

    def start_until_waiting(self, other: Other, waiting: int) -> None:
        """Started, and seen waiting for a lock: ``waiting`` transactions of the database wait."""
        self.thread.start()
        wait_until_blocking(lambda: self.got or len(other.waiting()) == waiting, DEADLINE_S,
                            lambda: f"the {self.thread.name} unit of work to wait for a lock ({other.describe()})")
        assert not self.got, f"the {self.thread.name} unit of work ended without waiting for a lock: the test proves nothing"

    def result(self) -> Any:
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive(), f"{self.thread.name} still runs {DEADLINE_S} s after it was let go"
        ok, value = self.got[0]
        if not ok:
            raise value
        return value


def _one_after_another(database, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """``first`` run until it waits for the audit chain's head another transaction holds (the
    run's row written and locked), ``second`` until it waits too, then both let go."""
    other = Other(database)
    units = [_Unit("first", first), _Unit("second", second)]
    try:
        other.connection.execute(select(AuditChainHead.id).with_for_update()).all()
        units[0].start_until_waiting(other, 1)  # for the chain's head
        units[1].start_until_waiting(other, 2)  # for the run's row, which the first holds
        other.commit()
        return units[0].result(), units[1].result()
    finally:
        other.close()


class _Run:
    """A day's run of a two-listing snapshot, previewed once (its first plan) at 100000."""

    def __init__(self, database, name: str) -> None:
        self.db = database
        _, self.snapshot_id = make_snapshot(database, name, {"AAPL": "0.5", "MSFT": "0.4"})
        self.name = name
        self.service: TradeService = _service(database)
        self.id = _create(self.service, name, self.snapshot_id).id
        self.first_plan = self.preview(Decimal(100000)).plan

    def preview(self, portfolio_value: Decimal) -> PreviewResult:
        _run, items, positions, _capital, _working, own_working, _names = self.service._load_for_preview(self.id)
        refs = {spec.key: PriceRef(Decimal(100), datetime.now(UTC)) for spec in snapshot_specs(self.snapshot_id, items)}
        return self.service._preview(self.id, items, positions, refs, portfolio_value, True, own_working=own_working)

    def execute(self, plan: Plan | None) -> Any:
        assert plan is not None
        return self.service._insert_orders(self.id, plan)

    def prepare(self) -> Any:  # the window's Preview with a builder parameter changed: the run's inputs stored
        return self.service._create_run(self.name, self.snapshot_id, TradeMode.PAPER, {}, False, ({"min_order_value": "50"}, []))

    def params(self) -> dict:
        with self.db.session() as session:
            return dict(session.get(TradeRun, self.id).params)


def test_a_preview_while_the_plan_is_executed_keeps_the_executed_plan(database):
    run = _Run(database, "executed")
    _, preview = _one_after_another(database, lambda: run.execute(run.first_plan), lambda: run.preview(Decimal(90000)))
    assert run.first_plan is not None and preview.plan is not None
    assert run.params().get("plan_id") == run.first_plan.id, "the executed plan was dropped from the run"
    assert run.service._executed_plan_of(run.id) == run.first_plan.id  # what `execute --plan` refuses a new plan by
    # the preview, built after the execute, says the run executed the first plan: it is not sendable
    assert preview.executed_plan_id == run.first_plan.id and preview.run_executed_another
    assert run.params()["portfolio_value"] == "90000"


def test_an_execute_while_the_run_is_previewed_keeps_the_preview(database):
    run = _Run(database, "previewed")
    _one_after_another(database, lambda: run.preview(Decimal(90000)), lambda: run.execute(run.first_plan))
    params = run.params()
    assert params.get("plan_id") == run.first_plan.id
    assert params["portfolio_value"] == "90000", "the preview's params were dropped from the run"


def test_an_empty_plan_finished_while_the_run_is_previewed_keeps_the_preview(database):
    run = _Run(database, "emptied")
    _one_after_another(database, lambda: run.preview(Decimal(90000)),
                       lambda: run.service._finish_empty(run.id, run.first_plan and run.first_plan.id))
    params = run.params()
    assert params.get("plan_id") == run.first_plan.id
    assert params["portfolio_value"] == "90000", "the preview's params were dropped from the run"


def test_inputs_stored_while_the_plan_is_executed_leave_the_executed_run_as_it_was(database):
    run = _Run(database, "inputs-executed")
    before = run.params()
    # a run that has orders keeps the inputs its plan was built from: the ones given, which differ,
    # are refused, not dropped (tests/execution/test_resume_options.py), once its orders are seen
    # in the locked read
    with pytest.raises(BadInput, match="--min-order-value: stored 0, given 50"):
        _one_after_another(database, lambda: run.execute(run.first_plan), run.prepare)
    params = run.params()
    assert params.get("plan_id") == run.first_plan.id, "the executed plan was dropped from the run"
    assert params["builder"] == before["builder"]


def test_inputs_stored_while_the_run_is_previewed_keep_the_preview(database):
    run = _Run(database, "inputs-previewed")
    _one_after_another(database, lambda: run.preview(Decimal(90000)), run.prepare)
    params = run.params()
    assert params["portfolio_value"] == "90000", "the preview's params were dropped from the run"
    assert params["builder"]["min_order_value"] == "50"

