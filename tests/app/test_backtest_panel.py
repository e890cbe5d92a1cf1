"""The window's Backtest panel (real widgets offscreen, the real controller and engine, SQLite):
it runs in the background with progress, can be canceled, draws its charts and metrics, shows
every problem of bad input, and a rebalance's decision trail on double-click in the Decisions
view (its real view and models, fed from services.trail_queries as the window's controller does)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from app.controllers.backtest import BacktestController
from app.tasks import TaskRunner
from services.backtest.requests import load_backtest
from services.backtest.summary import CANCELING_A_DOWNLOAD
from services.trail_queries import decision_trail
from tests.app.conftest import run
from tests.backtest.data import generated_bars, monthly_snapshots, write_prices_csv, write_snapshots_csv
from tests.fixtures.waiting import wait_until
from widgets.models.decisions import OrderDecisionsModel, RuleVerdictsModel
from widgets.views.backtest import BacktestView
from widgets.views.decisions import DecisionsView

pytestmark = [pytest.mark.timeout(240), pytest.mark.parametrize("db_backend", ["sqlite"]), pytest.mark.slow]

SYMBOLS = [f"G{i:02d}" for i in range(12)]


@pytest.fixture
def decisions(qtbot):
    view = DecisionsView(OrderDecisionsModel(), RuleVerdictsModel())
    qtbot.addWidget(view)
    return view


class PanelClock:
    """The panel's clock and timer: the time is the test's (``time``; the wall clock's while
    None), and a wake-up the panel arms runs only when the test moves the time to it
    (``move_to``) or makes it wake early (``wake_all``), never by itself."""

    def __init__(self) -> None:
        self.time: datetime | None = None
        self._armed: list[list] = []  # [when, callback, canceled]

    def now(self) -> datetime:
        return self.time or datetime.now(UTC)

    def call_later(self, delay: float, callback):
        wakeup = [self.now() + timedelta(seconds=delay), callback, False]
        self._armed.append(wakeup)

        class Handle:
            def cancel(self) -> None:
                wakeup[2] = True

        return Handle()

    def armed(self) -> list[datetime]:
        """When the wake-ups still armed are due."""
        return [when for when, _callback, canceled in self._armed if not canceled]

    def move_to(self, moment: datetime) -> None:
        self.time = moment
        self._wake(lambda when: when <= moment)

    def wake_all(self) -> None:
        """Every armed wake-up runs now, due or not (a timer that fires early)."""
        self._wake(lambda when: True)

    def _wake(self, due) -> None:
        woken = [w for w in self._armed if not w[2] and due(w[0])]
        self._armed = [w for w in self._armed if w not in woken]
        for wakeup in woken:
            wakeup[1]()


@pytest.fixture
def clock():
    return PanelClock()


@pytest.fixture
def panel(qtbot, database, decisions, clock):
    view = BacktestView()
    qtbot.addWidget(view)
    view.show()
    errors: list[tuple[str, str]] = []
    runner = TaskRunner(on_error=lambda what, message: errors.append((what, message)))

    async def show_trail(run_id: int):
        trail = await asyncio.to_thread(decision_trail, database, run_id=run_id)
        decisions.set_trail(trail)
        return trail

    controller = BacktestController(view, database, runner, show_trail=show_trail, now=clock.now,
                                    call_later=clock.call_later)
    return view, controller, runner, errors


def _files(tmp_path, end: date):
    bars = generated_bars(SYMBOLS, date(2024, 1, 25), end, seed=4)
    snaps = monthly_snapshots(SYMBOLS, date(2024, 2, 1), end, "north", seed=8) + \
        monthly_snapshots(SYMBOLS, date(2024, 2, 1), end, "south", seed=9)
    return write_prices_csv(tmp_path / "bars.csv", bars), write_snapshots_csv(tmp_path / "snaps.csv", snaps)


def _fill(view, prices, snapshots) -> None:
    view.prices_edit.setText(str(prices))
    view.snapshots_edit.setText(str(snapshots))
    view.commission_combo.setCurrentText("ib-fixed")


def test_the_panel_runs_in_the_background_shows_progress_and_draws_charts(qloop, panel, decisions, tmp_path):
    view, controller, runner, errors = panel
    prices, snapshots = _files(tmp_path, date(2024, 4, 30))
    _fill(view, prices, snapshots)

    async def scenario():
        seen: list[int] = []
        view.progress.valueChanged.connect(seen.append)
        view.run_button.click()
        await wait_until(lambda: not view.run_button.isEnabled() and view.cancel_button.isEnabled(), 5, "the run to start")
        await wait_until(lambda: controller.last_outcome is not None, 180, lambda: f"the backtest to end ({errors})")
        await runner.drain(timeout=5)
        assert errors == []
        assert len(set(seen)) > 10 and view.progress.value() == view.progress.maximum() == controller.last_outcome.days
        assert view.run_button.isEnabled() and not view.cancel_button.isEnabled()
        assert view.curve_count() == 2 and len(view.drawdown_plot.plotItem.listDataItems()) == 2
        assert view.metrics_table.rowCount() == 3  # two projects and their total
        assert {view.metrics_table.item(r, 0).text() for r in range(3)} == {"north", "south", "(total)"}
        assert view.rebalances_table.rowCount() == 6
        run_id = int(view.rebalances_table.item(0, 2).text())
        view.rebalances_table.cellActivated.emit(0, 0)
        await wait_until(lambda: controller.trails_shown == [run_id], 10, "the decision trail")
        assert decisions.title_label.text().startswith(f"Backtest run {run_id}, plan ")
        assert decisions.title_label.text().endswith("(executed in the backtest, never sent to a broker)")
        shown = decisions.orders_model.records()
        assert shown and {d["action"] for d in shown} & {"buy", "sell"}
        changes = re.search(r"(\d+) state changes?", decisions.summary_label.text())
        assert decisions.rules_model.rowCount() > 0 and changes and int(changes[1]) > 0, decisions.summary_label.text()

    run(qloop, scenario(), timeout=200)


def test_the_panel_cancels_after_the_current_day_and_keeps_the_results_so_far(qloop, panel, tmp_path):
    view, controller, _runner, errors = panel
    prices, snapshots = _files(tmp_path, date(2024, 12, 31))
    _fill(view, prices, snapshots)

    async def scenario():
        view.run_button.click()
        await wait_until(lambda: controller.days_seen >= 3, 120, "a few days done")
        view.cancel_button.click()
        await wait_until(lambda: controller.last_outcome is not None, 60, lambda: f"the canceled backtest to end ({errors})")
        outcome = controller.last_outcome
        assert outcome.status == "canceled" and view.run_button.isEnabled()
        days = len(outcome.projects["north"]["equity"])
        total = view.progress.maximum()  # the window's trading days, as the bar counted them
        # the days it simulated, as its equity has them (it said the window's whole count)
        assert 3 <= days == outcome.days < total
        assert "canceled" in view.status_label.text()
        # the same cancel path as Ctrl-C on the command: the day it stopped after, stored
        last = outcome.projects["north"]["equity"][-1][0]
        assert outcome.last_day.isoformat() == last and outcome.message == f"canceled at {last}"
        assert load_backtest(controller.db, outcome.backtest_id).message == outcome.message
        # the bar says it stopped (it read "2024-02-06: day 4 of 232" as if still under way) ...
        assert view.progress.text() == f"canceled after {last}: day {days} of {total}"
        # ... and counts nothing under an older backtest's results (it kept the canceled run's days)
        older = await _stored_backtest(controller.db, date(2024, 3, 29), projects=("north",))
        await controller.show_past(older.backtest_id)
        assert controller.past_shown.backtest_id == older.backtest_id
        assert (view.progress.text(), view.progress.value()) == ("", 0)

    run(qloop, scenario(), timeout=200)


def test_bad_input_lists_every_problem_in_the_panel(qloop, panel, tmp_path):
    view, controller, runner, _errors = panel
    view.prices_edit.setText(str(tmp_path / "missing.csv"))
    view.snapshots_edit.setText(str(tmp_path / "missing-snaps.csv"))
    view.cash_edit.setText("-1")
    view.slippage_edit.setText("-5")
    view.fill_combo.addItem("noon")
    view.fill_combo.setCurrentText("noon")

    async def scenario():
        view.run_button.click()
        await wait_until(lambda: "Initial cash" in view.status_label.text(), 30, "the problems shown")
        await runner.drain(timeout=5)
        text = view.status_label.text()
        assert "Fill 'noon'" in text and "missing.csv" in text and "missing-snaps.csv" in text
        # a bound said as every number field says it: it said "Slippage bps '-5' must be >= 0 and < 10000"
        assert "Initial cash: must be a number > 0: '-1'" in text, text
        assert "Slippage bps: must be a number from 0 to below 10000: '-5'" in text, text
        assert "--" not in text  # the panel's own names, not the command's flags
        assert controller.last_outcome is None and view.run_button.isEnabled()

    run(qloop, scenario())


BROKER_NOW = datetime(2025, 1, 6, 22, 0, tzinfo=UTC)  # the simulator's clock: its history ends here
BROKER_SYMBOLS = ["AAPL", "MSFT", "NVDA"]


def _broker_panel(qtbot, database, provider):
    view = BacktestView()
    qtbot.addWidget(view)
    errors: list[tuple[str, str]] = []
    runner = TaskRunner(on_error=lambda what, message: errors.append((what, message)))
    return view, BacktestController(view, database, runner, provider=provider), runner, errors


def test_with_no_bar_file_the_panel_backtests_on_the_brokers_bars_asked_for_once(qloop, qtbot, database, sim_config,
                                                                                  tmp_path):
    """The window's way to --from-broker (services.backtest.requests.prepare_from_broker): the
    simulator over a real socket, the real ib_async client; a second run asks for nothing."""
    from services.execution.ib_provider import IbExecutionProvider
    from services.ibsim import IBGatewaySimulator

    weights = tmp_path / "weights.csv"
    weights.write_text("date,symbol,weight\n" + "".join(f"{day},{s},0.18\n" for day in ("2024-12-02", "2024-12-16")
                                                         for s in BROKER_SYMBOLS), encoding="utf-8")  # within the 20 % limit

    async def scenario():
        sim = IBGatewaySimulator(sim_config(clock=lambda: BROKER_NOW))
        await sim.start(host="127.0.0.1", port=0)
        provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
        try:
            await provider.connect()
            view, controller, runner, errors = _broker_panel(qtbot, database, provider)
            view.snapshots_edit.setText(str(weights))
            view.from_edit.setText("2024-12-02")
            view.to_edit.setText("2024-12-31")
            view.commission_combo.setCurrentText("ib-fixed")
            finals = []
            for attempt in (1, 2):
                controller.last_outcome = None
                view.run_button.click()
                await wait_until(lambda: controller.last_outcome is not None, 120,
                                 lambda n=attempt: f"backtest {n} to end ({errors}; {view.status_label.text()})")
                await runner.drain(timeout=5)
                assert errors == []
                (project,) = controller.last_outcome.projects.values()
                assert project["equity"][0][0] == "2024-12-02" and project["equity"][-1][0] == "2024-12-31"
                assert project["orders"] == project["fills"] >= len(BROKER_SYMBOLS)
                finals.append(project["final_equity"])
                assert sorted(r.listing for r in sim.history_requests) == BROKER_SYMBOLS, f"run {attempt} asked again"
            assert finals[0] == finals[1]
            assert {r.what_to_show for r in sim.history_requests} == {"TRADES"}  # the panel's default series
            # another series chosen in the panel is another series of bars: asked for and cached apart
            view.bars_combo.setCurrentText("ADJUSTED_LAST")
            controller.last_outcome = None
            view.run_button.click()
            await wait_until(lambda: controller.last_outcome is not None, 120,
                             lambda: f"the ADJUSTED_LAST backtest to end ({errors}; {view.status_label.text()})")
            await runner.drain(timeout=5)
            assert errors == []
            assert sorted((r.listing, r.what_to_show) for r in list(sim.history_requests)[len(BROKER_SYMBOLS):]) == \
                [(symbol, "ADJUSTED_LAST") for symbol in BROKER_SYMBOLS]
            (project,) = controller.last_outcome.projects.values()
            assert project["orders"] == project["fills"] >= len(BROKER_SYMBOLS)
        finally:
            await provider.disconnect()
            await sim.stop()

    run(qloop, scenario(), timeout=200)


def test_a_listing_the_broker_does_not_know_is_said_as_bad_input_and_nothing_is_downloaded(qloop, qtbot, database,
                                                                                          sim_config, tmp_path,
                                                                                          ib_log_guard):
    """The panel said "bars ZZZZNOPE: unknown contract: ZZZZNOPE" after AAPL's bars were
    downloaded around the typo; `bars download` and `backtest --from-broker` refuse it before a bar
    is asked for (services.price_cache.check_listings), and the panel says it in their words, the
    snapshot with the typo named: the simulator over a real socket."""
    from services.execution.ib_provider import IbExecutionProvider
    from services.ibsim import IBGatewaySimulator

    ib_log_guard.allow(r"Error 200, .*ZZZZNOPE")
    weights = tmp_path / "weights.csv"
    weights.write_text("date,symbol,weight\n2024-12-02,AAPL,0.1\n2024-12-16,ZZZZNOPE,0.1\n", encoding="utf-8")

    async def scenario():
        sim = IBGatewaySimulator(sim_config(clock=lambda: BROKER_NOW))
        await sim.start(host="127.0.0.1", port=0)
        provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
        try:
            await provider.connect()
            view, controller, runner, errors = _broker_panel(qtbot, database, provider)
            view.snapshots_edit.setText(str(weights))
            view.from_edit.setText("2024-12-02")
            view.to_edit.setText("2024-12-31")
            view.run_button.click()
            await wait_until(lambda: "ZZZZNOPE" in view.status_label.text(), 60,
                             lambda: f"the refusal ({errors}; {view.status_label.text()})")
            await runner.drain(timeout=5)
            assert view.status_label.text() == (
                f"unknown contract: ZZZZNOPE (in 2024-12-16-{weights.stem}-backtest.csv of backtest): the broker knows "
                "no such listing; nothing was downloaded")
            assert errors == [] and controller.last_outcome is None and view.run_button.isEnabled()
            assert list(sim.history_requests) == []
        finally:
            await provider.disconnect()
            await sim.stop()

    run(qloop, scenario(), timeout=120)


def test_with_no_bar_file_and_no_broker_the_panel_says_so(qloop, qtbot, database, tmp_path):
    from services.execution.ib_provider import IbExecutionProvider

    weights = tmp_path / "weights.csv"
    weights.write_text("date,symbol,weight\n2024-12-02,AAPL,0.5\n", encoding="utf-8")
    provider = IbExecutionProvider(port=1, client_id=9, connect_timeout=1, auto_reconnect=False)  # never connected
    view, controller, runner, errors = _broker_panel(qtbot, database, provider)
    view.snapshots_edit.setText(str(weights))

    async def scenario():
        view.run_button.click()
        await wait_until(lambda: "not connected" in view.status_label.text(), 30,
                         lambda: f"the refusal shown ({errors}; {view.status_label.text()!r})")
        await runner.drain(timeout=5)
        assert errors == [] and controller.last_outcome is None
        assert view.run_button.isEnabled() and view.progress.maximum() == 1  # not left busy
        assert view.progress.text() == ""  # nothing ran: not "0%", as if a run were under way

    run(qloop, scenario())


class _BarsThatCancel:
    """A broker whose first answer comes as the trader clicks Cancel: the download is under way."""

    def __init__(self) -> None:
        self.view: BacktestView | None = None
        self.asked: list[str] = []

    async def check_listings(self, specs) -> None:  # every listing known (ExecutionProvider.check_listings)
        return None

    async def daily_bars(self, spec, first, last, what_to_show):
        self.asked.append(spec.key)
        self.view.cancel_button.click()
        self.said_on_cancel = self.view.status_label.text()
        return generated_bars([spec.key], first, last, seed=3)


def test_cancel_while_the_brokers_bars_come_stops_the_download_and_runs_nothing(qloop, qtbot, database, tmp_path):
    """Seen under Xvfb: Cancel during the download changed nothing until every listing's bars had
    come (minutes within IB's pacing), then a backtest of one day was stored as canceled."""
    from services.backtest.listing import list_backtests

    weights = tmp_path / "weights.csv"
    weights.write_text("date,symbol,weight\n" + "".join(f"2024-12-02,{s},0.18\n" for s in BROKER_SYMBOLS),
                       encoding="utf-8")
    provider = _BarsThatCancel()
    view, controller, runner, errors = _broker_panel(qtbot, database, provider)
    provider.view = view
    view.snapshots_edit.setText(str(weights))
    view.from_edit.setText("2024-12-02")
    view.to_edit.setText("2024-12-31")

    async def scenario():
        view.run_button.click()
        await wait_until(lambda: "canceled while fetching" in view.status_label.text(), 30,
                         lambda: f"the cancel said ({errors}; {view.status_label.text()!r})")
        await runner.drain(timeout=5)
        assert errors == [] and controller.last_outcome is None
        assert provider.asked == BROKER_SYMBOLS[:1], "the download went on after Cancel"
        assert list_backtests(database) == [], "a backtest was run and stored after Cancel"
        assert view.run_button.isEnabled() and not view.cancel_button.isEnabled()
        # what Cancel does then, as it is clicked: it said "canceling after the current day…"
        assert provider.said_on_cancel == CANCELING_A_DOWNLOAD
        assert view.progress.text() == "canceled: nothing backtested"

    run(qloop, scenario())


def test_the_broker_series_is_chosen_only_without_a_bar_file(qtbot, database):
    """A bar file is one series already: with one typed, the broker's series is greyed out and
    not part of the request; without, the chosen one is (the service's list, its default first)."""
    view, _controller, _runner, _errors = _broker_panel(qtbot, database, None)
    assert [view.bars_combo.itemText(i) for i in range(view.bars_combo.count())] == ["TRADES", "ADJUSTED_LAST", "MIDPOINT"]
    assert view.bars_combo.currentText() == "TRADES" and view.values()["what_to_show"] == "TRADES"
    view.bars_combo.setCurrentText("MIDPOINT")
    assert view.values()["what_to_show"] == "MIDPOINT"
    view.prices_edit.setText("bars.csv")
    assert not view.bars_combo.isEnabled() and "what_to_show" not in view.values()
    view.prices_edit.setText("  ")
    assert view.bars_combo.isEnabled() and view.values()["what_to_show"] == "MIDPOINT"


def test_the_panel_closes_a_backtest_whose_process_died_and_says_so(qloop, panel):
    """A backtest killed mid-run (kill -9) stayed `running` forever; the panel's load (the
    window's start) closes it as failed and says why."""
    from tests.backtest.abandoned import HOST, dead_key, running_backtest

    view, controller, _runner, errors = panel
    backtest_id, _runs, _orders = running_backtest(controller.db, host=HOST, key=dead_key(), pid=4242)
    run(qloop, controller.load())
    said = f"backtest {backtest_id} failed: the process running it ended (pid 4242 on {HOST}) after its rebalance of 2024-04-01"
    assert view.status_label.text() == said and errors == []
    assert load_backtest(controller.db, backtest_id).status == "failed"


async def _stored_backtest(database, end: date, *, projects=("north", "south")):
    """A backtest run as the command runs it (not through the panel): what the panel reads back."""
    from services.backtest.costs import FillAt
    from services.backtest.prices import PriceBook
    from services.backtest.runner import Backtester, BacktestSpec

    snaps = [s for n, name in enumerate(projects) for s in monthly_snapshots(SYMBOLS, date(2024, 2, 1), end, name, seed=8 + n)]
    spec = BacktestSpec(Decimal(50_000), FillAt.CLOSE, commission="ib-fixed",
                        builder={"rounding": "floor", "lot_size": Decimal(1)}, end=end)
    return await Backtester(database, PriceBook(generated_bars(SYMBOLS, date(2024, 1, 25), end, seed=4)), snaps, spec).run()


def test_the_panel_lists_past_backtests_and_shows_a_chosen_ones_stored_results_without_running_it(
        qloop, panel, monkeypatch, tmp_path):
    """Newest first; choosing one draws its stored metrics, curves and rebalances (read off the
    GUI thread, handed over read-only), and nothing runs: no backtest is added. A backtest run
    in the panel then heads the list, chosen."""
    import threading

    from app.controllers import backtest as controller_module
    from services.db.models import Backtest

    view, controller, runner, errors = panel
    older = run(qloop, _stored_backtest(controller.db, date(2024, 4, 30)))
    newer = run(qloop, _stored_backtest(controller.db, date(2024, 3, 29), projects=("north",)))
    read_on: list[threading.Thread] = []
    real_stored_outcome = controller_module.stored_outcome

    def stored_outcome(db, backtest_id):
        read_on.append(threading.current_thread())
        return real_stored_outcome(db, backtest_id)

    monkeypatch.setattr(controller_module, "stored_outcome", stored_outcome)

    def backtests() -> int:
        with controller.db.session() as session:
            return session.query(Backtest).count()

    async def scenario():
        await controller.load()
        assert view.past_ids() == [newer.backtest_id, older.backtest_id] and view.past_combo.currentIndex() == -1
        assert view.metrics_table.rowCount() == 0  # nothing drawn until one is chosen
        view.past_combo.activated.emit(1)  # as a click on the older one
        await wait_until(lambda: controller.past_shown is not None, 10, lambda: f"the stored backtest drawn ({errors})")
        await runner.drain(timeout=5)
        assert errors == [] and backtests() == 2
        assert read_on and threading.main_thread() not in read_on
        shown = controller.past_shown
        assert shown.backtest_id == older.backtest_id
        with pytest.raises(TypeError):  # read-only: the view cannot change what it was handed
            shown.projects["north"]["equity"][0] = ("2024-01-01", "0")  # type: ignore[index]
        assert view.metrics_table.rowCount() == 3 and view.curve_count() == 2
        shown_rows = {view.metrics_table.item(r, 0).text(): view.metrics_table.item(r, 1).text() for r in range(3)}
        assert shown_rows == {name: f"{Decimal(p['final_equity']):,.2f}" for name, p in
                              [*older.projects.items(), ("(total)", older.total)]}
        assert view.rebalances_table.rowCount() == 6
        assert view.status_label.text() == f"backtest {older.backtest_id}: done, {older.days} trading days (stored)"

        prices, snapshots = _files(tmp_path, date(2024, 3, 29))
        _fill(view, prices, snapshots)
        view.run_button.click()
        await wait_until(lambda: controller.last_outcome is not None, 120, lambda: f"the run to end ({errors})")
        await runner.drain(timeout=5)
        ran = controller.last_outcome.backtest_id
        assert view.past_ids() == [ran, newer.backtest_id, older.backtest_id]
        assert view.past_combo.currentData() == ran
        # the run's own settings over its results, as a past one's (its settings_line)
        from services.backtest.summary import settings_line
        assert view.settings_label.text() == settings_line(ran, controller.last_outcome.params)
        assert "commission ib-fixed" in view.settings_label.text()

    run(qloop, scenario(), timeout=200)


def test_a_backtest_that_fails_mid_run_is_said_and_heads_the_past_list_as_failed(qloop, panel, monkeypatch, tmp_path):
    """A backtest that fails (here its third day raises) is said by the task runner, and the
    past list is read again: its row, closed as failed with the reason, heads it (before, the
    list still showed what it held before the run)."""
    from services.backtest.runner import Backtester

    view, controller, runner, errors = panel
    real_day = Backtester._day
    days: list[date] = []

    async def failing_day(self, day, *args):
        days.append(day)
        if len(days) == 3:
            raise RuntimeError("the disk is full")
        return await real_day(self, day, *args)

    monkeypatch.setattr(Backtester, "_day", failing_day)
    prices, snapshots = _files(tmp_path, date(2024, 3, 29))
    _fill(view, prices, snapshots)

    async def scenario():
        await controller.load()
        assert view.past_ids() == []
        view.run_button.click()
        await wait_until(lambda: errors, 120, "the failure to be said")
        await runner.drain(timeout=5)
        assert [what for what, _ in errors] == ["Backtest"] and "the disk is full" in errors[0][1]
        assert len(view.past_ids()) == 1
        failed = load_backtest(controller.db, view.past_ids()[0])
        assert failed.status == "failed" and failed.message == "RuntimeError: the disk is full"
        assert "failed" in view.past_combo.itemText(0) and view.run_button.isEnabled()
        assert view.progress.format().startswith("failed after "), view.progress.format()  # not "day 2 of N" still

    run(qloop, scenario(), timeout=150)


def test_a_rebalance_that_failed_is_said_in_the_status_and_the_rebalances(qloop, panel, tmp_path):
    """A rebalance whose preview was refused (not a risk block) did not trade: the panel said
    "backtest N: done" as if every rebalance had; now its status line says the service's
    message naming the failed rebalance, as the stored backtest does when chosen again."""
    from services.trade_settings import TradeSettingsService
    from tests.backtest.data import REFUSED_CASH, REFUSED_RISK_OFF, write_refused_rebalance_files

    view, controller, runner, errors = panel
    # the panel has no --risk: the console's own limits, off for the order sizes of this market
    TradeSettingsService(controller.db, "tester").set([f"risk.{pair}" for pair in REFUSED_RISK_OFF])
    _fill(view, *write_refused_rebalance_files(tmp_path))
    view.cash_edit.setText(str(REFUSED_CASH))
    view.commission_combo.setCurrentText("none")
    status_bar: list[str] = []
    controller.status = status_bar.append  # the window's status bar and activity log

    async def scenario():
        from services.backtest.summary import headline

        view.run_button.click()
        await wait_until(lambda: controller.last_outcome is not None, 120, lambda: f"the backtest to end ({errors})")
        await runner.drain(timeout=5)
        outcome = controller.last_outcome
        assert errors == [] and outcome.status == "done"
        (failed,) = outcome.projects["alpha"]["failed_rebalances"]
        said = f"1 rebalance failed: alpha 2024-02-06: {failed['message']}"
        assert "is too large: a plan keeps values below 1e10" in failed["message"]
        assert view.status_label.text() == f"backtest {outcome.backtest_id}: done, {outcome.days} trading days: {said}"
        # the status bar says the panel's line, the `backtest` command's first (it said "Backtest N done: ...")
        assert status_bar[-1] == view.status_label.text() == headline(outcome)
        outcomes = {view.rebalances_table.item(r, 3).text() for r in range(view.rebalances_table.rowCount())}
        assert outcomes == {"executed in the backtest", f"failed: {failed['message']}"}
        await controller.show_past(outcome.backtest_id)
        assert view.status_label.text() == f"backtest {outcome.backtest_id}: done, {outcome.days} trading days (stored): {said}"

    run(qloop, scenario(), timeout=150)


def test_from_says_the_first_stored_snapshots_day_of_the_projects_ticked(qloop, panel, monkeypatch, tmp_path):
    """An empty From begins the backtest at the first snapshot (services.backtest.checks.window):
    its placeholder said "YYYY-MM-DD (first snapshot)" whatever was ticked; now it says the day,
    read off the GUI thread as the projects change. A snapshots file typed is read at the run
    only: the generic placeholder then, and nothing read on its keystrokes."""
    import threading

    from app.controllers import backtest as controller_module
    from services.backtest.requests import stored_snapshots
    from services.console_queries import import_snapshot

    view, controller, runner, errors = panel
    for project, day in (("north", "2024-01-08"), ("north", "2024-02-05"), ("south", "2024-03-04")):
        path = tmp_path / f"{project}-{day}.csv"
        path.write_text("symbol,weight\nG00,0.40\n", encoding="utf-8")
        assert import_snapshot(controller.db, path, project, actor="tester").created
    read_on: list[threading.Thread] = []
    real_first_stored_day = controller_module.first_stored_day

    def first_stored_day(db, projects):
        read_on.append(threading.current_thread())
        return real_first_stored_day(db, projects)

    monkeypatch.setattr(controller_module, "first_stored_day", first_stored_day)
    generic = "YYYY-MM-DD (first snapshot)"

    def tick(name: str, ticked: bool) -> None:
        (item,) = view.projects_list.findItems(name, Qt.MatchFlag.MatchExactly)
        item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def placeholder() -> str:
        return view.from_edit.placeholderText()

    async def scenario():
        await controller.refresh_projects()
        assert placeholder() == generic and read_on == []  # nothing ticked: nothing to read
        tick("south", True)
        await wait_until(lambda: placeholder() == "2024-03-04 (first snapshot)", 10,
                         lambda: f"south's first day shown ({placeholder()!r}, {errors})")
        tick("north", True)
        await wait_until(lambda: placeholder() == "2024-01-08 (first snapshot)", 10,
                         lambda: f"north's first day shown ({placeholder()!r}, {errors})")
        # the day the run begins at: the first of the snapshots it replays
        assert min(s.day for s in stored_snapshots(controller.db, ["north", "south"])) == date(2024, 1, 8)
        assert read_on and threading.main_thread() not in read_on
        reads = len(read_on)
        for typed in ("s", "sn", "snaps.csv"):  # a file typed, a keystroke at a time
            view.snapshots_edit.setText(typed)
            assert placeholder() == generic
        view.snapshots_edit.setText("")  # the projects' stored snapshots again
        await wait_until(lambda: placeholder() == "2024-01-08 (first snapshot)", 10, "the first day shown again")
        await runner.drain(timeout=5)
        assert len(read_on) == reads + 1  # the file's keystrokes read nothing
        tick("north", False)
        tick("south", False)
        assert placeholder() == generic
        await runner.drain(timeout=5)
        assert placeholder() == generic and errors == []

    run(qloop, scenario())


def test_to_says_the_last_bar_day_of_the_projects_ticked_on_the_brokers_bars(qloop, panel, clock, monkeypatch, tmp_path):
    """An empty To ends the backtest at the last bar (services.backtest.checks.window): its
    placeholder said "YYYY-MM-DD (last bar)" whatever was ticked; now it says the day on the
    broker's bars, read off the GUI thread as the projects change. A bar file typed ends at its
    own last day, read at the run only: the generic placeholder then."""
    import threading
    from datetime import UTC, datetime

    from app.controllers import backtest as controller_module
    from services.console_queries import import_snapshot

    view, controller, runner, errors = panel
    path = tmp_path / "south-2024-03-04.csv"
    path.write_text("symbol,weight\nG00,0.40\n", encoding="utf-8")
    assert import_snapshot(controller.db, path, "south", actor="tester").created
    read_on: list[threading.Thread] = []
    real_last_bar = controller_module.last_bar
    clock.time = datetime(2024, 3, 6, 22, 0, tzinfo=UTC)  # a Wednesday evening, after the close

    def last_bar(db, projects, *, now):
        read_on.append(threading.current_thread())
        return real_last_bar(db, projects, now=now)

    monkeypatch.setattr(controller_module, "last_bar", last_bar)
    generic = "YYYY-MM-DD (last bar)"

    def tick(ticked: bool) -> None:
        (item,) = view.projects_list.findItems("south", Qt.MatchFlag.MatchExactly)
        item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def placeholder() -> str:
        return view.to_edit.placeholderText()

    async def scenario():
        await controller.refresh_projects()
        assert placeholder() == generic and read_on == []  # nothing ticked: nothing to read
        tick(True)
        await wait_until(lambda: placeholder() == "2024-03-06 (last bar)", 10,
                         lambda: f"south's last bar shown ({placeholder()!r}, {errors})")
        assert view.from_edit.placeholderText() == "2024-03-04 (first snapshot)"
        assert read_on and threading.main_thread() not in read_on
        await runner.drain(timeout=5)
        reads = len(read_on)
        for typed in ("b", "ba", "bars.csv"):  # a bar file typed, a keystroke at a time
            view.prices_edit.setText(typed)
            assert placeholder() == generic
        await runner.drain(timeout=5)
        assert len(read_on) == reads  # its last day is the file's: nothing read for To
        assert view.from_edit.placeholderText() == "2024-03-04 (first snapshot)"  # From's is the snapshots'
        view.prices_edit.setText("")  # the broker's bars again
        await wait_until(lambda: placeholder() == "2024-03-06 (last bar)", 10, "the last bar shown again")
        tick(False)
        assert placeholder() == generic
        await runner.drain(timeout=5)
        assert placeholder() == generic and errors == []

    run(qloop, scenario())


def test_tos_last_bar_day_is_read_again_when_the_panel_is_shown_and_when_a_run_ends(qloop, panel, clock, tmp_path):
    """To's placeholder was read when the ticked projects changed only: a window left open
    across a session's close said "2024-03-05 (last bar)" while a run ended at the 6th. It is
    read again when the panel comes into view and when a run ends (refused here: its bad cash)."""
    from services.console_queries import import_snapshot

    view, controller, runner, errors = panel
    path = tmp_path / "south-2024-03-04.csv"
    path.write_text("symbol,weight\nG00,0.40\n", encoding="utf-8")
    assert import_snapshot(controller.db, path, "south", actor="tester").created
    clock.time = datetime(2024, 3, 6, 15, 0, tzinfo=UTC)  # a Wednesday, before New York's close

    def placeholder() -> str:
        return view.to_edit.placeholderText()

    async def scenario():
        await controller.refresh_projects()
        (item,) = view.projects_list.findItems("south", Qt.MatchFlag.MatchExactly)
        item.setCheckState(Qt.CheckState.Checked)
        await wait_until(lambda: placeholder() == "2024-03-05 (last bar)", 10, lambda: f"Tuesday's bar ({placeholder()!r})")
        await runner.drain(timeout=5)
        clock.time = datetime(2024, 3, 6, 22, 0, tzinfo=UTC)  # the close went by, the window open
        view.hide()
        view.show()  # the Backtest tab chosen again
        await wait_until(lambda: placeholder() == "2024-03-06 (last bar)", 10, lambda: f"Wednesday's bar ({placeholder()!r})")
        await runner.drain(timeout=5)
        clock.time = datetime(2024, 3, 7, 22, 0, tzinfo=UTC)  # Thursday's close, the panel in view
        view.cash_edit.setText("-1")
        view.run_button.click()
        await wait_until(lambda: placeholder() == "2024-03-07 (last bar)", 10, lambda: f"Thursday's bar ({placeholder()!r})")
        assert "Initial cash" in view.status_label.text()
        await runner.drain(timeout=5)
        assert errors == []

    run(qloop, scenario())


def test_tos_last_bar_day_moves_on_at_the_close_while_the_panel_stays_in_view(qloop, panel, clock, tmp_path):
    """To's placeholder was read when the projects changed, the panel came into view or a run
    ended: left in view across New York's close it said Tuesday's bar all Wednesday evening
    while an empty To ended at Wednesday's. It is read again at the listings' next close by the
    exchange calendar (its time and wake-up are the test's: no wall clock), one wake-up a
    session, none while the panel is hidden; a timer that wakes early waits out the rest."""
    from services.console_queries import import_snapshot

    view, controller, runner, errors = panel
    path = tmp_path / "south-2024-03-04.csv"
    path.write_text("symbol,weight\nG00,0.40\n", encoding="utf-8")
    assert import_snapshot(controller.db, path, "south", actor="tester").created
    clock.time = datetime(2024, 3, 6, 15, 0, tzinfo=UTC)  # a Wednesday, before New York's close
    wednesday_close = datetime(2024, 3, 6, 21, 0, tzinfo=UTC)  # 16:00 in New York (EST)

    def placeholder() -> str:
        return view.to_edit.placeholderText()

    async def scenario():
        await controller.refresh_projects()
        assert clock.armed() == []  # nothing ticked: no day to move on
        (item,) = view.projects_list.findItems("south", Qt.MatchFlag.MatchExactly)
        item.setCheckState(Qt.CheckState.Checked)
        await wait_until(lambda: placeholder() == "2024-03-05 (last bar)", 10, lambda: f"Tuesday's bar ({placeholder()!r})")
        await runner.drain(timeout=5)
        assert clock.armed() == [wednesday_close]
        clock.time = wednesday_close - timedelta(seconds=1)
        clock.wake_all()  # a second early: nothing read, the rest waited out
        assert clock.armed() == [wednesday_close]
        await runner.drain(timeout=5)
        assert placeholder() == "2024-03-05 (last bar)"
        clock.move_to(wednesday_close)  # the panel in view all along
        await wait_until(lambda: placeholder() == "2024-03-06 (last bar)", 10, lambda: f"Wednesday's bar ({placeholder()!r})")
        await runner.drain(timeout=5)
        assert clock.armed() == [datetime(2024, 3, 7, 21, 0, tzinfo=UTC)]  # Thursday's close, one wake-up
        view.hide()  # another tab in front: nothing to move on, nothing armed
        assert clock.armed() == []
        clock.time = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)  # Saturday
        view.show()
        await wait_until(lambda: placeholder() == "2024-03-08 (last bar)", 10, lambda: f"Friday's bar ({placeholder()!r})")
        await runner.drain(timeout=5)
        # Monday's close, the weekend skipped, New York on summer time since Sunday (16:00 EDT)
        assert clock.armed() == [datetime(2024, 3, 11, 20, 0, tzinfo=UTC)]
        clock.move_to(datetime(2024, 3, 11, 20, 0, tzinfo=UTC))
        await wait_until(lambda: placeholder() == "2024-03-11 (last bar)", 10, lambda: f"Monday's bar ({placeholder()!r})")
        await runner.drain(timeout=5)
        view.prices_edit.setText("bars.csv")  # a bar file: its own last day, no day of the broker's to move on
        assert clock.armed() == [] and placeholder() == "YYYY-MM-DD (last bar)"
        await runner.drain(timeout=5)
        assert errors == []

    run(qloop, scenario())



def test_the_past_backtests_list_says_each_ones_settings_in_its_tooltip(qloop, panel):
    """A stored backtest's settings were shown nowhere in the window: two backtests with other
    costs read alike in the Past backtests list but by their results. Each item's tooltip says
    them in the service's line, as `backtests --show` prints it."""
    from services.backtest.listing import list_backtests
    from services.backtest.summary import settings_line

    view, controller, _runner, _errors = panel
    stored = run(qloop, _stored_backtest(controller.db, date(2024, 3, 29), projects=("north",)))

    async def scenario():
        await controller.load()
        [listed] = await asyncio.to_thread(list_backtests, controller.db)
        said = settings_line(stored.backtest_id, listed.params)
        assert said is not None and "fill close, slippage 0 bps, commission ib-fixed" in said
        assert said in view.past_combo.itemData(0, Qt.ItemDataRole.ToolTipRole)

    run(qloop, scenario())


def test_a_chosen_past_backtest_names_its_own_settings_over_its_results_not_the_forms(qloop, panel):
    """The form kept the last run's settings (next-open, 10 bps) while a past backtest chosen showed
    its results, read as if run with them; nothing in the window said a stored backtest's settings.
    The results now say the shown backtest's own (the service's line, as `backtests --show`
    prints it), and its item in the list says them in its tooltip: the form is the next run's."""
    from services.backtest.listing import list_backtests
    from services.backtest.summary import settings_line

    view, controller, runner, errors = panel
    stored = run(qloop, _stored_backtest(controller.db, date(2024, 3, 29), projects=("north",)))
    view.fill_combo.setCurrentText("next-open")  # the previous run's, still in the form
    view.slippage_edit.setText("10")

    async def scenario():
        await controller.load()
        assert not view.settings_label.isVisible()  # nothing shown: no settings said
        view.past_combo.activated.emit(0)  # as a click on it
        await wait_until(lambda: controller.past_shown is not None, 10, lambda: f"the stored backtest drawn ({errors})")
        await runner.drain(timeout=5)
        [listed] = await asyncio.to_thread(list_backtests, controller.db)
        said = settings_line(stored.backtest_id, listed.params)
        assert said is not None and "fill close, slippage 0 bps, commission ib-fixed" in said
        assert view.settings_label.isVisible() and view.settings_label.text() == said
        assert said in view.past_combo.itemData(0, Qt.ItemDataRole.ToolTipRole)

    run(qloop, scenario())


def test_the_past_list_reads_again_when_the_panel_comes_into_view(qloop, panel):
    """A trader's walk: backtests run from the command line (another process) were missing from
    the Past backtests list until the window's next run. The list is read again whenever the
    panel comes into view, the backtest chosen in it kept."""
    view, controller, runner, errors = panel
    first = run(qloop, _stored_backtest(controller.db, date(2024, 3, 29), projects=("north",)))

    async def scenario():
        await controller.load()
        view.past_combo.setCurrentIndex(0)
        view.past_combo.activated.emit(0)  # chosen, as a click does both
        await wait_until(lambda: controller.past_shown is not None, 10, lambda: f"the stored backtest drawn ({errors})")
        later = await _stored_backtest(controller.db, date(2024, 4, 30), projects=("north",))  # "another process"
        assert later.backtest_id not in view.past_ids()
        view.hide()
        view.show()  # another tab, then this one again
        await wait_until(lambda: later.backtest_id in view.past_ids(), 10, lambda: f"the later backtest listed ({errors})")
        await runner.drain(timeout=5)
        assert errors == [] and view.past_ids() == [later.backtest_id, first.backtest_id]
        assert view.chosen_past() == first.backtest_id  # still the one chosen

    run(qloop, scenario())
