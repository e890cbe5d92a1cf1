"""The order blotter: every order, filters, sorting, cancel/replace intents, CSV export."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import QMargins, QModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QVBoxLayout,
    QWidget,
)

from services.core.wording import counted, describe_order
from services.domain import OrderRecord, TradingState

from ..common import (
    DEFAULT_ORDER,
    add_action,
    choose_and_export,
    confirm,
    export_visible_rows,
    make_table,
    menu_key_opens_current_row,
)
from ..dialogs.replace import ReplaceDialog, Typed
from ..models.orders import OrderBlotterModel
from ..models.proxy import BlotterFilterProxyModel, StatusFilter

M = OrderBlotterModel
DEFAULT_COLUMN_ORDER = (M.TIME, M.SYMBOL, M.SIDE, M.QUANTITY, M.STATUS, M.FILLED, M.AVG_PRICE, M.LIMIT, M.STOP,
                        M.TYPE, M.RUN, M.CLIENT_ID)


#: What a halt does (services.execution.actions.OrderActions.halt): it stops sending and closes
#: the runs' orders not sent yet (services.execution.halt_unsent); the orders already at the
#: broker are Cancel All's (halt_question says how many).
HALT_STOPS = ("Halt trading? Every new order and replace is blocked, and a run that is sending stops "
              "before its next order; cancels still go out.\n\n"
              "Orders of a run not sent yet are canceled: they are never sent automatically after "
              "Resume; preview again to send them at the prices of then.\n\n")


def halt_question(working: int | None) -> str:
    """The Halt question with the count of this console's orders working at the broker that the
    halt leaves open (the service's count, as Cancel All's): without it a trader could halt
    believing nothing more could fill. None: the database did not answer (the halt holds
    without it, and is written when it answers)."""
    if working is None:
        return HALT_STOPS + (
            "The database did not answer: how many of this console's orders are working at the broker is not "
            "known, and they stay open after the halt: they can still fill. Cancel All goes to the broker "
            "without the database. The halt holds in this window at once and is recorded when the database answers.")
    one = working == 1
    if working:
        left = (f"{counted(working, 'order')} of this console {'is' if one else 'are'} working at the broker "
                f"and stay{'s' if one else ''} open after the halt: {'it' if one else 'they'} can still fill. "
                f"Use Cancel All to cancel {'it' if one else 'them'}.")
    else:
        left = ("No order of this console is working at the broker. Orders entered elsewhere (TWS, other "
                "programs) stay open and can still fill.")
    return HALT_STOPS + left


#: The blotter's Replace item while trading is HALTED: off, saying why (cancels still go out).
REPLACE_WHILE_HALTED = "&Replace… (trading is HALTED)"
#: A monitor's Cancel and Replace items: off, saying why (whatever the order's status or the trading state).
CANCEL_READ_ONLY = "&Cancel (read-only monitor)"
REPLACE_READ_ONLY = "&Replace… (read-only monitor)"

CANCEL_CONSOLE = "console"  # one cancel per working order this console knows
CANCEL_BROKER = "broker"  # IB's global cancel: every open order of the account, TWS's included


def ask_cancel_all_scope(parent: QWidget, working: int | None, *, global_also: str = "",
                         placed_elsewhere: Sequence[str] = ()) -> str | None:
    """Which Cancel All the trader means, each worded for what it really does; None: neither.
    ``global_also``: what the global cancel does beyond the connected account (the login's other
    accounts, named: the service's words, through the controller); empty: nothing.
    ``placed_elsewhere``: why this session cannot cancel one by one each of them another API
    client id placed (the service's words, a row's Cancel's); the global cancel reaches them.
    "Keep the orders" is the default button, so Enter cancels nothing."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Cancel all orders")
    if working is None:  # the service's None: the database did not answer; both cancels go to the broker without it
        box.setText("The database did not answer: this console's open orders could not be counted. Either cancel "
                    "goes to the broker without it.")
    else:
        box.setText(f"{counted(working, 'order')} of this console {'is' if working == 1 else 'are'} open (working, or not sent yet)."
                    if working else "No order of this console is open. Orders entered elsewhere (TWS, other programs) "
                    "may still be open at the broker.")
    console_words = ("This console's orders: one cancel request for each working order this console's database "
                     "knows for the connected account. Orders entered in TWS or by other programs stay." if working is not None
                     else "This console's orders: while the database does not answer, one cancel request for each order "
                     "the broker holds open for the connected account (those another API client placed are refused).")
    box.setInformativeText(
        console_words
        + (f" {counted(len(placed_elsewhere), 'of them is', 'of them are')} not canceled that way: "
           + "; ".join(placed_elsewhere) + "." if placed_elsewhere else "") + "\n\n"
        "Everything at the broker: IB's global cancel. Every open order of the login is canceled, including "
        "orders entered by hand in TWS and by other API programs." + (f" {global_also}" if global_also else "") + "\n\n"
        "Either way a run that is sending stops, and its orders not sent yet are canceled before they go.")
    console = box.addButton(f"Cancel this console's orders ({'?' if working is None else working})",
                            QMessageBox.ButtonRole.AcceptRole)
    console.setEnabled(working is None or working > 0)
    broker = box.addButton("Cancel everything at the broker", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep the orders", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    clicked = box.clickedButton()
    box.deleteLater()
    if clicked is console:
        return CANCEL_CONSOLE
    return CANCEL_BROKER if clicked is broker else None


class RunFilterBox(QComboBox):
    """The run filter: the run it shows cut at the right, with an ellipsis, where the toolbar
    leaves it less room than the whole name (the name whole in the list and in its tooltip);
    a combo box cuts its text without one."""

    def paintEvent(self, _event) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)
        option.currentText = self.fontMetrics().elidedText(option.currentText, Qt.TextElideMode.ElideRight, field.width())
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)


class BlotterView(QWidget):
    cancel_requested = Signal(int)
    replace_requested = Signal(int, object, object, object)  # order id, quantity, limit, stop (Decimal | None)
    # the open Replace dialog asks for its verdict (same arguments): show_replace_check / show_replace_problem answer
    replace_check_requested = Signal(int, object, object, object)
    cancel_all_clicked = Signal()  # the trader asked for Cancel All: which one comes next (choose_cancel_all_scope)
    cancel_all_requested = Signal(str)  # CANCEL_CONSOLE | CANCEL_BROKER
    halt_clicked = Signal()  # the trader asked to halt: the working count comes next (confirm_halt)
    notice = Signal(str)  # feedback for the status bar (nothing to cancel)
    halt_requested = Signal()
    resume_requested = Signal()
    details_requested = Signal(int)
    exported = Signal(str, int)  # path, rows written
    #: A filter changed (after the proxy applied it to the loaded rows): the history pager
    #: reads the first page matching it from the whole history.
    filters_changed = Signal()
    # runs the run filter lists as "Run N" until named: their ids (a list), for the controller
    # to answer with their names (name_runs)
    run_names_wanted = Signal(list)

    #: The search box's minimum width on the whole row and on the tighter one.
    SEARCH_WIDTH = 160
    TIGHT_SEARCH_WIDTH = 100
    #: The least the run filter takes of the toolbar's row before the row goes tight (a run's
    #: name is cut at the right to it): "Demo momentum, run 1 (demo) of 2026-12-07" whole took
    #: the row's room and hid Export CSV… at 1366x768 whenever a run was chosen.
    RUN_FILTER_WIDTH = 150

    def __init__(self, model: OrderBlotterModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = BlotterFilterProxyModel(model, self)
        self._trading_state = TradingState.ACTIVE
        self._busy: set[str] = set()
        self._run_wanted = 0  # the run filter's width with the run it shows whole (_fit_run_combo)
        self.read_only = False  # a monitor window: no Cancel / Replace in the context menu
        self.replace_dialog: ReplaceDialog | None = None  # the one open, which the verdicts are for

        self.status_combo = QComboBox()
        self.status_combo.addItem("Working", StatusFilter.WORKING.value)
        self.status_combo.addItem("All", StatusFilter.ALL.value)
        self.status_combo.setCurrentIndex(1)
        self.run_combo = RunFilterBox()
        self.run_combo.addItem("All runs", None)
        # as wide as the run it shows (_fit_run_combo), not as its widest: a run's name is long
        # ("Demo momentum, run 1 (demo) of 2026-12-07") and "All runs" needs little
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search symbol, id, status…")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(self.SEARCH_WIDTH)
        self.count_label = QLabel()
        self.export_button = QPushButton("Export CSV…")
        self.cancel_all_button = QPushButton("Cancel All")
        self.cancel_all_button.setObjectName("cancelAllButton")
        self.halt_button = QPushButton("Halt")
        self.halt_button.setObjectName("haltButton")

        # The filters and the actions: one row when the panel is wide enough; on a narrower
        # panel (a 1024 px window gives it ~518 px, the whole row needs ~680) one tighter row:
        # no "Show" label, a shorter search box and no Export CSV… (File > Export blotter as
        # CSV…, and the rows' context menu); narrower still, the actions on a second row, right-aligned:
        # _fit_toolbar. Cancel All and Halt are always in view.
        self.filters_bar = QWidget()
        filters = QHBoxLayout(self.filters_bar)
        filters.setContentsMargins(0, 0, 0, 0)
        self.show_label = QLabel("Show")
        filters.addWidget(self.show_label)
        filters.addWidget(self.status_combo)
        filters.addWidget(self.run_combo)
        filters.addWidget(self.search_edit, 1)
        filters.addWidget(self.count_label)
        self.actions_bar = QWidget()
        actions = QHBoxLayout(self.actions_bar)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addStretch(1)
        actions.addWidget(self.export_button)
        actions.addWidget(self.cancel_all_button)
        actions.addWidget(self.halt_button)
        for row in (self.filters_bar, self.actions_bar):  # the table takes the height
            row.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        # Two rows, everything shown, until the view is laid out at its width (resizeEvent): the
        # minimum the main window freezes (freeze_minimum) is that of two rows, as it always was.
        bar = self.toolbar_layout = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        bar.addWidget(self.filters_bar, 1)
        bar.addWidget(self.actions_bar)

        self.table = make_table(self.proxy, self, sortable=True, widths=[c.width for c in model.columns])
        self.table.sortByColumn(OrderBlotterModel.TIME, Qt.SortOrder.DescendingOrder)
        # What a trader scans first comes first and the long client order id last, so Status and
        # Limit stay in view on a laptop; columns can be dragged (the layout remembers the order).
        header = self.table.horizontalHeader()
        for visual, logical in enumerate(DEFAULT_COLUMN_ORDER):
            header.moveSection(header.visualIndex(logical), visual)
        # Run's number is the client order id's ("TC<installation>.<run>-<sequence>-..."): hidden
        # until shown from the header's menu, its 41 px go to the id, which at 1366x768 ran past
        # the table's edge (the other columns take 780 of its 850 px)
        header.hideSection(M.RUN)
        # a layout saved before a column came puts it here (Stop after Limit), not after the last
        self.table.setProperty(DEFAULT_ORDER, list(DEFAULT_COLUMN_ORDER))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

        self.status_combo.currentIndexChanged.connect(self._on_status_filter_changed)
        self.run_combo.currentIndexChanged.connect(self._on_run_filter_changed)
        self.run_combo.currentIndexChanged.connect(self._fit_run_combo)
        self.search_edit.textChanged.connect(self._on_search_changed)
        for changed in (self.status_combo.currentIndexChanged, self.run_combo.currentIndexChanged,
                        self.search_edit.textChanged):
            changed.connect(self._emit_filters_changed)
        self.table.customContextMenuRequested.connect(self._on_context_menu)
        menu_key_opens_current_row(self.table, self._on_context_menu)
        self.table.doubleClicked.connect(self._on_double_clicked)
        self.cancel_all_button.clicked.connect(self.request_cancel_all)
        self.halt_button.clicked.connect(self._on_halt_clicked)
        self.export_button.clicked.connect(self.choose_export_file)
        model.flushed.connect(self._on_model_flushed)
        model.modelReset.connect(self._on_model_flushed)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

        self.cancel_selected_action = add_action(
            self, "Cancel selected orders", self.request_cancel_selected, Qt.Key.Key_Delete,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        # Window-wide: the main window's menu binds these keys (see add_action).
        self.cancel_all_action = add_action(self, "Cancel all orders…", self.request_cancel_all, "Ctrl+Shift+X",
                                            install=False)
        self.halt_action = add_action(self, "Halt / resume trading…", self._on_halt_clicked, "Ctrl+H",
                                      install=False)
        self.copy_id_action = add_action(
            self, "Copy client order id", self.copy_selected_ids, "Ctrl+C",
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._fit_run_combo()
        self._update_count()

    def _emit_filters_changed(self, *_args) -> None:
        self.filters_changed.emit()

    def install_shortcuts(self) -> None:
        """Make Ctrl+Shift+X / Ctrl+H live on this panel (when no main-window menu has them)."""
        self.addActions([self.cancel_all_action, self.halt_action])

    # -- public state setters (called by the controller) ------------------------------------

    def set_trading_state(self, state: TradingState) -> None:
        self._trading_state = TradingState(state)
        halted = self._trading_state is TradingState.HALTED
        self.halt_button.setText("Resume" if halted else "Halt")
        self.halt_button.setProperty("halted", halted)
        self.halt_button.style().unpolish(self.halt_button)
        self.halt_button.style().polish(self.halt_button)

    @property
    def trading_state(self) -> TradingState:
        return self._trading_state

    def set_busy(self, operation: str, busy: bool) -> None:
        """Disable the buttons of an operation in flight ("cancel_all", "halt", or "all");
        re-enable them when it finishes (the controller calls this in ``finally``)."""
        names = ("cancel_all", "halt") if operation == "all" else (operation,)
        for name in names:
            (self._busy.add if busy else self._busy.discard)(name)
        self.cancel_all_button.setEnabled("cancel_all" not in self._busy)
        self.cancel_all_action.setEnabled("cancel_all" not in self._busy)
        self.halt_button.setEnabled("halt" not in self._busy)
        self.halt_action.setEnabled("halt" not in self._busy)

    def set_status_filter(self, value: StatusFilter | str) -> None:
        self.status_combo.setCurrentIndex(self.status_combo.findData(StatusFilter(value).value))

    def set_run_filter(self, run_id: int | None) -> None:
        self._ensure_run_items([run_id] if run_id is not None else [])
        self.run_combo.setCurrentIndex(self.run_combo.findData(run_id))

    def set_search_text(self, text: str) -> None:
        self.search_edit.setText(text)

    def filter_state(self) -> dict:
        """The filters as plain values, for the window to remember between sessions."""
        return {"status": self.status_combo.currentData(), "run": self.run_combo.currentData(),
                "search": self.search_edit.text()}

    def restore_filter_state(self, state: dict) -> None:
        """Filters saved by ``filter_state``; a value that no longer makes sense is skipped."""
        status = state.get("status")
        if status in {f.value for f in StatusFilter}:
            self.set_status_filter(status)
        run = state.get("run")
        if isinstance(run, int) and not isinstance(run, bool):
            self.set_run_filter(run)
        search = state.get("search")
        if isinstance(search, str):
            self.set_search_text(search)

    # -- intents ----------------------------------------------------------------------------

    def selected_orders(self) -> list[OrderRecord]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.proxy.record_at(r) for r in rows]

    def context_menu_for(self, order: OrderRecord) -> QMenu:
        """The right-click menu for one order (tests trigger its actions directly)."""
        menu = QMenu(self)
        # a monitor's items say it is read-only: they said nothing, or "trading is HALTED" over a
        # Replace a monitor never offers (walked under Xvfb with the trading window halted)
        cancel = menu.addAction(CANCEL_READ_ONLY if self.read_only else "&Cancel")
        cancel.setEnabled(order.status.is_cancelable and not self.read_only)  # an unsent NEW one too
        cancel.triggered.connect(lambda: self.cancel_requested.emit(order.id))
        # a halt refuses every replace (services.execution.replace_order): offered while HALTED, the
        # dialog was filled in for an error; the item says why it is off
        halted = self._trading_state is TradingState.HALTED
        replace = menu.addAction(REPLACE_READ_ONLY if self.read_only
                                 else REPLACE_WHILE_HALTED if halted else "&Replace…")
        replace.setEnabled(order.status.is_working and not self.read_only and not halted)
        replace.triggered.connect(lambda: self.request_replace(order))
        menu.addSeparator()
        copy = menu.addAction("Copy &id")
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(order.client_order_id))
        details = menu.addAction("&Details…")
        details.triggered.connect(lambda: self.details_requested.emit(order.id))
        menu.addSeparator()
        export = menu.addAction("E&xport CSV…")  # also here: a narrow blotter's toolbar has no room for it
        export.triggered.connect(lambda: self.choose_export_file())
        return menu

    def request_replace(self, order: OrderRecord) -> None:
        # Show the latest state: the order may have filled further since the menu opened.
        order = self.model.get(order.id) or order
        dialog = ReplaceDialog(order, self)

        def follow_the_order(*_changed) -> None:
            # it can fill or be canceled while the dialog is open: Replace then does nothing
            latest = self.model.get(order.id)
            if latest is not None and latest != dialog.order:
                dialog.show_order(latest)

        self.model.dataChanged.connect(follow_the_order)
        dialog.check_requested.connect(lambda quantity, limit, stop: self.replace_check_requested.emit(
            order.id, quantity, limit, stop))
        self.replace_dialog = dialog
        try:
            if dialog.exec() == ReplaceDialog.DialogCode.Accepted:
                quantity, limit, stop = dialog.values()
                self.replace_requested.emit(order.id, quantity, limit, stop)
        finally:
            self.replace_dialog = None
            self.model.dataChanged.disconnect(follow_the_order)
            dialog.deleteLater()

    def show_replace_check(self, order_id: int, typed: Typed, may_replace: bool, reasons: list[str]) -> None:
        """The verdict of a replace of ``order_id`` as ``typed``, for the Replace dialog open on it."""
        dialog = self.replace_dialog
        if dialog is not None and dialog.order.id == order_id:
            dialog.show_check(typed, may_replace, reasons)

    def show_replace_problem(self, order_id: int, typed: Typed, text: str) -> None:
        dialog = self.replace_dialog
        if dialog is not None and dialog.order.id == order_id:
            dialog.show_problem(typed, text)

    def request_cancel_selected(self) -> None:
        selected = self.selected_orders()
        orders = [o for o in selected if o.status.is_cancelable]
        if not orders:
            if selected:
                states = ", ".join(sorted({o.status.value for o in selected}))
                self.notice.emit(f"Nothing to cancel: the selected {'order is' if len(selected) == 1 else 'orders are'} {states}")
            else:
                self.notice.emit("Nothing to cancel: select an order that is not final first")
            return
        # what each order is, not its id alone: the trader confirms a BUY 50 NVDA LMT 134.00
        names = "\n".join(describe_order(o) for o in orders[:5])
        if len(orders) > 5:
            names += f"\n… and {counted(len(orders) - 5, 'more order')}"
        if confirm(self, "Cancel orders", f"Cancel {counted(len(orders), 'selected order')}?\n{names}"):
            for order in orders:
                self.cancel_requested.emit(order.id)

    def request_cancel_all(self) -> None:
        """The Cancel All button or its shortcut: the controller asks the service how many of
        this console's orders are working (the blotter holds one page of the history, all
        accounts', and a filter may hide some) and hands the count to choose_cancel_all_scope."""
        if self.cancel_all_button.isEnabled():
            self.cancel_all_clicked.emit()

    def choose_cancel_all_scope(self, working: int | None, global_also: str = "", placed_elsewhere: Sequence[str] = ()) -> None:
        """Ask which Cancel All the trader means, ``working`` being the service's count,
        ``global_also`` its words for what the global cancel does to the login's other accounts
        and ``placed_elsewhere`` why one by one cannot cancel those another client id placed."""
        scope = ask_cancel_all_scope(self, working, global_also=global_also, placed_elsewhere=placed_elsewhere)
        if scope is not None:
            self.cancel_all_requested.emit(scope)

    def _on_halt_clicked(self) -> None:
        if not self.halt_button.isEnabled():
            return
        if self._trading_state is TradingState.HALTED:
            if confirm(self, "Resume trading", "Resume trading? New orders will be allowed again."):
                self.resume_requested.emit()
        else:  # the controller asks the service how many orders stay working, then confirm_halt
            self.halt_clicked.emit()

    def confirm_halt(self, working: int | None) -> None:
        """Ask whether to halt, ``working`` being the service's count of this console's orders
        at the broker, which the halt leaves open."""
        if confirm(self, "Halt trading", halt_question(working)):
            self.halt_requested.emit()

    def copy_selected_ids(self) -> None:
        ids = [o.client_order_id for o in self.selected_orders()]
        if ids:
            QGuiApplication.clipboard().setText("\n".join(ids))

    # -- export -----------------------------------------------------------------------------

    def export_csv(self, path: str) -> int:
        """Write the visible rows, in the visible order, with exact values."""
        count = export_visible_rows(self.proxy, self.model, path)
        self.exported.emit(path, count)
        return count

    def choose_export_file(self) -> None:
        choose_and_export(self, "Export orders", "orders.csv", self.export_csv)

    # -- handlers ---------------------------------------------------------------------------

    def _on_context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        menu = self.context_menu_for(self.proxy.record_at(index.row()))
        menu.exec(self.table.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _on_double_clicked(self, index: QModelIndex) -> None:
        # Never a trading action: vn.py's double-click-to-cancel is the thing users hate.
        if index.isValid():
            self.details_requested.emit(self.proxy.record_at(index.row()).id)

    # A filter change on a paged history first drops the pages scrolled in (the history pager
    # reads the filter's first page from the database): the proxy then filters one page.

    def _on_status_filter_changed(self, _index: int) -> None:
        self.model.drop_older_pages()
        self.proxy.set_status_filter(self.status_combo.currentData())
        self._update_count()

    def _on_run_filter_changed(self, _index: int) -> None:
        self.model.drop_older_pages()
        self.proxy.set_run_filter(self.run_combo.currentData())
        self._update_count()

    def _on_search_changed(self, text: str) -> None:
        self.model.drop_older_pages()
        self.proxy.set_text_filter(text)

    def _ensure_run_items(self, run_ids) -> None:
        known = {self.run_combo.itemData(i) for i in range(1, self.run_combo.count())}
        new = sorted(set(run_ids) - known)
        for run_id in new:
            self.run_combo.addItem(f"Run {run_id}", run_id)
        if new:  # "Run 3" alone told a trader with several runs nothing: whose, which mode, which day
            self.run_names_wanted.emit(new)

    def forget_runs(self) -> None:
        """The database was replaced under the window: the runs listed, their names and the one
        chosen were the old database's (under their ids the new one holds other runs, or none).
        "All runs" alone, chosen without a filter read of its own (the window's re-read reads the
        history, and lists the new database's runs as their rows come)."""
        combo = self.run_combo
        combo.blockSignals(True)
        try:
            combo.setCurrentIndex(0)
            while combo.count() > 1:
                combo.removeItem(combo.count() - 1)
        finally:
            combo.blockSignals(False)
        self.proxy.set_run_filter(None)
        self._fit_run_combo()
        self._update_count()

    def run_filter_ids(self) -> list[int]:
        """The runs the run filter lists (not "All runs")."""
        return [self.run_combo.itemData(i) for i in range(1, self.run_combo.count())]

    def name_runs(self, names: Mapping[int, str]) -> None:
        """The run filter's runs named as the console names a run (services.console_charts.run_name)."""
        for run_id, name in names.items():
            index = self.run_combo.findData(run_id)
            if index > 0:
                self.run_combo.setItemText(index, name)
        view = self.run_combo.view()  # the list shows every name whole, however narrow the closed combo
        view.setMinimumWidth(view.sizeHintForColumn(0) + 2 * view.frameWidth()
                             + view.verticalScrollBar().sizeHint().width())
        self._fit_run_combo()

    def _fit_run_combo(self, *_args) -> None:
        """The run filter as wide as the run it shows, its name whole, where the toolbar's whole
        row has the room (Export CSV… in view); else cut at the right, never narrower than
        ``RUN_FILTER_WIDTH`` (its name whole in its tooltip): the toolbar fits itself to it (one
        row, the tighter one, or two), as it does to the count."""
        combo = self.run_combo
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        metrics = combo.fontMetrics()
        text = QSize(metrics.horizontalAdvance(combo.currentText()), metrics.height())
        wanted = combo.style().sizeFromContents(QStyle.ContentsType.CT_ComboBox, option, text, combo).width()
        combo.setToolTip(combo.currentText() if combo.currentData() is not None else "")
        if wanted != self._run_wanted:
            self._run_wanted = wanted
            combo.setMaximumWidth(wanted)
            self._give_run_filter_room(self.width() if self.isVisible() else None)
            if self.isVisible():
                self._fit_toolbar(self.width())

    def _run_filter_least(self) -> int:
        """The width the run filter takes at the least in the toolbar's row."""
        return min(self._run_wanted, self.RUN_FILTER_WIDTH)

    def _give_run_filter_room(self, width: int | None) -> None:
        """The run filter's width in a toolbar of ``width`` (None: not laid out yet, its whole
        name): the room its row leaves, between its least and its whole name."""
        room = self._run_wanted if width is None else width - (self.one_row_width(tight=self.toolbar_is_tight())
                                                                - self._run_filter_least())
        if self.toolbar_rows() == 2 and width is not None:  # its own row: the filters alone
            room = self._run_wanted
        least = max(self._run_filter_least(), min(self._run_wanted, room))
        if least != self.run_combo.minimumWidth():
            self.run_combo.setMinimumWidth(least)

    def _on_model_flushed(self, *_args) -> None:
        if self.model.run_count() != self.run_combo.count() - 1:
            self._ensure_run_items(self.model.run_ids())
        self._update_count()

    def _update_count(self, *_args) -> None:
        text = f"{self.proxy.rowCount()} / {self.model.rowCount()}"
        longer = len(text) != len(self.count_label.text())
        self.count_label.setText(text)
        if longer and self.isVisible():  # "9 / 9" to "10 / 10": the one row may no longer fit
            self._fit_toolbar(self.width())

    # -- layout -----------------------------------------------------------------------------

    def one_row_width(self, *, tight: bool = False) -> int:
        """The width the toolbar needs on one row: the filters at their smallest (the search box
        at its minimum), the buttons whole, the layouts' margins and spacing. ``tight``: without
        the "Show" label and Export CSV…, the search box shorter. Summed from the parts, so it
        does not depend on which variant is shown now."""
        run_filter = self._run_filter_least()  # _fit_run_combo's
        filters = [self.status_combo.minimumSizeHint().width(), run_filter,
                   self.TIGHT_SEARCH_WIDTH if tight else self.SEARCH_WIDTH, self.count_label.sizeHint().width()]
        # (a monitor window hides Cancel All and Halt)
        actions = [b.sizeHint().width() for b in (self.cancel_all_button, self.halt_button) if not b.isHidden()]
        if not tight:
            filters.append(self.show_label.sizeHint().width())
            actions.append(self.export_button.sizeHint().width())
        layout = self.layout()  # the view's own, set when it was built
        margins = layout.contentsMargins() if layout is not None else QMargins()
        filters_spacing = _spacing(self.filters_bar)
        actions_spacing = _spacing(self.actions_bar)
        return (sum(filters) + filters_spacing * (len(filters) - 1) + self.toolbar_layout.spacing()
                + sum(actions) + actions_spacing * max(0, len(actions) - 1) + margins.left() + margins.right())

    def toolbar_rows(self) -> int:
        return 1 if self.toolbar_layout.direction() == QBoxLayout.Direction.LeftToRight else 2

    def toolbar_is_tight(self) -> bool:
        return self.export_button.isHidden()

    def _fit_toolbar(self, width: int) -> None:
        tight = self.one_row_width(tight=True) <= width < self.one_row_width()
        one_row = tight or width >= self.one_row_width()
        direction = QBoxLayout.Direction.LeftToRight if one_row else QBoxLayout.Direction.TopToBottom
        if tight != self.toolbar_is_tight():
            self.show_label.setHidden(tight)
            self.export_button.setHidden(tight)
            self.search_edit.setMinimumWidth(self.TIGHT_SEARCH_WIDTH if tight else self.SEARCH_WIDTH)
        if direction != self.toolbar_layout.direction():
            self.toolbar_layout.setDirection(direction)  # laid out at the next turn of the loop
        self._give_run_filter_room(width)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit_toolbar(event.size().width())
        super().resizeEvent(event)


def _spacing(bar: QWidget) -> int:
    """The spacing of a bar's own layout (each toolbar bar is built with one)."""
    layout = bar.layout()
    return layout.spacing() if layout is not None else 0
