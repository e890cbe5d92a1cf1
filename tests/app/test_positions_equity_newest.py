"""The positions and the equity chart show their newest answer (the real window, offscreen, demo
simulator): their reads run in worker threads, and the position marks also wait for the broker's
prices, so an older read can come back after a newer answer was shown; it must not replace it."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services import console_queries
from services.domain import OrderType, Side
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

# end-to-end in the whole window (a console each): the whole suite, not --quick
pytestmark = pytest.mark.slow

sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def _first_answered_late(real):
    """``real`` wrapped: the first call's answer is read at once, then held in its worker thread
    until ``release`` is set (an old answer on its way)."""
    held, release = threading.Event(), threading.Event()

    def answered_late(*args, **kwargs):
        answer = real(*args, **kwargs)
        if not held.is_set():
            held.set()
            assert release.wait(30), "the test never released the first read"
        return answer

    return answered_late, held, release


def _aapl(w) -> Decimal | None:
    w.positions_model.flush()
    return next((p.quantity for p in w.positions_model.records() if p.symbol == "AAPL" and p.project_id is None), None)


@sqlite_only
@pytest.mark.timeout(120)
def test_position_marks_read_before_a_fill_do_not_take_the_position_back(qloop, open_console, monkeypatch):
    answered_late, held, release = _first_answered_late(console_queries.positions)

    async def scenario():
        console = await open_console()
        w, controller, actions = console.window, console.controller, console.stack.actions
        try:
            await actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.MKT)
            await wait_for(lambda: _aapl(w) == 10, 10, "the position")
            monkeypatch.setattr(console_queries, "positions", answered_late)
            marking = asyncio.ensure_future(controller.mark_positions())
            await wait_for(held.is_set, 10, "the marks' positions read")
            await actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.MKT)
            await wait_for(lambda: _aapl(w) == 15, 10, "the position after the second fill")
            release.set()
            await marking
            assert _aapl(w) == 15
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@sqlite_only
@pytest.mark.timeout(120)
def test_an_older_equity_read_coming_back_last_does_not_replace_the_chart(qloop, open_console, monkeypatch):
    from services.db.models import EquitySnapshot

    answered_late, held, release = _first_answered_late(console_queries.account_equity)

    async def scenario():
        console = await open_console()
        controller, stack = console.controller, console.stack
        monitoring = controller.monitoring
        try:
            monitoring._equity_timer.stop()  # only this test's reads
            monkeypatch.setattr(console_queries, "account_equity", answered_late)
            older = asyncio.ensure_future(monitoring.show_equity())
            await wait_for(held.is_set, 10, "the first equity read")
            with stack.db.unit_of_work() as session:  # a sample stored after it was read
                session.add(EquitySnapshot(time=datetime.now(UTC) + timedelta(minutes=1), account=stack.provider.account,
                                           cash=Decimal(0), equity=Decimal("123456.78")))
            await monitoring.show_equity()
            newer = list(controller.equity_points)
            assert newer[-1][1] == Decimal("123456.78")
            release.set()
            await older
            assert controller.equity_points == newer
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@sqlite_only
@pytest.mark.timeout(120)
def test_an_older_capitals_read_coming_back_last_does_not_replace_the_newer_capitals(qloop, open_console, monkeypatch):
    """Each Settings save reads the projects' capitals again for the positions tree: the reads
    finish in any order, and the capital saved last must be the one the tree works with."""
    import app.controllers.monitoring as monitoring_module
    from app.composition import DEMO_PROJECT
    from services.books import BooksService

    answered_late, held, release = _first_answered_late(monitoring_module.project_books)

    async def scenario():
        console = await open_console()
        w, monitoring = console.window, console.controller.monitoring
        shown: list[dict] = []
        real_set_capitals = w.positions_view.set_capitals

        def set_capitals(capitals):
            shown.append(dict(capitals))
            real_set_capitals(capitals)

        monkeypatch.setattr(w.positions_view, "set_capitals", set_capitals)
        try:
            monkeypatch.setattr(monitoring_module, "project_books", answered_late)
            older = asyncio.ensure_future(monitoring.show_capitals())
            await wait_for(held.is_set, 10, "the first capitals read")
            await asyncio.to_thread(BooksService(console.stack.db, "test").set_capitals, {DEMO_PROJECT: "50000"})
            await monitoring.show_capitals()
            assert shown[-1][DEMO_PROJECT] == Decimal(50000)
            release.set()
            await older
            assert shown[-1][DEMO_PROJECT] == Decimal(50000)
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@sqlite_only
@pytest.mark.timeout(120)
def test_an_older_project_names_read_coming_back_last_does_not_lose_a_newer_project(qloop, open_console, monkeypatch,
                                                                                   tmp_path):
    """Two new projects' first positions in quick succession: each asks for the project names
    again, and the first read, finishing last, lacked the second project (its lines unnamed)."""
    targets = tmp_path / "targets.csv"
    targets.write_text("symbol,weight\nAAPL,0.05\n")
    answered_late, held, release = _first_answered_late(console_queries.project_names)

    async def scenario():
        console = await open_console()
        w, controller, actions = console.window, console.controller, console.stack.actions
        try:
            await controller.import_snapshot(str(targets), "alpha")
            monkeypatch.setattr(console_queries, "project_names", answered_late)
            await actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.MKT, project="alpha")
            await wait_for(held.is_set, 10, "the names read for alpha's first position")
            await controller.import_snapshot(str(targets), "beta")
            await actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.MKT, project="beta")
            await wait_for(lambda: "beta" in w.positions_model.project_names().values(), 10, "beta named")
            release.set()
            assert await controller.runner.drain(timeout=10) == []
            assert {"alpha", "beta"} <= set(w.positions_model.project_names().values())
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)
