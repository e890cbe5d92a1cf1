"""The snapshots panel shows the snapshot clicked last (the real window, offscreen): each click
reads the snapshot's targets in a worker thread, and an earlier click's read finishing last
put its targets under the later selection (and told the preview panel it was the one shown)."""

from __future__ import annotations

import threading

import pytest

from app.composition import DEMO_PROJECT
from services import console_queries
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

# end-to-end in the whole window (a console each): the whole suite, not --quick
pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_earlier_clicks_targets_coming_back_last_do_not_replace_the_later_ones(qloop, open_console, monkeypatch,
                                                                                  tmp_path):
    targets = tmp_path / "second.csv"
    targets.write_text("symbol,weight\nIBM,0.05\nAAPL,0.05\n")
    real_items = console_queries.snapshot_items
    held, release = threading.Event(), threading.Event()

    def first_answered_late(db, snapshot_id):
        items = real_items(db, snapshot_id)
        if not held.is_set():
            held.set()
            assert release.wait(30), "the test never released the first read"
        return items

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        tree, items = w.snapshots_view, w.snapshot_items_model
        try:
            await wait_for(lambda: items.rowCount() > 2, 10, "the demo snapshot")
            demo = tree.current_snapshot_id()
            second = (await controller.import_snapshot(str(targets), DEMO_PROJECT)).snapshot_id
            assert items.rowCount() == 2
            monkeypatch.setattr(console_queries, "snapshot_items", first_answered_late)
            assert tree.select_snapshot(demo)  # clicked ...
            await wait_for(held.is_set, 10, "the demo snapshot's targets read")
            assert tree.select_snapshot(second)  # ... and another one clicked before it came back
            await wait_for(lambda: controller.runner.running().count("Load snapshot") == 1, 10,
                           "the second snapshot shown")
            release.set()
            assert await controller.runner.drain(timeout=10) == []
            assert tree.current_snapshot_id() == second and items.rowCount() == 2
            assert {items.record_at(row).symbol for row in range(2)} == {"IBM", "AAPL"}
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_import_returns_with_its_snapshot_shown_whatever_another_read_is_doing(qloop, open_console, monkeypatch,
                                                                                   tmp_path):
    """The import selected the new snapshot in the tree, which started a load of its own (a task),
    then read the items itself: the task's later ask made the import's answer old, so the import
    returned with the snapshot shown before still in the table until the task's read came back
    (a fresh-clone run failed on it: 12 rows, not 2). Any read after the import's own is held
    here until the import has returned."""
    targets = tmp_path / "second.csv"
    targets.write_text("symbol,weight\nIBM,0.05\nAAPL,0.05\n")
    real_items = console_queries.snapshot_items
    release = threading.Event()
    reads: list[int] = []

    def later_reads_held(db, snapshot_id):
        reads.append(snapshot_id)
        if len(reads) > 1:
            assert release.wait(30), "the test never released the later read"
        return real_items(db, snapshot_id)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        items = w.snapshot_items_model
        try:
            await wait_for(lambda: items.rowCount() > 2, 10, "the demo snapshot")
            monkeypatch.setattr(console_queries, "snapshot_items", later_reads_held)
            outcome = await controller.import_snapshot(str(targets), DEMO_PROJECT)
            assert items.rowCount() == 2 and {items.record_at(row).symbol for row in range(2)} == {"IBM", "AAPL"}
            assert w.snapshots_view.current_snapshot_id() == outcome.snapshot_id
            assert reads == [outcome.snapshot_id]  # read once, by the import itself
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_the_window_opens_on_the_newest_snapshot_by_its_date_and_lists_it_first(qloop, open_console, tmp_path):
    """The demo window opened on (and its Preview previewed) the snapshot stored last, a file
    backfilled after the others (momentum_2026-11-19.csv, imported after the demo's
    momentum_2026-11-21.json) included, and listed it first. It opens now on the newest by the
    date in its name; a file named without a date counts by the day it was stored
    (services.console_queries.snapshot_recency)."""
    from services.console_queries import import_snapshot

    backfill, undated = tmp_path / "momentum_2026-11-19.csv", tmp_path / "weights.csv"
    backfill.write_text("symbol,weight\nIBM,0.05\n")
    undated.write_text("symbol,weight\nMSFT,0.05\nAAPL,0.05\n")

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        tree, items = w.snapshots_view, w.snapshot_items_model

        def listed() -> list[str]:
            demo = next(tree.tree.topLevelItem(i) for i in range(tree.tree.topLevelItemCount())
                        if tree.tree.topLevelItem(i).text(0) == DEMO_PROJECT)
            return [demo.child(i).text(0) for i in range(demo.childCount())]

        try:
            await wait_for(lambda: items.rowCount() > 2, 10, "the demo snapshot")
            # stored by another process (a terminal's `snapshot import`), then the window opened
            import_snapshot(console.stack.db, backfill, DEMO_PROJECT, actor="tester")
            tree.tree.setCurrentItem(None)
            await controller.snapshots.load()  # what the window's start does
            assert listed() == ["momentum_2026-11-21.json", "momentum_2026-11-20.csv", "momentum_2026-11-19.csv"]
            assert tree.current_snapshot_id() == controller.snapshots._snapshots[0].id
            assert items.rowCount() == 12  # the 2026-11-21 snapshot's targets, not the backfill's one
            later = import_snapshot(console.stack.db, undated, DEMO_PROJECT, actor="tester").snapshot_id
            await controller.snapshots.load()
            assert listed()[0] == "weights.csv" and tree.current_snapshot_id() == later
            assert "YYYY-MM-DD date in the file's name" in tree.tree.headerItem().toolTip(0)  # the rule, said
        finally:
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_projects_row_clicked_shows_no_snapshots_items(qloop, open_console):
    """A trader's walk under Xvfb: the project's row clicked kept the items of the snapshot shown
    before in the table, while Preview asked for a snapshot to be selected."""

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        tree, items = w.snapshots_view, w.snapshot_items_model
        try:
            await wait_for(lambda: items.rowCount() > 2, 10, "the demo snapshot")
            shown = tree.current_snapshot_id()
            tree.tree.setCurrentItem(tree.tree.topLevelItem(0))  # the project's row
            assert tree.current_snapshot_id() is None
            await wait_for(lambda: items.rowCount() == 0, 10, lambda: f"no items, not {items.rowCount()}")
            assert tree.select_snapshot(shown)  # a snapshot again: its items
            await wait_for(lambda: items.rowCount() > 2, 10, "the snapshot's items again")
            assert await controller.runner.drain(timeout=10) == []
        finally:
            await console.close()

    run(qloop, scenario(), timeout=100)
