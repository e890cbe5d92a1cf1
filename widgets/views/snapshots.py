"""Projects and their decision snapshots; import from a file; errors by line; the items."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.core.wording import file_problem, refused_file

from ..common import add_action, make_table, plain_label
from ..models.base import fmt_time
from ..models.proxy import RecordProxyModel
from ..models.snapshots import SnapshotItemsModel
from ..plain_text import plain_tooltip

PROJECT_ROLE = Qt.ItemDataRole.UserRole + 10
SNAPSHOT_ROLE = Qt.ItemDataRole.UserRole + 11
SNAPSHOT_FILTER = "Snapshots (*.csv *.json);;CSV (*.csv);;JSON (*.json);;All files (*)"


def problem_text(problem: Any) -> str:
    """``line 4, column weight: not a number`` from any object with line, column and message (a
    plain text: a problem of the file as a whole), in the words `snapshot import` prints it
    (``services.core.wording.file_problem``)."""
    return file_problem(getattr(problem, "line", None), getattr(problem, "column", None),
                        getattr(problem, "message", str(problem)))


def ask_project_name(parent: QWidget, names: list[str], current: str | None) -> str | None:
    """The project a file is imported into: an existing one or a new name typed in; None: the
    trader cancelled."""
    choices = list(names) or ["Demo"]
    start = choices.index(current) if current in choices else 0
    name, ok = QInputDialog.getItem(parent, "Import snapshot", "Into project (choose one or type a new name):",
                                    choices, start, True)
    name = name.strip()
    return name if ok and name else None


NEWEST_RULE = ("Each project's snapshots newest first: by the YYYY-MM-DD date in the file's name, else the day "
               "it was imported; of one day, the one imported later. The window opens on the newest.")


class SnapshotsView(QWidget):
    # a file, into the named project (created when new; "" is the project selected in the tree)
    import_requested = Signal(str, str)
    project_selected = Signal(int)
    snapshot_selected = Signal(int)

    def __init__(self, model: SnapshotItemsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Project / snapshot", "Items", "Imported"])
        # which snapshot is "the newest" (listed first, and the one the window opens on to preview)
        self.tree.headerItem().setToolTip(0, NEWEST_RULE)
        # The count and import time whole, the name the rest, cut in its middle (the full name in
        # its tooltip): a name column fixed at 220 px put "Imported" behind a horizontal scrollbar
        # at 1366x768 and cut "Items" to "Item".
        tree_header = self.tree.header()
        tree_header.setStretchLastSection(False)
        tree_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            tree_header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Import a snapshot file (Ctrl+I)")
        self.errors_label = plain_label()
        self.errors_label.setObjectName("errorLabel")
        # wrapped, and a long file name cut rather than widening the panel (the tooltip has it
        # whole): on one line it ("momentum_2026-12-01.csv: 6 problems; nothing was stored") made the
        # narrow panel (about 240 px on a large screen) 444 px wide, wider than its dock
        self.errors_label.setWordWrap(True)
        self.errors_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.dismiss_errors_button = QPushButton("Dismiss")
        self.dismiss_errors_button.setToolTip("Put the problems away (the file was not imported)")
        self.errors_list = QListWidget()
        self.errors_list.setObjectName("importErrors")
        # a problem is read whole in a narrow panel: "weight '0.2o' is not a finite…" told nothing
        self.errors_list.setWordWrap(True)
        self.errors_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.items_proxy = RecordProxyModel(self)
        self.items_proxy.setSourceModel(model)
        self.items_table = make_table(self.items_proxy, self, sortable=True, replaced_whole=True)
        self.items_table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # file order until a header click
        # another snapshot's items are read from their first: the table kept the scroll of the one
        # shown before, and rank 1 of the new one was out of view (a trader's walk under Xvfb)
        model.modelReset.connect(self.items_table.scrollToTop)
        # each snapshot shown replaces the rows whole: the columns widen for it, never narrow (sized
        # for the first snapshot alone, a later one's ZZZZNOPE or SAP@IBIS:EUR read "ZZZZNO…")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.tree)
        # A file's problems are listed over the items, the panel's wide part: under the tree, in
        # its column, they squeezed it to two rows (the Snapshots tab at 1366x768 is about 235 px
        # tall) and each problem wrapped over two lines.
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.errors_bar = QWidget()
        errors_bar = QHBoxLayout(self.errors_bar)
        errors_bar.setContentsMargins(0, 0, 0, 0)
        errors_bar.addWidget(self.errors_label, 1)
        errors_bar.addWidget(self.dismiss_errors_button)
        right_layout.addWidget(self.errors_bar)
        right_layout.addWidget(self.errors_list)
        right_layout.addWidget(self.items_table, 1)
        self.errors_bar.setVisible(False)
        self.errors_list.setVisible(False)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)  # neither part is ever squeezed out of sight
        # Side by side, the tree is given the width its columns need until the trader drags the
        # handle (splitterMoved: drags only, not setSizes); that width then stays for the session.
        self._tree_width_dragged = False
        splitter.splitterMoved.connect(self._on_splitter_dragged)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.import_button.clicked.connect(self.choose_import_file)
        self.dismiss_errors_button.clicked.connect(self.clear_import_errors)
        self.tree.currentItemChanged.connect(self._on_current_item_changed)
        # Window-wide: the main window's menu binds the key (see add_action).
        self.import_action = add_action(self, "Import snapshot…", self.choose_import_file, "Ctrl+I", install=False)

    # In the default layout of a large screen the panel is a narrow left column (about 240 px):
    # side by side, the items table kept two columns of it. Narrower than this, the snapshots
    # go above their items, each as wide as the panel; wider (a laptop's tab), side by side.
    STACKED_BELOW = 520

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.errors_list.count():
            # a narrower panel wraps a problem over more lines: measured once the list has its new width
            QTimer.singleShot(0, self, self._fit_errors_list)
        want = Qt.Orientation.Vertical if self.width() < self.STACKED_BELOW else Qt.Orientation.Horizontal
        if self.splitter.orientation() != want:
            self.splitter.setOrientation(want)
            self._tree_width_dragged = False  # a width dragged side by side means nothing stacked
            if want == Qt.Orientation.Vertical:
                total = self.splitter.height()
                self.splitter.setSizes([total * 2 // 5, total - total * 2 // 5])
        # stacked, the tree is the panel's narrow width (about 270 px on a large screen): the
        # names whole first, the import time behind a scrollbar, rather than "mo…on" beside it
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents
                                                if want == Qt.Orientation.Vertical else QHeaderView.ResizeMode.Stretch)
        self._fit_tree_width()

    # Side by side, the tree's share of the panel at most: the items table keeps the rest.
    TREE_SHARE_AT_MOST = 0.4

    def _fit_tree_width(self) -> None:
        """Side by side and not dragged: the tree as wide as its columns whole need, capped."""
        if self.splitter.orientation() != Qt.Orientation.Horizontal or self._tree_width_dragged:
            return
        tree, header = self.tree, self.tree.header()
        columns = sum(max(tree.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(header.count()))
        scrollbar = tree.verticalScrollBar().sizeHint().width()  # the width taken when rows overflow
        needed = columns + scrollbar + 2 * tree.frameWidth()
        total = self.splitter.width() - self.splitter.handleWidth()
        left = min(needed, int(total * self.TREE_SHARE_AT_MOST))
        self.splitter.setSizes([left, total - left])

    def _on_splitter_dragged(self, _pos: int, _index: int) -> None:
        self._tree_width_dragged = True

    def install_shortcuts(self) -> None:
        """Make Ctrl+I live on this panel (when no main-window menu has it)."""
        self.addAction(self.import_action)

    # -- state from the controller ----------------------------------------------------------

    def set_projects(self, projects: Iterable[Any], snapshots: Iterable[Any]) -> None:
        """projects: objects with id and name; snapshots: objects with id, project_id,
        source_name, item_count, created_at, listed in the order given: newest first by the
        services' rule (services.console_queries.snapshot_recency: a snapshot's date is the one
        in its name, else the day it was stored), not re-sorted here by the time stored."""
        selected = self.current_snapshot_id()
        self.tree.blockSignals(True)
        self.tree.clear()
        by_project: dict[int, QTreeWidgetItem] = {}
        for project in projects:
            item = QTreeWidgetItem([project.name, "", ""])
            item.setData(0, PROJECT_ROLE, project.id)
            self.tree.addTopLevelItem(item)
            by_project[project.id] = item
        for snapshot in snapshots:
            project_id = getattr(snapshot, "project_id", None)
            parent = by_project.get(project_id) if project_id is not None else None
            if parent is None:
                continue
            name = getattr(snapshot, "source_name", None) or f"snapshot {snapshot.id}"
            child = QTreeWidgetItem([name, str(getattr(snapshot, "item_count", "") or ""),
                                     fmt_time(getattr(snapshot, "created_at", None))[:16]])
            child.setData(0, SNAPSHOT_ROLE, snapshot.id)
            child.setToolTip(0, plain_tooltip(name))  # whole, where the column shows it cut
            parent.addChild(child)
            if snapshot.id == selected:
                self.tree.setCurrentItem(child)
        self.tree.expandAll()
        self.tree.blockSignals(False)
        self._fit_tree_width()

    def current_project_id(self) -> int | None:
        item = self.tree.currentItem()
        while item is not None and item.data(0, PROJECT_ROLE) is None:
            item = item.parent()
        return None if item is None else item.data(0, PROJECT_ROLE)

    def current_snapshot_id(self) -> int | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(0, SNAPSHOT_ROLE)

    def select_snapshot(self, snapshot_id: int) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            project = self.tree.topLevelItem(i)
            assert project is not None  # i < topLevelItemCount()
            for j in range(project.childCount()):
                snapshot = project.child(j)
                if snapshot is not None and snapshot.data(0, SNAPSHOT_ROLE) == snapshot_id:
                    self.tree.setCurrentItem(snapshot)
                    return True
        return False

    def show_import_errors(self, source: str, problems: Iterable[Any]) -> None:
        problems = list(problems)
        self.errors_list.clear()
        for problem in problems:
            text = problem_text(problem)
            item = QListWidgetItem(text)
            item.setToolTip(plain_tooltip(text))
            self.errors_list.addItem(item)
        self.errors_label.setText(refused_file(source, len(problems)))  # the command's and the activity log's words
        self.errors_label.setToolTip(plain_tooltip(self.errors_label.text()))
        self.errors_bar.setVisible(True)
        self.errors_list.setVisible(bool(problems))
        self._fit_errors_list()

    # Problems in view at once: the items keep the rest of a short panel (more are a scroll away).
    PROBLEMS_IN_VIEW = 4

    def _fit_errors_list(self) -> None:
        listed = self.errors_list
        rows = [listed.sizeHintForRow(row) for row in range(min(listed.count(), self.PROBLEMS_IN_VIEW))]
        listed.setMaximumHeight(sum(rows) + 2 * listed.frameWidth())

    def clear_import_errors(self) -> None:
        self.errors_list.clear()
        self.errors_label.setText("")
        self.errors_bar.setVisible(False)
        self.errors_list.setVisible(False)

    # -- intents ----------------------------------------------------------------------------

    def choose_import_file(self) -> None:
        if not self.import_button.isEnabled():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import snapshot", "", SNAPSHOT_FILTER)
        if not path:
            return
        project = ask_project_name(self, self.project_names(), self.current_project_name())
        if project is not None:
            self.import_requested.emit(path, project)

    def project_names(self) -> list[str]:
        return [item.text(0) for i in range(self.tree.topLevelItemCount()) if (item := self.tree.topLevelItem(i))]

    def current_project_name(self) -> str | None:
        item = self.tree.currentItem()
        while item is not None and item.parent() is not None:
            item = item.parent()
        return None if item is None else item.text(0)

    def _on_current_item_changed(self, current: QTreeWidgetItem | None, _previous) -> None:
        if current is None:
            return
        snapshot_id = current.data(0, SNAPSHOT_ROLE)
        if snapshot_id is not None:
            self.snapshot_selected.emit(snapshot_id)
        else:
            self.project_selected.emit(current.data(0, PROJECT_ROLE))
