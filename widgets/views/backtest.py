"""The Backtest panel: choose the projects, the dates, the fill and the costs; a progress bar
with Cancel; per project the equity and drawdown charts (pyqtgraph) and the metrics table; the
rebalances, whose double-click or Enter asks for that run's decision trail (in the Decisions view);
the past backtests, newest first, one chosen to show its stored results again. Plain Qt: every
intent leaves through a signal, every result comes in through a method (the controller does the work)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from services.backtest.defaults import BACKTEST_DEFAULTS
from services.backtest.metrics import METRIC_COLUMNS, metric_texts, shown_summaries, summary_notes
from services.backtest.outcomes import rebalance_text

from ..common import LineProgressBar, plain_label
from ..plain_text import plain_tooltip
from ..plots import theme_plot, title_when_tall
from ..theme import follow_theme
from .charts import AmountAxis

NO_PAST = "no backtest yet"
# the status line before anything is said on it: what to do first (a blank line under Run read as
# room left by a mistake); in the theme's muted colour, as a hint, not a run's state
NOTHING_RUN = "Tick a project (or give Snapshots), then Run backtest"
# The status line's most lines: a price file with hundreds of problems wrote them all over the
# form, its fields pushed below the panel for good (a trader's walk); the rest is in its tooltip
STATUS_LINES = 6
TIP_LINES = 40
# the panel's names of the widest titles (the command's table and every tooltip say them whole)
SHORT_TITLES = {"Volatility": "Vol", "Max drawdown": "Max DD", "Commissions": "Comm."}
COLOURS = ("#4f8fd6", "#2e9d55", "#d08a1c", "#b05cc7", "#d6504f", "#3bb3b3", "#8c8c8c")


def _x(day: str) -> float:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()


def _shown_title(title: str) -> str:
    """A metric's title as the panel's header shows it: short if it has a short name, a second
    word on a second line."""
    return SHORT_TITLES.get(title, title).replace(" ", "\n", 1)


def _plot(title: str, left: str) -> pg.PlotWidget:
    # the amounts themselves, as the Charts panel says them: pyqtgraph's own axis put a -0.42%
    # drawdown at "-400" under "% (x0.001)" and the equity at an ungrouped 101000
    plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0),
                                    "left": AmountAxis("left")})
    plot.setTitle(title)
    plot.setLabel("left", left)
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.addLegend(offset=(10, 10))
    return title_when_tall(plot)


class BacktestView(QWidget):
    run_requested = Signal(dict)  # the form's values, as typed
    cancel_requested = Signal()
    rebalance_activated = Signal(int)  # a rebalance's run id: show its decision trail
    past_chosen = Signal(int)  # a past backtest's id: show its stored results
    # the ticked projects (a tuple), the Snapshots field or the Prices field (None: empty)
    # changed: what From and To default to may have too (``set_first_snapshot``, ``set_last_bar``)
    start_inputs_changed = Signal(object, object, object)
    # the panel came into view: the days those defaults name may have moved on since (a close)
    panel_shown = Signal()
    # out of view (another tab in front, the window minimised): nothing it shows needs to move on
    panel_hidden = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prices_edit = QLineEdit()
        self.prices_edit.setPlaceholderText("CSV or Parquet; empty: the broker's daily bars (cached)")
        prices_browse = QPushButton("…")
        prices_browse.clicked.connect(lambda: self._browse(self.prices_edit, "Price bars", "Bars (*.csv *.parquet)"))
        # the broker's series (IB's whatToShow) when no bar file is given; the choices come from
        # the controller (the price cache's one list): ``set_bar_series``
        self.bars_combo = QComboBox()
        self.bars_combo.setToolTip("The broker's daily bars to backtest on when no bar file is given: "
                                   "TRADES, ADJUSTED_LAST (split- and dividend-adjusted) or MIDPOINT")
        self.prices_edit.textChanged.connect(lambda text: self.bars_combo.setEnabled(not text.strip()))
        self.prices_edit.textChanged.connect(self._emit_start_inputs)
        self.snapshots_edit = QLineEdit()
        self.snapshots_edit.setPlaceholderText("folder or dated CSV; empty: the projects' stored snapshots")
        self.snapshots_edit.textChanged.connect(self._emit_start_inputs)
        snapshots_browse = QPushButton("…")
        snapshots_browse.clicked.connect(lambda: self._browse(self.snapshots_edit, "Dated snapshots", "CSV (*.csv)"))
        self.projects_list = QListWidget()
        self.projects_list.setMaximumHeight(90)
        self.projects_list.itemChanged.connect(self._emit_start_inputs)  # a project ticked or unticked
        self.from_edit = QLineEdit()
        self.set_first_snapshot(None)
        self.to_edit = QLineEdit()
        self.set_last_bar(None)
        given = BACKTEST_DEFAULTS  # as the command's options
        self.cash_edit = QLineEdit(given["initial_cash"])
        self.fill_combo = QComboBox()
        self.fill_combo.addItems(["close", "next-open"])
        self.fill_combo.setCurrentText(given["fill"])
        self.slippage_edit = QLineEdit(given["slippage_bps"])
        self.commission_combo = QComboBox()
        self.commission_combo.setEditable(True)
        self.commission_combo.addItems(["ib-fixed", "ib-tiered", "none", "per-share=0.005,min=1,max-pct=1"])
        self.commission_combo.setCurrentText(given["commission"])
        self.rounding_combo = QComboBox()
        self.rounding_combo.addItems(["floor", "nearest"])
        self.rounding_combo.setCurrentText(given["rounding"])
        self.lot_edit = QLineEdit(given["lot_size"])
        self.buffer_edit = QLineEdit(given["cash_buffer_pct"])
        self.keep_unlisted = QCheckBox("keep holdings absent from a snapshot")

        form = QFormLayout()
        form.addRow("Prices", _row(self.prices_edit, prices_browse))
        form.addRow("Broker's bars", self.bars_combo)
        form.addRow("Snapshots", _row(self.snapshots_edit, snapshots_browse))
        form.addRow("Projects", self.projects_list)
        form.addRow("From / to", _row(self.from_edit, self.to_edit))
        form.addRow("Initial cash", self.cash_edit)
        form.addRow("Fill", _row(self.fill_combo, QLabel("slippage bps"), self.slippage_edit))
        form.addRow("Commission", self.commission_combo)
        form.addRow("Rounding", _row(self.rounding_combo, QLabel("lot"), self.lot_edit, QLabel("cash buffer %"), self.buffer_edit))
        form.addRow("", self.keep_unlisted)

        self.run_button = QPushButton("Run backtest")
        self.run_button.clicked.connect(self._emit_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.progress = LineProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")  # no run yet: it read "0%" beside Run backtest, as if one were under way
        self._last_day: tuple[int, int, str] | None = None  # the run's last day told: (done, total, day)
        self.status_label = plain_label()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.equity_plot = _plot("Equity", "USD")
        self.drawdown_plot = _plot("Drawdown", "%")
        self.metrics_table = QTableWidget(0, len(METRIC_COLUMNS))
        # Thirteen metrics in the 852 px the results get at 1366x768 with the window's theme:
        # whole titles, each with the theme's 6-px padding, needed 981 px, Risk blocked and Traded
        # from a sideways scroll away. A two-word title takes two lines (its figures need half its
        # width), three take the short names traders use (the whole title in every tooltip), and
        # this dense header pads its titles by 3 px (its colours stay the theme's).
        self.metrics_table.setHorizontalHeaderLabels([_shown_title(title) for title in METRIC_COLUMNS])
        self.metrics_table.horizontalHeader().setStyleSheet("QHeaderView::section { padding-left: 3px; padding-right: 3px; }")
        for column, title in enumerate(METRIC_COLUMNS):
            header_item = self.metrics_table.horizontalHeaderItem(column)
            if header_item is not None:
                header_item.setToolTip(title)
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # A long project name (60 characters) took the metrics' room: its column as wide as the
        # name pushed Fills to Traded from a sideways scroll away. The name gets what the metrics
        # leave (elided, whole in its tooltip), the metrics stay whole, at every width.
        self.metrics_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.metrics_table.viewport().installEventFilter(_ProjectColumnFitter(self.metrics_table, fit_project_column))
        self.rebalances_table = QTableWidget(0, 4)
        self.rebalances_table.setHorizontalHeaderLabels(("Day", "Project", "Run", "Outcome"))
        self.rebalances_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rebalances_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # activated: a double-click, and Enter on the current row (double-clicked alone, the
        # trail of a rebalance reached by Tab and the arrows could not be opened by keyboard)
        self.rebalances_table.cellActivated.connect(self._on_rebalance)
        # the outcome, text ("executed in the backtest", "failed: REASON"), takes the room the
        # short day, project and run leave: at Qt's 100 px it wrapped onto a second line
        self.rebalances_table.horizontalHeader().setStretchLastSection(True)
        # a long project name and a long reason: the name as wide as it is left the outcome a
        # sideways scroll away; the name gets what the day, the run and the outcome leave
        # (fit_rebalance_columns), both whole in their tooltips
        self.rebalances_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.rebalances_table.viewport().installEventFilter(_ProjectColumnFitter(self.rebalances_table, fit_rebalance_columns))
        for table in (self.metrics_table, self.rebalances_table):
            table.setTabKeyNavigation(False)  # read-only rows: Tab goes on, as in make_table's tables
            # Each column as wide as its title and its figures, on one line, no row numbers (as
            # make_table's tables): at Qt's 100 px each, in the 850 px the results get at
            # 1366x768, the metrics read "Commi" at the right edge, Orders to Traded from past it,
            # and "Demo momentum" took two lines in both tables. Sized here already, before the
            # first results: the empty table's titles whole, as the results will show them.
            table.verticalHeader().setVisible(False)
            table.setWordWrap(False)
            table.resizeColumnsToContents()
        self.results_tabs = QTabWidget()
        self.results_tabs.addTab(self.metrics_table, "Metrics")
        self.results_tabs.addTab(self.equity_plot, "Equity")
        self.results_tabs.addTab(self.drawdown_plot, "Drawdown")
        self.results_tabs.addTab(self.rebalances_table, "Rebalances")
        # one line above the results: the strip is short, a list of its own would take the charts' room
        self.past_combo = QComboBox()
        self.past_combo.setPlaceholderText(NO_PAST)
        self.past_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.past_combo.activated.connect(self._on_past)  # the user's choice only, not the list being set
        results = QWidget()
        results_layout = QVBoxLayout(results)
        results_layout.setContentsMargins(0, 0, 0, 0)
        past_row = _row_layout(QLabel("Past backtests"), self.past_combo)
        past_row.setStretch(1, 1)
        results_layout.addLayout(past_row)
        # the shown backtest's own settings (the service's line): the form on the left is the next
        # run's input, and a past backtest chosen read as if run with the form's costs
        self.settings_label = plain_label()
        self.settings_label.setWordWrap(True)
        self.settings_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.settings_label.setToolTip("The settings the backtest shown ran with; the form is the next run's")
        self.settings_label.setVisible(False)
        results_layout.addWidget(self.settings_label)
        results_layout.addWidget(self.results_tabs, 1)

        # The panel lives in the bottom strip (150-230 px high by default): Run, Cancel and the
        # progress stay on top, and the form scrolls under them instead of being squeezed (a
        # layout shrinks its fields below their own height, to nothing, when the strip is short).
        form_holder = QWidget()
        form_layout = QVBoxLayout(form_holder)
        form_layout.setContentsMargins(0, 0, 4, 0)
        form_layout.addLayout(form)
        form_layout.addStretch(1)
        self.form_scroll = QScrollArea()
        self.form_scroll.setWidget(form_holder)
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no Tab stop of its own, as the preview form's
        # Narrower than its fields, the form scrolls sideways too: held at its own width, the form
        # and the results needed 577 px together, and in the 518 px the bottom strip gives the
        # panel in a 1024 px window the splitter cut the form's right edge (its "…" buttons and
        # its scroll bar, seen under Xvfb at 1024x640).
        self.form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        inputs = QWidget()
        inputs_layout = QVBoxLayout(inputs)
        inputs_layout.setContentsMargins(0, 0, 0, 0)
        inputs_layout.addLayout(_row_layout(self.run_button, self.cancel_button, self.progress))
        # The status line sits under the Run row, out of the form's scroll area, its room kept
        # from the start: shown above the form when a run ended, it pushed every field down under
        # the trader's pointer (From / To and the costs out of view), and scrolled the form back
        # to its top. A longer text (several problems) takes more lines once and keeps them.
        inputs_layout.addWidget(self.status_label)
        self._status_lines = 1
        self._set_status(NOTHING_RUN, hint=True)
        inputs_layout.addWidget(self.form_scroll, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(inputs)
        splitter.addWidget(results)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        # its charts in the window's theme, and in the next one chosen (they kept the theme they
        # were made in: dark plots, their legend unreadable, after View → Theme → Light)
        app = QApplication.instance()
        self.apply_theme_colours(str(app.property("tc_theme") or "dark") if app is not None else "dark")
        follow_theme(self)

    def apply_theme_colours(self, name: str) -> None:
        """The charts in the ``dark`` or ``light`` theme's colours (widgets.theme calls it)."""
        for plot in (self.equity_plot, self.drawdown_plot):
            theme_plot(plot, name)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.panel_shown.emit()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.panel_hidden.emit()

    # -- intents ----------------------------------------------------------------------------
    def _browse(self, edit: QLineEdit, title: str, filters: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, edit.text(), filters)
        if path:
            edit.setText(path)

    def values(self) -> dict:
        prices = self.prices_edit.text().strip() or None
        return {
            "prices": prices,
            # the series goes with the broker's bars only (a bar file is one series already)
            **({} if prices or self.bars_combo.count() == 0 else {"what_to_show": self.bars_combo.currentText()}),
            "snapshots": self.snapshots_edit.text().strip() or None,
            "projects": tuple(self.checked_projects()),
            "initial_cash": self.cash_edit.text().strip(),
            "fill": self.fill_combo.currentText(),
            "slippage_bps": self.slippage_edit.text().strip(),
            "commission": self.commission_combo.currentText().strip(),
            "rounding": self.rounding_combo.currentText(),
            "lot_size": self.lot_edit.text().strip(),
            "cash_buffer_pct": self.buffer_edit.text().strip(),
            "cash_buffer_unit_shown": True,  # labelled "cash buffer %"
            "liquidate_unlisted": not self.keep_unlisted.isChecked(),
            "start": self.from_edit.text().strip() or None,
            "end": self.to_edit.text().strip() or None,
        }

    def _emit_start_inputs(self, *_changed: object) -> None:
        self.start_inputs_changed.emit(tuple(self.checked_projects()), self.snapshots_edit.text().strip() or None,
                                       self.prices_edit.text().strip() or None)

    def _emit_run(self) -> None:
        self.run_requested.emit(self.values())

    def _on_rebalance(self, row: int, _column: int) -> None:
        item = self.rebalances_table.item(row, 2)
        if item is not None and item.text().isdigit():
            self.rebalance_activated.emit(int(item.text()))

    def _on_past(self, index: int) -> None:
        backtest_id = self.past_combo.itemData(index)
        if backtest_id is not None:
            self.past_chosen.emit(int(backtest_id))

    # -- state from the controller ----------------------------------------------------------
    def set_past_backtests(self, listed: Sequence[Any], current: int | None = None) -> None:
        """The past backtests, newest first (``services.backtest.listing.BacktestListing``s),
        ``current`` the one shown (none chosen without it)."""
        self.past_combo.clear()
        for item in listed:
            days = "" if item.days is None else f", {item.days} days"
            label = f"{item.id}: {item.started:%Y-%m-%d %H:%M}, {item.status}, {', '.join(item.projects)}{days}"
            self.past_combo.addItem(label, item.id)
            finals = "; ".join(f"{name} {value:,.2f}" for name, value in item.final_equity)
            tip = "\n".join(text for text in (f"final equity: {finals}" if finals else "", item.settings or "",
                                              item.message or "") if text)
            self.past_combo.setItemData(self.past_combo.count() - 1, plain_tooltip(tip or label), Qt.ItemDataRole.ToolTipRole)
        self.past_combo.setCurrentIndex(self.past_combo.findData(current) if current is not None else -1)
        # none chosen is not none there: "no backtest yet" over a list of them read as an empty list
        self.past_combo.setPlaceholderText(f"choose a past backtest ({len(listed)} listed)" if listed else NO_PAST)

    def show_settings(self, text: str | None) -> None:
        """The settings the results shown were made with (``summary.settings_line``); None: not known."""
        self.settings_label.setText(text or "")
        self.settings_label.setVisible(bool(text))

    def chosen_past(self) -> int | None:
        """The past backtest the list shows chosen (None: none)."""
        value = self.past_combo.currentData()
        return None if value is None else int(value)

    def past_ids(self) -> list[int]:
        """The past backtests listed, in order (tests)."""
        return [int(self.past_combo.itemData(i)) for i in range(self.past_combo.count())]

    def set_projects(self, names: Sequence[str]) -> None:
        checked = set(self.checked_projects())
        self.projects_list.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
            self.projects_list.addItem(item)

    def set_bar_series(self, series: Sequence[str], default: str) -> None:
        """The broker's bar series to choose from (IB's whatToShow), ``default`` chosen."""
        self.bars_combo.clear()
        self.bars_combo.addItems(list(series))
        self.bars_combo.setCurrentText(default)

    def set_first_snapshot(self, day: date | None) -> None:
        """The day an empty From begins the backtest at (the first snapshot's), in its placeholder;
        None: not known here (no project ticked, none stored, or a snapshots file given)."""
        self.from_edit.setPlaceholderText(f"{day.isoformat() if day else 'YYYY-MM-DD'} (first snapshot)")

    def set_last_bar(self, day: date | None) -> None:
        """The day an empty To ends the backtest at (the last bar's), in its placeholder; None: not
        known here (no project ticked, none stored, or a bar or snapshots file given)."""
        self.to_edit.setPlaceholderText(f"{day.isoformat() if day else 'YYYY-MM-DD'} (last bar)")

    def checked_projects(self) -> list[str]:
        return [self.projects_list.item(i).text() for i in range(self.projects_list.count())
                if self.projects_list.item(i).checkState() == Qt.CheckState.Checked]

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self._last_day = None
            self.progress.setRange(0, 0)  # busy until the first day is done
            self.progress.setFormat("%p%")
            self.show_status("preparing…")
        elif self.progress.maximum() == 0:  # refused before its first day: not busy any more
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("")  # nothing run (the status line says why), not "0%"

    def set_progress(self, done: int, total: int, day: str) -> None:
        self._last_day = (done, total, day)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        # on the bar too: the status line may be scrolled away with the form
        self.progress.setFormat(f"{day}: day {done} of {total}")
        self.status_label.setText(f"{day}: day {done} of {total}")  # not scrolled to: the bar says it

    def set_progress_canceled(self) -> None:
        """The run was canceled: the bar says so, at the day it stopped after (none: while the
        broker's bars came, nothing backtested); it read as a run still under way."""
        self._set_progress_ended("canceled")

    def set_progress_failed(self) -> None:
        """The run failed (the status bar and the past list say why): the bar says so, as a
        canceled run's does; it kept "day 2 of 60" as if the run went on."""
        self._set_progress_ended("failed")

    def _set_progress_ended(self, how: str) -> None:
        if self._last_day is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat(f"{how}: nothing backtested")
            return
        done, total, day = self._last_day
        self.progress.setFormat(f"{how} after {day}: day {done} of {total}")

    def clear_progress(self) -> None:
        """Results drawn that no run of this panel made (a past backtest): the bar counts nothing.
        It kept a canceled run's "day 1 of 3753" under another backtest's results."""
        self._last_day = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")

    def show_problems(self, problems: Sequence[str]) -> None:
        self.show_status("\n".join(problems))

    def show_status(self, text: str) -> None:
        self._set_status(text, hint=False)

    def _set_status(self, text: str, *, hint: bool) -> None:
        if self.status_label.property("hint") != hint:
            self.status_label.setProperty("hint", hint)  # QLabel[hint="true"] in the themes
            self.status_label.style().unpolish(self.status_label)
            self.status_label.style().polish(self.status_label)
        lines = text.split("\n")
        if len(lines) > STATUS_LINES:
            kept = STATUS_LINES - 1
            more = f"… and {len(lines) - kept} more lines: the list in this line's tooltip"
            self.status_label.setText("\n".join([*lines[:kept], more]))
            # a tooltip taller than the screen is cut by it too: the first lines, and how many more
            tip = lines if len(lines) <= TIP_LINES else [*lines[:TIP_LINES], f"… and {len(lines) - TIP_LINES} more"]
            self.status_label.setToolTip(plain_tooltip("\n".join(tip)))
        else:
            self.status_label.setText(text)
            self.status_label.setToolTip("")
        self._keep_status_room()

    def _keep_status_room(self) -> None:
        """The status line's room: one line, or the most lines a text has needed (never less, so
        that a shorter text after a longer one moves nothing either)."""
        line = self.status_label.fontMetrics().lineSpacing()
        width = self.status_label.width() if self.status_label.isVisible() else 0
        needed = self.status_label.heightForWidth(width) if width > 0 else line
        self._status_lines = min(STATUS_LINES, max(self._status_lines, -(-needed // line)))
        self.status_label.setMinimumHeight(self._status_lines * line)
        self.status_label.setMaximumHeight(STATUS_LINES * line)  # long lines wrapped past it are cut

    def show_results(self, projects: Mapping[str, Mapping], total: Mapping | None) -> None:
        """Per project (the service's summaries): curves, the metrics row, the rebalances."""
        for plot in (self.equity_plot, self.drawdown_plot):
            plot.clear()
        rows = shown_summaries(projects, total)
        self.metrics_table.setRowCount(len(rows))
        for r, (name, p) in enumerate(rows):
            # the rates measured from the first rebalance, cash idle before it; a CAGR not annualised
            note = "\n".join(summary_notes(name, p))
            for c, text in enumerate(metric_texts(name, p)):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                tip = "\n".join(text for text in (name if c == 0 else "", note) if text)  # a name elided is read whole here
                if tip:
                    item.setToolTip(plain_tooltip(tip))
                self.metrics_table.setItem(r, c, item)
        for i, (name, p) in enumerate(projects.items()):
            pen = pg.mkPen(COLOURS[i % len(COLOURS)], width=2)
            xs = [_x(d) for d, _ in p["equity"]]
            self.equity_plot.plot(xs, [float(v) for _, v in p["equity"]], name=name, pen=pen)
            self.drawdown_plot.plot(xs, [100 * x for _, x in p["drawdown"]], name=name, pen=pen)
        rebalances = sorted((day, name, run_id, rebalance_text(p, day, outcome, run_id)) for name, p in projects.items()
                            for day, run_id, outcome in p.get("rebalances", []))
        self.rebalances_table.setRowCount(len(rebalances))
        for r, (day, name, run_id, outcome) in enumerate(rebalances):
            # no run: a rebalance refused before its run was made (its outcome says why)
            for c, text in enumerate((day, name, "" if run_id is None else str(run_id), outcome)):
                item = QTableWidgetItem(text)
                if c in (1, 3):  # a name or a reason cut is read whole here
                    item.setToolTip(plain_tooltip(text))
                self.rebalances_table.setItem(r, c, item)
        self.metrics_table.resizeColumnsToContents()
        fit_project_column(self.metrics_table)
        fit_rebalance_columns(self.rebalances_table)

    def curve_count(self) -> int:
        """Curves drawn on the equity chart (tests, screenshots)."""
        return len(self.equity_plot.plotItem.listDataItems())


def fit_project_column(table: QTableWidget) -> None:
    """The project column as wide as its names, or as the room the metric columns leave if that
    is less (never narrower than its title): a long name is elided, not the metrics."""
    table.resizeColumnToContents(0)
    metrics = sum(table.columnWidth(c) for c in range(1, table.columnCount()))
    room = table.viewport().width() - metrics
    least = table.horizontalHeader().sectionSizeFromContents(0).width()
    table.setColumnWidth(0, max(least, min(table.columnWidth(0), room)))


def fit_rebalance_columns(table: QTableWidget) -> None:
    """The Rebalances' day and run as wide as they are; the outcome, which stretches, is given
    the room it needs up to half the table; the project name what is left, at most as wide as
    it is and never narrower than its title: a long name is elided (whole in its tooltip), not
    the outcome pushed a sideways scroll away."""
    for column in (0, 2):
        table.resizeColumnToContents(column)
    table.resizeColumnToContents(1)
    header = table.horizontalHeader()
    room = table.viewport().width()
    outcome = max(table.sizeHintForColumn(3), header.sectionSizeFromContents(3).width())
    left = room - table.columnWidth(0) - table.columnWidth(2) - min(outcome, room // 2)
    least = header.sectionSizeFromContents(1).width()
    table.setColumnWidth(1, max(least, min(table.columnWidth(1), left)))


class _ProjectColumnFitter(QObject):
    """Fits a results table's project column again whenever its viewport is resized (the
    splitter dragged, the window resized); owned by the table: lives and dies with it."""

    def __init__(self, table: QTableWidget, fit: Callable[[QTableWidget], None]) -> None:
        super().__init__(table)
        self._fit = fit

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        table = self.parent()
        if event.type() == QEvent.Type.Resize and isinstance(table, QTableWidget):
            self._fit(table)
        return False


def _row_layout(*widgets: QWidget) -> QHBoxLayout:
    layout = QHBoxLayout()
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return layout


def _row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    holder.setLayout(_row_layout(*widgets))
    return holder
