"""Real deadlocks on MariaDB against the product's own units of work (``retry_lock_conflicts``).

Two ``execute`` processes of one run meet on the same rows: InnoDB ends one of two transactions
waiting for each other's row locks with error 1213 and the wrapper runs that unit of work again.
Each test here makes such a cycle for real: another transaction of the same engine (``Other``)
holds one lock, the product's function (in a thread) takes a second and waits for the first,
then ``Other`` asks for the second. ``Other`` changed more rows first, so InnoDB (which ends the
transaction that changed fewer) picks the product's function: it must say so, run again, succeed,
leave its rows written exactly once, and leave the connection it lost on fit for the next call.
No sleeps: the product's lock wait is seen in SHOW ENGINE INNODB STATUS, with a deadline."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.audit import AuditLog, entry_hash
from services.console_queries import parse_for_storage, store_snapshot
from services.core.builder import OrderDraft
from services.core.plans import Plan, PriceRef
from services.db.lock_conflicts import is_deadlock
from services.db.models import (
    AuditChainHead,
    DecisionSnapshot,
    DecisionSnapshotItem,
    OrderEvent,
    OrderPlan,
    Project,
    TradeOrder,
    TradeRun,
)
from services.db.models import AuditLog as AuditLogRow
from services.db.repositories import ProjectRepository
from services.db.repositories.trail import TrailRepository
from services.db.types import utcnow
from services.domain import OrderState, OrderType, RunStatus, Side, TradeMode
from services.execution.lease import Lease, LeaseManager
from services.execution.listings import snapshot_specs
from services.execution.manual import ManualOrders, Ticket
from services.execution.order_risk import MarketInputs
from services.execution.runs import PreviewResult, TradeService
from tests.fixtures.locks import innodb_transactions
from tests.fixtures.waiting import wait_until_blocking

from .conftest import make_snapshot
from .test_lock_conflicts import _create

pytestmark = [pytest.mark.timeout(90), pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)],
                                                               indirect=True)]
DEADLINE_S = 20  # InnoDB finds the cycle at once; a lock wait that is not one would last 50 s
VICTIM = "deadlock's victim; running it again"  # what services.db.lock_conflicts logs before the next attempt
HEAVY = 20  # rows ``Other`` changes first: InnoDB rolls back the transaction that changed fewer


class Other:
    """The other transaction: a connection of the product's own engine with a transaction open
    until ``commit``, and a probe (a connection of its own) that sees who waits for a lock."""

    def __init__(self, database) -> None:
        self.connection = database.engine.connect()
        self.thread_id = self.connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        self._url = database.url

    def transactions(self) -> dict[int, str]:
        """This database's open InnoDB transactions, this one's own left out
        (tests.fixtures.locks.innodb_transactions: SHOW ENGINE INNODB STATUS, as INNODB_TRX stays
        stale while polled)."""
        return {thread: text for thread, text in innodb_transactions(self._url).items() if thread != self.thread_id}

    def waiting(self) -> list[int]:
        return [thread for thread, text in self.transactions().items() if "LOCK WAIT" in text]

    def describe(self) -> str:
        """For a failure's message."""
        return f"the other transaction is thread {self.thread_id}; this database's others: {self.transactions()}"

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


class Victims:
    """The pooled connections of ``database`` that the server ended as a deadlock's victim, with
    the thread that ran the statement."""

    def __init__(self, database) -> None:
        self.engine = database.engine
        self.seen: list[tuple[str, Any]] = []
        event.listen(self.engine, "handle_error", self._error)

    def _error(self, context) -> None:
        if is_deadlock(context.sqlalchemy_exception) and context.connection is not None:
            self.seen.append((threading.current_thread().name, context.connection.connection.dbapi_connection))

    def close(self) -> None:
        event.remove(self.engine, "handle_error", self._error)


def deadlock(database, other: Other, work: Callable[[], Any], close_cycle: Callable[[], None], caplog) -> tuple[Any, Any]:
    """``work`` run in a thread until it waits for a lock ``other`` holds; then ``close_cycle``
    (``other`` asking for a lock ``work`` holds) closes the cycle. Returns what ``work`` returned
    and the DBAPI connection it lost as the victim."""
    got: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            got.append((True, work()))
        except BaseException as exc:  # raised below, in the test's thread
            got.append((False, exc))

    victims = Victims(database)
    thread = threading.Thread(target=run, name="product", daemon=True)
    try:
        with caplog.at_level(logging.INFO, logger="services.db.lock_conflicts"):
            thread.start()
            wait_until_blocking(lambda: got or other.waiting(), DEADLINE_S,
                                lambda: f"the product's unit of work to wait for the other transaction's lock ({other.describe()})")
            assert not got, f"the product's unit of work ended without waiting for the other transaction's lock: {got}"
            try:
                close_cycle()  # blocks until InnoDB ended one of the two
            except OperationalError as exc:
                if not is_deadlock(exc):
                    raise
                raise AssertionError("InnoDB ended the other transaction, not the product's: the test proves nothing") from exc
            other.commit()
            thread.join(DEADLINE_S)
    finally:
        victims.close()
    assert not thread.is_alive(), f"the product's unit of work still runs {DEADLINE_S} s after the deadlock"
    ok, value = got[0]
    if not ok:
        raise value
    retried = [r.getMessage() for r in caplog.records if VICTIM in r.getMessage()]
    assert len(retried) == 1, f"the product's unit of work was not run again once as a deadlock's victim: {caplog.text}"
    assert [name for name, _ in victims.seen] == ["product"], victims.seen
    return value, victims.seen[0][1]


def serves_again(database, other: Other, victim_connection, call: Callable[[], None]) -> None:
    """Nothing is left open (no transaction of this database), and the victim's own connection
    serves ``call`` (the product's next unit of work) again: the pool hands out its idle
    connections oldest first, so as many calls as it holds come to it."""
    assert other.transactions() == {}, f"a transaction is still open after the deadlock: {other.describe()}"
    used: list[Any] = []

    def checkout(dbapi_connection, _record, _proxy) -> None:
        used.append(dbapi_connection)

    event.listen(database.engine, "checkout", checkout)
    try:
        for _ in range(database.engine.pool.checkedin() + 1):
            call()  # raises if the connection was left unusable (an invalid transaction, a pending rollback)
            if victim_connection in used:
                break
    finally:
        event.remove(database.engine, "checkout", checkout)
    assert victim_connection in used, "the connection the deadlock ended was never handed out again"


def _new_orders(connection, count: int, prefix: str, **values) -> None:
    now = datetime.now(UTC)
    connection.execute(insert(TradeOrder.__table__), [
        dict(client_order_id=f"{prefix}-{n}", symbol="IBM", side="BUY", quantity=Decimal(1), created_at=now,
             updated_at=now, **values) for n in range(count)])


# ---------------------------------------------------------------------------------------------
# the audit log: every action of an execute appends to one chain, through one locked head row


def test_an_audit_append_that_a_deadlock_ends_runs_again_and_appends_once(database, caplog):
    log = AuditLog(database)
    log.append("tester", "test.first")  # the chain's head row exists: the append locks it first
    other = Other(database)
    try:
        # the other transaction writes its entry before it moves the chain's head: the entry the
        # append would insert next (its id), rows of its own (the heavier transaction), the head
        head = other.connection.execute(select(AuditChainHead.last_hash)).scalar_one()
        when = utcnow()
        entry = dict(id=2, time=when, actor="other", action="test.other", entity_type=None, entity_id=None, payload={})
        digest = entry_hash(head, **entry)
        other.connection.execute(insert(AuditLogRow.__table__).values(**entry, prev_hash=head, hash=digest))
        _new_orders(other.connection, HEAVY, "other")

        def close_cycle() -> None:
            other.connection.execute(select(AuditChainHead.id).with_for_update()).all()
            other.connection.execute(update(AuditChainHead).values(last_id=2, last_hash=digest, updated_at=utcnow()))

        record, victim = deadlock(database, other, lambda: log.append("tester", "test.victim", "trade_run", 7, {"n": 1}),
                                  close_cycle, caplog)
        assert "AuditLog._append_alone" in caplog.text
        # the other transaction's entry went in first, the victim's once, after it: one intact chain
        assert [(e.id, e.action) for e in log.list()] == [(1, "test.first"), (2, "test.other"), (3, "test.victim")]
        assert record.id == 3 and record.prev_hash == log.list()[1].hash
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(TradeOrder)) == HEAVY
        serves_again(database, other, victim, lambda: log.append("tester", "test.after"))
    finally:
        other.close()
    verification = log.verify(full=True)
    assert verification.ok, verification


# ---------------------------------------------------------------------------------------------
# the run's orders stored NEW before the first placeOrder, and the sender's claim of them


def _service(database) -> TradeService:
    return TradeService(database, SimpleNamespace(mode="paper", client_id=2, account="DU1"), writer=None, actor="tester")


def _plan(run_id: int, project_id: int, snapshot_id: int) -> Plan:
    drafts = tuple(OrderDraft(sequence=n, symbol=symbol, side=Side.BUY, quantity=Decimal(10), order_type=OrderType.MKT,
                              limit_price=None, reference_price=Decimal(100), notional=Decimal(1000), current_quantity=Decimal(0),
                              target_quantity=Decimal(10), target_weight=Decimal("0.01"), client_order_id=f"R{run_id}-{n}")
                   for n, symbol in enumerate(("AAPL", "MSFT"), 1))
    return Plan(id=41, run_id=run_id, project_id=project_id, snapshot_id=snapshot_id, mode=TradeMode.PAPER, account="DU1",
                created_at=datetime.now(UTC), portfolio_value=Decimal(100000), verdict="ok", content_hash="c" * 64, orders=drafts)


def test_storing_a_runs_orders_that_a_deadlock_ends_runs_again_and_stores_them_once(database, caplog):
    project_id, snapshot_id = make_snapshot(database, "deadlocks", {"AAPL": "0.5", "MSFT": "0.4"})
    service = _service(database)
    run = _create(service, "deadlocks", snapshot_id)
    plan = _plan(run.id, project_id, snapshot_id)
    other = Other(database)
    try:
        # another process's unit of work: it audited its action (the chain's head, and entries:
        # the heavier transaction) and then touches the run, which the storing has updated
        other_session = Session(bind=other.connection)
        for n in range(HEAVY):
            AuditLog(database).append("other", "test.other", "trade_run", run.id, {"n": n}, session=other_session)

        # a column the storing does not write (it clears the run's message: an earlier attempt's)
        seen = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

        def close_cycle() -> None:
            other.connection.execute(update(TradeRun).where(TradeRun.id == run.id).values(ended_at=seen))

        requests, victim = deadlock(database, other, lambda: service._insert_orders(run.id, plan), close_cycle, caplog)
        assert "RunExecution._insert_orders" in caplog.text
        assert sorted(r.client_order_id for r in requests) == [f"R{run.id}-1", f"R{run.id}-2"]
        with database.session() as session:
            orders = session.execute(select(TradeOrder.client_order_id, TradeOrder.status)
                                     .order_by(TradeOrder.client_order_id)).all()
            assert orders == [(f"R{run.id}-1", OrderState.NEW), (f"R{run.id}-2", OrderState.NEW)]
            stored = session.get(TradeRun, run.id)
            assert (stored.status, stored.params["plan_id"], stored.ended_at) == (RunStatus.RUNNING, 41, seen)
        log = AuditLog(database)
        assert [e.action for e in log.list()] == ["run.create"] + ["test.other"] * HEAVY + ["run.execute"]
        serves_again(database, other, victim, lambda: service._audit_sync("run.after", run.id, {}))
    finally:
        other.close()
    verification = log.verify(full=True)
    assert verification.ok, verification


def test_a_claim_that_a_deadlock_ends_runs_again_and_claims_each_order_once(database, caplog):
    project_id, snapshot_id = make_snapshot(database, "claims", {"AAPL": "0.5"})
    run = _create(_service(database), "claims", snapshot_id)
    with database.core(write=True) as connection:  # the run's two orders first: the lowest ids and names
        _new_orders(connection, 2, "A", run_id=run.id, project_id=project_id, status=OrderState.NEW)
        _new_orders(connection, HEAVY, "Z", status=OrderState.ACCEPTED)  # other orders, working at the broker
    leases = LeaseManager(database)
    lease = leases.try_acquire(run.id)
    assert isinstance(lease, Lease)
    other = Other(database)
    try:
        # another process's unit of work over many orders (the heavier transaction): the others,
        # then the run's second order; the claim takes the first and waits for the second
        moment = datetime.now(UTC) + timedelta(seconds=1)
        other.connection.execute(update(TradeOrder).where(TradeOrder.client_order_id.like("Z-%")).values(last_status_time=moment))
        other.connection.execute(update(TradeOrder).where(TradeOrder.client_order_id == "A-1").values(last_status_time=moment))

        def close_cycle() -> None:
            other.connection.execute(update(TradeOrder).where(TradeOrder.client_order_id == "A-0").values(last_status_time=moment))

        got, victim = deadlock(database, other, lambda: leases.claim_many(lease, ["A-0", "A-1"]), close_cycle, caplog)
        assert "LeaseManager.claim_many" in caplog.text
        claim_id, claimed = got
        assert claimed == {"A-0", "A-1"}
        with database.session() as session:
            rows = session.execute(select(TradeOrder.client_order_id, TradeOrder.status, TradeOrder.claimed_by,
                                          TradeOrder.last_status_time).where(TradeOrder.run_id == run.id)
                                   .order_by(TradeOrder.client_order_id)).all()
            assert [tuple(r[:3]) for r in rows] == [("A-0", OrderState.SENDING, claim_id), ("A-1", OrderState.SENDING, claim_id)]
            assert all(r.last_status_time is not None for r in rows), "the other transaction's change was lost"
            events = session.execute(select(OrderEvent.order_id, OrderEvent.event_type, OrderEvent.payload)).all()
            assert sorted((e.event_type, e.payload["claim"]) for e in events) == [("claimed", claim_id)] * 2
            assert len({e.order_id for e in events}) == 2
            assert session.scalar(select(func.count()).select_from(TradeOrder)
                                  .where(TradeOrder.last_status_time.is_not(None))) == HEAVY + 2
        serves_again(database, other, victim, lambda: leases.claim_many(lease, ["A-0"]))
    finally:
        other.close()


# ---------------------------------------------------------------------------------------------
# what a preview, an order ticket and a snapshot import store with their audit entry: each of
# them waits for the chain's head (the other transaction appended first) holding a row the other
# transaction then changes (the run, the ticket's run, the snapshot's project)


def _audit_heavily(database, other: Other, run_id: int | None) -> None:
    """The other transaction's audit entries: the chain's head held, and the heavier transaction."""
    other_session = Session(bind=other.connection)
    for n in range(HEAVY):
        AuditLog(database).append("other", "test.other", "trade_run", run_id, {"n": n}, session=other_session)


def _the_runs_plan(database, run_id: int, plan_id: int) -> None:
    """The run's one plan is ``plan_id``; after the other transaction's entries, one ``plan.create``
    of it, whose trail hash covers exactly the plan's stored trail (each record once)."""
    with database.session() as session:
        assert session.scalars(select(OrderPlan.id).where(OrderPlan.run_id == run_id)).all() == [plan_id]
        stored = session.get(TradeRun, run_id)
        assert stored.message == "seen by the other", "the other transaction's change was lost"
        entries = AuditLog(database).list()
        assert [e.action for e in entries] == ["run.create"] + ["test.other"] * HEAVY + ["plan.create"]
        created = entries[-1]
        assert created.entity_id == str(plan_id) and created.payload["run_id"] == run_id
        assert TrailRepository(session).check(plan_id, created.payload["trail_hash"]) is None


def test_a_preview_that_a_deadlock_ends_runs_again_and_stores_its_plan_once(database, caplog):
    _, snapshot_id = make_snapshot(database, "previews", {"AAPL": "0.5", "MSFT": "0.4"})
    service = _service(database)
    run = _create(service, "previews", snapshot_id)
    _run, items, positions, _capital, _working, own_working, _names = service._load_for_preview(run.id)
    now = datetime.now(UTC)
    refs = {spec.key: PriceRef(Decimal(100), now) for spec in snapshot_specs(snapshot_id, items)}

    def preview() -> PreviewResult:
        return service._preview(run.id, items, positions, refs, Decimal(100000), True, own_working=own_working)

    other = Other(database)
    try:
        _audit_heavily(database, other, run.id)

        def close_cycle() -> None:  # the run, whose params the preview has written
            other.connection.execute(update(TradeRun).where(TradeRun.id == run.id).values(message="seen by the other"))

        result, victim = deadlock(database, other, preview, close_cycle, caplog)
        assert "RunPlanning._preview" in caplog.text
        assert result.plan is not None and result.plan.order_count == 2
        _the_runs_plan(database, run.id, result.plan.id)
        with database.session() as session:
            assert session.get(TradeRun, run.id).params["portfolio_value"] == "100000"
        serves_again(database, other, victim, preview)
    finally:
        other.close()
    verification = AuditLog(database).verify(full=True)
    assert verification.ok, verification


def test_an_order_tickets_plan_that_a_deadlock_ends_runs_again_and_is_stored_once(database, caplog):
    service = _service(database)
    manual = ManualOrders(service)
    ticket = Ticket.of("AAPL", "BUY", quantity="10", project="tickets")
    run = service._create_run("tickets", None, TradeMode.PAPER, {"ticket": ticket.to_dict()}, True)
    inputs = MarketInputs(price=PriceRef(Decimal(100), datetime.now(UTC)), positions={}, rate=Decimal(1), base_currency="USD",
                          fx_rates={}, portfolio_value=Decimal(100000), tick=Decimal("0.01"))

    def store() -> Plan:
        return manual._store_plan(run.id, ticket, ticket.spec, inputs)

    other = Other(database)
    try:
        _audit_heavily(database, other, run.id)

        def close_cycle() -> None:  # the ticket's run, which its plan refers to and it has updated
            other.connection.execute(update(TradeRun).where(TradeRun.id == run.id).values(message="seen by the other"))

        plan, victim = deadlock(database, other, store, close_cycle, caplog)
        assert "ManualOrders._store_plan" in caplog.text
        assert [(d.symbol, d.quantity) for d in plan.orders] == [("AAPL", Decimal(10))]
        _the_runs_plan(database, run.id, plan.id)
        serves_again(database, other, victim, store)
    finally:
        other.close()
    verification = AuditLog(database).verify(full=True)
    assert verification.ok, verification


def test_a_snapshot_import_that_a_deadlock_ends_runs_again_and_stores_it_once(database, caplog, tmp_path):
    path = tmp_path / "imports.csv"
    path.write_text("symbol,weight\nAAPL,0.5\nMSFT,0.4\n")
    parsed = parse_for_storage(path, project="imports")
    with database.unit_of_work() as session:  # the project exists: the snapshot's row refers to it
        project_id = ProjectRepository(session).get_or_create("imports").id
    other = Other(database)
    try:
        _audit_heavily(database, other, None)

        def close_cycle() -> None:  # the project, which the import's snapshot refers to
            other.connection.execute(update(Project).where(Project.id == project_id).values(capital=Decimal(50000)))

        outcome, victim = deadlock(database, other, lambda: store_snapshot(database, parsed, "imports", actor="tester"),
                                   close_cycle, caplog)
        assert "store_snapshot" in caplog.text
        assert outcome.created and outcome.project_id == project_id
        with database.session() as session:
            assert session.scalars(select(DecisionSnapshot.id)).all() == [outcome.snapshot_id]
            items = session.scalars(select(DecisionSnapshotItem.symbol).order_by(DecisionSnapshotItem.id)).all()
            assert items == ["AAPL", "MSFT"]
            assert session.get(Project, project_id).capital == Decimal(50000), "the other transaction's change was lost"
        entries = AuditLog(database).list()
        assert [e.action for e in entries] == ["test.other"] * HEAVY + ["snapshot.import"]
        assert entries[-1].entity_id == str(outcome.snapshot_id)
        again = store_snapshot(database, parsed, "imports", actor="tester")
        assert (again.snapshot_id, again.created) == (outcome.snapshot_id, False)
        serves_again(database, other, victim, lambda: store_snapshot(database, parsed, "imports", actor="tester"))
    finally:
        other.close()
    verification = AuditLog(database).verify(full=True)
    assert verification.ok, verification
