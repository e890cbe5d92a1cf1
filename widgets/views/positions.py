"""Positions and P&L as a tree: the account's totals, then each project's book (by name), then
what no project owns (unassigned), each group with its P&L (docs/project-books.md). The tree is
drawn from the frozen records of the positions model through the Qt-free presenter
``services.console_books.position_tree``; the project filter picks one group."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QPoint, QRegularExpression, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.console_books import BookGroup, book_totals, position_tree
from services.core.books import UNASSIGNED
from services.core.wording import counted
from services.domain import PositionRecord

from ..models.base import fmt_money, fmt_price, fmt_quantity
from ..models.positions import ACCOUNT_TOTAL, PositionsModel, pnl_colour
from ..models.proxy import RecordProxyModel

ALL_PROJECTS = "All projects"
# what is held and its P&L first, the account (one on most desks) last: the panel shares the
# right column (440-480 px), where a book's long name and the account's column left the P&L out
TREE_COLUMNS = ("Book / symbol", "Quantity", "Unrealized", "Realized", "Market", "Avg cost", "Account")
BOOK, QUANTITY, UNREALIZED, REALIZED, MARKET, AVG_COST, ACCOUNT = range(len(TREE_COLUMNS))
FIGURES = range(QUANTITY, ACCOUNT)
BOOK_COLUMN_CAP = 130  # px: a longer book name is elided (its row's tooltip has it whole)


def group_label(group: BookGroup) -> str:
    if group.kind == "account":
        return f"Account {group.name} (all projects)"
    return group.name


class PositionsView(QWidget):
    # Buy more / Sell more / Flatten from a position's context menu: the order ticket prefilled
    # (symbol, side, quantity, project); nothing is sent from here
    ticket_requested = Signal(dict)

    def __init__(self, model: PositionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        # the flat records filtered by project: what the totals count
        self.proxy = RecordProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setFilterKeyColumn(PositionsModel.PROJECT)
        self.project_combo = QComboBox()
        self.project_combo.addItem(ALL_PROJECTS)
        self.project_combo.currentTextChanged.connect(self._on_project_changed)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("positionsTree")
        self.tree.setColumnCount(len(TREE_COLUMNS))
        self.tree.setHeaderLabels(list(TREE_COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.groups: tuple[BookGroup, ...] = ()
        self._capitals: dict[str, Decimal | None] = {}
        self._collapsed: set[tuple[str, str]] = set()
        self.tree.itemCollapsed.connect(lambda item: self._collapsed.add(item.data(BOOK, Qt.ItemDataRole.UserRole)))
        self.tree.itemExpanded.connect(lambda item: self._collapsed.discard(item.data(BOOK, Qt.ItemDataRole.UserRole)))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_context_menu)
        self.totals_label = QLabel()
        self.totals_label.setObjectName("totalsLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        bar.addWidget(self.project_combo)
        bar.addStretch(1)
        layout.addLayout(bar)
        layout.addWidget(self.tree)
        layout.addWidget(self.totals_label)
        # rebuilt once per batch of changes: a flush reports its changed rows as one dataChanged
        # per run of rows (a price tick across scattered positions: dozens), then ``flushed``
        model.flushed.connect(self._update_totals)
        model.modelReset.connect(self._update_totals)
        model.names_changed.connect(self._update_totals)
        self._update_totals()

    def set_capitals(self, capitals: dict[str, Decimal | None]) -> None:
        """Each project's capital (by name): its group shows the capital and the cash."""
        self._capitals = dict(capitals)
        self._update_totals()

    def set_project_filter(self, name: str | None) -> None:
        self._refresh_projects()
        self.project_combo.setCurrentText(name or ALL_PROJECTS)

    def _selected(self) -> str | None:
        text = self.project_combo.currentText()
        return None if text in (ALL_PROJECTS, "") else text

    def _on_project_changed(self, text: str) -> None:
        if text == ALL_PROJECTS or not text:
            self.proxy.setFilterRegularExpression(QRegularExpression())
        else:
            self.proxy.setFilterRegularExpression(QRegularExpression(f"^{QRegularExpression.escape(text)}$"))
        self._update_totals()

    def _refresh_projects(self) -> None:
        known = {self.project_combo.itemText(i) for i in range(self.project_combo.count())}
        names = {self.model.display_text(r, PositionsModel.PROJECT) for r in range(self.model.rowCount())}
        names |= {g.name for g in self.groups if g.kind == "unassigned"}
        for name in sorted(names - known):
            if name:
                self.project_combo.addItem(name)

    def _update_totals(self, *_args) -> None:
        self.groups = position_tree(self.model.records(), self.model.project_names(), self._capitals)
        self._refresh_projects()
        self._fill_tree()
        selected = self._selected()
        if selected == UNASSIGNED:
            shown = [line for g in self.groups if g.kind == "unassigned" for line in g.lines]
        else:
            shown = [self.model.record_at(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
                     for r in range(self.proxy.rowCount())]
        totals = book_totals(shown)  # which rows count: the service's rule
        self.totals_label.setText(f"{counted(totals.count, 'position')} · unrealized {fmt_money(totals.unrealized_pnl)} · "
                                  f"realized {fmt_money(totals.realized_pnl)}")

    def _fill_tree(self) -> None:
        selected = self._selected()
        self.tree.clear()
        bold = QFont()
        bold.setBold(True)
        longest: dict[int, str] = {}  # column -> its longest text (see _size_columns)

        def seen(column: int, text: str) -> None:
            if len(text) > len(longest.get(column, "")):
                longest[column] = text

        for group in self.groups:
            if selected is not None and group.name != selected and not (selected == ACCOUNT_TOTAL and group.kind == "account"):
                continue
            money = "" if group.capital is None else f"capital {fmt_money(group.capital)} · cash {fmt_money(group.cash)}"
            item = QTreeWidgetItem(["" for _ in TREE_COLUMNS])
            item.setText(BOOK, group_label(group))
            item.setToolTip(BOOK, " · ".join(filter(None, (group_label(group), money))))
            item.setText(MARKET, fmt_money(group.market_value))
            item.setText(UNREALIZED, fmt_money(group.unrealized_pnl))
            item.setText(REALIZED, fmt_money(group.realized_pnl))
            item.setText(ACCOUNT, money)
            for column in (BOOK, MARKET, UNREALIZED, REALIZED):
                seen(column, item.text(column))
            item.setData(BOOK, Qt.ItemDataRole.UserRole, (group.kind, group.name))
            for column in range(len(TREE_COLUMNS)):
                item.setFont(column, bold)
            self._colour(item, group.unrealized_pnl, group.realized_pnl)
            for line in group.lines:
                child = QTreeWidgetItem(["" for _ in TREE_COLUMNS])
                for column, text in ((BOOK, line.symbol), (QUANTITY, fmt_quantity(line.quantity)),
                                     (AVG_COST, fmt_price(line.average_cost)), (MARKET, fmt_price(line.market_price)),
                                     (UNREALIZED, fmt_money(line.unrealized_pnl)), (REALIZED, fmt_money(line.realized_pnl)),
                                     (ACCOUNT, line.account)):
                    child.setText(column, text)
                    seen(column, text)
                for column in FIGURES:
                    child.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._colour(child, line.unrealized_pnl, line.realized_pnl)
                # a project's own shares (Flatten sells only those); account and unassigned rows: no project
                child.setData(BOOK, Qt.ItemDataRole.UserRole + 1, (group.name if group.kind == "project" else None, line))
                item.addChild(child)
            for column in FIGURES:
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
            item.setExpanded((group.kind, group.name) not in self._collapsed)
        self._size_columns(longest, bold)

    # a cell's margins and a header's sort arrow, around a text (px)
    CELL_PADDING, HEADER_PADDING = 14, 22

    def _size_columns(self, longest: dict[int, str], bold: QFont) -> None:
        """The book and the figures as wide as their longest text (by characters: figures and
        symbols are near monospace; measured in bold, as the groups' rows are) and their title, the
        book at most ``BOOK_COLUMN_CAP``. One measurement per column: Qt's own sizing to contents
        asked every row's size hint at each rebuild (35 ms for 600 lines, a rebuild per change)."""
        text_metrics = QFontMetrics(bold)
        header_metrics = self.tree.header().fontMetrics()
        for column in (BOOK, *FIGURES):
            width = max(text_metrics.horizontalAdvance(longest.get(column, "")) + self.CELL_PADDING,
                        header_metrics.horizontalAdvance(TREE_COLUMNS[column]) + self.HEADER_PADDING)
            if column == BOOK:
                width = min(width + 2 * self.tree.indentation(), BOOK_COLUMN_CAP)
            if self.tree.columnWidth(column) != width:
                self.tree.setColumnWidth(column, width)

    @staticmethod
    def _colour(item: QTreeWidgetItem, unrealized: Decimal | None, realized: Decimal | None) -> None:
        for column, value in ((UNREALIZED, unrealized), (REALIZED, realized)):
            colour = pnl_colour(value)
            if colour is not None:
                item.setForeground(column, colour)

    def context_menu_for(self, position: PositionRecord, project: str | None = None) -> QMenu:
        """Buy more, Sell more and Flatten open the order ticket prefilled; nothing is sent from
        here. Flatten takes this project's shares only, so it is offered on a project's row."""
        if project is None and position.project_id is not None:
            project = self.model.project_names().get(position.project_id, str(position.project_id))
        menu = QMenu(self)
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
        item = self.tree.itemAt(pos)
        data = item.data(BOOK, Qt.ItemDataRole.UserRole + 1) if item is not None else None
        if not data:
            return  # a group's row: nothing to trade
        project, record = data
        menu = self.context_menu_for(record, project)
        menu.exec(self.tree.viewport().mapToGlobal(pos))
        menu.deleteLater()
