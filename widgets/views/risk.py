"""Risk results: the verdict in colour, each order's result with its reasons as tooltips, the
run-level blocks, and the rule parameters in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.console_risk import risk_verdict

from ..common import make_table, plain_label
from ..models.risk import RiskResultsModel
from ..plain_text import plain_tooltip


class RiskView(QWidget):
    def __init__(self, model: RiskResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.verdict_label = plain_label("No risk check yet")
        self._report: Any = None  # the last verdict shown, for set_trading_halted
        self._halted = False
        self._sent_run: int | None = None  # the run the preview shown went as (set_sent)
        self.verdict_label.setObjectName("verdictLabel")
        self.verdict_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict_label.setWordWrap(True)  # the HALTED sentence is wider than a laptop's panel
        self.run_blocks_list = QListWidget()
        self.run_blocks_list.setMaximumHeight(80)
        self.run_blocks_list.setVisible(False)
        self.table = make_table(model, self, sortable=False, widths=[c.width for c in model.columns], replaced_whole=True)
        self.params_table = QTableWidget(0, 2)
        self.params_table.setHorizontalHeaderLabels(["Limit", "Value"])
        self.params_table.verticalHeader().setVisible(False)
        self.params_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # the values always in sight; a name too long for a narrow panel is elided (whole in its tooltip)
        header = self.params_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.params_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.params_table.setWordWrap(False)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.params_table)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.run_blocks_list)
        layout.addWidget(splitter)

    def set_report(self, report: Any, params: Sequence[tuple[str, str, str]] = ()) -> bool:
        """``report``: the core's RiskReport (verdict, orders, run_blocks, rules). Returns whether it blocks."""
        self._report = report
        self._sent_run = None  # a new preview: not sent yet
        blocked = self._set_verdict(report)
        self.run_blocks_list.clear()
        for block in getattr(report, "run_blocks", ()) or ():
            item = QListWidgetItem(block.said)  # services.core.risk_base.block_said: one wording
            item.setToolTip(plain_tooltip(block.message))
            self.run_blocks_list.addItem(item)
        self.run_blocks_list.setVisible(self.run_blocks_list.count() > 0)
        self.model.reset(report.orders)
        self.set_params(params)
        return blocked

    def _set_verdict(self, report: Any) -> bool:
        verdict = risk_verdict(report, self._halted, self._sent_run)  # the service's reading of the report
        self.verdict_label.setText(verdict.text)
        self.verdict_label.setProperty("verdict", verdict.look)
        self.verdict_label.style().unpolish(self.verdict_label)
        self.verdict_label.style().polish(self.verdict_label)
        return verdict.blocked

    def set_trading_halted(self, halted: bool) -> None:
        """The account's trading state: a halt turns a READY verdict into HALTED until resumed."""
        self._halted = halted
        if self._report is not None:
            self._set_verdict(self._report)

    def set_sent(self, run_id: int) -> None:
        """The preview shown was sent as run ``run_id``: its verdict no longer says READY."""
        self._sent_run = run_id
        if self._report is not None:
            self._set_verdict(self._report)

    def set_params(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """The limits in force as (name, value with its unit, tooltip) rows
        (``services.console_settings.risk_limit_rows``)."""
        self.params_table.setRowCount(len(rows))
        for row, (label, text, tooltip) in enumerate(rows):
            for column, cell in enumerate((label, text)):
                item = QTableWidgetItem(cell)
                item.setToolTip(tooltip)
                self.params_table.setItem(row, column, item)

    def clear(self) -> None:
        self._report = None
        self.verdict_label.setText("No risk check yet")
        self.verdict_label.setProperty("verdict", "")
        self.run_blocks_list.clear()
        self.run_blocks_list.setVisible(False)
        self.model.clear()
