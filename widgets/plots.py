"""What the panels' pyqtgraph charts share."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject

#: Below this height a chart drops its title row (30 px): in the bottom strip of a 1366x768
#: screen the plot itself kept about 45 px, and the chart's tab already says what it shows.
TITLE_MIN_HEIGHT = 220

#: (plot background, text and axes) of each theme: the windows' Base and Text colours
PLOT_COLOURS = {"dark": ("#1a1d22", "#d7dae0"), "light": ("#ffffff", "#1f2329")}
#: a legend's fill over the curves it names: its labels stay readable where a curve runs under them
LEGEND_FILLS = {"dark": (30, 33, 39, 200), "light": (255, 255, 255, 220)}


class _TitleWhenTall(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and isinstance(watched, pg.PlotWidget):
            show_title(watched, watched.height() >= TITLE_MIN_HEIGHT)
        return False


def show_title(plot: pg.PlotWidget, shown: bool) -> None:
    label = plot.plotItem.titleLabel
    if label.isVisible() == shown:
        return
    if shown:
        plot.setTitle(label.text)  # keeps the text's colour: LabelItem remembers its options
    else:
        plot.setTitle(None)  # hides the row; the text stays for when there is room again


def title_when_tall(plot: pg.PlotWidget) -> pg.PlotWidget:
    """The plot's title shown only while it is at least ``TITLE_MIN_HEIGHT`` px high."""
    keeper = _TitleWhenTall(plot)  # owned by the plot: lives and dies with it
    plot.installEventFilter(keeper)
    return plot


def theme_plot(plot: pg.PlotWidget, name: str) -> None:
    """The plot's background, axes, grid, title and legend in the ``dark`` or ``light`` theme's
    colours (every panel's charts alike: widgets.theme calls their ``apply_theme_colours``).
    pyqtgraph fixes them when a plot or a legend entry is made: a chart made before a theme
    change kept the old theme's (dark text on a dark plot after *View → Theme → Light*)."""
    background, foreground = PLOT_COLOURS.get(name, PLOT_COLOURS["dark"])
    plot.setBackground(background)
    for axis in ("left", "bottom", "right"):
        item = plot.getAxis(axis)
        item.setPen(foreground)  # the grid too: it is drawn in the axis pen
        item.setTextPen(foreground)
    plot.plotItem.titleLabel.setText(plot.plotItem.titleLabel.text, color=foreground)  # shown or not
    legend = plot.plotItem.legend
    if legend is not None:
        # the legend's label colour is fixed when an item is added: set it for the ones to come
        # and on every label there
        legend.setLabelTextColor(foreground)
        legend.setBrush(pg.mkBrush(*LEGEND_FILLS.get(name, LEGEND_FILLS["dark"])))
        legend.setPen(pg.mkPen(foreground, width=0.5))
        for _sample, label in legend.items:
            label.setText(label.text, color=foreground)


def retitle(plot: pg.PlotWidget, title: str) -> None:
    """A new title, shown only if the title row is (``title_when_tall``): ``setTitle`` shows it
    in a dock too short for it. The text keeps its theme colour (LabelItem keeps its options)."""
    label = plot.plotItem.titleLabel
    if label.isVisible():
        plot.setTitle(title)
    else:
        label.setText(title)
