"""Small helpers shared by the panels: confirmations, table setup, CSV writing, actions."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import (
    QAbstractItemModel,
    QByteArray,
    QDataStream,
    QEvent,
    QKeyCombination,
    QObject,
    QPoint,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QKeyEvent,
    QKeySequence,
    QPaintEvent,
    QRegularExpressionValidator,
    QValidator,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QStyle,
    QStyleOptionProgressBar,
    QStylePainter,
    QTableView,
    QTreeView,
    QWidget,
)

from .models.base import CoalescingTableModel
from .plain_text import plain_tooltip
from .record_table import RecordTableView


class _WheelWhenFocused(QObject):
    """A choice's wheel for the choice the trader is in, not one the pointer passes over."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()  # not taken: Qt hands it to the parents (the form's scroll area scrolls)
            return True
        return False


_WHEEL_WHEN_FOCUSED: _WheelWhenFocused | None = None


def wheel_only_when_focused(root: QWidget) -> None:
    """Every combo box and spin box in ``root`` changes on the mouse wheel only while it has the
    keyboard focus, and the wheel does not give it the focus. Qt's default turns any choice the
    pointer is over: scrolling the Backtest panel's form down past its end turned its Commission
    from ib-fixed to another rule (seen on screen), and a wheel over the order ticket's Side
    turned BUY to SELL. Unfocused, the wheel goes to what holds the choice (a form scrolls)."""
    global _WHEEL_WHEN_FOCUSED
    if _WHEEL_WHEN_FOCUSED is None:
        _WHEEL_WHEN_FOCUSED = _WheelWhenFocused()
    for choice in (*root.findChildren(QComboBox), *root.findChildren(QAbstractSpinBox)):
        if choice.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            choice.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        choice.removeEventFilter(_WHEEL_WHEN_FOCUSED)  # once, whatever the callers
        choice.installEventFilter(_WHEEL_WHEN_FOCUSED)


def number_keys(parent: QObject, length: int = 40, *, exponent: bool = False) -> QRegularExpressionValidator:
    """What a number field lets through as it is typed: a leading minus, digits, the point, commas
    and spaces. The reading, and the refusal with its reason, are the services' (their one rule,
    services.core.typed_numbers): a key the field swallowed changed the number without a word
    (a comma: a cash buffer typed 1,5 became 15 %; a minus: a limit offset typed -100 became 100).
    ``exponent``: an e too, for a field whose service refuses it said (the order ticket's prices,
    services.core.typed_numbers.exponent_said: swallowed, a limit typed 1e3 became 13)."""
    keys = r"\d.,\seE" if exponent else r"\d.,\s"
    return QRegularExpressionValidator(QRegularExpression(rf"^-?[{keys}]{{0,{length}}}$"), parent)


class SymbolKeys(QValidator):
    """A symbol field shows what the order or the watchlist is sent: the text upper-cased as it is
    typed, pasted or set (a listing key, AAPL or SAP@IBIS:EUR, is read upper-cased everywhere), the
    cursor where the typing left it. Without it "aapl" stayed on screen while the ticket's verdict
    and Send said AAPL."""

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        upper = text.upper()
        # min: a character whose capital is longer (ß, SS) must not put the cursor past the end
        return QValidator.State.Acceptable, upper, min(pos, len(upper))


#: Sized to content, a column never takes more than this (a payload column would take the panel).
MAX_AUTO_COLUMN_WIDTH = 320
#: Rows measured when sizing columns to content: enough to see typical values, cheap at any size.
SIZE_SAMPLE_ROWS = 200
#: A table whose columns were sized (or restored from a saved layout) has this property set.
COLUMNS_SIZED = "columnsSized"
# The widths a table was declared with: sizing to content never goes below them, so a column
# sized while its cells are still empty (a watched symbol before its first quote) keeps room for
# the values that stream in later
DECLARED_WIDTHS = "declaredWidths"
#: On a view that sizes its own columns at each rebuild (the positions tree): the columns (logical
#: indexes) whose width the trader set by dragging a section's edge. That sizing leaves them as
#: they are, and the layout keeps the list beside the header's state: the widths alone do not say
#: which were chosen, and the tree's first sizing after a restore took them all back.
CHOSEN_WIDTHS = "chosenWidths"
#: A table's columns in the order they are first shown (logical numbers), where it is not the
#: model's: a column the model gained since a layout was saved goes there (``restore_columns``).
DEFAULT_ORDER = "defaultColumnOrder"


def literal_ampersands(text: str) -> str:
    """``text`` for a menu item, a tab or a dock's title, shown as written: Qt reads a single "&"
    as the mnemonic of the character after it ("P&L" read "PL", Alt+L its key)."""
    return text.replace("&", "&&")


def with_mnemonic(text: str, key: str) -> str:
    """A menu item's ``text`` (its ampersands literal already, "P&&L") with the first ``key``
    (a letter, either case) of it marked as its Alt key."""
    at = next(i for i, c in enumerate(text) if c.lower() == key.lower() and text[max(0, i - 1)] != "&")
    return f"{text[:at]}&{text[at:]}"


def with_free_mnemonics(texts: Sequence[str], taken: Iterable[str] = ()) -> list[str]:
    """Menu items' ``texts`` (their ampersands literal already) each with an Alt key marked that
    no other item has, nor ``taken`` (lower case): for items whose words are not ours to choose (a
    table's columns). Each takes a word's first letter if it can, else another letter or digit,
    else another character ("#", "%": typed in the open menu, it chooses the item too); an
    earlier item's key is moved to another of its characters when that frees the only one a
    later item has (in a table's column menu "Backtest shortfall" found every letter taken by
    the columns before it). An item left no free character shows as it is."""
    reserved = {key.lower() for key in taken}
    choices = [[(i, key) for i, key in _mnemonic_choices(text) if key not in reserved] for text in texts]
    owner: dict[str, int] = {}  # key -> the item holding it

    def claim(item: int, tried: set[str]) -> bool:
        free = next((key for _, key in choices[item] if key not in owner), None)
        if free is not None:
            owner[free] = item
            return True
        for _, key in choices[item]:  # each taken: one whose holder can move to another frees it
            if key not in tried:
                tried.add(key)
                if claim(owner[key], tried):
                    owner[key] = item
                    return True
        return False

    for item in range(len(texts)):
        claim(item, set())
    at = {item: next(i for i, k in choices[item] if k == key) for key, item in owner.items()}
    return [f"{text[:at[n]]}&{text[at[n]:]}" if n in at else text for n, text in enumerate(texts)]


def _mnemonic_choices(text: str) -> list[tuple[int, str]]:
    """The characters of ``text`` that can be its Alt key, as (index, key), the likeliest first:
    a word's first letter or digit, another letter or digit, any other character but a space (an
    ampersand pair, "&&", shows one ampersand and is no key)."""
    at, marks = 0, []
    while at < len(text):
        if text[at] == "&":
            at += 2
            continue
        if not text[at].isspace():
            marks.append(at)
        at += 1
    alnum = [i for i in marks if text[i].isalnum()]
    starts = [i for i in alnum if i == 0 or not text[i - 1].isalnum()]
    ordered = starts + [i for i in alnum if i not in starts] + [i for i in marks if not text[i].isalnum()]
    seen: dict[str, int] = {}
    for i in ordered:
        seen.setdefault(text[i].lower(), i)
    return [(i, key) for key, i in seen.items()]


def numbered(number: int, name: str) -> str:
    """A menu item of a name the trader chose (a saved layout): its number is its Alt key, 1 to 9
    (a letter of the name could be another item's), the name shown as typed."""
    return f"&{number} {literal_ampersands(name)}" if number < 10 else literal_ampersands(name)


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label that shows ``text`` as written. A QLabel guesses whether its text is rich text
    (Qt.mightBeRichText): a project, snapshot, file or symbol name such as ``<b>alpha</b> & co``
    showed as markup, or vanished as an unknown tag. Every label whose text holds what a trader
    typed, a file gave or the broker said is made by this."""
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def live_text_label(parent: QWidget | None = None) -> QLabel:
    """A label for a text that changes with a stream (running totals, counts) whose width does
    not ask the layout for more room as the text grows: a QLabel's minimum width is its whole
    text, so longer totals widened the panel and then the window (issue 15: each widening
    resized the window's backing store and repainted every table in it, a 40-120 ms stall, eight
    times in a minute of paging in fills). It takes the room the layout gives it; a text wider
    than that is cut at the right, and the whole text is in its tooltip."""
    label = plain_label("", parent)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def notice_label(parent: QWidget | None = None) -> QLabel:
    """A panel's warning line about what it cannot show yet (the broker's fills the database has
    not taken): hidden until ``set_notice`` gives it a text, wrapped over the panel's width."""
    label = plain_label("", parent)
    label.setObjectName("unrecordedNotice")
    label.setWordWrap(True)
    label.hide()
    return label


def set_notice(label: QLabel, text: str | None) -> None:
    """``text`` on a ``notice_label``, shown; None hides it."""
    label.setText(text or "")
    label.setVisible(bool(text))


def set_live_text(label: QLabel, text: str) -> None:
    """``text`` on a ``live_text_label`` and, whole, in its tooltip, both as written."""
    label.setText(text)
    label.setToolTip(plain_tooltip(text))


def focus_first_control(container: QWidget) -> bool:
    """Give the keyboard focus to the first control inside ``container``, in the window's tab
    order, that takes focus from the keyboard (a panel brought forward from the View menu: the
    focus goes with it). False when it holds none."""
    widget = container.nextInFocusChain()
    for _ in range(10_000):  # the chain is a ring; bounded all the same
        if widget is None or widget is container:
            return False
        takes_tab = widget.focusPolicy().value & Qt.FocusPolicy.TabFocus.value == Qt.FocusPolicy.TabFocus.value
        if takes_tab and container.isAncestorOf(widget) and widget.isVisible() and widget.isEnabled():
            widget.setFocus(Qt.FocusReason.TabFocusReason)
            return True
        widget = widget.nextInFocusChain()
    return False


class _KeyboardMenuOnCurrentRow(QObject):
    """The keyboard's menu key on an item view: the menu of its current row. Qt hands the key's
    context-menu event to the view itself, placed at the current row in the viewport's
    coordinates but given as the view's, so a handler reading it as the viewport's (as the mouse's
    right click is) took the row under it, the next one down, by the header's height: walked
    under Xvfb, the blotter's menu key on a working order opened the menu of the canceled order
    below it, whose Cancel would have gone to that one."""

    def __init__(self, view: QAbstractItemView, open_at: Callable[[QPoint], None]) -> None:
        super().__init__(view)
        self.view = view
        self.open_at = open_at

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        keyboard_menu = (event.type() == QEvent.Type.ContextMenu and isinstance(event, QContextMenuEvent)
                         and event.reason() == QContextMenuEvent.Reason.Keyboard)
        # Shift+F10 as well: Windows maps it to the menu key, X11 and Wayland do not (a trader's
        # walk under Xvfb: Shift+F10 on a selected order did nothing, the menu key opened its menu)
        shift_f10 = (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                     and event.key() == Qt.Key.Key_F10
                     and event.modifiers() == Qt.KeyboardModifier.ShiftModifier)
        if keyboard_menu or shift_f10:
            index = self.view.currentIndex()
            if index.isValid():
                self.open_at(self.view.visualRect(index).center())  # the viewport's coordinates
            return True
        return False


def chosen_widths(view: QAbstractItemView) -> frozenset[int]:
    """The columns whose width the trader chose (``CHOSEN_WIDTHS``), none when never set."""
    return frozenset(int(column) for column in (view.property(CHOSEN_WIDTHS) or ()))


class DraggedWidths(QObject):
    """Notes each section a mouse drag on the header resizes as the trader's choice
    (``CHOSEN_WIDTHS``). Only while a button is down on the header, and not the view's own sizing
    (``resize``, a tick of rows may come during a drag): a restored state and the header's stretch
    of its last section resize sections too (the stretch follows a drag, after the release).

    A double click on a section's edge is the way back, as in a spreadsheet: the column is no
    longer the trader's choice (nor in the layout saved next) and ``refit``, the view's own
    sizing, fits it again. Qt's own answer to that double click fitted it to its texts once and
    left it chosen: the next rebuild and the next start kept that width for good."""

    def __init__(self, view: QTreeView, refit: Callable[[], None]) -> None:
        super().__init__(view)
        self.view = view
        self.refit = refit
        self._pressed = False
        self._sizing = False
        header = view.header()
        header.viewport().installEventFilter(self)
        header.sectionResized.connect(self._on_section_resized)
        # after the view's own connection (QTreeView's resizeColumnToContents): this one has the last word
        header.sectionHandleDoubleClicked.connect(self._on_edge_double_clicked)

    def _on_edge_double_clicked(self, column: int) -> None:
        self.view.setProperty(CHOSEN_WIDTHS, sorted(chosen_widths(self.view) - {column}))
        self.refit()

    def resize(self, column: int, width: int) -> None:
        """The view's own sizing of a column: not the trader's choice."""
        self._sizing = True
        try:
            self.view.setColumnWidth(column, width)
        finally:
            self._sizing = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress:
            self._pressed = True
        elif event.type() == QEvent.Type.MouseButtonRelease:
            self._pressed = False
        return False

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if not self._pressed or self._sizing or column in chosen_widths(self.view):
            return
        header = self.view.header()
        shown = [header.logicalIndex(v) for v in range(header.count()) if not header.isSectionHidden(header.logicalIndex(v))]
        if not (header.stretchLastSection() and column == shown[-1]):
            self.view.setProperty(CHOSEN_WIDTHS, sorted(chosen_widths(self.view) | {column}))


def menu_key_opens_current_row(view: QAbstractItemView, open_at: Callable[[QPoint], None]) -> None:
    """Make the menu key (and Shift+F10 where the platform maps it) open ``open_at``, the view's
    right-click handler taking a position in the viewport, at the view's current row."""
    view.installEventFilter(_KeyboardMenuOnCurrentRow(view, open_at))


class LineProgressBar(QProgressBar):
    """A progress bar whose line reads from its start: a line longer than the bar is painted cut
    at its end with an ellipsis, and the whole of it is the tooltip (``text()`` stays the whole
    line). QProgressBar centres its text and clips it at both ends: "plan 3 (run 1) previewed,
    not sent: ... · last sent: ..." read "3 (run 1) previewed, not sent: ... at the fill pr" in
    a 1366-px window (seen under Xvfb)."""

    def painted_text(self) -> str:
        room = self.contentsRect().width() - 12  # the style's margins either side of the text
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, max(room, 0))

    def paintEvent(self, event: QPaintEvent) -> None:  # QProgressBar's own paint, with the line cut
        option = QStyleOptionProgressBar()
        self.initStyleOption(option)
        option.text = self.painted_text()
        painter = QStylePainter(self)
        painter.drawControl(QStyle.ControlElement.CE_ProgressBar, option)
        painter.end()  # ended here, not whenever the binding frees it

    def setFormat(self, format: str) -> None:
        super().setFormat(format)
        self.setToolTip(plain_tooltip(self.text()))

    def setValue(self, value: int) -> None:
        super().setValue(value)
        self.setToolTip(plain_tooltip(self.text()))


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    """A Yes/No question defaulting to No (Esc: No), its text shown as written: the static
    ``QMessageBox.question`` guesses rich text, and a project or snapshot name holding ``<`` or
    ``&`` showed as markup or not at all in the question that confirms a run. Tests monkeypatch
    ``QMessageBox.exec`` (or ``confirm`` where it is imported)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setEscapeButton(QMessageBox.StandardButton.No)
    box.exec()
    answer = box.standardButton(box.clickedButton()) if box.clickedButton() is not None else QMessageBox.StandardButton.No
    box.deleteLater()
    return answer == QMessageBox.StandardButton.Yes


def _columns_of(view: QAbstractItemView) -> Sequence:
    """The ``Column`` declarations of the model behind ``view`` (through its proxies), if any."""
    model = view.model()
    while isinstance(model, QSortFilterProxyModel):
        model = model.sourceModel()
    return getattr(model, "columns", None) or ()


def saved_column_count(state: QByteArray) -> int | None:
    """How many columns a header's saved state (``QHeaderView.saveState``) was of, when its
    columns were moved (the state then lists each one's place); None: not moved, or not read.
    Qt's format: a marker, a version, the orientation, the sort order and column, whether the
    indicator shows, then the visual indices (a count and the numbers)."""
    stream = QDataStream(state)
    stream.setVersion(QDataStream.Version.Qt_5_0)
    marker, _version, _orientation, _order, _section = (stream.readInt32() for _ in range(5))
    stream.readBool()
    count = stream.readUInt32()
    if marker != 0xFF or stream.status() != QDataStream.Status.Ok or count == 0:
        return None
    return count


def restore_columns(view: QAbstractItemView, header: QHeaderView, saved: QByteArray, chosen: Sequence[int] = ()) -> bool:
    """``header``'s columns as ``saved`` (their order, widths, hidden ones), the widths the
    trader ``chosen`` kept (``CHOSEN_WIDTHS``); False: not restored. A layout saved before the
    table gained a column (the blotter's Stop) put that column after the last, out of view,
    beside widths chosen for one column fewer: a sideways scroll at 1366x768 for the Stop and
    the client order id. A column gained goes to its place in the view's ``DEFAULT_ORDER``
    (after the column it follows there), and the columns are sized afresh as a new table's are
    (the saved widths left no room for it); the order and the hidden columns stay."""
    before = saved_column_count(saved)
    model = view.model()
    # a table that never sizes to its rows (the activity log's: marked sized before any came)
    never_sized = bool(view.property(COLUMNS_SIZED)) and (model is None or not model.rowCount())
    stretch = header.stretchLastSection()  # the view's own: a table without declared columns keeps it
    if not header.restoreState(saved):
        return False
    if before is None or before >= header.count() or not isinstance(view, QTableView):  # (a tree sizes its own)
        if isinstance(view, QTableView) and not never_sized and _starting_widths_only(view, header):
            _size_now_or_with_the_first_rows(view)  # saved before any row came: nothing chosen or sized
        else:
            view.setProperty(COLUMNS_SIZED, True)  # the trader's widths, not sized again
        view.setProperty(CHOSEN_WIDTHS, list(chosen))
    else:
        order = [int(c) for c in (view.property(DEFAULT_ORDER) or ())]
        for column in range(before, header.count()):
            if column not in order or order.index(column) == 0:
                continue
            follows = order[order.index(column) - 1]
            current, target = header.visualIndex(column), header.visualIndex(follows) + 1
            header.moveSection(current, target if target <= current else target - 1)
        for column, width in enumerate(view.property(DECLARED_WIDTHS) or ()):
            if width:
                header.resizeSection(column, int(width))
        view.setProperty(CHOSEN_WIDTHS, [])
        _size_now_or_with_the_first_rows(view)
    if _columns_of(view):
        fit_last_section(view)  # a saved arrangement holds the stretch of its day
    else:
        # a table of its own (the Backtest panel's metrics and rebalances) says whether its last
        # column stretches; fit_last_section, knowing none of its columns, stretched the metrics'
        # Traded from across the room left after each restart, and a saved arrangement holds
        # the stretch of its day
        header.setStretchLastSection(stretch)
    return True


def _size_now_or_with_the_first_rows(view: QTableView) -> None:
    model = view.model()
    if model is not None and model.rowCount():
        size_columns_to_content(view)
    else:
        view.setProperty(COLUMNS_SIZED, False)  # sized when the first rows come


def _starting_widths_only(view: QTableView, header: QHeaderView) -> bool:
    """Whether the columns shown (the last, which takes the room left, aside) have the widths a
    new table starts with, its declared ones, else Qt's default: a layout saved before the
    table's first rows came, with nothing sized or dragged. Restored as the trader's, those
    widths stayed for good, the first rows never sized (the blotter's and the fills' Time cut
    at 1366x768, seen under Xvfb)."""
    declared = list(view.property(DECLARED_WIDTHS) or ())
    shown = [header.logicalIndex(v) for v in range(header.count()) if not header.isSectionHidden(header.logicalIndex(v))]
    starting = [(declared[c] if c < len(declared) and declared[c] else header.defaultSectionSize()) for c in shown[:-1]]
    return bool(shown) and [header.sectionSize(c) for c in shown[:-1]] == starting


def fit_last_section(view: QAbstractItemView) -> None:
    """The last column shown takes the room left over when it is text (an id, a message: more of
    it shows); a figure stretched sat alone at the far edge, a gap away from the rest of its row.
    Asked again whenever the last column shown may change: a column moved, hidden or shown, a
    saved arrangement restored (it holds the stretch too). A tree's header is left as it is."""
    if not isinstance(view, QTableView):
        return
    header = view.horizontalHeader()
    columns = _columns_of(view)
    shown = [header.logicalIndex(v) for v in range(header.count()) if not header.isSectionHidden(header.logicalIndex(v))]
    last = shown[-1] if shown else None
    figure = last is not None and last < len(columns) and bool(columns[last].align & Qt.AlignmentFlag.AlignRight)
    header.setStretchLastSection(not figure)


def make_table(model: QAbstractItemModel, parent: QWidget | None = None, *, sortable: bool = False,
               widths: Sequence[int | None] = (), replaced_whole: bool = False) -> QTableView:
    """``replaced_whole``: the model's rows are replaced as one set (a preview, a run's decisions),
    never streamed; each new set widens a column its values no longer fit (``widen_to_each_set``)."""
    # Rows of the coalescing models are painted by the view itself (a quarter of Qt's cost).
    view = RecordTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    # Tab goes on to the next control (the arrows move within the rows): Qt's default moved it cell
    # by cell, and a keyboard user was held in a table of fills for hundreds of Tabs
    view.setTabKeyNavigation(False)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    # Fixed row height: with ResizeToContents every update would re-measure rows.
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(22)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    fit_last_section(view)
    header.sectionMoved.connect(lambda *_: fit_last_section(view))
    # after QTableView's own connection (resizeColumnToContents): this one has the last word
    header.sectionHandleDoubleClicked.connect(lambda column: fit_column(view, column))
    header.setHighlightSections(False)
    for column, width in enumerate(widths):
        if width:
            view.setColumnWidth(column, width)
    view.setProperty(DECLARED_WIDTHS, [int(w or 0) for w in widths])
    view.setSortingEnabled(sortable)
    install_column_chooser(view)
    if replaced_whole:
        widen_to_each_set(view)
    else:
        _size_columns_when_rows_arrive(view)
    return view


def install_column_chooser(view: QTableView) -> None:
    """Columns can be dragged to another place, and the header's context menu shows or hides
    them; the main window saves both with the layout (QHeaderView.saveState)."""
    header = view.horizontalHeader()
    header.setSectionsMovable(True)
    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def open_menu(pos: QPoint) -> None:
        menu = column_menu(view)
        menu.exec(header.mapToGlobal(pos))
        menu.deleteLater()

    header.customContextMenuRequested.connect(open_menu)


def column_menu(view: QTableView) -> QMenu:
    """One checkable entry per column (in the order shown); the last visible column cannot be
    hidden. Tests trigger its actions directly."""
    header = view.horizontalHeader()
    model = view.model()
    menu = QMenu(view)
    menu.setObjectName("columnMenu")
    visible = [i for i in range(header.count()) if not header.isSectionHidden(i)]
    columns = [header.logicalIndex(visual) for visual in range(header.count())]
    titles = [literal_ampersands(str(model.headerData(logical, Qt.Orientation.Horizontal) or f"Column {logical + 1}"))
              for logical in columns]
    # the two items below the columns have theirs: Show &all columns, Si&ze columns to content
    for logical, title in zip(columns, with_free_mnemonics(titles, taken={"a", "z"}), strict=True):
        action = menu.addAction(title)
        action.setCheckable(True)
        action.setChecked(not header.isSectionHidden(logical))
        action.setEnabled(not (len(visible) == 1 and logical in visible))
        action.toggled.connect(lambda shown, column=logical: _show_section(view, column, shown))
    menu.addSeparator()
    show_all = menu.addAction("Show &all columns")
    show_all.triggered.connect(lambda: _show_all_sections(view))
    fit = menu.addAction("Si&ze columns to content")
    fit.triggered.connect(lambda: size_columns_to_content(view))
    return menu


def _show_section(view: QTableView, column: int, shown: bool) -> None:
    view.horizontalHeader().setSectionHidden(column, not shown)
    fit_last_section(view)


def _show_all_sections(view: QTableView) -> None:
    header = view.horizontalHeader()
    for column in range(header.count()):
        header.showSection(column)
    fit_last_section(view)


def size_columns_to_content(view: QTableView, *, narrow: bool = True) -> None:
    """Each column as wide as its header and its first rows need, capped, and never narrower
    than it was declared; with ``narrow`` False never narrower than it is either (a table whose
    rows are replaced whole: what the trader widened, or an earlier set needed, stays)."""
    header = view.horizontalHeader()
    header.setResizeContentsPrecision(SIZE_SAMPLE_ROWS)
    measured = view.content_widths(SIZE_SAMPLE_ROWS) if isinstance(view, RecordTableView) else None
    columns = _columns_of(view)
    shown = [c for c in range(header.count()) if not header.isSectionHidden(c)
             and not (c < len(columns) and columns[c].takes_room_left)]
    growing = [c for c in shown if c < len(columns) and columns[c].grows_into_room_left]

    def fit(column: int, content: int | None) -> None:
        if content is None:
            content = measured[column] if measured is not None else view.sizeHintForColumn(column)
        width = _fitted_width(view, column, content)
        header.resizeSection(column, width if narrow else max(width, header.sectionSize(column)))

    # a column that grows into the room left starts at its least (its title, its declared width)
    # and grows last: that room is what the others leave, and it was what the ones still at Qt's
    # 100 px before their sizing left
    for column in growing:
        fit(column, 0)
    for column in shown:
        if column not in growing:
            fit(column, None)
    for column in growing:
        fit(column, None)
    view.setProperty(COLUMNS_SIZED, True)


def _fitted_width(view: QTableView, column: int, content: int) -> int:
    """``column``'s width sized to content: as wide as its header and its first rows need (their
    widest text ``content`` wide), capped, never narrower than it was declared."""
    header = view.horizontalHeader()
    # The header's own size hint reserves room for a sort arrow in every column; only the
    # sorted column shows one.
    title = str(view.model().headerData(column, Qt.Orientation.Horizontal) or "")
    arrow = 16 if header.isSortIndicatorShown() and header.sortIndicatorSection() == column else 0
    title_width = header.fontMetrics().horizontalAdvance(title) + 18 + arrow
    declared = list(view.property(DECLARED_WIDTHS) or [])
    floor = declared[column] if column < len(declared) else 0
    columns = _columns_of(view)
    widest = MAX_AUTO_COLUMN_WIDTH
    if column < len(columns) and columns[column].grows_into_room_left:
        widest = min(widest, _room_spared(view, column))
    return max(floor, min(widest, max(content, title_width)))


def _room_spared(view: QTableView, column: int) -> int:
    """The most ``column`` can take with nothing to scroll sideways to: the viewport less the
    other columns shown, the one that takes the room left (last, stretched) at its declared
    width, the least it reads at."""
    header = view.horizontalHeader()
    columns = _columns_of(view)
    declared = list(view.property(DECLARED_WIDTHS) or [])
    shown = [header.logicalIndex(v) for v in range(header.count()) if not header.isSectionHidden(header.logicalIndex(v))]
    taken = 0
    for other in shown:
        if other == column:
            continue
        stretched = other == shown[-1] and header.stretchLastSection()
        if stretched and other < len(columns) and columns[other].takes_room_left:
            taken += declared[other] if other < len(declared) and declared[other] else header.minimumSectionSize()
        else:
            taken += header.sectionSize(other)
    return view.viewport().width() - taken


def _grow_to_changed_rows(view: QTableView, rows: Sequence[int] | None) -> None:
    """Each column that ``grows_into_room_left`` widened to the widest text of ``rows`` (of the
    coalescing model, as ``rows_flushed`` gives them: what a flush changed or inserted; None:
    the first rows, after a reset), if wider than it is (never narrowed: no jumping back and
    forth as states change). A row no flush touched was measured when it came or last changed,
    so measuring the flush's rows alone keeps a stream's flushes cheap: sampling the first 200
    rows at every flush formatted 800 cells each time, for the one order that changed."""
    if not view.property(COLUMNS_SIZED) or not isinstance(view, RecordTableView):
        return
    header = view.horizontalHeader()
    growing = [column for column, declared in enumerate(_columns_of(view))
               if declared.grows_into_room_left and not header.isSectionHidden(column)]
    if not growing:
        return
    measured = (view.content_widths_of(growing, SIZE_SAMPLE_ROWS) if rows is None
                else view.content_widths_of_rows(growing, rows))
    for column, content in (measured or {}).items():  # the rows read once for every growing column
        if content > header.sectionSize(column):
            width = _fitted_width(view, column, content)
            if width > header.sectionSize(column):
                header.resizeSection(column, width)


def fit_column(view: QTableView, column: int) -> None:
    """A double click on a section's edge, as in a spreadsheet: the column back to the width the
    table would give it itself, whatever width the trader dragged it to (kept with the layout
    until then). Qt's own answer fitted it to every text, past the cap and the declared width,
    and the blotter's client order id to the whole of it, past the table's edge again; a column
    that takes the room left goes back to taking it."""
    columns = _columns_of(view)
    if column < len(columns) and columns[column].takes_room_left:
        declared = list(view.property(DECLARED_WIDTHS) or [])
        width = declared[column] if column < len(declared) and declared[column] else view.horizontalHeader().minimumSectionSize()
    else:
        header = view.horizontalHeader()
        header.setResizeContentsPrecision(SIZE_SAMPLE_ROWS)
        measured = view.content_width(column, SIZE_SAMPLE_ROWS) if isinstance(view, RecordTableView) else None
        width = _fitted_width(view, column, measured if measured is not None else view.sizeHintForColumn(column))
    view.horizontalHeader().resizeSection(column, width)


def _size_columns_when_rows_arrive(view: QTableView) -> None:
    """Size the columns to their content once, when the first rows arrive (an empty table keeps
    the declared widths); never again, so columns do not jump while data streams in, and never
    over widths restored from a saved layout."""
    model = view.model()

    def maybe_size(*_args) -> None:
        if view.property(COLUMNS_SIZED) or model.rowCount() == 0:
            return
        view.setProperty(COLUMNS_SIZED, True)
        QTimer.singleShot(0, view, lambda: size_columns_to_content(view))

    model.rowsInserted.connect(maybe_size)
    model.modelReset.connect(maybe_size)
    source = model
    while isinstance(source, QSortFilterProxyModel):
        source = source.sourceModel()
    if isinstance(source, CoalescingTableModel) and any(c.grows_into_room_left for c in _columns_of(view)):
        # rows change in place (an order's status): no insert or reset says so, a flush does,
        # naming the rows it changed or inserted
        source.rows_flushed.connect(lambda rows: _grow_to_changed_rows(view, rows))
        source.modelReset.connect(lambda: QTimer.singleShot(0, view, lambda: _grow_to_changed_rows(view, None)))


def widen_to_each_set(view: QTableView) -> None:
    """Columns sized to each new set of rows, widened, never narrowed: a table sized once to its
    first set kept a column that set left empty at its header's width, and the next set's values
    read elided (a preview of MKT orders, then one of LMT orders: "231.…" for a limit of 231.49,
    seen under Xvfb). What the trader widened, or an earlier set needed, stays (no jumping), and
    so do widths restored from a saved layout (``COLUMNS_SIZED`` set: never narrowed)."""
    model = view.model()

    def widen() -> None:
        if model.rowCount():
            # the first set (and no saved layout): sized to it as a streamed table's first rows
            # are; after the reset is painted, as that sizing is
            first = not view.property(COLUMNS_SIZED)
            view.setProperty(COLUMNS_SIZED, True)
            QTimer.singleShot(0, view, lambda: size_columns_to_content(view, narrow=first))

    model.modelReset.connect(widen)
    model.rowsInserted.connect(lambda *_: widen())


def add_action(widget: QWidget, text: str, slot: Callable[[], None],
               shortcut: str | QKeySequence | QKeyCombination | Qt.Key | None = None,
               *, context: Qt.ShortcutContext = Qt.ShortcutContext.WindowShortcut, tip: str | None = None,
               install: bool = True) -> QAction:
    """An action owned by ``widget``. ``install`` adds it to the widget, which makes its
    shortcut live. Window-wide shortcuts are NOT installed by the panels: the main window's
    menus own them (the same key bound twice in one window is ambiguous and Qt then fires
    neither); a panel used on its own calls its ``install_shortcuts()``."""
    action = QAction(text, widget)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(context)
    if tip:
        action.setToolTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    if install:
        widget.addAction(action)
    return action


def write_csv(path: str | Path, header: list[str], rows: Iterable[list[str]]) -> int:
    """Write rows to a CSV file atomically (a temporary file renamed over the target), so a
    failed export never leaves a half-written file. Returns the number of data rows."""
    target = Path(path)
    temporary = target.with_name(target.name + ".part")
    count = 0
    try:
        with temporary.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                count += 1
        temporary.replace(target)
    finally:
        if temporary.exists():
            temporary.unlink()
    return count


def export_visible_rows(proxy, model, path: str | Path) -> int:
    """Write a table's visible rows, in the visible order, with the model's exact CSV values."""
    rows = (model.csv_row(proxy.mapToSource(proxy.index(r, 0)).row()) for r in range(proxy.rowCount()))
    return write_csv(path, model.csv_header(), rows)


# The folder of this session's last export: each dialog opened in the process's working
# directory (wherever the console was started from), so exporting the blotter and then the fills
# meant finding the folder again for the second.
_last_export_folder: Path | None = None


def choose_and_export(parent: QWidget, title: str, default_name: str, export: Callable[[str], int]) -> None:
    """A save dialog (in the folder of the session's last export, else the working directory),
    then ``export(path)``; a write error is shown, not raised."""
    # Imported here: the dialogs package imports this module (order_details uses make_table).
    from .dialogs.errors import show_error

    global _last_export_folder
    suggested = str(_last_export_folder / default_name) if _last_export_folder else default_name
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, "CSV files (*.csv)")
    if not path:
        return
    try:
        export(path)
    except OSError as exc:
        show_error(parent, "Export failed", f"Could not write {path}: {exc.strerror or exc}")
        return
    _last_export_folder = Path(path).parent
