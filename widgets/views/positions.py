"""Positions and P&L per project and account."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..common import make_table
from ..models.base import SortKeyRole, fmt_money
from ..models.positions import PositionsModel


class PositionsView(QWidget):
    def __init__(self, model: PositionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSortRole(SortKeyRole)
        self.proxy.setDynamicSortFilter(True)
        self.proxy.setSourceModel(model)
        self.table = make_table(self.proxy, self, sortable=True)
        self.table.sortByColumn(PositionsModel.SYMBOL, Qt.SortOrder.AscendingOrder)
        self.totals_label = QLabel()
        self.totals_label.setObjectName("totalsLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addWidget(self.totals_label)
        model.flushed.connect(self._update_totals)
        model.modelReset.connect(self._update_totals)
        model.dataChanged.connect(self._update_totals)
        self._update_totals()

    def _update_totals(self, *_args) -> None:
        unrealized, realized = self.model.totals()
        self.totals_label.setText(
            f"{self.model.rowCount()} positions · unrealized {fmt_money(unrealized)} · realized {fmt_money(realized)}"
        )
