"""The main window: docks built from the widgets' panels, menus, shortcuts, mode badge, status
bar, layout persistence. It owns the models the panels show and nothing else: every intent goes
out through the panels' signals (or the few window-level signals below) to the controller."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from PySide6.QtCore import QByteArray, QEvent, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QInputDialog,
    QMainWindow,
    QMenu,
    QTabWidget,
    QToolBar,
    QToolButton,
    QWidget,
)

from app.window_layout import (
    LAYOUT_VERSION,
    SHORT_BELOW,
    LayoutError,
    LayoutStore,
    default_window_size,
    freeze_minimum,
    is_compact_screen,
)
from services.activity_log import ActivityEntry, ActivityLog, Level
from widgets.common import (
    focus_first_control,
    literal_ampersands,
    numbered,
    wheel_only_when_focused,
    with_mnemonic,
)
from widgets.models.audit import AuditModel
from widgets.models.decisions import OrderDecisionsModel, RuleVerdictsModel
from widgets.models.fills import FillsModel
from widgets.models.orders import OrderBlotterModel
from widgets.models.positions import PositionsModel
from widgets.models.preview import PreviewOrdersModel
from widgets.models.quotes import QuotesModel
from widgets.models.risk import RiskResultsModel
from widgets.models.snapshots import SnapshotItemsModel
from widgets.models.tca import TcaModel
from widgets.theme import THEMES, apply_theme, follow_theme
from widgets.views.account import AccountView
from widgets.views.activity import ActivitySound, ActivityView, Toast
from widgets.views.audit import AuditView
from widgets.views.backtest import BacktestView
from widgets.views.blotter import BlotterView
from widgets.views.charts import ChartsView
from widgets.views.decisions import DecisionsView
from widgets.views.fills import FillsView
from widgets.views.positions import PositionsView
from widgets.views.preview import PreviewView
from widgets.views.risk import RiskView
from widgets.views.snapshots import SnapshotsView
from widgets.views.status import ConnectionStatusBar, ElidingStatusBar, ModeBadge, TradingStateBadge
from widgets.views.tca import TcaView
from widgets.views.watchlist import WatchlistView

__all__ = ["LAYOUT_VERSION", "MONITOR_HIDDEN", "MainWindow"]

# Tab's most steps past widgets off screen before it gives up (the window holds about 150 stops)
MAX_FOCUS_STEPS = 400

# The panels a monitor (no broker, a read-only database) does not show: those that only trade,
# those that need a broker (the watchlist's quotes, the account's figures: "Not connected"
# always), the backtest (it writes), and the decisions and TCA, which nothing feeds in a monitor
# (shown, "Show run" and the run filter left them at "No run selected").
MONITOR_HIDDEN = ("snapshots", "preview", "risk", "watchlist", "account", "backtest", "decisions")


class MainWindow(QMainWindow):
    ticket_requested = Signal(dict)  # F2 / the toolbar: the order ticket (empty dict: nothing prefilled)
    settings_requested = Signal()
    reconcile_requested = Signal()
    recover_requested = Signal()  # Trading -> Recover now: one auto-recovery pass
    connect_requested = Signal()  # Trading -> Connect to IB (after declining LIVE at start)
    theme_requested = Signal(str)
    open_monitor_requested = Signal()  # File -> Open as monitor: a read-only window on this database
    closing = Signal()

    def __init__(self, *, mode: str, ui_state_file: Path | None = None, monitor: bool = False, compact: bool | None = None,
                 short: bool | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.mode = mode
        self.monitor = monitor  # read-only on the shared database: no trading action at all
        self.setWindowTitle(f"IB Trading Console — MONITOR ({mode.upper()} database, read-only)" if monitor
                            else f"IB Trading Console — {mode.upper()}")
        self._ui_state_file = ui_state_file
        self.layouts = LayoutStore(ui_state_file)

        self.orders_model = OrderBlotterModel(self)
        self.fills_model = FillsModel(self)
        self.positions_model = PositionsModel(self)
        self.audit_model = AuditModel(self)
        self.snapshot_items_model = SnapshotItemsModel(self)
        self.preview_model = PreviewOrdersModel(self)
        self.risk_model = RiskResultsModel(self)
        self.order_decisions_model = OrderDecisionsModel(self)
        self.rule_verdicts_model = RuleVerdictsModel(self)
        self.quotes_model = QuotesModel(self)
        self.tca_model = TcaModel(self)

        self.snapshots_view = SnapshotsView(self.snapshot_items_model)
        self.preview_view = PreviewView(self.preview_model)
        self.risk_view = RiskView(self.risk_model)
        self.blotter_view = BlotterView(self.orders_model)
        self.fills_view = FillsView(self.fills_model)
        self.positions_view = PositionsView(self.positions_model)
        self.audit_view = AuditView(self.audit_model)
        self.charts_view = ChartsView()
        self.decisions_view = DecisionsView(self.order_decisions_model, self.rule_verdicts_model)
        self.tca_view = TcaView(self.tca_model)
        self.decisions_tabs = QTabWidget()  # a run's decisions, and its costs against the backtest
        self.decisions_tabs.addTab(self.decisions_view, "Decisions")
        self.decisions_tabs.addTab(self.tca_view, "TCA")
        self.backtest_view = BacktestView()
        self.watchlist_view = WatchlistView(self.quotes_model)
        self.account_view = AccountView()
        self.activity_view = ActivityView()
        self.toast = Toast(self)
        self.activity_sound = ActivitySound()
        self.activity_sound.enabled = bool(self.layouts.preference("sound_on_fills", False))
        # The one list of the console's messages: the controllers append, the status bar and the
        # activity panel both show it (show_activity), so they never disagree.
        self.activity_log = ActivityLog()
        self.activity_log.subscribe(self.show_activity)

        self.mode_badge = ModeBadge(mode)
        self.trading_state_badge = TradingStateBadge()
        self.connection_status = ConnectionStatusBar()

        self.setDockNestingEnabled(True)
        self.setCentralWidget(self.blotter_view)
        freeze_minimum(self.blotter_view, QSize(520, 140))
        self.docks: dict[str, QDockWidget] = {}
        self._restoring = False
        self._laid_out = False  # see showEvent
        # (strip, each docked panel's height before it grew): see _make_readable
        self._grown: tuple[Qt.DockWidgetArea, dict[QDockWidget, int]] | None = None
        self._heights_at_press: dict[QDockWidget, int] | None = None  # see event: the trader's drags
        self._add_dock("snapshots", "Snapshots", self.snapshots_view, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("preview", "Order preview", self.preview_view, Qt.DockWidgetArea.TopDockWidgetArea)
        self._add_dock("risk", "Risk results", self.risk_view, Qt.DockWidgetArea.TopDockWidgetArea)
        self._add_dock("fills", "Fills", self.fills_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("positions", "Positions and P&L", self.positions_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("watchlist", "Watchlist", self.watchlist_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("account", "Account", self.account_view, Qt.DockWidgetArea.RightDockWidgetArea)
        # the quotes and the account share the positions' place: three stacked panels of the right
        # column left each about four rows at 1600x1000
        self.tabifyDockWidget(self.docks["positions"], self.docks["watchlist"])
        self.tabifyDockWidget(self.docks["watchlist"], self.docks["account"])
        self.docks["positions"].raise_()
        self._add_dock("charts", "Charts", self.charts_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("audit", "Audit log", self.audit_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("decisions", "Decisions", self.decisions_tabs, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("backtest", "Backtest", self.backtest_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("activity", "Activity log", self.activity_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["charts"], self.docks["audit"])
        self.tabifyDockWidget(self.docks["audit"], self.docks["activity"])
        self.tabifyDockWidget(self.docks["activity"], self.docks["decisions"])
        self.tabifyDockWidget(self.docks["decisions"], self.docks["backtest"])
        self.compact = is_compact_screen(self) if compact is None else compact
        if self.compact:
            # A laptop screen: the panels that share an area are tabs, and the snapshots join the
            # preview's tabs, so the blotter keeps its width and every panel its height.
            self.removeDockWidget(self.docks["snapshots"])
            self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, self.docks["snapshots"])
            self.docks["snapshots"].show()
            self.tabifyDockWidget(self.docks["preview"], self.docks["snapshots"])
            self.tabifyDockWidget(self.docks["snapshots"], self.docks["risk"])
            self.tabifyDockWidget(self.docks["fills"], self.docks["positions"])
            self.tabifyDockWidget(self.docks["positions"], self.docks["watchlist"])
            self.tabifyDockWidget(self.docks["watchlist"], self.docks["account"])
            self.docks["preview"].raise_()
            self.docks["fills"].raise_()
        size = default_window_size(self, QSize(1600, 1000))
        self.short = self.compact and (size.height() < SHORT_BELOW if short is None else short)
        if self.short:
            self._one_strip()
        else:
            self.docks["charts"].raise_()
        # The right column (fills, positions, watchlist, account) reaches down beside the bottom
        # strip: below the preview it was left about 235 px on a laptop, three rows of quotes.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self._build_toolbar()
        self._build_menus()
        wheel_only_when_focused(self)  # every panel's choices: a wheel over one scrolls, it does not turn it
        self.preview_view.preview_requested.connect(lambda _params: self.save_preview_fields())
        self.preview_view.preview_requested.connect(lambda _params: self.bring_forward("preview"))
        # No stretch: the bar's left part stays free for the messages ("Run 3 sent", "Reconciled"),
        # a longer one elided with its whole text in the tooltip.
        self.setStatusBar(ElidingStatusBar(self))
        self.statusBar().addPermanentWidget(self.connection_status)
        # The layout sets the window's minimum each time it is laid out; moving the docks into
        # their tabs above passed through arrangements taller than the final one (666 px on a
        # laptop, the panels stacked before being tabbed), and that minimum stayed: at 1024x640
        # the window was 666 px high, its status bar and bottom tabs below the screen's edge.
        self._settle_minimum()
        self.resize(size)
        # The blotter (central) gets the room; charts and audit share a short strip below.
        small = self.compact
        if not self.short:
            self.resizeDocks([self.docks["charts"]], [150 if small else 230], Qt.Orientation.Vertical)
        if small:
            self.resizeDocks([self.docks["fills"]], [500], Qt.Orientation.Horizontal)
        else:
            self.resizeDocks([self.docks["snapshots"], self.docks["fills"]], [280, 500], Qt.Orientation.Horizontal)
        # The preview's strip as high as its form needs, the blotter the rest. Two strips on a
        # window shorter than a laptop's share what it lacks (_shorter_by); the one strip keeps
        # it all: asked for just a readable height it scrolled the form's last fields away at
        # 1366x768 and left its tabs of rows (Decisions) below their readable height.
        if self.short:
            preview = self.PREVIEW_HEIGHT
        else:
            preview = self.PREVIEW_HEIGHT - self._shorter_by() if small else 300
        self.resizeDocks([self.docks["preview"]], [preview], Qt.Orientation.Vertical)
        if monitor:
            self._make_read_only()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self.restore_layout()
        if monitor:  # a saved layout may show them
            for name in MONITOR_HIDDEN:
                self.docks[name].hide()

    # -- construction -----------------------------------------------------------------------
    BOTTOM_STRIP = ("charts", "audit", "activity", "decisions", "backtest")

    def _one_strip(self) -> None:
        """A screen too short for a strip above the blotter and one below (1024x640 to 1366x768,
        1536x864 less a taskbar): the bottom strip's panels join the preview's tabs, the preview
        in front. One strip, readable, the full width of the window, and the blotter keeps its
        rows: with two strips it had one and a half at 1024x640 and two and a half at 1366x768
        with Decisions open."""
        last = self.docks["risk"]
        for name in self.BOTTOM_STRIP:
            dock = self.docks[name]
            self.removeDockWidget(dock)
            self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, dock)
            dock.show()
            self.tabifyDockWidget(last, dock)
            last = dock
        self.docks["preview"].raise_()

    def _add_dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(literal_ampersands(title), self)  # "P&L": an ampersand, not a mnemonic
        dock.setObjectName(f"dock_{name}")  # saveState needs stable object names
        dock.setWidget(widget)
        freeze_minimum(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        dock.topLevelChanged.connect(lambda floating, d=dock: self._give_room(d) if floating else None)
        dock.visibilityChanged.connect(lambda visible, n=name: self._on_dock_shown(n, visible))
        return dock

    # A panel of the short bottom strip (Backtest, Charts: 150-230 px high) floated out of the
    # window keeps that height, too little to read; it gets at least three quarters of the
    # window's width and two thirds of its height, from where it was (a drag keeps the title under
    # the mouse), inside the screen. A floating panel a saved layout places keeps its place.
    FLOATING_SHARE = (0.75, 0.65)

    def _give_room(self, dock: QDockWidget) -> None:
        if self._restoring:
            return
        screen = (dock.screen() or self.screen()).availableGeometry()
        want = QSize(max(dock.width(), int(self.width() * self.FLOATING_SHARE[0])),
                     max(dock.height(), int(self.height() * self.FLOATING_SHARE[1]))).boundedTo(screen.size())
        if want == dock.size():
            return
        rect = QRect(dock.geometry().topLeft(), want)
        if rect.right() > screen.right():
            rect.moveRight(screen.right())
        if rect.bottom() > screen.bottom():
            rect.moveBottom(screen.bottom())
        rect.moveLeft(max(rect.left(), screen.left()))
        rect.moveTop(max(rect.top(), screen.top()))
        dock.setGeometry(rect)

    # On a laptop the panels of rows are short: the bottom strip (Decisions and TCA, Backtest, the
    # logs) is 136 px, one row of each table, and a tall strip leaves the preview above it no row.
    # A panel of rows shown (its tab raised, or asked for: a rebalance's trail, a new preview)
    # shorter than this height gets it, from the panels across the central table, down to their
    # minimum; on 1366x768 six or seven rows. Charts read at any height: going back to a panel
    # that is not a panel of rows (Charts) gives the room back, every docked panel at the height
    # it had before the strip grew, unless the trader has dragged an edge since (then theirs
    # stands) or a layout was restored. A drag is told by the mouse on the window's separators
    # (``event``), not by the strip's height: a theme change moves it by a pixel or two (its
    # tab bar and title restyled), and the room was not given back. A floating panel keeps its
    # size.
    READABLE_HEIGHT = 250
    #: The preview's strip on a laptop: its form whole, five rows of orders beside it.
    PREVIEW_HEIGHT = 285
    #: The window height the laptop layout's heights are for (1366x768 less a taskbar and a title).
    LAPTOP_HEIGHT = 728
    RESIZE_STEPS = 4
    ROW_PANELS = frozenset({"preview", "snapshots", "risk", "decisions", "backtest", "audit", "activity"})
    #: Each panel's Alt key in the View menu (a letter of its title), none the key of another View
    #: item (&Theme, &Reset layout, Save layout &as…, &Layouts, Sou&nd…): the View menu had none,
    #: and only the arrows reached a panel from the keyboard. In the menu only: a dock's title
    #: and tab show no mnemonic.
    PANEL_KEYS: ClassVar[dict[str, str]] = {"snapshots": "s", "preview": "p", "risk": "k", "fills": "f", "positions": "o", "watchlist": "w",
                  "account": "c", "charts": "h", "audit": "u", "decisions": "d", "backtest": "b", "activity": "i"}

    def bring_forward(self, name: str) -> None:
        """Show and raise a panel; docked in a strip too short to read, make the strip taller."""
        dock = self.docks[name]
        dock.show()
        dock.raise_()
        self._make_readable(dock)

    def _panel_action(self, menu: QMenu, name: str, dock: QDockWidget) -> QAction:
        """View's item for one panel, checked while it is open. Chosen, a panel in front is
        closed, and one closed or behind another panel's tab is brought forward with the focus
        in it: the dock's own toggle hid a panel behind a tab (walked under Xvfb at 1366x768, the
        keyboard's only way to the Backtest or Decisions tab closed it instead)."""
        action = QAction(with_mnemonic(dock.windowTitle(), self.PANEL_KEYS[name]), self, checkable=True)
        action.setChecked(not dock.isHidden())
        dock.toggleViewAction().toggled.connect(action.setChecked)  # closed by its title bar's button, or shown

        def chosen() -> None:
            if not dock.isHidden() and not dock.visibleRegion().isEmpty():
                dock.hide()
            else:
                self.bring_forward(name)
                focus_first_control(dock)
            action.setChecked(not dock.isHidden())

        action.triggered.connect(chosen)
        menu.addAction(action)
        return action

    def createPopupMenu(self) -> QMenu:
        """The right-click menu of a panel's title bar or tabs and of the toolbar: View's panel
        items (their Alt keys, a monitor's hidden ones hidden, a panel behind a tab brought
        forward rather than closed), then the toolbar. Qt's own listed the docks' toggles, with
        no Alt key and a panel behind a tab closed by choosing it."""
        menu = QMenu(self)
        menu.addActions(list(self.panel_actions.values()))
        menu.addSeparator()
        menu.addAction(self.mode_toolbar_action)
        return menu

    def _on_dock_shown(self, name: str, visible: bool) -> None:
        # not while the window is first laid out or a saved layout is restored: their heights stand
        if not visible or not self._laid_out or self._restoring:
            return
        if name in self.ROW_PANELS:
            self._make_readable(self.docks[name])
        else:
            self._give_room_back(self.docks[name])

    def _make_readable(self, dock: QDockWidget) -> None:
        area = self.dockWidgetArea(dock)
        if dock.isFloating() or area not in (Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.TopDockWidgetArea):
            return
        readable = self.readable_height()
        if dock.height() >= readable:
            return
        before = self._docked_heights()
        self._resize_heights({dock: readable}, done=lambda: dock.height() >= readable)
        # what to give back when the trader returns to a panel that is not of rows in this strip
        self._grown = (area, before) if dock.height() != before.get(dock) else None

    def readable_height(self) -> int:
        return self.READABLE_HEIGHT - self._shorter_by()

    def _shorter_by(self) -> int:
        """What a strip above or below the blotter gives up on a window shorter than a laptop's:
        two thirds of the difference, the blotter the rest. At 1024x640 the preview (and a panel
        of rows made readable) kept its laptop height and the blotter between them, at its
        minimum, showed one row; now each table shows three or more."""
        return max(0, self.LAPTOP_HEIGHT - self.height()) * 2 // 3

    def _give_room_back(self, dock: QDockWidget) -> None:
        """The heights the panels had before the strip ``dock`` shares grew, unless the trader
        has dragged an edge since (``event`` forgets them then, as a restored layout does)."""
        grown, self._grown = self._grown, None
        if grown is None or dock.isFloating():
            return
        area, before = grown
        if self.dockWidgetArea(dock) != area:
            return
        # a panel recorded in the group of tabs ``dock`` is raised in now: ``dock`` stands for it
        # (a tab out of view keeps the height it last had)
        group = {dock, *self.tabifiedDockWidgets(dock)}
        wanted = {dock if d in group else d: h for d, h in before.items() if d.isVisible() and not d.isFloating()}
        self._resize_heights(wanted, done=lambda: all(d.height() == h for d, h in wanted.items()))

    def _docked_heights(self) -> dict[QDockWidget, int]:
        """The height of each docked panel in view above and below the central table (of a
        group of tabs, the raised one: the others keep the height they last had in view)."""
        strips = (Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.TopDockWidgetArea)
        return {d: d.height() for d in self.docks.values()
                if not d.isFloating() and not d.visibleRegion().isEmpty() and self.dockWidgetArea(d) in strips}

    def _resize_heights(self, heights: dict[QDockWidget, int], done) -> None:
        """Ask Qt for these docks' heights until ``done`` or nothing moves, a few times: it moves
        a dock's edge only part of the way asked for (the central table gives what it has above
        its minimum, then the panels across it) and sizes a group of tabs with its tab bar, so
        each time a dock is asked for what it still lacks on top of what was asked before. One
        dock at a time, the ones to shrink first: asked together, the room a strip gave up went
        to the central table, not to the strip across it."""
        asked = dict(heights)
        order = sorted(heights, key=lambda d: heights[d] - d.height())
        for step in range(self.RESIZE_STEPS):
            before = [d.height() for d in order]
            for dock in order:
                self.resizeDocks([dock], [asked[dock]], Qt.Orientation.Vertical)
                self._settle_layout()
            if done():
                return
            # nothing moved on the first ask: a group of tabs asked for its height less its tab
            # bar may be there already (224 px asked for 250), so it is asked once more
            if step and [d.height() for d in order] == before:
                return
            for dock in order:
                asked[dock] = max(1, asked[dock] + heights[dock] - dock.height())

    def focusNextPrevChild(self, next: bool) -> bool:
        """Tab and Shift+Tab visit only what is on screen: Qt keeps the pages of a tabbed dock
        that are behind other tabs shown, moved off the window's edge, and the focus chain went
        into them (Risk results, Positions, Watchlist behind their tabs), where nothing on screen
        changed and typed keys went nowhere; the blotter after them was never reached (a
        trader's walk, keyboard only). A widget with nothing of it on screen is passed over."""
        start = QApplication.focusWidget()
        for _ in range(MAX_FOCUS_STEPS):
            if not super().focusNextPrevChild(next):
                return False
            focused = QApplication.focusWidget()
            if focused is None or focused is start or not focused.visibleRegion().isEmpty():
                return True
        return True

    def event(self, event: QEvent) -> bool:
        """A press and release on the window itself, not on a panel: on a separator, the trader
        dragging an edge (Qt moves it in ``QMainWindow.event``). Docked heights changed between
        the two: the heights are the trader's, no room is given back over them."""
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            self._heights_at_press = self._docked_heights()
        handled = super().event(event)
        if kind == QEvent.Type.MouseButtonRelease and self._heights_at_press is not None:
            if self._docked_heights() != self._heights_at_press:
                self._grown = None
            self._heights_at_press = None
        return handled

    def _settle_layout(self) -> None:
        layout = self.layout()
        if layout is not None:
            layout.activate()  # the docks' new heights, now: the next step measures from them

    def _settle_minimum(self) -> None:
        """The window's minimum from the arrangement as it is now (an activation only lays out
        a layout marked dirty)."""
        layout = self.layout()
        if layout is not None:
            layout.invalidate()
            layout.activate()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._laid_out:  # the first layout is done once the loop has turned
            QTimer.singleShot(0, self._mark_laid_out)

    def _mark_laid_out(self) -> None:
        self._laid_out = True

    def restoreState(self, state: QByteArray | bytes, version: int = 0) -> bool:  # type: ignore[override]
        self._restoring = True  # the docks it floats take the geometry it saved
        self._grown = None  # its heights stand: none given back over them
        try:
            return super().restoreState(state, version)
        finally:
            self._restoring = False

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Mode", self)
        toolbar.setObjectName("toolbar_mode")
        toolbar.setMovable(False)
        toolbar.addWidget(self.mode_badge)
        toolbar.addSeparator()
        self.ticket_button = QToolButton(toolbar)
        self.ticket_button.setObjectName("newOrderButton")
        self.ticket_button.setText("New order (F2)")
        self.ticket_button.setToolTip("the order ticket: one order through risk, market health and (live) the LIVE word")
        self.ticket_button.clicked.connect(lambda: self.ticket_requested.emit({}))
        # a toolbar shows its widgets by their actions: hiding the button alone did not last
        self.ticket_button_action = toolbar.addWidget(self.ticket_button)
        self.trading_state_action = toolbar.addWidget(self.trading_state_badge)
        self.trading_state_action.setVisible(False)  # shown only when trading is not ACTIVE
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.mode_toolbar = toolbar
        # its item in the title bars' menu (createPopupMenu), "M" no panel's key; Qt names the
        # toggle after the title and keeps it so only when the title changes, which it never does
        self.mode_toolbar_action = toolbar.toggleViewAction()
        self.mode_toolbar_action.setText("&Mode toolbar")

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
        self.open_monitor_action = self._action(
            file_menu, "Open as &monitor", self.open_monitor_requested.emit,
            tip="a read-only window on this database, without a broker connection (trading-console gui --monitor)")
        file_menu.addSeparator()
        self._action(file_menu, "Export &blotter as CSV…", self.blotter_view.choose_export_file)
        self._action(file_menu, "Export &fills as CSV…", self.fills_view.choose_export_file)
        file_menu.addSeparator()
        self.settings_action = self._action(file_menu, "&Settings…", self.settings_requested.emit, "Ctrl+,")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, "Ctrl+Q")

        trading = self.trading_menu = bar.addMenu("&Trading")
        self.connect_action = self._action(trading, "C&onnect to IB…", self.connect_requested.emit,
                                           tip="connect now (a LIVE session asks for the word first)")
        trading.addSeparator()
        self.ticket_action = self._action(trading, "&New order…", lambda: self.ticket_requested.emit({}), "F2",
                                          tip="the order ticket (risk verdict before sending)")
        self._action(trading, "&Preview orders", self.preview_view.request_preview, "Ctrl+P")
        self._action(trading, "Preview in a ne&w run", self.preview_view.request_new_run_preview, "Ctrl+Shift+P",
                     tip="a new run of today for the snapshot: its day's run already executed a plan")
        self._action(trading, "&Execute run…", self.preview_view.request_execute, "Ctrl+E")
        trading.addSeparator()
        self._action(trading, "&Cancel all orders…", self.blotter_view.request_cancel_all, "Ctrl+Shift+X")
        self._action(trading, "&Halt / resume trading…", self._toggle_halt, "Ctrl+H")
        self._action(trading, "&Reconcile with the broker", self.reconcile_requested.emit, "Ctrl+R")
        self._action(trading, "Reco&ver now", self.recover_requested.emit,
                     tip="auto-recovery now: send, cancel or re-place orders stuck past the timeout (every decision audited)")

        view = bar.addMenu("&View")
        self.panel_actions: dict[str, QAction] = {}
        for name, dock in self.docks.items():
            self.panel_actions[name] = self._panel_action(view, name, dock)
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        # one checked, the theme shown; kept so by every apply_theme (follow_theme), this
        # window's, the settings dialog's or another window's of the process
        self.theme_group = QActionGroup(self)
        self.theme_group.setExclusive(True)
        self.theme_actions: dict[str, QAction] = {}
        for name in THEMES:
            action = self._action(theme_menu, f"&{name.capitalize()}", lambda n=name: self.theme_requested.emit(n))
            action.setCheckable(True)
            self.theme_group.addAction(action)
            self.theme_actions[name] = action
        app = QApplication.instance()
        self.apply_theme_colours(str(app.property("tc_theme") or "") if app is not None else "")
        follow_theme(self)
        self._action(view, "&Reset layout", self.reset_layout)
        self._action(view, "Save layout &as…", self.ask_layout_name)
        self.layouts_menu = view.addMenu("&Layouts")
        self.layouts_menu.aboutToShow.connect(self._fill_layouts_menu)
        view.addSeparator()
        self.sound_action = QAction("Sou&nd on fills and rejects", self, checkable=True)
        self.sound_action.setChecked(self.activity_sound.enabled)
        self.sound_action.toggled.connect(self.set_sound_on_fills)
        view.addAction(self.sound_action)

    def _make_read_only(self) -> None:
        """A monitor: every trading action (execute, cancel, replace, halt, import, settings) is
        removed or disabled, the panels that only serve trading are hidden. The monitor's
        database refuses writes as well (services.db.Database(read_only=True))."""
        self.mode_badge.setText("MONITOR")
        self.mode_badge.setToolTip(f"read-only monitor of the {self.mode} database: no broker connection")
        self.trading_menu.menuAction().setVisible(False)
        for action in self.trading_menu.actions():
            action.setEnabled(False)
        for action in (self.import_action, self.settings_action, self.preview_view.preview_action,
                       self.preview_view.new_run_action, self.preview_view.execute_action, self.snapshots_view.import_action,
                       self.blotter_view.cancel_all_action, self.blotter_view.halt_action,
                       self.blotter_view.cancel_selected_action):
            action.setEnabled(False)
            action.setVisible(False)
        self.ticket_button_action.setVisible(False)
        for button in (self.ticket_button, self.blotter_view.cancel_all_button, self.blotter_view.halt_button,
                       self.preview_view.preview_button, self.preview_view.execute_button,
                       self.snapshots_view.import_button):
            button.setEnabled(False)
            button.hide()
        self.blotter_view.read_only = True  # its context menu offers no Cancel / Replace
        for name in MONITOR_HIDDEN:
            self.docks[name].hide()
            self.panel_actions[name].setVisible(False)
        if self.short:  # the one strip without the preview: the charts in front, not its last tab
            self.docks["charts"].raise_()

    def trading_actions_enabled(self) -> list[str]:
        """The trading actions a user can still trigger (a monitor: none)."""
        actions = [*self.trading_menu.actions(), self.import_action, self.settings_action,
                   self.preview_view.preview_action, self.preview_view.new_run_action, self.preview_view.execute_action,
                   self.snapshots_view.import_action, self.blotter_view.cancel_all_action, self.blotter_view.halt_action,
                   self.blotter_view.cancel_selected_action]
        buttons = [self.ticket_button, self.blotter_view.cancel_all_button, self.blotter_view.halt_button,
                   self.preview_view.preview_button, self.preview_view.execute_button, self.snapshots_view.import_button]
        return ([a.text() for a in actions if a.isEnabled() and not a.isSeparator()]
                + [b.text() for b in buttons if b.isEnabled() and b.isVisibleTo(self)])

    # -- actions that stay inside the window ----------------------------------------------------
    def set_trading_state(self, state) -> None:
        """The badge beside the mode (a toolbar widget is shown through its action)."""
        self.trading_state_badge.set_state(state)
        self.trading_state_action.setVisible(self.trading_state_badge.state != "ACTIVE")

    def _toggle_halt(self) -> None:
        # The blotter's one Halt/Resume button asks for confirmation and emits the intent.
        self.blotter_view.halt_button.click()

    def show_activity(self, entry: ActivityEntry) -> None:
        """One entry of the activity log: the status bar (unless it is a fill), the activity
        panel, a transient notification for warnings and errors, the optional sound."""
        if entry.in_status_bar:
            self.statusBar().showMessage(entry.text, entry.timeout_ms)
        self.activity_view.add(entry)
        if entry.level.notifies:
            self.toast.show_entry(entry)
        self.activity_sound.on_entry(entry)

    def set_sound_on_fills(self, enabled: bool) -> None:
        self.activity_sound.enabled = enabled
        self.sound_action.setChecked(enabled)
        self.layouts.set_preference("sound_on_fills", enabled)

    def apply_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)  # checks the menu's entry too (apply_theme_colours)

    def apply_theme_colours(self, name: str) -> None:
        """The View > Theme entry of ``name`` checked (``widgets.theme.follow_theme``); none
        for a theme the menu does not offer (none applied yet)."""
        action = self.theme_actions.get(name)
        if action is not None:
            action.setChecked(True)
        elif (checked := self.theme_group.checkedAction()) is not None:
            checked.setChecked(False)

    # -- layout persistence (UI state, kept apart from the user's settings file) ---------------
    def save_layout(self) -> None:
        self.layouts.save_current(self)
        self.save_preview_fields()

    def save_preview_fields(self) -> None:
        """The preview's build parameters as typed: the next session starts from them (saved at
        every preview too, so a session that does not close cleanly keeps them)."""
        self.layouts.set_preference("preview_fields", self.preview_view.field_texts())

    def restore_layout(self) -> bool:
        restored = self.layouts.restore_current(self)
        texts = self.layouts.preference("preview_fields")
        if isinstance(texts, dict):  # anything else (a damaged entry): the defaults
            self.preview_view.set_field_texts(texts)
        return restored

    def save_layout_as(self, name: str) -> str:
        """Save the docks and columns under a name (View -> Layouts switches back to it)."""
        return self.layouts.save_named(self, name)

    def switch_layout(self, name: str) -> bool:
        return self.layouts.load_named(self, name)

    def ask_layout_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save layout as", "Layout name:", text=self.layouts.current_name() or "")
        if not ok:
            return
        try:
            saved = self.save_layout_as(name)
        except LayoutError as exc:
            self.activity_log.append(f"Layout not saved: {exc}", Level.WARNING)
            return
        self.activity_log.info(f"Layout saved as {saved!r}", 5_000)

    def _fill_layouts_menu(self, menu: QMenu | None = None) -> QMenu:
        menu = menu or self.layouts_menu
        menu.clear()
        current = self.layouts.current_name()
        names = self.layouts.names()
        for number, name in enumerate(names, 1):
            action = menu.addAction(numbered(number, name))
            action.setCheckable(True)
            action.setChecked(name == current)
            action.triggered.connect(lambda _checked=False, n=name: self.switch_layout(n))
        if names:
            menu.addSeparator()
            delete = menu.addMenu("&Delete")
            for number, name in enumerate(names, 1):
                delete.addAction(numbered(number, name)).triggered.connect(
                    lambda _checked=False, n=name: self.layouts.delete_named(n))
        else:
            menu.addAction("(no saved layouts)").setEnabled(False)
        return menu

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._default_state, LAYOUT_VERSION)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self.closing.emit()
        super().closeEvent(event)
