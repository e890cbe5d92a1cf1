"""The main window: docks built from the widgets' panels, menus, shortcuts, mode badge, status
bar, layout persistence. It owns the models the panels show and nothing else: every intent goes
out through the panels' signals (or the few window-level signals below) to the controller."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QToolBar, QWidget

from widgets.models.audit import AuditModel
from widgets.models.fills import FillsModel
from widgets.models.orders import OrderBlotterModel
from widgets.models.positions import PositionsModel
from widgets.models.preview import PreviewOrdersModel
from widgets.models.risk import RiskResultsModel
from widgets.models.snapshots import SnapshotItemsModel
from widgets.theme import THEMES, apply_theme
from widgets.views.audit import AuditView
from widgets.views.blotter import BlotterView
from widgets.views.charts import ChartsView
from widgets.views.fills import FillsView
from widgets.views.positions import PositionsView
from widgets.views.preview import PreviewView
from widgets.views.risk import RiskView
from widgets.views.snapshots import SnapshotsView
from widgets.views.status import ConnectionStatusBar, ModeBadge, TradingStateBadge

LAYOUT_VERSION = 1


class MainWindow(QMainWindow):
    settings_requested = Signal()
    reconcile_requested = Signal()
    recover_requested = Signal()  # Trading -> Recover now: one auto-recovery pass
    connect_requested = Signal()  # Trading -> Connect to IB (after declining LIVE at start)
    theme_requested = Signal(str)
    closing = Signal()

    def __init__(self, *, mode: str, ui_state_file: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.mode = mode
        self.setWindowTitle(f"IB Trading Console — {mode.upper()}")
        self._ui_state_file = ui_state_file

        self.orders_model = OrderBlotterModel(self)
        self.fills_model = FillsModel(self)
        self.positions_model = PositionsModel(self)
        self.audit_model = AuditModel(self)
        self.snapshot_items_model = SnapshotItemsModel(self)
        self.preview_model = PreviewOrdersModel(self)
        self.risk_model = RiskResultsModel(self)

        self.snapshots_view = SnapshotsView(self.snapshot_items_model)
        self.preview_view = PreviewView(self.preview_model)
        self.risk_view = RiskView(self.risk_model)
        self.blotter_view = BlotterView(self.orders_model)
        self.fills_view = FillsView(self.fills_model)
        self.positions_view = PositionsView(self.positions_model)
        self.audit_view = AuditView(self.audit_model)
        self.charts_view = ChartsView()

        self.mode_badge = ModeBadge(mode)
        self.trading_state_badge = TradingStateBadge()
        self.connection_status = ConnectionStatusBar()

        self.setDockNestingEnabled(True)
        self.setCentralWidget(self.blotter_view)
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("snapshots", "Snapshots", self.snapshots_view, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("preview", "Order preview", self.preview_view, Qt.DockWidgetArea.TopDockWidgetArea)
        self._add_dock("risk", "Risk results", self.risk_view, Qt.DockWidgetArea.TopDockWidgetArea)
        self._add_dock("fills", "Fills", self.fills_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("positions", "Positions and P&L", self.positions_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("charts", "Charts", self.charts_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("audit", "Audit log", self.audit_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["charts"], self.docks["audit"])
        self.docks["charts"].raise_()

        self._build_toolbar()
        self._build_menus()
        self.preview_view.preview_requested.connect(lambda _params: self.save_preview_fields())
        # No stretch: the bar's left part stays free for the messages ("Run 3 sent", "Reconciled").
        self.statusBar().addPermanentWidget(self.connection_status)
        self.resize(1600, 1000)
        # The blotter (central) gets the room; charts and audit share a short strip below.
        self.resizeDocks([self.docks["charts"]], [230], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["snapshots"], self.docks["fills"]], [420, 470], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["preview"]], [300], Qt.Orientation.Vertical)
        self._default_state = self.saveState(LAYOUT_VERSION)
        self.restore_layout()

    # -- construction -----------------------------------------------------------------------
    def _add_dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title.replace("&", "&&"), self)  # "P&L": an ampersand, not a mnemonic
        dock.setObjectName(f"dock_{name}")  # saveState needs stable object names
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Mode", self)
        toolbar.setObjectName("toolbar_mode")
        toolbar.setMovable(False)
        toolbar.addWidget(self.mode_badge)
        self.trading_state_action = toolbar.addWidget(self.trading_state_badge)
        self.trading_state_action.setVisible(False)  # shown only when trading is not ACTIVE
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.mode_toolbar = toolbar

    def _action(self, menu, text: str, slot, shortcut: str | None = None, tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.import_action = self._action(file_menu, "&Import snapshot…", self.snapshots_view.choose_import_file, "Ctrl+I")
        file_menu.addSeparator()
        self._action(file_menu, "Export &blotter as CSV…", self.blotter_view.choose_export_file)
        self._action(file_menu, "Export &fills as CSV…", self.fills_view.choose_export_file)
        file_menu.addSeparator()
        self._action(file_menu, "&Settings…", self.settings_requested.emit, "Ctrl+,")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, "Ctrl+Q")

        trading = bar.addMenu("&Trading")
        self.connect_action = self._action(trading, "C&onnect to IB…", self.connect_requested.emit,
                                           tip="connect now (a LIVE session asks for the word first)")
        trading.addSeparator()
        self._action(trading, "&Preview orders", self.preview_view.request_preview, "Ctrl+P")
        self._action(trading, "&Execute run…", self.preview_view.request_execute, "Ctrl+E")
        trading.addSeparator()
        self._action(trading, "&Cancel all orders…", self.blotter_view.request_cancel_all, "Ctrl+Shift+X")
        self._action(trading, "&Halt / resume trading…", self._toggle_halt, "Ctrl+H")
        self._action(trading, "&Reconcile with the broker", self.reconcile_requested.emit, "Ctrl+R")
        self._action(trading, "Reco&ver now", self.recover_requested.emit,
                     tip="auto-recovery now: send, cancel or re-place orders stuck past the timeout (every decision audited)")

        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        for name in THEMES:
            self._action(theme_menu, name.capitalize(), lambda n=name: self.theme_requested.emit(n))
        self._action(view, "&Reset layout", self.reset_layout)

    # -- actions that stay inside the window ----------------------------------------------------
    def set_trading_state(self, state) -> None:
        """The badge beside the mode (a toolbar widget is shown through its action)."""
        self.trading_state_badge.set_state(state)
        self.trading_state_action.setVisible(self.trading_state_badge.state != "ACTIVE")

    def _toggle_halt(self) -> None:
        # The blotter's one Halt/Resume button asks for confirmation and emits the intent.
        self.blotter_view.halt_button.click()

    def apply_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)

    # -- layout persistence (UI state, kept apart from the user's settings file) ---------------
    def _qsettings(self) -> QSettings | None:
        if self._ui_state_file is None:
            return None
        self._ui_state_file.parent.mkdir(parents=True, exist_ok=True)
        return QSettings(str(self._ui_state_file), QSettings.Format.IniFormat)

    def save_layout(self) -> None:
        store = self._qsettings()
        if store is None:
            return
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState(LAYOUT_VERSION))
        store.sync()
        self.save_preview_fields()

    def save_preview_fields(self) -> None:
        """The preview's build parameters as typed: the next session starts from them (saved at
        every preview too, so a session that does not close cleanly keeps them)."""
        store = self._qsettings()
        if store is None:
            return
        store.setValue("preview/fields", json.dumps(self.preview_view.field_texts()))
        store.sync()

    def restore_layout(self) -> bool:
        store = self._qsettings()
        if store is None:
            return False
        geometry = store.value("window/geometry")
        state = store.value("window/state")
        restored = False
        if isinstance(geometry, QByteArray):
            restored = self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            restored = self.restoreState(state, LAYOUT_VERSION) or restored
        fields = store.value("preview/fields")
        if isinstance(fields, str):
            try:
                texts = json.loads(fields)
            except ValueError:
                texts = None  # a damaged entry: the defaults
            if isinstance(texts, dict):
                self.preview_view.set_field_texts(texts)
        return restored

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._default_state, LAYOUT_VERSION)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.closing.emit()
        super().closeEvent(event)
