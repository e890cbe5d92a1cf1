"""Positions and P&L as a tree: the account's totals, then each project's book (by name), then
what no project owns (unassigned), each group with its P&L (docs/project-books.md). The tree is
drawn from the frozen records of the positions model through the Qt-free presenter
``services.console_books.position_tree``; the project filter picks one group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QRegularExpression, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.console_books import (
    BookGroup,
    GroupFigures,
    Rates,
    amount_said,
    book_totals,
    cash_said,
    currency_notes,
    position_tree,
    sum_said,
)
from services.core.books import UNASSIGNED, flatten_order
from services.core.typed_numbers import plain
from services.core.wording import counted
from services.domain import PositionRecord
from services.execution.ib_contracts import FxRates
from services.position_marks import mark_said, symbol_said

from ..common import (
    DraggedWidths,
    chosen_widths,
    literal_ampersands,
    menu_key_opens_current_row,
    notice_label,
    plain_label,
    set_live_text,
    set_notice,
)
from ..models.base import fmt_money, fmt_price_at, fmt_quantity
from ..models.positions import ACCOUNT_TOTAL, PositionsModel, pnl_colour
from ..models.price_columns import ColumnPlaces
from ..models.proxy import RecordProxyModel
from ..plain_text import plain_tooltip

ALL_PROJECTS = "All projects"
# what is held and its P&L first, the account (one on most desks) last: the panel shares the
# right column (440-480 px), where a book's long name and the account's column left the P&L out
# "Qty" (the preview's "Order qty"), its header's tooltip "Quantity": with the theme's header
# padding "Quantity" took 76 px over figures of 40, and left the prices no room at 1366x768
# One meaning a column: "Market" was a line's price and a book's market value, and a trader read
# a book's 97,041.00 beside its lines' 229.29 as one kind of number. Value is money on every row
# (a line's quantity x price, a book's the sum of its lines'); Price and Avg cost are a line's alone.
TREE_COLUMNS = ("Book / symbol", "Qty", "Unrealized", "Realized", "Value", "Price", "Avg cost", "Account")
BOOK, QUANTITY, UNREALIZED, REALIZED, VALUE, PRICE, AVG_COST, ACCOUNT = range(len(TREE_COLUMNS))
HEADER_TOOLTIPS = {QUANTITY: "Quantity",
                   VALUE: "Market value: a symbol's quantity x its market price; a book's, its lines' summed",
                   PRICE: "A symbol's market price (its mark: a quote's or the last fill's)"}
FIGURES = range(QUANTITY, ACCOUNT)
# the lines' prices (a group has none: its row leaves them blank)
PRICES = (PRICE, AVG_COST)
# px: the book column's width when the panel has no more room than the P&L needs (a longer book
# name is elided then, its row's tooltip has it whole); with room to spare it is as wide as its
# longest name ("Account DU1234567", "Demo momentum" were cut at 130 px)
BOOK_COLUMN_CAP = 130
# what stays in view beside the book column, whatever its names: what is held and its P&L
KEPT_IN_VIEW = (QUANTITY, UNREALIZED, REALIZED)


@dataclass(frozen=True, slots=True)
class _Row:
    """One row of the tree as shown: a book's (``data`` None) or a line's (``data``: the
    project whose shares Flatten sells, or None, and the position)."""

    key: tuple[str | None, str]
    texts: tuple[str, ...]
    unrealized: Decimal | None
    realized: Decimal | None
    tooltip: str | None  # a book's: on every cell; a line's: its market price's source and time, on its symbol and that cell
    data: tuple[str | None, PositionRecord] | None


# a book's item and the row it shows, with each of its lines' items and rows
_Shown = tuple[QTreeWidgetItem, _Row, list[tuple[QTreeWidgetItem, _Row]]]


def group_label(group: BookGroup) -> str:
    """The group's row title: short, so that it reads whole beside the P&L ("Account DU1234567
    (all projects)" was cut to "Account DU1234567 (all proje…" in the panel at 1366x768)."""
    if group.kind == "account":
        return f"Account {group.name}"
    return group.name


def group_title(group: BookGroup) -> str:
    """The group said in full (its row's tooltip): the account's row counts every project's lines."""
    if group.kind == "account":
        return f"Account {group.name} (all projects)"
    return group.name


def _sum_text(value: Decimal | None, figures: GroupFigures) -> str:
    return sum_said(value, figures, "")  # no mark: a blank cell, as the lines' cells


def _money_text(group: BookGroup, figures: GroupFigures) -> str:
    if group.capital is None:
        return ""
    cash = cash_said(figures)
    said = f"cash {cash}" if figures.cash is not None else f"cash: {cash}"  # a reason reads as one
    return f"capital {fmt_money(group.capital)} · {said}"


class PositionsView(QWidget):
    # Buy more / Sell more / Flatten from a position's context menu: the order ticket prefilled
    # (symbol, side, quantity, project); nothing is sent from here
    ticket_requested = Signal(dict)
    # "Assign to project…" on an unassigned line (the line: its symbol, account and the quantity no
    # project's book holds): the controller opens widgets.dialogs.assign.AssignDialog on it
    assign_requested = Signal(object)

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
        for column, tooltip in HEADER_TOOLTIPS.items():
            self.tree.headerItem().setToolTip(column, tooltip)
        self.tree.setUniformRowHeights(True)
        # a column the trader dragged to a width keeps it: _size_columns leaves it, the layout saves it
        # (a double click on its edge gives it back to that sizing)
        self._dragged = DraggedWidths(self.tree, lambda: self._size_columns(self._longest))
        self.groups: tuple[BookGroup, ...] = ()
        self._capitals: dict[str, Decimal | None] = {}
        self._fx: Rates = None  # each account's rates, for the groups' sums (none yet: see set_exchange_rates)
        self._collapsed: set[tuple[str, str]] = set()
        # what the tree's items show now: the groups' and lines' keys, and the rows themselves
        self._shape: tuple = ()
        self._shown: list[_Shown] = []
        # the longest text of each column shown, the groups' (bold) and the lines' apart (_fill_tree)
        self._longest: dict[tuple[int, bool], str] = {}
        self._line_rows: dict[tuple, tuple[PositionRecord, _Row]] = {}  # (group key, account, symbol) -> (record, row)
        # the lines' prices to one number of places per column, as the tables' (SharedPricePlaces),
        # and the places the rows in _line_rows were written at
        self._places = ColumnPlaces(PRICES)
        self._line_places = tuple(self._places[column] for column in PRICES)
        self._bold = QFont()
        self._bold.setBold(True)
        # resized: the book column takes the room the quantity and the P&L leave
        self.tree.viewport().installEventFilter(self)
        self.tree.itemCollapsed.connect(lambda item: self._collapsed.add(item.data(BOOK, Qt.ItemDataRole.UserRole)))
        self.tree.itemExpanded.connect(lambda item: self._collapsed.discard(item.data(BOOK, Qt.ItemDataRole.UserRole)))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_context_menu)
        menu_key_opens_current_row(self.tree, self._on_context_menu)
        self.totals_label = plain_label()
        self.totals_label.setObjectName("totalsLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        bar.addWidget(self.project_combo)
        bar.addStretch(1)
        layout.addLayout(bar)
        # the broker's fills the database has not taken: the lines do not count them yet
        self.unrecorded_label = notice_label()
        layout.addWidget(self.unrecorded_label)
        layout.addWidget(self.tree)
        layout.addWidget(self.totals_label)
        # rebuilt once per batch of changes: a flush reports its changed rows as one dataChanged
        # per run of rows (a price tick across scattered positions: dozens), then ``flushed``
        model.flushed.connect(self._update_totals)
        model.modelReset.connect(self._update_totals)
        model.names_changed.connect(self._update_totals)
        self._update_totals()

    def set_unrecorded(self, text: str | None) -> None:
        """The broker's fills the database has not taken, which these lines do not count yet (the
        caller's words: services.execution.unrecorded_reports); None once it has."""
        set_notice(self.unrecorded_label, text)

    def set_capitals(self, capitals: dict[str, Decimal | None]) -> None:
        """Each project's capital (by name): its group shows the capital and the cash."""
        self._capitals = dict(capitals)
        self._update_totals()

    def set_exchange_rates(self, fx: FxRates | Mapping[str, FxRates]) -> None:
        """Each account's base currency and rates (account -> its rates: the broker's of the
        connected account, the stored ones of the others; one ``FxRates``: every account's): a
        group holding several currencies shows its sums in the base currency, a project its cash,
        each account's lines at its own rates (services.console_books)."""
        fx = fx if isinstance(fx, FxRates) else dict(fx)
        if fx != self._fx:
            self._fx = fx
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
        names = {self.model.project_label(project_id) for project_id in {r.project_id for r in self.model.records()}}
        names |= {g.name for g in self.groups if g.kind == "unassigned"}
        for name in sorted(names - known):
            if name:
                self.project_combo.addItem(name)

    def _update_totals(self, *_args) -> None:
        self.groups = position_tree(self.model.records(), self.model.project_names(), self._capitals, self._fx)
        self._refresh_projects()
        self._fill_tree()
        selected = self._selected()
        if selected == UNASSIGNED:
            shown = [line for g in self.groups if g.kind == "unassigned" for line in g.lines]
        elif selected is None:
            shown = self.model.records()
        else:
            shown = [self.model.record_at(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
                     for r in range(self.proxy.rowCount())]
        totals = book_totals(shown)  # which rows count and how they add up: the service's rules
        # several currencies: each on a line of its own (the fills panel's totals do the same); on
        # one line the second currency's P&L went past the docked panel's edge, out of sight
        # an unrealized P&L without a mark is "no mark", never 0.00 (read as flat)
        pnl = "\n".join((f"{c.currency}: " if len(totals.pnl) > 1 else "") +
                         f"unrealized {amount_said(c.unrealized_pnl)} · realized {fmt_money(c.realized_pnl)}"
                         for c in totals.pnl)
        text = counted(totals.count, "position") + (f" · {pnl}" if pnl else "")
        set_live_text(self.totals_label, text)

    def _fill_tree(self) -> None:
        """The groups (of the project filter) as the tree's rows. When the tree already has the
        same groups with the same lines, only the texts and colours that changed are set on its
        items (a tick of marks changes a few columns of every line): rebuilding every item took
        30-50 ms at 600 lines, more than a frame for each of the model's flushes."""
        groups = self._groups_of(self._selected())
        shape = tuple(((group.kind, group.name), tuple((line.account, line.symbol) for line in group.lines))
                      for group in groups)
        self._fit_places(groups, anew=shape != self._shape)
        rows = self._rows_of(groups)
        if shape == self._shape:
            # the columns fit the texts that changed too (they narrow at the next new tree)
            changed = self._update_items(rows)
        else:
            self._build_items(rows)
            self._shape = shape
            changed = [row for group, lines in rows for row in (group, *lines)]
            self._longest = {}
        longest = self._longest  # (column, a group's row) -> its longest text (see _size_columns)
        for row in changed:
            bold = row.data is None  # a group's row is in bold
            for column, text in enumerate(row.texts):
                if len(text) > len(longest.get((column, bold), "")):
                    longest[(column, bold)] = text
        self._size_columns(longest)

    def _groups_of(self, selected: str | None) -> list[BookGroup]:
        return [group for group in self.groups
                if selected is None or group.name == selected or (selected == ACCOUNT_TOTAL and group.kind == "account")]

    def _fit_places(self, groups: list[BookGroup], *, anew: bool) -> None:
        """The Price and Avg cost columns' places: a new tree's from all its lines, then grown by
        the lines whose position changed (a tick: those only, no pass over every price). When
        they grow, every line is written again at them."""
        if anew:
            self._places.start()
        for group in groups:
            for line in group.lines:
                known = self._line_rows.get(((group.kind, group.name), line.account, line.symbol))
                if anew or known is None or known[0] is not line:
                    for column, price in ((PRICE, line.market_price), (AVG_COST, line.average_cost)):
                        self._places.fit(column, price)
        places = tuple(self._places[column] for column in PRICES)
        if places != self._line_places:
            self._line_rows = {}  # written at the places before
            self._line_places = places

    def _rows_of(self, groups: list[BookGroup]) -> list[tuple[_Row, list[_Row]]]:
        rows = []
        made: dict[tuple, tuple[PositionRecord, _Row]] = {}
        for group in groups:
            figures = group.figures()  # the service's sums, in one currency or none: asked once
            money = _money_text(group, figures)
            label = group_label(group)
            texts = [""] * len(TREE_COLUMNS)
            texts[BOOK], texts[VALUE], texts[ACCOUNT] = label, _sum_text(figures.market_value, figures), money
            unrealized, realized = figures.unrealized_pnl, figures.realized_pnl
            texts[UNREALIZED], texts[REALIZED] = _sum_text(unrealized, figures), _sum_text(realized, figures)
            tooltip = "\n".join([" · ".join(filter(None, (group_title(group), money))),
                                  *currency_notes(figures, group.capital is not None)])
            head = _Row((group.kind, group.name), tuple(texts), unrealized, realized, tooltip, None)
            # a project's own shares (Flatten sells only those); account and unassigned rows: no project
            owner = group.name if group.kind == "project" else None
            rows.append((head, [self._line_row(line, head.key, owner, made) for line in group.lines]))
        self._line_rows = made
        return rows

    def _line_row(self, line: PositionRecord, group: tuple, owner: str | None, made: dict) -> _Row:
        """A line's row; the one made last time when its record is the same (the model keeps an
        unchanged position's record: a tick of marks changes some lines, not all)."""
        key = (group, line.account, line.symbol)  # the account's line and the unassigned one differ
        known = self._line_rows.get(key)
        if known is not None and known[0] is line:
            made[key] = known
            return known[1]
        unrealized = line.unrealized_pnl  # worked out from the mark at each ask: once
        market_places, cost_places = self._line_places
        row = _Row((line.account, line.symbol),
                   (symbol_said(line), fmt_quantity(line.quantity), fmt_money(unrealized), fmt_money(line.realized_pnl),
                    fmt_money(line.market_value), fmt_price_at(market_places)(line.market_price),
                    fmt_price_at(cost_places)(line.average_cost), line.account),
                   unrealized, line.realized_pnl, mark_said(line), (owner, line))
        made[key] = (line, row)
        return row

    def _build_items(self, rows: list[tuple[_Row, list[_Row]]]) -> None:
        self.tree.clear()
        shown: list[_Shown] = []
        for group, lines in rows:
            item = QTreeWidgetItem(list(group.texts))
            self._set_tooltip(item, group.tooltip)
            item.setData(BOOK, Qt.ItemDataRole.UserRole, group.key)
            for column in range(len(TREE_COLUMNS)):
                item.setFont(column, self._bold)
            for column in FIGURES:
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._colour(item, group)
            children = []
            for line in lines:
                child = QTreeWidgetItem(list(line.texts))
                for column in FIGURES:
                    child.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._colour(child, line)
                self._set_line_tooltip(child, line.tooltip)
                child.setData(BOOK, Qt.ItemDataRole.UserRole + 1, line.data)
                item.addChild(child)
                children.append((child, line))
            self.tree.addTopLevelItem(item)
            item.setExpanded(group.key not in self._collapsed)
            shown.append((item, group, children))
        self._shown = shown

    def _update_items(self, rows: list[tuple[_Row, list[_Row]]]) -> list[_Row]:
        """The items made to show ``rows`` (of the same shape); returns the rows that changed."""
        shown: list[_Shown] = []
        changed: list[_Row] = []
        for (group, lines), (item, was, children) in zip(rows, self._shown, strict=True):
            self._set_changed(item, group, was)
            changed.append(group)
            if group.tooltip != was.tooltip:
                self._set_tooltip(item, group.tooltip)
            for (child, old), line in zip(children, lines, strict=True):
                if line is old:  # the same position: the same row (_line_row)
                    continue
                self._set_changed(child, line, old)
                changed.append(line)
                if line.tooltip != old.tooltip:
                    self._set_line_tooltip(child, line.tooltip)
                if line.data != old.data:
                    child.setData(BOOK, Qt.ItemDataRole.UserRole + 1, line.data)
            shown.append((item, group, [(child, line) for (child, _), line in zip(children, lines, strict=True)]))
        self._shown = shown
        return changed

    @staticmethod
    def _set_tooltip(item: QTreeWidgetItem, tooltip: str | None) -> None:
        # on every cell of a group's row: a "mixed" sum or a converted one is explained where it shows
        for column in range(len(TREE_COLUMNS)):
            item.setToolTip(column, plain_tooltip(tooltip) or "")  # a project's name as typed

    @staticmethod
    def _set_line_tooltip(item: QTreeWidgetItem, tooltip: str | None) -> None:
        # on the symbol too: a holding the broker does not list says so there ("(not listed)")
        for column in (BOOK, VALUE, PRICE):
            item.setToolTip(column, plain_tooltip(tooltip) or "")

    def _set_changed(self, item: QTreeWidgetItem, row: _Row, old: _Row) -> None:
        for column, (text, before) in enumerate(zip(row.texts, old.texts, strict=True)):
            if text != before:
                item.setText(column, text)
        if (row.unrealized, row.realized) != (old.unrealized, old.realized):
            self._colour(item, row)

    # a cell's margins around its text (px): Qt's own are 6-7, a few more keep a figure off the
    # next column's text
    CELL_PADDING = 10

    def _text_width(self, column: int, longest: dict[tuple[int, bool], str]) -> int:
        """The column's widest text by the measure of its longest (by characters: figures and
        symbols are near monospace), a group's in bold, a line's in the tree's font, with its
        branch's indent in the book column, or its title if wider (the header's own measure)."""
        width = self.tree.header().sectionSizeHint(column)
        for bold in (True, False):
            text = longest.get((column, bold), "")
            if text:
                font = self._bold if bold else self.tree.font()
                indent = (1 if bold else 2) * self.tree.indentation() if column == BOOK else 0
                width = max(width, QFontMetrics(font).horizontalAdvance(text) + self.CELL_PADDING + indent)
        return width

    def _size_columns(self, longest: dict[tuple[int, bool], str]) -> None:
        """Every column as wide as its title and its widest text, none cut at the viewport's right
        edge (Market was, at 1366x768, and the Account column, stretched to what was left, read
        "capital 100,…"): the quantity and the P&L in view, the book beside them whole when they
        leave it room (else ``BOOK_COLUMN_CAP`` at least, its names elided), then as many of the
        other columns, in order, as fit; the book takes the rest of the viewport, so that the last
        column in view ends at its edge and the next ones are a scroll away, whole (all in view,
        the account's column takes it: the names stay beside their figures). One
        measurement per column: Qt's own sizing to contents asked every row's size hint at each
        rebuild (35 ms for 600 lines, a rebuild per change). A column the trader dragged to a
        width (``CHOSEN_WIDTHS``, kept with the layout) keeps it, the others fit around it: each
        rebuild set the book column back to its fit (130 px at 1366x768 for the 67 dragged)."""
        chosen = chosen_widths(self.tree)
        header = self.tree.header()
        widths = {column: header.sectionSize(column) if column in chosen else self._text_width(column, longest)
                  for column in range(len(TREE_COLUMNS))}
        room = self.tree.viewport().width()
        used = sum(widths[column] for column in KEPT_IN_VIEW)
        if widths[BOOK] + used <= room:
            for column in range(max(KEPT_IN_VIEW) + 1, len(TREE_COLUMNS)):
                if widths[BOOK] + used + widths[column] > room:
                    if BOOK not in chosen:
                        widths[BOOK] = room - used
                    break
                used += widths[column]
            else:  # all in view: the last, text, takes the rest (the tables' fit_last_section)
                if ACCOUNT not in chosen:
                    widths[ACCOUNT] += room - used - widths[BOOK]
        elif BOOK not in chosen:
            widths[BOOK] = max(BOOK_COLUMN_CAP, room - used)
        for column, width in widths.items():
            if column not in chosen and self.tree.columnWidth(column) != width:
                self._dragged.resize(column, width)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.tree.viewport() and event.type() == QEvent.Type.Resize:
            self._size_columns(self._longest)
        return super().eventFilter(watched, event)

    @staticmethod
    def _colour(item: QTreeWidgetItem, row: _Row) -> None:
        for column, value in ((UNREALIZED, row.unrealized), (REALIZED, row.realized)):
            colour = pnl_colour(value)
            if colour is not None:
                item.setForeground(column, colour)
            elif item.data(column, Qt.ItemDataRole.ForegroundRole) is not None:
                item.setData(column, Qt.ItemDataRole.ForegroundRole, None)  # the theme's text colour again

    def context_menu_for(self, position: PositionRecord, project: str | None = None, *,
                         unassigned: bool = False) -> QMenu:
        """Buy more, Sell more and Flatten open the order ticket prefilled; nothing is sent from
        here. Flatten takes this project's shares only, so it is offered on a project's row. An
        ``unassigned`` line (what no project's book holds) offers "Assign to project…": a sale
        from a project's book is refused as short until they are in it."""
        if project is None and position.project_id is not None:
            project = self.model.project_names().get(position.project_id, str(position.project_id))
        menu = QMenu(self)
        symbol = position.symbol
        # the names as written: a project "R&D" read "RD", its "&" taken for the item's Alt key
        named, book = literal_ampersands(symbol), literal_ampersands(project or "")
        buy = menu.addAction(f"&Buy more {named}…")
        buy.triggered.connect(lambda: self.ticket_requested.emit({"symbol": symbol, "side": "BUY", "project": project}))
        sell = menu.addAction(f"&Sell more {named}…" if position.quantity > 0 else f"&Sell {named}…")
        sell.triggered.connect(lambda: self.ticket_requested.emit({"symbol": symbol, "side": "SELL", "project": project}))
        menu.addSeparator()
        if project is None:
            flatten = menu.addAction("&Flatten… (on a project's row: only its shares)")
            flatten.setEnabled(False)
        elif flatten_order(position.quantity) is None:
            flatten = menu.addAction(f"&Flatten: {named} of {book} is flat")
            flatten.setEnabled(False)
        else:
            # what the book holds now; the ticket opens on what it holds once its working orders
            # in the listing fill, which the services count (29 held and a SELL 5 working: SELL
            # 24, not a SELL 29 that the check read "24 -> -5" and the short-sale rule blocked)
            flatten = menu.addAction(f"&Flatten: {named} of {book} ({plain(position.quantity)} held)…")
            flatten.triggered.connect(lambda: self.ticket_requested.emit(
                {"symbol": symbol, "project": project, "flatten": True}))
        if unassigned:
            menu.addSeparator()
            assign = menu.addAction("&Assign to project…")
            assign.triggered.connect(lambda: self.assign_requested.emit(position))
        return menu

    def menu_at(self, pos: QPoint) -> QMenu | None:
        """The context menu of the line at ``pos`` (the tree's viewport); None on a group's row."""
        item = self.tree.itemAt(pos)
        if item is None:
            return None
        data = item.data(BOOK, Qt.ItemDataRole.UserRole + 1)
        if not data:
            return None  # a group's row: nothing to trade
        project, record = data
        parent = item.parent()
        group: Any = parent.data(BOOK, Qt.ItemDataRole.UserRole) if parent is not None else None  # (kind, name)
        return self.context_menu_for(record, project, unassigned=bool(group) and group[0] == "unassigned")

    def _on_context_menu(self, pos: QPoint) -> None:
        menu = self.menu_at(pos)
        if menu is None:
            return
        menu.exec(self.tree.viewport().mapToGlobal(pos))
        menu.deleteLater()
