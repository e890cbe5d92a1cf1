"""The watchlist: type a symbol to add it; bid, ask, last, change and volume stream in, with the
market-data type (live, delayed, frozen) shown per row and for the panel. Intent signals only:
the controller starts and stops the streams and remembers the list in the settings."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QMenu, QPushButton, QVBoxLayout, QWidget

from ..common import (
    SymbolKeys,
    add_action,
    literal_ampersands,
    make_table,
    menu_key_opens_current_row,
    plain_label,
)
from ..models.quotes import KIND_LABELS, QuotesModel

SYMBOL_PADDING = 16  # px: the cell's margins and a little air


class WatchlistView(QWidget):
    add_requested = Signal(str)
    remove_requested = Signal(str)  # listing key
    ticket_requested = Signal(dict)  # prefill: symbol, side

    def __init__(self, model: QuotesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.symbol_edit = QLineEdit()
        self.symbol_edit.setPlaceholderText("Add a symbol (AAPL, SAP@IBIS:EUR) and press Enter")
        self.symbol_edit.setValidator(SymbolKeys(self.symbol_edit))
        self.symbol_edit.returnPressed.connect(self._on_add)
        add_button = QPushButton("Add")
        add_button.clicked.connect(self._on_add)
        self.data_label = plain_label("Market data: —")
        self.data_label.setObjectName("watchlistDataType")
        self.table = make_table(model, self, widths=[c.width for c in model.columns])
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_context_menu)
        menu_key_opens_current_row(self.table, self._on_context_menu)
        self.table.doubleClicked.connect(self._on_double_clicked)
        add_action(self.table, "Remove", self._remove_selected, QKeySequence(QKeySequence.StandardKey.Delete),
                   context=Qt.ShortcutContext.WidgetShortcut)
        self.message_label = plain_label("")
        self.message_label.setObjectName("watchlistMessage")
        self.message_label.setWordWrap(True)
        self.message_label.hide()  # shown with a message: empty, it took a row's height from the table
        bar = QHBoxLayout()
        bar.addWidget(self.symbol_edit, 1)
        bar.addWidget(add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.data_label)
        layout.addWidget(self.table)
        layout.addWidget(self.message_label)
        model.flushed.connect(self._show_data_type)
        model.modelReset.connect(self._show_data_type)
        model.rowsInserted.connect(self._fit_symbols)

    def _fit_symbols(self, *_args) -> None:
        """The Symbol column as wide as the longest symbol watched, never narrower: the columns
        are sized to content at the first row only (they must not jump while quotes stream), and a
        longer listing key the trader added later (SAP@IBIS:EUR after AAPL) showed cut."""
        column = self.model.SYMBOL
        metrics = self.table.fontMetrics()
        needed = max((metrics.horizontalAdvance(q.key) for q in self.model.records()), default=0) + SYMBOL_PADDING
        if needed > self.table.columnWidth(column):
            self.table.setColumnWidth(column, needed)

    def keys(self) -> list[str]:
        return [q.key for q in self.model.records()]

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _on_add(self) -> None:
        text = self.symbol_edit.text().strip()
        if text:
            self.add_requested.emit(text)

    def added(self, key: str) -> None:
        """The controller accepted ``key``: clear the field for the next one."""
        self.symbol_edit.clear()
        self.show_message("")

    def _selected_keys(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.record_at(r).key for r in rows]

    def _remove_selected(self) -> None:
        for key in self._selected_keys():
            self.remove_requested.emit(key)

    def context_menu_for(self, key: str) -> QMenu:
        menu = QMenu(self)
        shown = literal_ampersands(key)
        buy = menu.addAction(f"&Buy {shown}…")
        buy.triggered.connect(lambda: self.ticket_requested.emit({"symbol": key, "side": "BUY"}))
        sell = menu.addAction(f"&Sell {shown}…")
        sell.triggered.connect(lambda: self.ticket_requested.emit({"symbol": key, "side": "SELL"}))
        menu.addSeparator()
        remove = menu.addAction("&Remove")
        remove.triggered.connect(lambda: self.remove_requested.emit(key))
        return menu

    def _on_context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        menu = self.context_menu_for(self.model.record_at(index.row()).key)
        menu.exec(self.table.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _on_double_clicked(self, index: QModelIndex) -> None:
        # opens a ticket to fill in: nothing is sent from a double-click
        if index.isValid():
            self.ticket_requested.emit({"symbol": self.model.record_at(index.row()).key, "side": "BUY"})

    def _show_data_type(self, *_args) -> None:
        kinds = sorted({q.kind for q in self.model.records() if q.time is not None or q.bid or q.last})
        text = ", ".join(KIND_LABELS.get(k, k) for k in kinds) if kinds else "—"
        self.data_label.setText(f"Market data: {text}")
