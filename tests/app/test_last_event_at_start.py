"""A window's "last event" at its start is the last stored one: a monitor opened over a database
holding a day's orders said "no events yet" (a trader read it as nothing having happened) until
something new came in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services import console_queries as queries
from services.db.models import TradeFill, TradeOrder

from .conftest import run

pytestmark = pytest.mark.timeout(120)


def _order(database, ref: str, account: str = "DU1") -> None:
    from services.db.repositories import OrderRepository
    from services.domain import OrderState, Side

    with database.unit_of_work() as session:
        OrderRepository(session).create(ref, "AAPL", Side.BUY, Decimal(1), status=OrderState.ACCEPTED, account=account)


def _set_updated_at(database, model, when: datetime) -> None:
    with database.unit_of_work() as session:
        for row in session.query(model).all():
            row.updated_at = when


def test_the_last_stored_event_is_the_newest_order_or_fill_change_not_a_backtests(database):
    assert queries.last_event_time(database) is None  # an empty database: none
    _order(database, "BT-1", account="BACKTEST-7")
    assert queries.last_event_time(database) is None  # a backtest's order is no event of the account
    _order(database, "O-1")
    when = datetime(2026, 12, 4, 15, 59, 58, 250_000, tzinfo=UTC)
    with database.unit_of_work() as session:
        session.query(TradeOrder).filter(TradeOrder.client_order_id == "O-1").update({"updated_at": when})
        session.query(TradeOrder).filter(TradeOrder.client_order_id == "BT-1").update(
            {"updated_at": when + timedelta(hours=1)})
    assert queries.last_event_time(database) == when
    # a fill written later is the last event
    with database.unit_of_work() as session:
        order = session.query(TradeOrder).filter(TradeOrder.client_order_id == "O-1").one()
        session.add(TradeFill(exec_id="E1.01", exec_base_id="E1", exec_revision=1, order_id=order.id, symbol="AAPL",
                              side="BUY", quantity=Decimal(1), price=Decimal("200"), account="DU1",
                              fill_time=when + timedelta(minutes=1), updated_at=when + timedelta(minutes=1)))
    assert queries.last_event_time(database) == when + timedelta(minutes=1)


def test_a_monitor_opened_over_stored_orders_says_the_last_ones_time_not_no_events_yet(
        qloop, qtbot, database, db_url, console_settings):
    from tests.app.test_monitor_mode import open_monitor

    _order(database, "M-1")
    stored = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    _set_updated_at(database, TradeOrder, stored)
    # the time alone today, with its day just after midnight
    said = f"{stored:%H:%M:%S}" if stored.date() == datetime.now(UTC).date() else f"{stored:%Y-%m-%d %H:%M:%S}"

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        try:
            status = monitor.window.connection_status
            assert status.last_event_label.text() == f"last event {said} UTC"
            assert status.last_event_time() == stored
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def test_a_monitor_over_an_empty_database_says_no_events_yet(qloop, qtbot, db_url, console_settings):
    from tests.app.test_monitor_mode import open_monitor

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        try:
            assert monitor.window.connection_status.last_event_label.text() == "no events yet"
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def test_the_label_says_nothing_before_the_database_is_read_and_an_older_days_event_with_its_day(qtbot):
    from widgets.views.status import ConnectionStatusBar

    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    bar = ConnectionStatusBar(now=lambda: now)
    qtbot.addWidget(bar)
    assert bar.last_event_label.text() == ""  # not read yet: no claim either way
    bar.set_last_event_time(datetime(2026, 12, 4, 15, 59, 58, tzinfo=UTC))  # Friday's close, read on Monday
    assert bar.last_event_label.text() == "last event 2026-12-04 15:59:58 UTC"
    bar.set_last_event_time(datetime(2026, 12, 7, 8, 59, 1, tzinfo=UTC))  # the connection came up
    assert bar.last_event_label.text() == "last event 08:59:01 UTC"
    # the stored time answering after the connection's does not take it back
    bar.set_last_event_time(datetime(2026, 12, 7, 8, 30, tzinfo=UTC))
    bar.set_last_event_time(None)
    assert bar.last_event_label.text() == "last event 08:59:01 UTC"


def test_an_empty_database_read_says_no_events_yet(qtbot):
    from widgets.views.status import ConnectionStatusBar

    bar = ConnectionStatusBar()
    qtbot.addWidget(bar)
    bar.set_last_event_time(None)
    assert bar.last_event_label.text() == "no events yet"
