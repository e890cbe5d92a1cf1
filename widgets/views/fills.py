"""The fills stream with totals, newest first, exportable."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..common import make_table, write_csv
from ..dialogs.errors import show_error
from ..models.base import fmt_money, fmt_quantity
from ..models.proxy import NativeOrderProxyModel
from ..models.fills import FillsModel


class FillsView(QWidget):
    exported = Signal(str, int)

    def __init__(self, model: FillsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        # The model keeps fills newest first; the proxy only sorts for other header orders.
        self.proxy = NativeOrderProxyModel(FillsModel.TIME, self)
        self.proxy.setFilterKeyColumn(FillsModel.SYMBOL)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setSourceModel(model)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Symbol…")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.totals_label = QLabel()
        self.totals_label.setObjectName("totalsLabel")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.table = make_table(self.proxy, self, sortable=True, widths=[c.width for c in model.columns])
        self.table.sortByColumn(FillsModel.TIME, Qt.SortOrder.DescendingOrder)
        bar = QHBoxLayout()
        bar.addWidget(self.search_edit)
        bar.addWidget(self.totals_label, 1)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        model.flushed.connect(self._update_totals)
        model.modelReset.connect(self._update_totals)
        self._update_totals()

    def _update_totals(self, *_args) -> None:
        t = self.model.totals()
        self.totals_label.setText(
            f"{t.count} fills · bought {fmt_quantity(t.bought_quantity)} for {fmt_money(t.bought_notional)}"
            f" · sold {fmt_quantity(t.sold_quantity)} for {fmt_money(t.sold_notional)}"
            f" · commission {fmt_money(t.commission)}"
        )

    def export_csv(self, path: str) -> int:
        proxy, model = self.proxy, self.model
        rows = (model.csv_row(proxy.mapToSource(proxy.index(r, 0)).row()) for r in range(proxy.rowCount()))
        count = write_csv(path, model.csv_header(), rows)
        self.exported.emit(path, count)
        return count

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export fills", "fills.csv", "CSV files (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except OSError as exc:
            show_error(self, "Export failed", f"Could not write {path}: {exc.strerror or exc}")
