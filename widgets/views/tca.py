"""TCA: a paper or live run beside the same day's backtest of its plan (per order the reference
price, the fill, the implementation shortfall in bps and currency; the run's totals). The run is
the one chosen in the blotter's run filter or in the Decisions view, or a backtest's rebalance
double-clicked; the fill rule can be changed. The view only shows what the controller gives it (``TcaReport.to_dict()``)."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from services.backtest.tca_text import run_heading, totals_text

from ..common import make_table, plain_label
from ..models.proxy import RecordProxyModel
from ..models.tca import TcaModel


class TcaView(QWidget):
    fill_changed = Signal(str)  # close | next-open: the backtest column again

    def __init__(self, model: TcaModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.title_label = plain_label("No run selected")
        # a line of its own, wrapped: beside the title and the fill chooser its backtest note ran
        # under the chooser, cut, and made the panel wider than a dock gives it
        # what a demo run's fills are (the simulator's, not a market's): a line a trader reads,
        # as the `tca` command prints it under its title; in the title's tooltip no one saw it
        self.note_label = plain_label("")
        self.note_label.setWordWrap(True)
        self.note_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label.hide()
        self.totals_label = plain_label("")
        self.totals_label.setWordWrap(True)
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals_label.hide()
        self.fill_combo = QComboBox()
        self.fill_combo.addItems(["close", "next-open"])
        self.fill_combo.setToolTip("the backtest's fill: the day's close or the next session's open")
        # sortable by any column, numbers by their value: which orders cost the most
        self.proxy = RecordProxyModel(self)
        self.proxy.setSourceModel(model)
        self.table = make_table(self.proxy, self, sortable=True, widths=[c.width for c in model.columns], replaced_whole=True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # the plan's order (Qt's default is descending)
        bar = QHBoxLayout()
        bar.addWidget(self.title_label)
        bar.addStretch(1)
        bar.addWidget(QLabel("Backtest fill"))
        bar.addWidget(self.fill_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.note_label)
        layout.addWidget(self.totals_label)
        layout.addWidget(self.table)
        self.fill_combo.currentTextChanged.connect(self.fill_changed.emit)

    def fill(self) -> str:
        return self.fill_combo.currentText()

    def set_report(self, report: Mapping, profile: str) -> None:
        """``report``: ``TcaReport.to_dict()``, with ``compared`` (a paper or live run);
        ``profile``: the window's (demo, paper, live), whose word the run's mode is said in."""
        title, note = run_heading(report, profile)
        self.title_label.setText(title)
        self.note_label.setText(note)
        self.note_label.setVisible(bool(note))
        if not report.get("compared", True):
            self._show_totals("")
            self.model.clear()
            return
        text = totals_text(report, self.fill())
        self._show_totals(text)
        self.model.reset(report["orders"])

    def clear(self) -> None:
        self.title_label.setText("No run selected")
        self.note_label.setText("")
        self.note_label.hide()
        self._show_totals("")
        self.model.clear()

    def _show_totals(self, text: str) -> None:
        self.totals_label.setText(text)
        self.totals_label.setVisible(bool(text))  # empty, its line would stand blank above the table
