"""What the panels' pyqtgraph charts share."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject

#: Below this height a chart drops its title row (30 px): in the bottom strip of a 1366x768
#: screen the plot itself kept about 45 px, and the chart's tab already says what it shows.
TITLE_MIN_HEIGHT = 220


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
