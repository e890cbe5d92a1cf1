"""The change feed (services.change_feed) on SQLite and MariaDB: it passes on each change once,
nothing that was stored before it started, rows that commit out of id order or with an older
``updated_at`` than one already seen, and it never writes: a read-only Database is refused
writes by the server itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text, update

from services.change_feed import ChangeFeed, batch_lines, line_text
from services.db import Database, ReadOnlyDatabase
from services.db.models import AuditLog, OrderEvent, TradeFill, TradeOrder
from services.domain import BACKTEST_ACCOUNT_PREFIX, EventSource, OrderState


def _order(database, n: int, *, updated_at: datetime | None = None) -> int:
    with database.unit_of_work() as session:
        row = TradeOrder(client_order_id=f"feed-{n}", symbol=f"S{n}", side="BUY", quantity=Decimal(10))
        if updated_at is not None:
            row.created_at = row.updated_at = updated_at
        session.add(row)
        session.flush()
        return row.id


def _event(database, order_id: int, *, event_id: int | None = None) -> None:
    with database.unit_of_work() as session:
        session.add(OrderEvent(id=event_id, order_id=order_id, source=EventSource.BROKER, event_type="status",
                               to_state=OrderState.SUBMITTED))


def _set_status(database, order_id: int, status: OrderState, filled: str) -> None:
    with database.unit_of_work() as session:
        session.execute(update(TradeOrder).where(TradeOrder.id == order_id)
                        .values(status=status, filled_quantity=Decimal(filled)))


def test_each_change_once_and_nothing_from_before_the_start(database):
    before = _order(database, 1)
    feed = ChangeFeed(Database(database.url, read_only=True))
    feed.prime()
    assert not feed.poll()
    after = _order(database, 2)
    batch = feed.poll()
    assert [o.id for o in batch.orders] == [after]
    assert not feed.poll()  # re-read inside the overlap, but unchanged: not passed on again
    _set_status(database, before, OrderState.FILLED, "10")
    _set_status(database, after, OrderState.PARTIALLY_FILLED, "4")
    batch = feed.poll()
    assert {(o.id, o.status, o.filled_quantity) for o in batch.orders} == {
        (before, OrderState.FILLED, Decimal(10)), (after, OrderState.PARTIALLY_FILLED, Decimal(4))}
    assert batch.changes.orders == batch.orders
    assert all(batch.observed_at >= o.updated_at for o in batch.orders)
    lines = list(batch_lines(batch))
    assert {line["status"] for line in lines} == {"FILLED", "PARTIALLY_FILLED"}
    assert all(line_text(line) for line in lines)
    feed.db.dispose()


def _book(database, n: int, account: str) -> tuple[int, int]:
    """An order of ``account`` with one event, one fill and its position: (order id, event id)."""
    from services.db.repositories.portfolio import PositionRepository

    with database.unit_of_work() as session:
        order = TradeOrder(client_order_id=f"feed-{account}-{n}", symbol=f"S{n}", side="BUY", quantity=Decimal(10),
                           account=account, status=OrderState.FILLED, filled_quantity=Decimal(10))
        session.add(order)
        session.flush()
        event = OrderEvent(order_id=order.id, source=EventSource.BROKER, event_type="status", to_state=OrderState.FILLED)
        session.add(event)
        session.add(TradeFill(order_id=order.id, exec_id=f"X-{account}-{n}", exec_base_id=f"X-{account}-{n}", symbol=f"S{n}",
                              side="BUY", quantity=Decimal(10), price=Decimal("12.5"), account=account,
                              fill_time=datetime.now(UTC)))
        PositionRepository(session).upsert(account, f"S{n}", Decimal(10), Decimal("12.5"), project_id=None)
        session.flush()
        return order.id, event.id


def test_a_fill_says_which_order_it_is_of_however_it_is_read(database):
    """The fills panel had no column saying which order (or run) a fill was of: a fill's record
    did not carry its order's client order id. Each way the console reads fills gives it now: the
    change feed (a monitor), the window's first load and pages, ``fills`` and an order's details."""
    from services import console_queries as queries
    from services.history_queries import fill_page

    feed = ChangeFeed(Database(database.url, read_only=True))
    feed.prime()
    order_id, _event_id = _book(database, 1, "DU123")
    said = {(order_id, "feed-DU123-1")}
    assert {(f.order_id, f.client_order_id) for f in feed.poll().fills} == said
    assert {(f.order_id, f.client_order_id) for f in queries.recent_fills(database)} == said
    assert {(f.order_id, f.client_order_id) for f in fill_page(database).records} == said
    assert {(f.order_id, f.client_order_id) for f in queries.fill_list(database)} == said
    assert {(f.order_id, f.client_order_id) for f in queries.order_details(database, order_id).fills} == said
    feed.db.dispose()


def test_a_backtests_orders_fills_positions_and_events_are_never_passed_on(database):
    """A backtest running in another process writes to the same database: a monitor (and
    ``watch``) shows the broker's records only, as the window's own queries do."""
    feed = ChangeFeed(Database(database.url, read_only=True))
    feed.prime()
    _book(database, 1, f"{BACKTEST_ACCOUNT_PREFIX}7-1")
    paper_order, paper_event = _book(database, 2, "DU123")
    _book(database, 3, f"{BACKTEST_ACCOUNT_PREFIX}7-1")
    batch = feed.poll()
    assert [o.id for o in batch.orders] == [paper_order]
    assert [(f.symbol, f.order_id) for f in batch.fills] == [("S2", paper_order)]
    assert [(p.symbol, p.account) for p in batch.positions] == [("S2", "DU123")]
    assert [e.id for e in batch.events] == [paper_event]
    assert {line["symbol"] for line in batch_lines(batch) if "symbol" in line} == {"S2"}
    _book(database, 4, f"{BACKTEST_ACCOUNT_PREFIX}7-1")
    assert not feed.poll()  # the backtest's event ids are seen, not waited for as gaps
    assert feed._events.gaps == {}
    feed.db.dispose()


def test_a_row_committed_late_with_an_older_updated_at_is_not_missed(database):
    feed = ChangeFeed(Database(database.url, read_only=True), overlap=timedelta(seconds=5))
    feed.prime()
    now = datetime.now(UTC)
    newer = _order(database, 1, updated_at=now)
    assert [o.id for o in feed.poll().orders] == [newer]
    # flushed (its updated_at taken) two seconds earlier, committed only now
    late = _order(database, 2, updated_at=now - timedelta(seconds=2))
    assert [o.id for o in feed.poll().orders] == [late]
    # beyond the overlap: documented as out of reach (docs/change-feed.md)
    _order(database, 3, updated_at=now - timedelta(seconds=30))
    assert not feed.poll().orders
    feed.db.dispose()


def test_ids_committed_out_of_order_are_not_missed_and_gaps_expire(database):
    order_id = _order(database, 1)
    _event(database, order_id)
    with database.session() as session:
        base = session.scalar(select(func.max(OrderEvent.id)))
    clock = [100.0]
    feed = ChangeFeed(Database(database.url, read_only=True), gap_patience=10, clock=lambda: clock[0])
    feed.prime()
    # id base+2 becomes visible before base+1 (MariaDB allocates at insert, shows at commit)
    _event(database, order_id, event_id=base + 2)
    assert [e.id for e in feed.poll().events] == [base + 2]
    clock[0] += 3
    _event(database, order_id, event_id=base + 1)
    assert [e.id for e in feed.poll().events] == [base + 1]
    # a gap that never fills (a rolled-back insert) is given up after the patience
    _event(database, order_id, event_id=base + 4)
    assert [e.id for e in feed.poll().events] == [base + 4]
    clock[0] += 11
    assert not feed.poll().events
    _event(database, order_id, event_id=base + 3)  # later than the patience: out of reach
    assert not feed.poll().events
    _event(database, order_id)
    assert [e.id for e in feed.poll().events] == [base + 5]
    feed.db.dispose()


def test_audit_entries_and_equity_samples_are_followed(database):
    from services.audit import AuditLog as Audit

    feed = ChangeFeed(Database(database.url, read_only=True))
    feed.prime()
    entry = Audit(database).append("tester", "order.cancel", "trade_order", "1", {"why": "test"})
    batch = feed.poll()
    # the log's newest id, not its rows: a window reads the entries itself, bounded
    assert batch.audit_newest == entry.id and batch
    assert batch.equity_snapshots == 0
    assert feed.poll().audit_newest is None  # said once
    feed.db.dispose()


def test_a_read_only_database_refuses_every_write(database):
    reader = Database(database.url, read_only=True)
    try:
        with pytest.raises(ReadOnlyDatabase):
            reader.unit_of_work()
        # around the guard: the server itself refuses
        with pytest.raises(Exception) as refused, reader.session() as session:
            session.execute(text("INSERT INTO audit_logs (time, actor, action, prev_hash, hash) "
                                 "VALUES ('2026-01-01 00:00:00', 'x', 'y', 'a', 'b')"))
        assert "read" in str(refused.value).lower()
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(AuditLog)) == 0
    finally:
        reader.dispose()


def _set_trading_state(database, state) -> None:
    from services.db.repositories.settings import SettingsRepository

    with database.unit_of_work() as session:
        SettingsRepository(session).set_trading_state(state)


def test_the_trading_state_is_passed_on_when_another_writer_changes_it(database):
    """``trading-console halt`` in another process: the state in force at prime, then a batch
    with the new state once, and nothing while it stays."""
    from services.domain import TradingState

    _set_trading_state(database, TradingState.HALTED)
    feed = ChangeFeed(Database(database.url, read_only=True))
    feed.prime()
    assert feed.trading_state is TradingState.HALTED
    assert not feed.poll()
    _set_trading_state(database, TradingState.ACTIVE)
    batch = feed.poll()
    assert batch and batch.trading_state is TradingState.ACTIVE and not batch.orders
    assert not feed.poll()  # unchanged: not passed on again
    _set_trading_state(database, TradingState.HALTED)
    assert feed.poll().trading_state is TradingState.HALTED
    feed.db.dispose()


def test_newer_only_hands_each_version_once_and_never_an_older_one():
    """The trading window's two sources of rows (its writer's change sets, the feed): a version
    comes once from whichever is first, and a feed read older than what the writer handed since
    does not take the row back."""
    from services.change_feed import NewerOnly
    from services.domain import ChangeSet, FillRecord, OrderRecord, OrderType, PositionRecord, Side

    t0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

    def order(status, at):
        return OrderRecord(1, "c-1", 3, "AAPL", Side.BUY, Decimal(10), OrderType.LMT, Decimal(230), status,
                           Decimal(10 if status is OrderState.FILLED else 0), None, t0, at)

    def fill(commission):
        return FillRecord(5, 1, "X.1", "AAPL", Side.BUY, Decimal(10), Decimal(230), commission, t0)

    position = PositionRecord(None, "DU1", "AAPL", Decimal(10), Decimal(230), Decimal(0), t0 + timedelta(seconds=1))
    seen = NewerOnly()
    submitted, filled = order(OrderState.SUBMITTED, t0), order(OrderState.FILLED, t0 + timedelta(seconds=1))
    assert seen.fresh(ChangeSet((submitted,), (fill(None),), (position,))) == ChangeSet((submitted,), (fill(None),), (position,))
    assert not seen.fresh(ChangeSet((submitted,), (fill(None),), (position,)))  # the feed reads them back
    assert seen.fresh(ChangeSet((filled,), (fill(Decimal(1)),))) == ChangeSet((filled,), (fill(Decimal(1)),))
    assert not seen.fresh(ChangeSet((submitted,), (fill(None),)))  # a stale read handed late
    assert not seen.fresh(ChangeSet((filled,), (fill(Decimal(1)),)))


def test_zeros_and_amounts_are_written_as_orders_and_fills_write_them(database):
    """A zero read back from either database is ``0E-8`` (str() of it), a whole quantity
    ``1.000000``: the feed wrote ``"commission": "0E-8"`` and ``NEW 0.000000/1.000000`` where
    ``fills --json`` wrote ``"0"`` and ``orders`` ``0/1``. Now services' one exact text."""
    from services.db.repositories.portfolio import PositionRepository

    feed = ChangeFeed(Database(database.url, read_only=True))
    feed.prime()
    with database.unit_of_work() as session:
        order = TradeOrder(client_order_id="feed-zero", symbol="Z", side="BUY", quantity=Decimal(1))
        session.add(order)
        session.flush()
        session.add(TradeFill(order_id=order.id, exec_id="X-zero", exec_base_id="X-zero", symbol="Z", side="BUY",
                              quantity=Decimal(100), price=Decimal("0.00000500"), commission=Decimal(0),
                              account="DU1", fill_time=datetime.now(UTC)))
        PositionRepository(session).upsert("DU1", "Z", Decimal(0), Decimal(0), project_id=None)
    try:
        lines = {line["kind"]: line for line in batch_lines(feed.poll())}
        order_line, fill, position = lines["order"], lines["fill"], lines["position"]
        assert (order_line["quantity"], order_line["filled_quantity"]) == ("1", "0")
        assert " 0/1" in line_text(order_line)
        assert (fill["quantity"], fill["price"], fill["commission"]) == ("100", "0.000005", "0")
        assert (position["quantity"], position["average_cost"], position["realized_pnl"]) == ("0", "0", "0")
    finally:
        feed.db.dispose()


def test_newer_only_forgets_rows_quiet_for_an_hour_once_it_holds_many():
    """A window left open for weeks held every row it ever saw: past its bound, the rows whose
    version is over an hour older than the newest seen are forgotten (a stale read trails its
    write by seconds), the recent ones kept, so a stale read of a recent row is still refused."""
    from services.change_feed import NewerOnly
    from services.domain import ChangeSet, FillRecord, OrderRecord, OrderType, Side

    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def order(order_id, status, at):
        return OrderRecord(order_id, f"c-{order_id}", 3, "AAPL", Side.BUY, Decimal(10), OrderType.LMT, Decimal(230), status,
                           Decimal(0), None, t0, at)

    seen = NewerOnly(prune_above=100)
    for n in range(300):  # an order a minute for five hours, each with its fill
        at = t0 + timedelta(minutes=n)
        handed = seen.fresh(ChangeSet((order(n, OrderState.SUBMITTED, at),),
                                      (FillRecord(n, n, f"X.{n}", "AAPL", Side.BUY, Decimal(10), Decimal(230), None, at),)))
        assert len(handed.orders) == len(handed.fills) == 1
    assert len(seen) <= 2 * 2 * 61 + 2  # at most two hours' worth after a prune, never all 600
    newest = t0 + timedelta(minutes=299)
    assert not seen.fresh(ChangeSet((order(299, OrderState.SUBMITTED, newest),)))  # a recent row: still known
    assert not seen.fresh(ChangeSet((order(250, OrderState.NEW, newest - timedelta(minutes=49, seconds=1)),)))
    assert seen.fresh(ChangeSet((order(299, OrderState.FILLED, newest + timedelta(seconds=1)),))).orders  # a new version


def _snapshot(database, project: str, symbols: int, *, note: str | None = None, source: str = "targets.csv") -> int:
    """What ``snapshot import FILE --project P`` (or a backtest, with its note) stores, through
    its own connection: the snapshot's id."""
    from services.db.repositories.projects import ProjectRepository
    from services.db.repositories.snapshots import SnapshotItemInput, SnapshotRepository

    items = [SnapshotItemInput(f"S{i}", Decimal("0.05"), None, None, None, "STK", "SMART", "USD", None)
             for i in range(symbols)]
    with database.unit_of_work() as session:
        project_id = ProjectRepository(session).get_or_create(project).id
        return SnapshotRepository(session).create_with_items(project_id, source, f"hash-{source}-{symbols}-{note}",
                                                             items, note=note).id


def test_a_snapshot_stored_by_another_connection_comes_in_the_next_poll_once(database):
    """``snapshot import`` in a terminal while a window follows the database: the window's
    Snapshots panel stayed as it was until a restart. The next poll brings the snapshot (its
    project by name, its item count), once; a backtest's inputs alone never, and counted as seen."""
    from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE

    _snapshot(database, "before", 2)
    feed = ChangeFeed(Database(database.url, read_only=True))
    try:
        feed.prime()
        assert not feed.poll()  # stored before the start: not passed on
        backtest = _snapshot(database, "momentum", 3, note=BACKTEST_INPUT_NOTE, source="bt.csv")
        stored = _snapshot(database, "momentum", 10)
        batch = feed.poll()
        assert batch
        assert [(s.id, s.project, s.source_name, s.item_count) for s in batch.snapshots] == [
            (stored, "momentum", "targets.csv", 10)]
        assert not batch.orders and not batch.events
        assert not feed.poll()  # once
        assert backtest not in feed._snapshots.gaps  # the backtest's input is seen, not waited for
    finally:
        feed.db.dispose()


def test_watch_prints_a_line_for_a_snapshot_stored(database):
    """``watch`` (and --json) says a snapshot stored as it says an order or a fill."""
    import json

    feed = ChangeFeed(Database(database.url, read_only=True))
    try:
        feed.prime()
        stored = _snapshot(database, "P", 10)
        lines = list(batch_lines(feed.poll()))
        assert [(line["kind"], line["id"], line["project"], line["item_count"], line["source_name"]) for line in lines] == [
            ("snapshot", stored, "P", 10, "targets.csv")]
        assert json.loads(json.dumps(lines[0])) == lines[0]  # JSON-ready as it is
        text = line_text(lines[0])
        assert f"snapshot #{stored}" in text and "imported into project P: 10 items (targets.csv)" in text, text
    finally:
        feed.db.dispose()


def test_a_database_created_again_under_its_name_starts_the_feed_again(database, db_url, _sqlite_template):
    """Dropped and created again (or restored): its rows come under ids the feed had seen, which it
    passed over (a monitor kept the old database's rows for good); now the batch says so and the
    feed follows the new database from what it holds."""
    import shutil

    from services.audit import AuditLog as Audit
    from tests.fixtures.db import _empty_mysql_tables

    for n in range(3):
        _order(database, n)
    Audit(database).append("cli", "trading.halt", "trade_settings", 1, {})
    feed = ChangeFeed(Database(database.url, read_only=True))
    feed.prime()
    assert not feed.poll()
    # another database under the name: empty, its ids from 1 again
    database.dispose()
    feed.db.dispose()
    if database.is_sqlite:
        shutil.copyfile(_sqlite_template, db_url.removeprefix("sqlite:///"))
    else:
        _empty_mysql_tables(db_url)
    new = _order(database, 0)
    batch = feed.poll()
    assert batch.replaced and bool(batch)
    assert batch.orders == ()  # what it holds is the follower's to read (as at the start)
    assert not feed.poll()
    _set_status(database, new, OrderState.FILLED, "1")
    [order] = feed.poll().orders  # followed from there
    assert order.id == new and order.status is OrderState.FILLED


def test_a_positions_book_is_said_by_its_projects_name():
    """`watch` said "project 1" where `positions` and the window say "alpha"; the account's own
    row (every project together) "-", as before."""
    from services.change_feed import FeedBatch
    from services.domain import PositionRecord

    now = datetime.now(UTC)
    rows = (PositionRecord(1, "DU1", "AAPL", Decimal(5), Decimal(100), Decimal(0), now),
            PositionRecord(None, "DU1", "AAPL", Decimal(5), Decimal(100), Decimal(0), now))
    lines = list(batch_lines(FeedBatch(now, positions=rows), {1: "alpha"}))
    assert [line["project"] for line in lines] == ["alpha", None]
    assert " project alpha " in line_text(lines[0]) and " project -     " in line_text(lines[1])
    assert [line["project"] for line in batch_lines(FeedBatch(now, positions=rows))] == ["1", None]  # no names given
