"""Every repository on SQLite and on MariaDB (the ``database`` fixture is parametrized)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from services.db.convert import to_fill_record, to_order_record, to_position_record
from services.db.models import DecisionSnapshot, DecisionSnapshotItem, TradeOrder
from services.db.repositories import (
    NotFound,
    Repositories,
    RepositoryError,
    SettingsRepository,
    SnapshotItemInput,
    run_idempotency_key,
    split_exec_id,
)
from services.db.repositories.snapshots import NewSnapshot
from services.domain import (
    EventSource,
    FillRecord,
    OrderRecord,
    OrderState,
    OrderType,
    PositionRecord,
    RunStatus,
    Side,
    TradeMode,
    TradingState,
)

T0 = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)


def _project(database, name="alpha") -> int:
    with database.unit_of_work() as s:
        return Repositories(s).projects.get_or_create(name).id


def test_project_get_or_create_returns_the_same_row(database):
    with database.unit_of_work() as s:
        repos = Repositories(s)
        first = repos.projects.get_or_create("alpha", "the first book")
        again = repos.projects.get_or_create("alpha", "ignored")
        repos.projects.create("beta")
    assert first.id == again.id
    with database.session() as s:
        repos = Repositories(s)
        assert [p.name for p in repos.projects.list()] == ["alpha", "beta"]
        assert repos.projects.get(first.id).description == "the first book"
        assert repos.projects.get_by_name("nope") is None
        with pytest.raises(NotFound):
            repos.projects.get(999)


def test_snapshot_with_items_round_trips_exact_values(database):
    project_id = _project(database)
    items = [
        SnapshotItemInput("AAPL", Decimal("0.1234567891"), score=Decimal("1.5"), rank=1, price=Decimal("187.12345678")),
        {"symbol": "MSFT", "weight": Decimal("0.25"), "rank": 2, "exchange": "NASDAQ"},
    ]
    with database.unit_of_work() as s:
        snap = Repositories(s).snapshots.create_with_items(project_id, "decisions.csv", "ab" * 32, items)
        snap_id = snap.id
    with database.session() as s:
        repos = Repositories(s)
        stored = repos.snapshots.get(snap_id)
        assert (stored.source_file, stored.content_hash, stored.item_count) == ("decisions.csv", "ab" * 32, 2)
        rows = repos.snapshots.items(snap_id)
        assert [(r.symbol, r.weight, r.score, r.rank, r.price, r.exchange, r.sec_type, r.currency) for r in rows] == [
            ("AAPL", Decimal("0.1234567891"), Decimal("1.50000000"), 1, Decimal("187.12345678"), "SMART", "STK", "USD"),
            ("MSFT", Decimal("0.2500000000"), None, 2, None, "NASDAQ", "STK", "USD"),
        ]
        assert repos.snapshots.find_by_hash(project_id, "ab" * 32).id == snap_id


def test_snapshot_is_all_or_nothing(database):
    project_id = _project(database)
    duplicate_symbols = [{"symbol": "AAPL", "weight": "0.5"}, {"symbol": "AAPL", "weight": "0.5"}]
    with database.unit_of_work() as s:
        repos = Repositories(s)
        with pytest.raises(IntegrityError):
            repos.snapshots.create_with_items(project_id, "bad.csv", "cd" * 32, duplicate_symbols)
        # The unit of work goes on: the savepoint undid only the snapshot.
        repos.projects.create("still-works")
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(DecisionSnapshot)) == 0
        assert s.scalar(select(func.count()).select_from(DecisionSnapshotItem)) == 0
        assert Repositories(s).projects.get_by_name("still-works") is not None


def test_store_once_reuses_the_newest_snapshot_of_the_same_content_and_source(database):
    alpha, beta = _project(database), _project(database, "beta")
    with database.unit_of_work() as s:
        older = Repositories(s).snapshots.create_with_items(alpha, "a.csv", "aa" * 32, [SnapshotItemInput("X", Decimal("1"))]).id
        newer = Repositories(s).snapshots.create_with_items(alpha, "renamed.csv", "aa" * 32, [SnapshotItemInput("X", Decimal("1"))]).id
    items = [SnapshotItemInput("AAPL", Decimal("0.5"), rank=1), {"symbol": "MSFT", "weight": "0.5", "exchange": "NASDAQ"}]
    with database.unit_of_work() as s:
        ids = Repositories(s).snapshots.store_once([
            NewSnapshot(alpha, "renamed.csv", "aa" * 32, []),  # the newest of its content: reused
            # the same file, though another of its content came since: reused (a copy would be a
            # new snapshot, so a new run of the day, and its orders sent twice)
            NewSnapshot(alpha, "a.csv", "aa" * 32, items),
            NewSnapshot(alpha, "new.csv", "aa" * 32, items),  # a file not stored before: stored anew
            NewSnapshot(beta, "a.csv", "aa" * 32, items),  # another project's
        ], note="input")
    assert ids[0] == newer and ids[1] == older and ids[2] not in (older, newer) and ids[3] > ids[2]
    with database.session() as s:
        repos = Repositories(s)
        stored = repos.snapshots.get(ids[3])
        assert (stored.project_id, stored.source_file, stored.item_count, stored.note) == (beta, "a.csv", 2, "input")
        assert [(r.symbol, r.weight, r.rank, r.exchange, r.currency) for r in repos.snapshots.items(ids[2])] == [
            ("AAPL", Decimal("0.5000000000"), 1, "SMART", "USD"), ("MSFT", Decimal("0.5000000000"), None, "NASDAQ", "USD")]
        assert s.scalar(select(func.count()).select_from(DecisionSnapshot)) == 4


def test_store_once_is_all_or_nothing(database):
    project_id = _project(database)
    with database.unit_of_work() as s:
        repos = Repositories(s)
        with pytest.raises(IntegrityError):
            repos.snapshots.store_once([NewSnapshot(project_id, "good.csv", "ab" * 32, [{"symbol": "A", "weight": "1"}]),
                                        NewSnapshot(project_id, "bad.csv", "cd" * 32, [{"symbol": "A", "weight": "0.5"},
                                                                                       {"symbol": "A", "weight": "0.5"}])])
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(DecisionSnapshot)) == 0


def test_run_create_once_is_idempotent_per_project_snapshot_mode_and_day(database):
    project_id = _project(database)
    day = date(2026, 3, 2)
    with database.unit_of_work() as s:
        runs = Repositories(s).runs
        first, created1 = runs.create_once(project_id, mode=TradeMode.PAPER, trade_date=day, params={"price_map": {"AAPL": Decimal("1.10")}})
        second, created2 = runs.create_once(project_id, mode="paper", trade_date=day)
        live, created3 = runs.create_once(project_id, mode=TradeMode.LIVE, trade_date=day)
        next_day, created4 = runs.create_once(project_id, mode=TradeMode.PAPER, trade_date=day + timedelta(days=1))
        forced = runs.create(project_id, mode=TradeMode.PAPER, trade_date=day)
    assert (created1, created2, created3, created4) == (True, False, True, True)
    assert first.id == second.id
    assert len({first.id, live.id, next_day.id, forced.id}) == 4
    assert first.idempotency_key == run_idempotency_key(project_id, None, TradeMode.PAPER, day) == f"{project_id}:-:paper:2026-03-02"
    with database.unit_of_work() as s:
        runs = Repositories(s).runs
        assert runs.get(first.id).params == {"price_map": {"AAPL": "1.10"}}
        updated = runs.update_status(first.id, RunStatus.RUNNING, started_at=T0, message="sending")
        assert (updated.status, updated.started_at, updated.message) == (RunStatus.RUNNING, T0, "sending")
    with database.session() as s:
        runs = Repositories(s).runs
        assert [r.id for r in runs.list(status=RunStatus.RUNNING)] == [first.id]
        assert [r.id for r in runs.list(project_id=project_id, limit=2)] == [forced.id, next_day.id]


def test_orders_create_get_list_and_update_status(database):
    project_id = _project(database)
    with database.unit_of_work() as s:
        repos = Repositories(s)
        run = repos.runs.create(project_id, trade_date=date(2026, 3, 2))
        a = repos.orders.create("c-1", "AAPL", Side.BUY, 10, run_id=run.id, project_id=project_id)
        b = repos.orders.create("c-2", "MSFT", "SELL", "5.5", run_id=run.id, order_type=OrderType.LMT, limit_price="401.25")
        manual = repos.orders.create("m-1", "SPY", Side.BUY, 1)
        repos.orders.update_status(a.id, OrderState.SUBMITTED, source=EventSource.USER, ib_order_id=7, at=T0)
        repos.orders.update_status(
            b.id, OrderState.ACCEPTED, source=EventSource.BROKER, payload={"status": "Submitted"}, ib_perm_id=2**40 + 3, account="DU123"
        )
        with pytest.raises(RepositoryError):
            repos.orders.create("c-1", "AAPL", Side.BUY, 10)
        with pytest.raises(RepositoryError):
            repos.orders.update_fields(a.id, no_such_column=1)
        run_id, a_id, b_id, manual_id = run.id, a.id, b.id, manual.id
    with database.session() as s:
        orders = Repositories(s).orders
        assert [o.client_order_id for o in orders.list_by_run(run_id)] == ["c-1", "c-2"]
        assert [o.id for o in orders.list_working()] == [a_id, b_id]
        assert [o.id for o in orders.list_by_status(OrderState.NEW)] == [manual_id]
        assert [o.id for o in orders.list_open()] == [a_id, b_id, manual_id]
        assert orders.get_by_perm_id(2**40 + 3).id == b_id
        b_row = orders.get_by_client_id("c-2")
        assert (b_row.quantity, b_row.limit_price, b_row.order_type, b_row.account) == (
            Decimal("5.500000"), Decimal("401.25000000"), "LMT", "DU123"
        )
        a_row = orders.get(a_id)
        assert (a_row.status, a_row.ib_order_id, a_row.last_status_time) == (OrderState.SUBMITTED, 7, T0)
        events = Repositories(s).events.list_by_order(a_id)
        assert [(e.from_state, e.to_state, e.source, e.event_type) for e in events] == [
            (OrderState.NEW, OrderState.SUBMITTED, EventSource.USER, "status")
        ]


def test_the_orders_command_lists_newest_first_as_the_blotter_does(database):
    """`orders` says "newest first" and the blotter's pager reads newest first; the command's
    query (services.console_queries.order_list) listed oldest first."""
    from services.console_queries import order_list
    from services.history_queries import order_page

    with database.unit_of_work() as s:
        repos = Repositories(s)
        ids = [repos.orders.create(f"n-{n}", "AAPL", Side.BUY, 1).id for n in range(3)]
    assert [o.id for o in order_list(database)] == ids[::-1]
    assert [o.id for o in order_list(database)] == [o.id for o in order_page(database).records]


def test_the_fills_command_lists_newest_first_as_the_fills_panel_does(database):
    """`fills` listed oldest first while the window's fills panel (newest fill time on top) and
    `orders` list newest first; services.console_queries.fill_list sorted by fill time ascending.
    Newest by fill time, so an execution reported late (a higher id) stands at its own time."""
    from services.console_queries import fill_list
    from services.history_queries import fill_page

    with database.unit_of_work() as s:
        repos = Repositories(s)
        order = repos.orders.create("f-1", "AAPL", Side.BUY, 4)
        ids = [repos.fills.insert_once(f"E{n}.01", order.id, "AAPL", Side.BUY, 1, "187.10", T0 + timedelta(seconds=n))[0].id
               for n in range(3)]
        late = repos.fills.insert_once("E9.01", order.id, "AAPL", Side.BUY, 1, "187.10", T0 + timedelta(milliseconds=500))[0].id
    assert [f.id for f in fill_list(database)] == [ids[2], ids[1], late, ids[0]]
    with database.session() as s:
        assert [f.id for f in fill_list(database)] == [f.id for f in Repositories(s).fills.list(newest_first=True)]
    in_time_order = [f.id for f in fill_list(database, run_id=None) if f.id != late]
    assert in_time_order == [f.id for f in fill_page(database).records if f.id != late]  # the panel's first page


def test_order_status_must_be_a_known_state(database):
    with database.unit_of_work() as s, pytest.raises(ValueError):
        Repositories(s).orders.create("c-x", "AAPL", Side.BUY, 1, status="Submitted")


def test_order_record_conversion(database):
    with database.unit_of_work() as s:
        repos = Repositories(s)
        first = repos.orders.create("c-1", "AAPL", Side.BUY, 10, created_at=T0, updated_at=T0)
        replacement = repos.orders.create(
            "c-1-r1", "AAPL", Side.BUY, 10, order_type=OrderType.LMT, limit_price=Decimal("187.5"),
            replaces_order_id=first.id, is_external=True, created_at=T0, updated_at=T0, retry_count=1,
        )
        record = to_order_record(replacement)
    assert record == OrderRecord(
        id=2, client_order_id="c-1-r1", run_id=None, symbol="AAPL", side=Side.BUY, quantity=Decimal("10.000000"),
        order_type=OrderType.LMT, limit_price=Decimal("187.50000000"), status=OrderState.NEW,
        filled_quantity=Decimal("0.000000"), avg_fill_price=None, created_at=T0, updated_at=T0,
        replaces_order_id=1, external=True,
    )


def test_fills_commission_arrives_later_and_corrections_supersede(database):
    with database.unit_of_work() as s:
        repos = Repositories(s)
        order = repos.orders.create("c-1", "AAPL", Side.BUY, 100)
        f1, c1 = repos.fills.insert_once("0001f4e8.6538e7b4.01.01", order.id, "AAPL", Side.BUY, 60, "187.10", T0)
        _f2, c2 = repos.fills.insert_once("0001f4e8.6538e7b5.01.01", order.id, "AAPL", "BUY", 40, "187.20", T0 + timedelta(seconds=1))
        assert (c1, c2) == (True, True)
        assert f1.commission is None
        assert repos.fills.set_commission("0001f4e8.6538e7b4.01.01", "0.30") .commission == Decimal("0.30000000")
        assert repos.fills.set_commission("unknown", "1") is None
        assert repos.fills.filled_quantity(order.id) == Decimal("100")
        # IB corrects the first execution: revision .02 replaces .01.
        fix, c3 = repos.fills.insert_once("0001f4e8.6538e7b4.01.02", order.id, "AAPL", Side.BUY, 50, "187.10", T0)
        assert c3 is True and (fix.exec_base_id, fix.exec_revision, fix.superseded) == ("0001f4e8.6538e7b4.01", 2, False)
        # A late copy of the old revision is stored superseded, not counted.
        late, c4 = repos.fills.insert_once("0001f4e8.6538e7b4.01.01", order.id, "AAPL", Side.BUY, 60, "187.10", T0)
        assert c4 is False and late.id == f1.id
        order_id = order.id
    with database.session() as s:
        fills = Repositories(s).fills
        assert [(f.exec_id, f.superseded) for f in fills.list_by_order(order_id)] == [
            ("0001f4e8.6538e7b4.01.01", True),
            ("0001f4e8.6538e7b4.01.02", False),
            ("0001f4e8.6538e7b5.01.01", False),
        ]
        assert fills.filled_quantity(order_id) == Decimal("90")
        assert [f.exec_id for f in fills.list(include_superseded=False, newest_first=True)] == [
            "0001f4e8.6538e7b5.01.01", "0001f4e8.6538e7b4.01.02"
        ]
        record = to_fill_record(fills.get_by_exec_id("0001f4e8.6538e7b4.01.01"))
    assert record == FillRecord(
        id=1, order_id=order_id, exec_id="0001f4e8.6538e7b4.01.01", symbol="AAPL", side=Side.BUY,
        quantity=Decimal("60.000000"), price=Decimal("187.10000000"), commission=Decimal("0.30000000"),
        fill_time=T0, currency="USD", exchange=None, superseded=True, client_order_id="c-1",
    )


@pytest.mark.parametrize(
    ("exec_id", "expected"),
    [
        ("0001f4e8.6538e7b4.01.01", ("0001f4e8.6538e7b4.01", 1)),
        ("0001f4e8.6538e7b4.01.0a", ("0001f4e8.6538e7b4.01", 10)),
        ("sim-42", ("sim-42", 1)),
        ("abc.01", ("abc.01", 1)),
    ],
)
def test_split_exec_id(exec_id, expected):
    assert split_exec_id(exec_id) == expected


def test_order_events_are_appended_in_order(database):
    with database.unit_of_work() as s:
        repos = Repositories(s)
        order = repos.orders.create("c-1", "AAPL", Side.BUY, 1)
        repos.events.append(order.id, source=EventSource.BROKER, event_type="fill", payload={"exec_id": "x"}, time=T0)
        repos.events.append(
            order.id, source="broker", event_type="late_fill", from_state=OrderState.CANCELED,
            to_state=OrderState.CANCELED, flagged=True, message="fill after cancel", time=T0,
        )
        order_id = order.id
    with database.session() as s:
        events = Repositories(s).events
        assert [(e.event_type, e.flagged, e.payload) for e in events.list_by_order(order_id)] == [
            ("fill", False, {"exec_id": "x"}),
            ("late_fill", True, None),
        ]
        assert [e.message for e in events.list(flagged=True)] == ["fill after cancel"]


def test_position_upsert_updates_in_place(database):
    project_id = _project(database)
    with database.unit_of_work() as s:
        positions = Repositories(s).positions
        positions.upsert("DU1", "AAPL", 10, "187.5", updated_at=T0)
        positions.upsert("DU1", "AAPL", 15, "188.0", realized_pnl="12.5", updated_at=T0 + timedelta(seconds=1))
        positions.upsert("DU1", "AAPL", 3, "100", project_id=project_id, updated_at=T0)
        kept = positions.upsert("DU1", "AAPL", 0, "0", updated_at=T0 + timedelta(seconds=2))
        assert kept.realized_pnl == Decimal("12.5")  # None keeps the stored value
    with database.session() as s:
        positions = Repositories(s).positions
        rows = positions.list(account="DU1")
        assert [(p.project_id, p.quantity, p.average_cost, p.realized_pnl) for p in rows] == [
            (None, Decimal("0"), Decimal("0"), Decimal("12.5")),
            (project_id, Decimal("3"), Decimal("100"), Decimal("0")),
        ]
        assert [p.symbol for p in positions.list(nonzero_only=True)] == ["AAPL"]
        record = to_position_record(positions.get("DU1", "AAPL", project_id=project_id), market_price=Decimal("110"))
    assert record == PositionRecord(
        project_id=project_id, account="DU1", symbol="AAPL", quantity=Decimal("3"), average_cost=Decimal("100"),
        realized_pnl=Decimal("0"), updated_at=T0, market_price=Decimal("110"),
    )
    assert record.unrealized_pnl == Decimal("30")


def test_equity_snapshots(database):
    with database.unit_of_work() as s:
        equity = Repositories(s).equity
        for minutes, value in ((0, "100000"), (1, "100250.5"), (2, "99990")):
            equity.append("DU1", cash="50000", equity=value, time=T0 + timedelta(minutes=minutes))
        equity.append("DU2", cash="1", equity="1", time=T0)
    with database.session() as s:
        equity = Repositories(s).equity
        assert [e.equity for e in equity.list(account="DU1", since=T0 + timedelta(minutes=1))] == [
            Decimal("100250.5"), Decimal("99990")
        ]
        assert equity.latest("DU1").time == T0 + timedelta(minutes=2)


def test_contract_cache_save_updates(database):
    with database.unit_of_work() as s:
        contracts = Repositories(s).contracts
        contracts.save("AAPL", con_id=265598, primary_exchange="NASDAQ")
        contracts.save("AAPL", min_tick="0.01")
    with database.session() as s:
        row = Repositories(s).contracts.get("AAPL")
        assert (row.con_id, row.primary_exchange, row.min_tick) == (265598, "NASDAQ", Decimal("0.01"))


def test_settings_single_row_with_seed_defaults(database):
    with database.unit_of_work() as s:
        settings = Repositories(s).settings
        assert settings.trading_state() == TradingState.ACTIVE
        assert settings.auto_recovery() == {
            "new_timeout_seconds": 45, "max_auto_retries": 1, "max_price_deviation_pct": 1.5, "allow_replace_outside_rth": False,
        }
        assert settings.set_trading_state("HALTED") == TradingState.HALTED
        settings.set_risk_defaults({"max_order_notional": "25000", "max_orders": 50})
        settings.set_auto_recovery({"new_timeout_seconds": 60})
        with pytest.raises(RepositoryError):
            settings.set_auto_recovery({"bogus": 1})
        with pytest.raises(ValueError):
            settings.set_trading_state("PANIC")
    with database.session() as s:
        settings = Repositories(s).settings
        assert settings.trading_state() == TradingState.HALTED
        assert settings.risk_defaults() == {"max_order_notional": "25000", "max_orders": 50}
        assert settings.auto_recovery()["new_timeout_seconds"] == 60
        assert settings.auto_recovery()["max_auto_retries"] == 1
        assert s.execute(text("SELECT COUNT(*) FROM trade_settings")).scalar() == 1


def test_settings_readers_see_the_session_s_own_changes(database):
    with database.unit_of_work() as s:
        Repositories(s).settings.set_risk_defaults({"max_orders": 5})
    with database.unit_of_work() as s:
        reader, writer = Repositories(s).settings, SettingsRepository(s)
        assert reader.risk_defaults() == {"max_orders": 5}  # read without loading the row
        writer.get_for_update().risk_defaults = {"max_orders": 6}  # held by the session, not flushed
        assert reader.risk_defaults() == {"max_orders": 6}
        writer.set_trading_state("HALTED")
        del writer  # flushed and no longer held: the next question reads it again
        assert reader.trading_state() == TradingState.HALTED and reader.risk_defaults() == {"max_orders": 6}
    with database.session() as s:
        reader = Repositories(s).settings
        assert reader.risk_defaults() == {"max_orders": 6} and reader.trading_state() == TradingState.HALTED
        assert len(reader.installation_id()) == 6


def test_settings_read_once_asks_the_database_once(database):
    from sqlalchemy import event

    with database.unit_of_work() as s:
        Repositories(s).settings.set_risk_defaults({"max_orders": 5})
    statements: list[str] = []

    def count(conn, cursor, statement, *_):
        if "trade_settings" in statement:
            statements.append(statement)

    with database.session() as s:
        event.listen(s.get_bind(), "before_cursor_execute", count)
        try:
            settings = SettingsRepository(s, read_once=True)  # a preview's: nothing changes the row meanwhile
            assert settings.risk_defaults() == {"max_orders": 5} and len(settings.installation_id()) == 6
            assert settings.trading_state() == TradingState.ACTIVE and "plan_max_age_seconds" in settings.execution()
            assert len(statements) == 1
            assert SettingsRepository(s).risk_defaults() == {"max_orders": 5} and len(statements) == 2  # the default: each asks
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", count)


def test_times_are_aware_utc_with_microseconds_and_naive_is_refused(database):
    est = timezone(timedelta(hours=-5))
    with database.unit_of_work() as s:
        repos = Repositories(s)
        order = repos.orders.create("c-1", "AAPL", Side.BUY, 1, created_at=T0.astimezone(est), updated_at=T0)
        order_id = order.id
    with database.session() as s:
        created = Repositories(s).orders.get(order_id).created_at
    assert created == T0 and created.tzinfo == UTC and created.microsecond == 123456
    with pytest.raises(Exception, match="naive datetime"), database.unit_of_work() as s:
        Repositories(s).orders.create("c-2", "AAPL", Side.BUY, 1, created_at=datetime(2026, 1, 1))


def test_unit_of_work_rolls_back_on_error(database):
    with pytest.raises(RuntimeError), database.unit_of_work() as s:
        Repositories(s).projects.create("doomed")
        raise RuntimeError("boom")
    with database.session() as s:
        assert Repositories(s).projects.list() == []
        assert s.scalar(select(func.count()).select_from(TradeOrder)) == 0


def test_execute_many_stores_what_sqlalchemy_would_and_raises_its_errors(database):
    from sqlalchemy import Table, bindparam
    from sqlalchemy.exc import StatementError

    from services.db.models import Position
    from services.db.repositories.base import execute_many

    table = Position.__table__
    assert isinstance(table, Table)
    columns = ("project_key", "account", "symbol", "currency", "exchange", "quantity", "average_cost", "realized_pnl",
               "updated_at")
    rows = [(0, "DU1", "A", "USD", "SMART", Decimal("1.0000005"), Decimal("2"), Decimal("-3.5"), T0),
            (0, "DU1", "B", "USD", "SMART", Decimal("-7"), Decimal("0.1"), Decimal(0), T0)]
    with database.unit_of_work() as s:
        execute_many(s.connection(), table.insert(), columns, rows)
        # an UPDATE whose WHERE parameter is not a column, in another order than the statement's
        update = table.update().where(table.c.symbol == bindparam("key"))
        execute_many(s.connection(), update, ("quantity", "key", "updated_at"), [(Decimal("2.5"), "B", T0)])
    with database.session() as s:
        stored = {p.symbol: (p.quantity, p.average_cost, p.realized_pnl, p.updated_at)
                  for p in Repositories(s).positions.list()}
    assert stored == {"A": (Decimal("1.000001"), Decimal(2), Decimal("-3.5"), T0),
                      "B": (Decimal("2.5"), Decimal("0.1"), Decimal(0), T0)}
    with pytest.raises(StatementError, match=r"\(builtins.ValueError\) .*does not fit NUMERIC"), database.unit_of_work() as s:
        execute_many(s.connection(), table.insert(), columns, [(*rows[0][:5], Decimal("1e15"), *rows[0][6:])])
    with pytest.raises(IntegrityError), database.unit_of_work() as s:
        execute_many(s.connection(), table.insert(), columns, rows[:1])
    with pytest.raises(RuntimeError, match="not the columns"), database.unit_of_work() as s:
        execute_many(s.connection(), update, ("quantity", "key"), [(Decimal(1), "B")])  # updated_at's onupdate


def test_statements_run_on_the_driver_belong_to_the_transaction(database):
    """On SQLite ``execute_many`` and ``fetch_all`` run straight on the driver's cursor: inside
    the transaction (its rows seen before the commit, undone with its rollback, their errors
    SQLAlchemy's); on a connection with no transaction begun, SQLAlchemy begins one. MariaDB
    goes through SQLAlchemy throughout: the same behaviour."""
    from sqlalchemy import Table

    from services.db.models import Position
    from services.db.repositories.base import execute_many, fetch_all

    table = Position.__table__
    assert isinstance(table, Table)
    columns = ("project_key", "account", "symbol", "currency", "exchange", "quantity", "average_cost", "realized_pnl",
               "updated_at")
    row = (0, "DU1", "A", "USD", "SMART", Decimal("1.5"), Decimal("2"), Decimal(0), T0)
    symbols = select(table.c.symbol, table.c.quantity).order_by(table.c.symbol)
    with pytest.raises(RuntimeError, match="undo"), database.unit_of_work() as s:
        execute_many(s, table.insert(), columns, [row])
        assert [tuple(r) for r in fetch_all(s, symbols, {})] == [("A", Decimal("1.5"))]  # seen before the commit
        raise RuntimeError("undo")
    with database.session() as s:
        assert fetch_all(s, symbols, {}) == []  # rolled back with the unit of work
    with database.engine.connect() as connection:  # no transaction yet: SQLAlchemy begins one
        assert not connection.in_transaction()
        execute_many(connection, table.insert(), columns, [row])
        connection.commit()
    with pytest.raises(IntegrityError), database.unit_of_work() as s:
        execute_many(s, table.insert(), columns, [row])  # the same position again
    with database.session() as s:
        assert [r.symbol for r in fetch_all(s, symbols, {})] == ["A"]


def test_upsert_records_are_what_reading_the_rows_back_gives(database):
    """The writer's positions: written values taken as the column types store them (not read
    back) must equal, digit for digit, what a read of the rows gives (SQLite and MariaDB)."""
    from dataclasses import astuple

    from services.db.models import Position
    from services.db.repositories.portfolio import PositionWrite

    project_id = _project(database)
    with database.unit_of_work() as s:
        positions = Repositories(s).positions
        positions.upsert("DU1", "AAPL", 10, "187.5", realized_pnl="3.25", updated_at=T0)
        positions.upsert("DU1", "MSFT", 5, "300", realized_pnl="-1", project_id=project_id, updated_at=T0)
        s.add(Position(project_key=0, account="DU1", symbol="OLD", quantity=Decimal(7), average_cost=Decimal(2),
                       realized_pnl=Decimal(9), updated_at=T0))  # a row from before currency and venue were stored
        s.flush()
        positions.mark("DU1", {"AAPL": Decimal("190.12345678")}, T0)
    writes = [
        PositionWrite(None, "DU1", "AAPL", Decimal("1.0000005"), Decimal("-0"), Decimal("-0.000000001")),
        PositionWrite(project_id, "DU1", "MSFT", -3, "0.000000005", None),  # keeps the stored realized P&L
        PositionWrite(None, "DU1", "OLD", Decimal("-0.0000004"), Decimal("12345678901.123456789"), Decimal("1E+3")),
        PositionWrite(project_id, "DU1", "SAP@IBIS:EUR", Decimal("2.5"), Decimal("100.00000001"), None),
        PositionWrite(None, "DU2", "AAPL", "0", 0, 0),
    ]
    when = datetime(2026, 3, 2, 16, 30, 0, 654321, tzinfo=timezone(timedelta(hours=2)))
    with database.unit_of_work() as s:
        positions = Repositories(s).positions
        records = positions.upsert_records(writes, updated_at=when)
        read = positions.get_many([(w.project_id, w.account, w.symbol) for w in writes])

    def exact(record: PositionRecord) -> tuple:
        return tuple(repr(value) for value in astuple(record))  # Decimal('-0E-6') != Decimal('0E-6') here

    assert list(records) == [(w.project_id or 0, w.account, w.symbol) for w in writes]  # in the writes' order
    assert {k: exact(r) for k, r in records.items()} == {k: exact(to_position_record(r)) for k, r in read.items()}
    with database.session() as s:
        stored = Repositories(s).positions.get_many([(w.project_id, w.account, w.symbol) for w in writes])
        assert {k: exact(to_position_record(r)) for k, r in stored.items()} == {k: exact(r) for k, r in records.items()}
    assert records[(0, "DU1", "AAPL")].market_price == Decimal("190.12345678")
    assert records[(project_id, "DU1", "MSFT")].realized_pnl == Decimal(-1)
    assert (records[(0, "DU1", "OLD")].currency, records[(project_id, "DU1", "SAP@IBIS:EUR")].currency) == ("USD", "EUR")
    with pytest.raises(ValueError, match="two writes of one position"), database.unit_of_work() as s:
        Repositories(s).positions.upsert_records([writes[0], writes[0]])


def test_fetch_all_returns_what_session_execute_would(database):
    """The writer's prebuilt SELECTs through the driver: the same rows, values and types as
    ``Session.execute`` (SQLite and MariaDB), with expanding lists, a parameter used twice, a
    literal's bound value, a JSON column, NULLs and a type's converted parameter."""
    from sqlalchemy import bindparam
    from sqlalchemy.exc import StatementError

    from services.db.repositories.base import fetch_all
    from services.db.repositories.portfolio import _AMOUNTS_OF_ACCOUNT
    from services.db.repositories.portfolio_snapshots import _HELD, _PROJECT_FILL_CASH, _REALIZED, _RUN_PARAMS
    from services.execution.writer.projection import (
        _ANY_FILL_OF_BASES,
        _ORDERS,
        _ORDERS_BY_REF,
        _RUN_ORDER_STATES,
    )

    project_id = _project(database)
    with database.unit_of_work() as s:
        repos = Repositories(s)
        run_id = repos.runs.create(project_id, params={"plan_id": 7, "price": Decimal("1.25")}).id
        refs = []
        for i, symbol in enumerate(("AAPL", "MSFT", "SAP")):
            order = repos.orders.create(f"C-{i}", symbol, Side.BUY, Decimal(10 + i), limit_price=Decimal("1.5") if i else None,
                                        run_id=run_id, project_id=project_id, account="DU1", params={"sm": {"exec_filled": "1"}})
            refs.append(order.client_order_id)
            repos.fills.insert_once(f"E{i}.01", order.id, symbol, Side.BUY, 5, "187.10", T0, account="DU1")
        s.flush()
        repos.positions.upsert("DU1", "AAPL", 10, "187.5", realized_pnl="-3.25", updated_at=T0, project_id=project_id)
        repos.positions.upsert("DU1", "MSFT", 0, "0", realized_pnl="1", updated_at=T0, project_id=project_id)
        repos.positions.mark("DU1", {"AAPL": Decimal("190.1")}, T0)
    by_status = select(_ORDERS.c.client_order_id, _ORDERS.c.params).where(
        _ORDERS.c.status.in_(bindparam("states", expanding=True)), _ORDERS.c.quantity > bindparam("above"))
    cases = [
        (_ORDERS_BY_REF, {"refs": [*refs, "missing"]}),
        (_ORDERS_BY_REF, {"refs": refs[:1]}),
        (_RUN_ORDER_STATES, {"run_id": run_id}),
        (_HELD, {"project_key": project_id, "account": "DU1"}),
        (_AMOUNTS_OF_ACCOUNT, {"account": "DU1", "project_keys": [0, project_id], "symbols": ["AAPL", "MSFT", "X"]}),
        (by_status, {"states": [OrderState.NEW, "SUBMITTED"], "above": Decimal("10.5")}),
        (_ANY_FILL_OF_BASES, {"bases": ["E1", "E2"]}),
        (_ANY_FILL_OF_BASES, {"bases": ["E9"]}),
        (_REALIZED, {"project_key": project_id, "account": "DU1"}),
        (_RUN_PARAMS, {"run_id": run_id}),
        (_PROJECT_FILL_CASH, {"account": "DU1", "after": 0, "project_id": project_id}),
    ]
    with database.session() as s:
        for statement, params in cases:
            expected = [tuple(row) for row in s.execute(statement, params)]
            got = fetch_all(s, statement, params)
            assert expected or statement is _ANY_FILL_OF_BASES  # each case reads rows
            assert [tuple(row) for row in got] == expected
            assert [[repr(v) for v in row] for row in got] == [[repr(v) for v in row] for row in expected]  # same types, same digits
            assert [row._fields[:2] for row in got[:1]] == [tuple(statement.selected_columns.keys())[:2] for _ in got[:1]]
        assert fetch_all(s, _HELD, {"project_key": project_id, "account": "DU1"})[0].market_price == Decimal("190.1")
        with pytest.raises(ValueError, match="empty"):
            fetch_all(s, _ORDERS_BY_REF, {"refs": []})
        with pytest.raises(StatementError, match="not a valid OrderState"):
            fetch_all(s, by_status, {"states": ["NOPE"], "above": 1})
    # a driver of another parameter style (mysqlclient's format, sqlite3's named): SQLAlchemy's
    # statement handling, the same rows (before: RuntimeError, and the writer stopped)
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    other = create_engine(database.url, paramstyle="format" if database.engine.dialect.name != "sqlite" else "named")
    try:
        assert other.dialect.paramstyle not in ("qmark", "pyformat")
        with Session(other) as s:
            for statement, params in cases:
                expected = [tuple(row) for row in s.execute(statement, params)]
                got = fetch_all(s, statement, params)
                assert [[repr(v) for v in row] for row in got] == [[repr(v) for v in row] for row in expected]
            assert fetch_all(s, _HELD, {"project_key": project_id, "account": "DU1"})[0].market_price == Decimal("190.1")
            with pytest.raises(ValueError, match="empty"):
                fetch_all(s, _ORDERS_BY_REF, {"refs": []})
    finally:
        other.dispose()


def test_insert_many_once_stores_what_the_general_insert_stores(database):
    """The orders' executemany through the driver (the constant defaults filled in) gives the
    same rows as SQLAlchemy's own executemany of the same dicts, and skips an existing order."""
    from sqlalchemy import Table

    from services.db.repositories.base import (
        _insert_skipping_duplicates,
        _with_insert_defaults,
        normalize_values,
    )

    project_id = _project(database)

    def order(coid: str) -> dict:
        return dict(client_order_id=coid, symbol="AAPL", side=Side.BUY, quantity=Decimal("12.5"), order_type=OrderType.LMT,
                    limit_price=Decimal("101.25"), tif="DAY", status=OrderState.NEW, project_id=project_id,
                    sec_type="STK", exchange="SMART", currency="USD", primary_exchange=None, account="DU1",
                    params={"draft": {"a": "1"}, "plan_id": 3}, created_at=T0, updated_at=T0)

    with database.unit_of_work() as s:
        Repositories(s).orders.insert_many_once([order("fast-1"), order("fast-2")])
        Repositories(s).orders.insert_many_once([order("fast-2"), order("fast-3")])  # fast-2 kept as it was
        general = [_with_insert_defaults(TradeOrder, normalize_values(TradeOrder, order(c))) for c in ("slow-1", "slow-2", "slow-3")]
        s.execute(_insert_skipping_duplicates(s.get_bind().dialect.name, TradeOrder, "client_order_id"), general)
    table = TradeOrder.__table__
    assert isinstance(table, Table)
    with database.session() as s:
        rows = {r.client_order_id: r._asdict() for r in s.execute(select(table))}
    assert sorted(rows) == ["fast-1", "fast-2", "fast-3", "slow-1", "slow-2", "slow-3"]
    for n in (1, 2, 3):
        fast, slow = rows[f"fast-{n}"], rows[f"slow-{n}"]
        assert {k: v for k, v in fast.items() if k not in ("id", "client_order_id")} == \
               {k: v for k, v in slow.items() if k not in ("id", "client_order_id")}
    assert rows["fast-1"]["filled_quantity"] == Decimal(0) and rows["fast-1"]["retry_count"] == 0
    assert rows["fast-1"]["is_external"] is False and rows["fast-1"]["params"] == {"draft": {"a": "1"}, "plan_id": 3}
    # on a driver of another parameter style (mysqlclient's format, sqlite3's named): the same rows
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    other = create_engine(database.url, paramstyle="format" if database.engine.dialect.name != "sqlite" else "named")
    try:
        with Session(other) as s, s.begin():
            Repositories(s).orders.insert_many_once([order("other-1")])
    finally:
        other.dispose()
    with database.session() as s:
        stored = {r.client_order_id: r._asdict() for r in s.execute(select(table).where(table.c.client_order_id == "other-1"))}
    assert {k: v for k, v in stored["other-1"].items() if k not in ("id", "client_order_id", "created_at", "updated_at")} == \
           {k: v for k, v in rows["fast-1"].items() if k not in ("id", "client_order_id", "created_at", "updated_at")}


def test_a_project_name_is_stored_and_found_without_the_spaces_around_it(database, tmp_path):
    """`snapshot import --project "desk "` and the window trimmed the name, `preview --save
    --project "desk "` and `execute --project "desk "` did not: the same file landed in two
    projects ('desk' and 'desk ' on SQLite). Every caller reaches the repository, which trims."""
    from services.audit import AuditLog
    from services.console_queries import parse_for_storage, store_snapshot

    path = tmp_path / "t.csv"
    path.write_text("symbol,weight\nAAPL,0.1\nMSFT,0.1\n")
    parsed = parse_for_storage(path)
    padded = store_snapshot(database, parsed, "desk ", actor="tester")  # as preview --save / execute hand it over
    plain = store_snapshot(database, parsed, "desk", actor="tester")  # as snapshot import and the window do
    assert padded.ok and plain.ok
    assert (plain.project_id, plain.snapshot_id) == (padded.project_id, padded.snapshot_id)
    with database.unit_of_work() as s:
        repos = Repositories(s)
        assert repos.projects.get_or_create("  desk\t").id == padded.project_id
        assert repos.projects.get_by_name(" desk ").id == padded.project_id
        assert [p.name for p in repos.projects.list()] == ["desk"]
        # each store's audit entry names the project as stored (the second found the first's snapshot)
        assert [(e.payload["project"], e.payload["created"]) for e in AuditLog(database).list(action="snapshot.import")] == [
            ("desk", True), ("desk", False)]
        with pytest.raises(RepositoryError, match="empty"):
            repos.projects.get_or_create("   ")


# SQLite only: MariaDB has no UPDATE ... RETURNING (the claim reads its rows back with a SELECT there)
@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_fetch_all_returns_an_update_s_returning_rows_and_refuses_a_value_it_would_leave_null(database):
    """An UPDATE ... RETURNING through the driver (the claim of a run's orders on SQLite): the rows
    it changed, as ``Session.execute`` returns them, its values stored; an UPDATE that leaves a
    column's ``onupdate`` to SQLAlchemy is refused rather than run with NULL there."""
    from sqlalchemy import bindparam, update

    from services.db.repositories.base import fetch_all

    assert database.engine.dialect.update_returning
    project_id = _project(database)
    with database.unit_of_work() as s:
        repos = Repositories(s)
        for i in range(3):
            repos.orders.create(f"R-{i}", "AAPL", Side.BUY, Decimal(1 + i), project_id=project_id)
    orders = TradeOrder.__table__
    given = (update(orders).where(orders.c.client_order_id.in_(bindparam("ids", expanding=True)), orders.c.status == OrderState.NEW)
             .values(status=OrderState.SENDING, claimed_by=bindparam("by"), updated_at=bindparam("at"))
             .returning(orders.c.client_order_id, orders.c.quantity))
    with database.core(write=True) as connection:
        got = fetch_all(connection, given, {"ids": ["R-0", "R-2", "R-9"], "by": "me", "at": T0})
    assert sorted((r.client_order_id, r.quantity) for r in got) == [("R-0", Decimal(1)), ("R-2", Decimal(3))]
    with database.session() as s:
        stored = {o.client_order_id: (o.status, o.claimed_by, o.updated_at) for o in Repositories(s).orders.list()}
    assert stored["R-0"] == stored["R-2"] == (OrderState.SENDING, "me", T0)
    assert stored["R-1"][:2] == (OrderState.NEW, None)
    left_to_sqlalchemy = (update(orders).where(orders.c.client_order_id == bindparam("id")).values(claimed_by=bindparam("by"))
                          .returning(orders.c.id))
    with pytest.raises(RuntimeError, match="every value is given"), database.core(write=True) as connection:
        fetch_all(connection, left_to_sqlalchemy, {"id": "R-1", "by": "me"})
    with database.session() as s:
        assert Repositories(s).orders.get_by_client_id("R-1").claimed_by is None
