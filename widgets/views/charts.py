"""Charts (pyqtgraph): a run's progress, fill prices against the reference per symbol, equity
and P&L over time. Fed by plain data methods; the controller samples high-rate data."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetricsF
from PySide6.QtWidgets import QApplication, QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from services.console_charts import RunChart, pnl_sides
from services.core.wording import counted

from ..common import literal_ampersands, plain_label
from ..models.positions import GAIN, LOSS
from ..plots import PLOT_COLOURS, retitle, theme_plot, title_when_tall
from ..theme import follow_theme

Point = tuple[datetime, Decimal]


def _xs(points: Sequence[tuple]) -> list[float]:
    return [p[0].timestamp() for p in points]


def _ys(points: Sequence[tuple], i: int = 1) -> list[float]:
    return [float(p[i]) for p in points]


MIN_TIME_SPAN_S = 120  # a run of a few seconds still shows clock times, not a zoom into fractions

DAY_S = 86_400


class ClockAxis(pg.DateAxisItem):
    """Times of day in UTC on every tick (pyqtgraph's own axis labels a short span with bare
    seconds, "31.500"); whole days and more keep pyqtgraph's dates."""

    def __init__(self) -> None:
        super().__init__(orientation="bottom", utcOffset=0)

    def tickStrings(self, values, scale, spacing):
        if spacing >= DAY_S:
            return super().tickStrings(values, scale, spacing)
        fmt = "%H:%M:%S" if spacing < 60 else "%H:%M"
        strings = []
        for value in values:
            try:
                strings.append(datetime.fromtimestamp(value, UTC).strftime(fmt))
            except (OverflowError, OSError, ValueError):
                strings.append("")
        return strings


#: Label pitch on a vertical axis, in text heights: pyqtgraph always labels its first tick level,
#: at least two intervals, however short the plot (the charts dock on a 1366x768 screen is a few
#: dozen pixels tall), so its labels were drawn over each other.
LABEL_PITCH_LINES = 1.5


def nice_spacing_at_least(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (> 0)."""
    base = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * base >= value * (1 - 1e-9):
            return factor * base
    return 10 * base


class AmountAxis(pg.AxisItem):
    """Plain grouped numbers (1,000,150), never pyqtgraph's scientific "1.00015e+06"; on a short
    vertical axis fewer ticks, each label at least LABEL_PITCH_LINES text heights apart."""

    def label_pitch_px(self) -> float:
        font = self.style.get("tickFont") or self.font()
        return QFontMetricsF(font).height() * LABEL_PITCH_LINES

    def tickSpacing(self, minVal, maxVal, size):
        levels = super().tickSpacing(minVal, maxVal, size)
        explicit = self._tickSpacing is not None  # setTickSpacing() was called: as asked
        if self.orientation not in ("left", "right") or not levels or size <= 0 or explicit:
            return levels
        least = abs(maxVal - minVal) * self.label_pitch_px() / size  # one label pitch in axis units
        if levels[0][0] >= least:
            return levels
        major = nice_spacing_at_least(least)
        # minor ticks halve it; pyqtgraph labels them only where its text-fill limits leave room
        return [(major, 0), (major / 2, 0)]

    def tickStrings(self, values, scale, spacing):
        places = 0 if spacing * scale >= 1 else 2
        return [f"{value * scale:,.{places}f}" for value in values]


def _show_times(plot: pg.PlotWidget, xs: Sequence[float]) -> None:
    """Data over MIN_TIME_SPAN_S or more: fit it. Less (a run's one fill, its one point at zero
    before any, a market order's partial fills in one second): MIN_TIME_SPAN_S ending at the
    newest; fitted, the range was centred on the data, a run of one point running five minutes
    past it, into the future (a range of no width), one of a few seconds a minute. None yet: the
    last minutes, not the epoch's first seconds (00:00:05...)."""
    if xs and max(xs) - min(xs) >= MIN_TIME_SPAN_S:
        plot.enableAutoRange(axis="x")
    elif xs:
        # a little padding: a fill's mark at the edge is drawn whole
        plot.setXRange(max(xs) - MIN_TIME_SPAN_S, max(xs), padding=0.02)
    else:
        now = datetime.now(UTC).timestamp()
        plot.setXRange(now - 600, now, padding=0)


def _plot(title: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(axisItems={"bottom": ClockAxis(), "left": AmountAxis("left"), "right": AmountAxis("right")})
    plot.setTitle(f"{title} · times UTC")
    plot.setLabel("left", left)
    plot.getAxis("left").enableAutoSIPrefix(False)  # 150000, not "1.5 (x1e+05)"
    plot.hideAxis("right")  # only the equity chart shows one (its P&L)
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.addLegend(offset=(10, 10))
    plot.getViewBox().setLimits(minXRange=MIN_TIME_SPAN_S)
    return title_when_tall(plot)


def _pnl_side(colour: QColor) -> pg.PlotDataItem:
    """One side of the P&L (gain or loss): filled down to zero in ``colour``. No line: the equity's
    draws the same shape, and each side's line ran along zero while the P&L was on the other side
    (a green line over a loss)."""
    fill = QColor(colour)
    fill.setAlpha(70)
    return pg.PlotDataItem([], [], pen=None, fillLevel=0, brush=pg.mkBrush(fill))


#: What the run-progress chart says before it has a run to show (no fills and no target): its
#: empty plot showed pyqtgraph's default 0.2-0.8 "notional" axis, amounts of no run at all.
EQUITY_TITLE = "Equity{whose} (left) and P&L since the first sample (right)"
NO_RUN = "No run yet: a run's filled notional and its target show here once a plan is executed"


class ChartsView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.tabs = QTabWidget(self)
        self.progress_plot = _plot("Run progress", "notional")
        # a step: what is filled stays so until the next fill ("right": each value from its time to the
        # next one's); a line drawn point to point showed an order resting 18 minutes as filling all along
        self.filled_curve = self.progress_plot.plot([], [], name="filled", pen=pg.mkPen("#2e9d55", width=2),
                                                   stepMode="right")
        self.target_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d08a1c", width=1, style=Qt.PenStyle.DashLine), label="target",
                                           labelOpts={"position": 0.92})
        self.progress_plot.addItem(self.target_line)
        self.target_line.setVisible(False)
        # in the view box's own pixels (not the data's): centred whatever the ranges
        box = self.progress_plot.getViewBox()
        self.no_run_label = pg.TextItem(NO_RUN, anchor=(0.5, 0.5))
        self.no_run_label.setParentItem(box)
        box.sigResized.connect(self._place_no_run_label)
        self._no_run_text = NO_RUN  # what the label says without a run (set_not_read)
        self._run_said: str | None = None  # what it says over a run's plot (RunChart.said)
        self._has_run = False
        self._show_whether_a_run(False)

        self.prices_plot = _plot("Fill price vs reference", "price")
        self.symbol_combo = QComboBox()
        self.symbol_combo.currentTextChanged.connect(self._render_prices)
        self.fill_scatter = pg.ScatterPlotItem(size=7, brush=pg.mkBrush("#4f8fd6"), name="fills")
        self.prices_plot.addItem(self.fill_scatter)
        self.reference_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d08a1c", width=1), label="reference",
                                              labelOpts={"position": 0.9})
        self.prices_plot.addItem(self.reference_line)
        self.reference_line.setVisible(False)
        self.slippage_label = plain_label()
        # The symbol and slippage ride in the tab bar's corner (shown with the Fill prices tab):
        # a row of their own above the plot left it no height in the short dock of a 1366x768
        # screen.
        self.prices_bar = QWidget()
        bar = QHBoxLayout(self.prices_bar)
        bar.setContentsMargins(0, 0, 4, 0)
        bar.addWidget(self.slippage_label)
        bar.addWidget(QLabel("Symbol"))
        bar.addWidget(self.symbol_combo)

        # P&L on its own axis (right) and view box, sharing the time axis: on the equity's scale a
        # few hundred of P&L on a hundred thousand of equity is a flat line.
        self.equity_plot = _plot(EQUITY_TITLE.format(whose=""), "equity USD")
        self._equity_account: str | None = None
        self.equity_curve = self.equity_plot.plot([], [], name="equity", pen=pg.mkPen("#4f8fd6", width=2))
        item = self.equity_plot.plotItem
        item.showAxis("right")
        item.getAxis("right").setLabel("P&L USD")
        item.getAxis("right").enableAutoSIPrefix(False)
        self.pnl_view = pg.ViewBox()
        item.scene().addItem(self.pnl_view)
        item.getAxis("right").linkToView(self.pnl_view)
        self.pnl_view.setXLink(item)
        # filled down to zero: the P&L is the equity's own shape, so a bare line would hide under it;
        # its gain side and its loss side in the colours every panel gives them (all green, a loss
        # read as a gain)
        self.pnl_curve = _pnl_side(GAIN)
        self.pnl_loss_curve = _pnl_side(LOSS)
        self.pnl_view.addItem(self.pnl_curve)
        self.pnl_view.addItem(self.pnl_loss_curve)
        self.pnl_view.addItem(pg.InfiniteLine(angle=0, pos=0, pen=pg.mkPen("#888888", width=1,
                                                                            style=Qt.PenStyle.DotLine)))
        legend = item.legend
        if legend is not None:
            legend.addItem(self.pnl_curve, "P&L gain")
            legend.addItem(self.pnl_loss_curve, "P&L loss")
        item.vb.sigResized.connect(self._sync_pnl_view)
        self.tabs.addTab(self.progress_plot, "Run progress")
        self.tabs.addTab(self.prices_plot, "Fill prices")
        self.tabs.addTab(self.equity_plot, "Equity && P&&L")
        self.tabs.setCornerWidget(self.prices_bar, Qt.Corner.TopRightCorner)
        self.tabs.currentChanged.connect(self._show_prices_bar)
        self._show_prices_bar()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self._fills: dict[str, list[Point]] = {}
        self._references: dict[str, Decimal] = {}
        self._summaries: dict[str, str] = {}  # slippage lines as the caller computed them
        for plot in self.plots():
            _show_times(plot, [])
        app = QApplication.instance()
        self.apply_theme_colours(str(app.property("tc_theme") or "dark") if app is not None else "dark")
        follow_theme(self)

    def apply_theme_colours(self, name: str) -> None:
        """Plot background and axes for the ``dark`` or ``light`` theme (widgets.theme calls it)."""
        foreground = PLOT_COLOURS.get(name, PLOT_COLOURS["dark"])[1]
        self.target_line.label.setColor(foreground)  # pyqtgraph's light grey all but vanished on white
        self.no_run_label.setColor(foreground)
        for plot in self.plots():
            theme_plot(plot, name)

    def _show_prices_bar(self, *_args) -> None:
        self.prices_bar.setVisible(self.tabs.currentWidget() is self.prices_plot)

    def plots(self) -> tuple[pg.PlotWidget, ...]:
        return (self.progress_plot, self.prices_plot, self.equity_plot)

    def _sync_pnl_view(self) -> None:
        """The P&L view box covers the equity's plot area (pyqtgraph's two-axis recipe)."""
        self.pnl_view.setGeometry(self.equity_plot.plotItem.vb.sceneBoundingRect())
        self.pnl_view.linkedViewChanged(self.equity_plot.plotItem.vb, self.pnl_view.XAxis)

    # -- run progress -----------------------------------------------------------------------
    def set_run_caption(self, caption: str | None) -> None:
        """Which run the progress chart shows, in its tab (always in view, unlike the plot's
        title in a short dock); None: the tab says "Run progress" alone."""
        index = self.tabs.indexOf(self.progress_plot)
        # a tab's "&" marks its mnemonic: a project named "R&D" read "RD", its D underlined
        text = "Run progress" + (f" · {literal_ampersands(caption)}" if caption else "")
        if self.tabs.tabText(index) == text:
            return  # the trading window says it at every redraw: the tab bar is not laid out again for nothing
        self.tabs.setTabText(index, text)
        self.tabs.setTabToolTip(index, f"the run-progress chart shows {caption}" if caption else "")

    def show_run_chart(self, chart: RunChart) -> None:
        """The followed run's progress and its fills' prices (services.console_charts.run_chart),
        as the trading window and the monitor window both draw them."""
        self.set_run_progress(chart.points, chart.target, chart.said, chart.currency)
        self.set_fill_prices(chart.fill_points, chart.references, chart.notes)

    def set_run_progress(self, points: Sequence[Point], target: Decimal | None, said: str | None = None,
                         currency: str | None = None) -> None:
        """Cumulative filled notional over time, and the run's target notional; ``said``: the
        caller's words over the plot (a run with nothing filled: its line draws nothing);
        ``currency``: what the amounts are in, on the axis as the progress line says them ("0 of
        1,144 USD filled"): the axis said "notional" of no currency."""
        self.progress_plot.setLabel("left", f"notional {currency}" if currency else "notional")
        self.filled_curve.setData(_xs(points), _ys(points))
        _show_times(self.progress_plot, _xs(points))
        self._run_said = said
        self._show_whether_a_run(bool(points) or target is not None)
        self.target_line.setVisible(target is not None)
        if target is not None:
            self.target_line.setValue(float(target))

    def set_not_read(self, text: str | None) -> None:
        """``text`` in place of "No run yet" while what the chart would show was not read (the
        caller's words: a monitor waiting for its database); None: "No run yet" again."""
        self._no_run_text = text or NO_RUN
        self._show_whether_a_run(self._has_run)

    def _show_whether_a_run(self, has_run: bool) -> None:
        """No run: the chart says so, and shows no amount axis (it would be pyqtgraph's 0 to 1)
        nor the legend (its "filled" key named a line that is not there). A run: the label says
        what the caller said of it, if anything."""
        self._has_run = has_run
        said = self._run_said if has_run else self._no_run_text
        if said is not None and self.no_run_label.textItem.toPlainText() != said:
            self.no_run_label.setText(said)
        self.no_run_label.setVisible(said is not None)
        legend = self.progress_plot.plotItem.legend
        if legend is not None:
            legend.setVisible(has_run)
        if has_run:
            self.progress_plot.showAxis("left")
        else:
            self.progress_plot.hideAxis("left")
        self._place_no_run_label()

    def _place_no_run_label(self, *_args) -> None:
        box = self.progress_plot.getViewBox()
        self.no_run_label.setPos(box.width() / 2, box.height() / 2)

    # -- fill prices ------------------------------------------------------------------------

    def set_fill_prices(self, fills: Mapping[str, Sequence[Point]], references: Mapping[str, Decimal],
                        summaries: Mapping[str, str]) -> None:
        """Per symbol: the fills' (time, price), the reference price the order was built at, and
        the slippage line as the caller computed it (services.run_progress: volume-weighted, by
        side, each execution once; the chart computes none of its own)."""
        self._fills = {s: list(p) for s, p in fills.items()}
        self._references = dict(references)
        self._summaries = dict(summaries)
        current = self.symbol_combo.currentText()
        symbols = sorted(set(self._fills) | set(self._references))
        self.symbol_combo.blockSignals(True)
        self.symbol_combo.clear()
        self.symbol_combo.addItems(symbols)
        if current in symbols:
            self.symbol_combo.setCurrentText(current)
        self.symbol_combo.blockSignals(False)
        self._render_prices(self.symbol_combo.currentText())

    def _render_prices(self, symbol: str) -> None:
        points = self._fills.get(symbol, [])
        self.fill_scatter.setData(_xs(points), _ys(points))
        _show_times(self.prices_plot, _xs(points))
        reference = self._references.get(symbol)
        self.reference_line.setVisible(reference is not None)
        if reference is not None:
            self.reference_line.setValue(float(reference))
        self.slippage_label.setText(self._summaries.get(symbol) or counted(len(points), "fill"))

    # -- equity -----------------------------------------------------------------------------

    def set_equity(self, points: Iterable[tuple[datetime, Decimal, Decimal]], account: str | None = None) -> None:
        """(time, equity, P&L) samples of ``account`` (None: not known yet), which the title and
        the legend name: the chart did not say whose account it drew (a monitor's is the newest
        snapshot's, a trading window's its connection's)."""
        points = list(points)
        if account != self._equity_account:
            self._equity_account = account
            whose = f" of {account}" if account else ""
            retitle(self.equity_plot, f"{EQUITY_TITLE.format(whose=whose)} · times UTC")
            legend = self.equity_plot.plotItem.legend
            label = legend.getLabel(self.equity_curve) if legend is not None else None
            if label is not None:  # the legend stays when the title row is dropped (a short dock)
                label.setText(f"equity{whose}")
        self.equity_curve.setData(_xs(points), _ys(points, 1))
        gains, losses = pnl_sides((time, pnl) for time, _equity, pnl in points)
        self.pnl_curve.setData(_xs(gains), _ys(gains))
        self.pnl_loss_curve.setData(_xs(losses), _ys(losses))
        _show_times(self.equity_plot, _xs(points))
