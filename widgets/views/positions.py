"""Positions and P&L per project and account."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QPoint, QRegularExpression, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QVBoxLayout, QWidget

from services.domain import PositionRecord

from ..common import make_table
from ..models.base import SortKeyRole, fmt_money
from ..models.positions import PositionsModel

ALL_PROJECTS = "All projects"


class PositionsView(QWidget):
    # the order ticket, prefilled (symbol, side, quantity, project): Buy more, Sell more, Flatten
    ticket_requested = Signal(dict)

    def __init__(self, model: PositionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSortRole(SortKeyRole)
        self.proxy.setDynamicSortFilter(True)
        self.proxy.setSourceModel(model)
        self.proxy.setFilterKeyColumn(PositionsModel.PROJECT)
        self.project_combo = QComboBox()
        self.project_combo.addItem(ALL_PROJECTS)
        self.project_combo.currentTextChanged.connect(self._on_project_changed)
        self.table = make_table(self.proxy, self, sortable=True)
        self.table.sortByColumn(PositionsModel.SYMBOL, Qt.SortOrder.AscendingOrder)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_context_menu)
        self.totals_label = QLabel()
        self.totals_label.setObjectName("totalsLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        bar.addWidget(self.project_combo)
        bar.addStretch(1)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        layout.addWidget(self.totals_label)
        model.flushed.connect(self._update_totals)
        model.modelReset.connect(self._update_totals)
        model.dataChanged.connect(self._update_totals)
        self._update_totals()

    def context_menu_for(self, position: PositionRecord) -> QMenu:
        """Buy more, Sell more and Flatten open the order ticket prefilled; nothing is sent from
        here. Flatten takes this project's shares only, so it is offered on a project's row."""
        menu = QMenu(self)
        project = None if position.project_id is None else str(self.model.columns[PositionsModel.PROJECT].value(position))
        symbol = position.symbol
        buy = menu.addAction(f"Buy more {symbol}…")
        buy.triggered.connect(lambda: self.ticket_requested.emit({"symbol": symbol, "side": "BUY", "project": project}))
        sell = menu.addAction(f"Sell more {symbol}…" if position.quantity > 0 else f"Sell {symbol}…")
        sell.triggered.connect(lambda: self.ticket_requested.emit({"symbol": symbol, "side": "SELL", "project": project}))
        menu.addSeparator()
        if project is None:
            flatten = menu.addAction("Flatten… (on a project's row: only its shares)")
            flatten.setEnabled(False)
        else:
            quantity = abs(position.quantity)
            side = "SELL" if position.quantity > 0 else "BUY"
            flatten = menu.addAction(f"Flatten: {side} {quantity.normalize():f} {symbol} of {project}…")
            flatten.setEnabled(bool(position.quantity))
            flatten.triggered.connect(lambda: self.ticket_requested.emit(
                {"symbol": symbol, "side": side, "quantity": quantity, "project": project}))
        return menu

    def _on_context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        record = self.model.record_at(self.proxy.mapToSource(index).row())
        menu = self.context_menu_for(record)
        menu.exec(self.table.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def set_project_filter(self, name: str | None) -> None:
        self._refresh_projects()
        self.project_combo.setCurrentText(name or ALL_PROJECTS)

    def _on_project_changed(self, text: str) -> None:
        if text == ALL_PROJECTS or not text:
            self.proxy.setFilterRegularExpression(QRegularExpression())
        else:
            self.proxy.setFilterRegularExpression(QRegularExpression(f"^{QRegularExpression.escape(text)}$"))
        self._update_totals()

    def _refresh_projects(self) -> None:
        known = {self.project_combo.itemText(i) for i in range(self.project_combo.count())}
        names = {self.model.display_text(r, PositionsModel.PROJECT) for r in range(self.model.rowCount())}
        for name in sorted(names - known):
            if name:
                self.project_combo.addItem(name)

    def _update_totals(self, *_args) -> None:
        self._refresh_projects()
        shown = [self.model.record_at(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
                 for r in range(self.proxy.rowCount())]
        # Account-level rows (no project) already include every project's positions: when they
        # are shown, they alone are the total, or the project rows would be counted twice.
        account_rows = [p for p in shown if p.project_id is None]
        counted = account_rows or shown
        unrealized = sum((p.unrealized_pnl for p in counted if p.unrealized_pnl is not None), Decimal(0))
        realized = sum((p.realized_pnl for p in counted), Decimal(0))
        self.totals_label.setText(
            f"{len(shown)} positions · unrealized {fmt_money(unrealized)} · realized {fmt_money(realized)}"
        )
