"""The window's TCA tab and the Backtest panel's rebalances in the real window (offscreen, demo
simulator): a paper run chosen in the blotter's run filter shows, per order, the plan's reference
price, the fill and the shortfall beside the same day's backtest fill from the price cache, with
the run's totals; a backtest run is not compared; a double-clicked rebalance opens its decision
trail in the Decisions view."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest

from services import price_cache
from services.core.bars import Bar
from tests.app.conftest import run
from tests.backtest.data import generated_bars, monthly_snapshots, write_prices_csv, write_snapshots_csv
from tests.fixtures.ib import wait_for

pytestmark = [pytest.mark.timeout(240), pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True), pytest.mark.slow]


def test_tca_tab_shows_a_paper_run_beside_its_backtest(qloop, open_console, monkeypatch):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)

    async def scenario():
        console = await open_console()
        w, controller, stack = console.window, console.controller, console.stack
        try:
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 0, 10, "the demo snapshot")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "preview")
            preview = controller.current_preview
            w.preview_view.execute_button.click()
            sim = console.sim
            await wait_for(lambda: len(sim.orders()) == len(preview.drafts)
                           and all(o.status == "Filled" for o in sim.orders()), 20, "simulator fills")
            await stack.writer.flush()
            day = (await stack.service.view(preview.run_id)).run.trade_date
            closes = {d.symbol: d.reference_price * Decimal("1.002") for d in preview.drafts}
            price_cache.store_imported(stack.db, "test", [Bar(day, s, c, c, c, c) for s, c in closes.items()])

            w.blotter_view.set_run_filter(preview.run_id)
            # (the settled run's TCA was shown before these bars were cached: the filter shows it again, with them)
            await wait_for(lambda: w.tca_model.rowCount() == len(preview.drafts)
                           and all(r["backtest_price"] is not None for r in w.tca_model.records()), 10, "the run's TCA")
            # every order's state, a filled one's too: its State cell stood blank (walked under Xvfb)
            state = next(i for i, c in enumerate(w.tca_model.columns) if c.title == "State")
            assert [w.tca_model.data(w.tca_model.index(r, state)) for r in range(w.tca_model.rowCount())] == (
                ["filled"] * len(preview.drafts))
            # the demo's run went to the built-in simulator: headed as the DEMO badge says, not "paper"
            assert w.tca_view.title_label.text() == f"Run {preview.run_id} (demo) of {day}"
            for record in w.tca_model.records():
                draft = next(d for d in preview.drafts if d.symbol == record["symbol"])
                assert Decimal(record["reference_price"]) == draft.reference_price
                assert record["fill_price"] is not None and record["shortfall_bps"] is not None
                assert record["shortfall"] is not None
                assert Decimal(record["backtest_price"]) == closes[record["symbol"]]
                assert record["backtest_shortfall_bps"] == ("20.00" if str(draft.side) == "BUY" else "-20.00")
            report = controller.decisions.tca_run_id, w.tca_view.totals_label.text()
            assert report[0] == preview.run_id and report[1].startswith("shortfall ") and " · backtest " in report[1]

            w.tca_view.fill_combo.setCurrentText("next-open")  # no cached bar after the run's day
            await wait_for(lambda: f"no bar for the session after {day} yet" in w.tca_view.totals_label.text(), 10,
                           "the next-open TCA")
            assert all(r["backtest_price"] is None for r in w.tca_model.records())
        finally:
            await console.close()

    run(qloop, scenario(), timeout=200)


def test_the_tca_tab_takes_ibs_commission_reports_that_come_after_the_run_settled(qloop, open_console, monkeypatch):
    """IB sends each commission report after its execution, at times seconds later: the TCA tab,
    shown by itself once the run settled, said "commission not reported yet" until something
    else read the run again. It reads it again when a report of the run is written, a burst of
    them once (not once per report)."""
    import app.controllers.decisions as decisions

    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    reads: list[int] = []  # the TCA tab's reads of a run, by run
    read = decisions.cached_tca

    def counted(db, run_id, *args):
        reads.append(run_id)
        return read(db, run_id, *args)

    monkeypatch.setattr(decisions, "cached_tca", counted)

    async def scenario():
        console = await open_console()
        w, controller, stack, sim = console.window, console.controller, console.stack, console.sim
        try:
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 0, 10, "the demo snapshot")
            sim.hold_commission_reports()
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "preview")
            preview = controller.current_preview
            w.preview_view.execute_button.click()
            await wait_for(lambda: len(sim.orders()) == len(preview.drafts)
                           and all(o.status == "Filled" for o in sim.orders()), 20, "simulator fills")
            # settled, the run's TCA is shown by itself: every fill's commission not reported yet
            await wait_for(lambda: controller.decisions.tca_run_id == preview.run_id
                           and w.tca_model.rowCount() == len(preview.drafts)
                           and "not reported yet" in w.tca_view.totals_label.text(), 20, "the settled run's TCA")
            assert all(r["commission"] is None for r in w.tca_model.records())

            assert sim.release_commission_reports() >= len(preview.drafts)  # at once: a burst
            await wait_for(lambda: all(r["commission"] is not None and r["commissions_unreported"] == 0
                                       for r in w.tca_model.records())
                           and "not reported yet" not in w.tca_view.totals_label.text(), 15,
                           "IB's commissions in the TCA tab, without another request")
            assert "before IB's commissions of " in w.tca_view.totals_label.text()

            # a burst of written reports of the run, one change set each, is one read of it
            await controller.runner.drain(timeout=10)
            before = len(reads)
            for fill in (await stack.trade.view(preview.run_id)).fills:
                controller.decisions.take_changes((), (fill,))
            await wait_for(lambda: len(reads) > before, 10, "the TCA read again")
            await controller.runner.drain(timeout=10)
            assert reads[before:] == [preview.run_id]
        finally:
            await console.close()

    run(qloop, scenario(), timeout=200)


def test_a_rebalance_double_clicked_shows_its_trail_in_the_decisions_view(qloop, open_console, tmp_path):
    symbols = [f"W{i:02d}" for i in range(12)]
    end = date(2024, 3, 28)
    prices = write_prices_csv(tmp_path / "bars.csv", generated_bars(symbols, date(2024, 1, 25), end, seed=3))
    snapshots = write_snapshots_csv(tmp_path / "snaps.csv", monthly_snapshots(symbols, date(2024, 2, 1), end, "west", seed=5))

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            w.backtest_view.prices_edit.setText(str(prices))
            w.backtest_view.snapshots_edit.setText(str(snapshots))
            outcome = await controller.backtest.run(w.backtest_view.values())
            assert outcome is not None and outcome.status == "done"
            assert w.backtest_view.rebalances_table.rowCount() == 2
            w.docks["charts"].raise_()
            w.decisions_tabs.setCurrentWidget(w.tca_view)
            run_id = int(w.backtest_view.rebalances_table.item(1, 2).text())
            w.backtest_view.rebalances_table.cellActivated.emit(1, 0)
            await wait_for(lambda: controller.backtest.trails_shown == [run_id], 10, "the rebalance's trail")
            title = w.decisions_view.title_label.text()
            assert title.startswith(f"Backtest run {run_id}, plan ") and title.endswith("never sent to a broker)"), title
            assert w.order_decisions_model.rowCount() > 0 and w.rule_verdicts_model.rowCount() > 0
            assert not w.docks["decisions"].visibleRegion().isEmpty()  # brought to the front
            assert w.decisions_tabs.currentWidget() is w.decisions_view

            # and the panel's TCA tab is of that run too (walked under Xvfb: it stayed on the paper
            # run shown before, under a Decisions tab of backtest run N); a backtest run is the
            # comparison, not compared
            await wait_for(lambda: controller.decisions.tca_run_id == run_id, 10,
                           lambda: f"the rebalance's TCA ({w.tca_view.title_label.text()})")
            assert w.tca_view.title_label.text().startswith(f"Run {run_id} (backtest) of ")
            assert w.tca_view.title_label.text().endswith(": not measured, TCA compares demo runs with the backtest")
            assert w.tca_model.rowCount() == 0
        finally:
            await console.close()

    run(qloop, scenario(), timeout=200)


def test_a_backtest_run_in_the_window_shows_its_audit_entries_in_the_audit_panel(qloop, open_console, tmp_path):
    """Walked under Xvfb: after a backtest in the Backtest panel the Audit log tab still listed
    the 4 entries of before; the backtest's runs and plans (run.create, plan.create,
    run.execute) showed only after a restart. The panel reads them when the backtest ends."""
    symbols = [f"A{i:02d}" for i in range(12)]
    end = date(2024, 2, 29)
    prices = write_prices_csv(tmp_path / "bars.csv", generated_bars(symbols, date(2024, 1, 25), end, seed=3))
    snapshots = write_snapshots_csv(tmp_path / "snaps.csv", monthly_snapshots(symbols, date(2024, 2, 1), end, "audited", seed=5))

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            assert await controller.runner.drain(timeout=10) == []
            before = {r.id for r in w.audit_model.records()}
            w.backtest_view.prices_edit.setText(str(prices))
            w.backtest_view.snapshots_edit.setText(str(snapshots))
            outcome = await controller.backtest.run(w.backtest_view.values())
            assert outcome is not None and outcome.status == "done"
            (project,) = outcome.projects.values()
            (_day, run_id, _outcome), *_ = project["rebalances"]
            stored = await asyncio.to_thread(console.stack.audit.count)

            def entries_of_the_run() -> set[str]:
                w.audit_model.flush()
                return {r.action for r in w.audit_model.records() if r.id not in before and r.entity_id == str(run_id)}

            await wait_for(lambda: {"run.create", "run.execute"} <= entries_of_the_run(), 10,
                           lambda: f"the backtest's entries in the audit panel ({entries_of_the_run()})")
            assert await controller.runner.drain(timeout=10) == []
            assert w.audit_view.chain_label.text() == f"Chain verified ({stored} entries)"
        finally:
            await console.close()

    run(qloop, scenario(), timeout=200)


def test_an_unknown_run_empties_the_tca_tab(qloop, open_console):
    async def scenario():
        console = await open_console()
        try:
            assert await console.controller.decisions.show_tca(987654) is None
            assert console.window.tca_view.title_label.text() == "No run selected"
        finally:
            await console.close()

    run(qloop, scenario(), timeout=60)

