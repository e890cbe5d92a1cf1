"""Decisions: why each order of a run (or of the current preview) exists, and every risk rule's
verdict with what it measured and its limit (the decision trail, services.trail_queries).

Selecting a symbol's decision narrows the rule verdicts to that order and the account-level
rules; "Show run" asks for another run's trail. The view only shows what the controller gives it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..common import make_table, plain_label
from ..models.decisions import OrderDecisionsModel, RuleVerdictsModel


class _OrderVerdicts(QSortFilterProxyModel):
    """The verdicts of one order (by sequence) plus the account's; everything when none is chosen."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sequence: int | None = None

    def set_sequence(self, sequence: int | None) -> None:
        if sequence != self.sequence:
            self.beginFilterChange()
            self.sequence = sequence
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if self.sequence is None:
            return True
        model = self.sourceModel()
        record = model.record_at(source_row) if isinstance(model, RuleVerdictsModel) else None
        return record is None or record.get("scope") == "account" or record.get("sequence") == self.sequence


#: Below this height the decisions and the rule verdicts sit side by side instead of stacked.
STACK_MIN_HEIGHT = 320


class DecisionsView(QWidget):
    run_requested = Signal(int)

    def __init__(self, orders: OrderDecisionsModel, rules: RuleVerdictsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.orders_model = orders
        self.rules_model = rules
        self.rules_proxy = _OrderVerdicts(self)
        self.rules_proxy.setSourceModel(rules)
        self.title_label = plain_label("No run or preview selected")
        self.title_label.setObjectName("decisionsTitle")
        self.summary_label = plain_label("")
        # wrapped beside the title: on one line it ran under the run chooser in an 866 px dock
        # ("... · 21 snapsh" cut, seen under Xvfb), and a line of its own cost a short panel its
        # row. Beside the title it takes at most two lines, else a line of its own (_fit_summary).
        self.summary_label.setWordWrap(True)
        self.summary_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.run_spin = QSpinBox()
        self.run_spin.setRange(1, 2_000_000_000)
        self.run_spin.setPrefix("Run ")
        self.run_spin.setMinimumWidth(110)
        self.run_spin.setMaximumWidth(140)
        self.run_spin.setToolTip("a run's decisions: the plan it executed (or its newest)")
        self.show_button = QPushButton("Show run")
        # a run typed that does not exist, said here, as the preview panel says a field typed
        # wrong: it was a modal, a toast and a status-bar message at once, for a typo
        self.problem_label = plain_label("")
        self.problem_label.setObjectName("errorLabel")
        self.problem_label.setWordWrap(True)
        self.problem_label.hide()
        # its own width: with the summary on a line of its own the bar's room goes to the title
        self.show_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.orders_table = make_table(orders, self, widths=[c.width for c in orders.columns], replaced_whole=True)
        self.orders_table.setSelectionMode(self.orders_table.SelectionMode.SingleSelection)
        self.rules_table = make_table(self.rules_proxy, self, widths=[c.width for c in rules.columns], replaced_whole=True)
        bar = self.bar_layout = QHBoxLayout()
        bar.addWidget(self.title_label)
        bar.addWidget(self.summary_label, 1)
        bar.addWidget(self.run_spin)
        bar.addWidget(self.show_button)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.orders_table)
        self.splitter.addWidget(self.rules_table)
        layout = self.panel_layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.splitter, 1)
        self.show_button.clicked.connect(lambda: self.run_requested.emit(self.run_spin.value()))
        # Enter in the chooser asks as the button does (a run typed and Enter did nothing);
        # click() does nothing while the button is off, a run being shown
        self.run_spin.lineEdit().returnPressed.connect(self.show_button.click)
        self.orders_table.selectionModel().currentRowChanged.connect(self._on_decision_selected)

    SUMMARY_LINES_BESIDE = 2

    def summary_beside(self) -> bool:
        return self.bar_layout.indexOf(self.summary_label) >= 0

    def _fit_summary(self, width: int) -> None:
        """The summary beside the title while it takes at most two lines there, else on a line
        of its own under them: in the 518 px of the bottom strip of a 1024 px window it was five
        lines beside the title, its last one cut and the tables left one row (seen under Xvfb)."""
        bar, label = self.bar_layout, self.summary_label
        margins = self.panel_layout.contentsMargins()
        others = (self.title_label, self.run_spin, self.show_button)
        room = (width - margins.left() - margins.right() - sum(w.sizeHint().width() for w in others)
                - 3 * max(bar.spacing(), 0))
        lines = self.SUMMARY_LINES_BESIDE * label.fontMetrics().lineSpacing()
        beside = not label.text() or (room > 0 and label.heightForWidth(room) <= lines)
        if beside == self.summary_beside():
            return
        if beside:
            self.panel_layout.removeWidget(label)
            bar.insertWidget(1, label, 1)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        else:
            bar.removeWidget(label)
            self.panel_layout.insertWidget(1, label)
            label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit_summary(event.size().width())
        # In the short bottom strip of a laptop screen two stacked tables showed their headers
        # and nothing else: side by side, each gets the panel's whole height.
        wanted = Qt.Orientation.Horizontal if event.size().height() < STACK_MIN_HEIGHT else Qt.Orientation.Vertical
        if self.splitter.orientation() != wanted:
            self.splitter.setOrientation(wanted)
            self.splitter.setSizes([3, 2] if wanted == Qt.Orientation.Horizontal else [1, 1])  # in proportion
        super().resizeEvent(event)

    def set_trail(self, trail: Any) -> None:
        """``trail``: a ``services.trail_queries.DecisionTrail``."""
        self.title_label.setText(trail.title)
        self.summary_label.setText(trail.summary)
        self._fit_summary(self.width())
        self.rules_proxy.set_sequence(None)
        self.orders_model.reset(trail.order_decisions)
        self.rules_model.reset(trail.risk_decisions)
        self.run_spin.setValue(trail.run_id)
        self._say_problem("")

    def refuse_run(self, text: str, shown_run_id: int | None) -> None:
        """A run asked for that the panel cannot show (``text``: why, "run 99 does not exist"):
        said in the panel, the trail shown kept, and the chooser back on its run (``shown_run_id``;
        None: none shown): it read "Run 99" over run 1's decisions."""
        if shown_run_id is not None:
            self.run_spin.setValue(shown_run_id)
        self._say_problem(text)

    def _say_problem(self, text: str) -> None:
        self.problem_label.setText(text)
        self.problem_label.setVisible(bool(text))  # empty, its line would stand blank above the tables

    def select_symbol(self, symbol: str) -> None:
        records = self.orders_model.records()
        for row, record in enumerate(records):
            if record.get("symbol") == symbol:
                self.orders_table.selectRow(row)
                return

    def clear(self) -> None:
        self.title_label.setText("No run or preview selected")
        self.summary_label.setText("")
        self._say_problem("")
        self._fit_summary(self.width())
        self.orders_model.clear()
        self.rules_model.clear()

    def _on_decision_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        record = self.orders_model.record_at(current.row()) if current.isValid() else None
        self.rules_proxy.set_sequence(record.get("sequence") if record else None)
