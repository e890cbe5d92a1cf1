"""The fills stream with totals, newest first, exportable."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from services.core.wording import counted

from ..common import (
    choose_and_export,
    export_visible_rows,
    live_text_label,
    make_table,
    notice_label,
    set_live_text,
    set_notice,
)
from ..models.base import fmt_money, fmt_quantity
from ..models.fills import FillsModel
from ..models.proxy import FillFilterProxyModel


class FillsView(QWidget):
    exported = Signal(str, int)
    #: The symbol filter changed (the proxy already applied it to the loaded rows).
    filters_changed = Signal()

    def __init__(self, model: FillsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        # The model keeps fills newest first; the proxy only sorts for other header orders.
        self.proxy = FillFilterProxyModel(model, self)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Symbol…")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._on_search_changed)
        self.search_edit.textChanged.connect(lambda _text: self.filters_changed.emit())
        self.totals_label = live_text_label()
        self.totals_label.setObjectName("totalsLabel")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.choose_export_file)
        self.table = make_table(self.proxy, self, sortable=True, widths=[c.width for c in model.columns])
        self.table.sortByColumn(FillsModel.TIME, Qt.SortOrder.DescendingOrder)
        # In the right column at 1366x768 (about 480 px) the columns to Commission took 482 and
        # the exec id 200 more, a sideways scroll away, and nothing said which order a fill was
        # of. The order's id comes last and takes the room left; the exec id (IB's, in the CSV
        # and the header's menu) and each fill's commission (summed in the totals line above, in
        # the CSV) are hidden until shown from the header's menu, as the blotter hides its Run.
        for hidden in (FillsModel.COMMISSION, FillsModel.EXEC_ID):
            self.table.horizontalHeader().hideSection(hidden)
        bar = QHBoxLayout()
        bar.addWidget(self.search_edit, 1)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        # the totals on a line of their own, the panel's whole width: beside the filter and the
        # button a docked panel left them a third of it, and "sold ... commission" was cut off
        layout.addWidget(self.totals_label)
        # the broker's fills the database has not taken: not among the rows nor in the totals
        self.unrecorded_label = notice_label()
        layout.addWidget(self.unrecorded_label)
        layout.addWidget(self.table)
        model.flushed.connect(self._update_totals)
        model.modelReset.connect(self._update_totals)
        model.rowsInserted.connect(self._update_totals)  # an older page
        self._not_read: str | None = None
        self._update_totals()

    def set_not_read(self, text: str | None) -> None:
        """``text`` in place of the totals while the fills were not read (the caller's words: a
        monitor waiting for its database); "0 fills" said none were made. None: the totals."""
        self._not_read = text
        self._update_totals()

    def set_unrecorded(self, text: str | None) -> None:
        """What the broker reported filled that the database has not taken (the caller's words:
        services.execution.unrecorded_reports); None once it has, or when nothing waits."""
        set_notice(self.unrecorded_label, text)

    def _on_search_changed(self, text: str) -> None:
        # a paged history: the pages scrolled in are dropped first (the pager reads the filter's
        # first page from the database), so the proxy filters one page, not all of them
        self.model.drop_older_pages()
        self.proxy.set_symbol_filter(text)

    def _update_totals(self, *_args) -> None:
        if self._not_read is not None:
            set_live_text(self.totals_label, self._not_read)
            return
        per_currency = self.model.totals()
        # a paged history: the totals are of the fills loaded so far, and say so
        loaded = "" if self.model.exhausted else " loaded (older on scrolling)"
        # one currency: its sums as they are; several: each currency's own (a EUR fill's
        # notional added to a USD one at face value would be neither), each on a line of its own:
        # on one line the second currency's sums went past the docked panel's edge, out of sight
        sums = "\n".join((f"{t.currency}: " if len(per_currency) > 1 else "") +
                          f"bought {fmt_quantity(t.bought_quantity)} for {fmt_money(t.bought_notional)}"
                          f" · sold {fmt_quantity(t.sold_quantity)} for {fmt_money(t.sold_notional)}"
                          f" · commission {fmt_money(t.commission)}" for t in per_currency)
        text = f"{counted(self.model.totals_count(), 'fill')}{loaded}" + (f" · {sums}" if sums else "")
        set_live_text(self.totals_label, text)

    def export_csv(self, path: str) -> int:
        """Write the visible rows, in the visible order, with exact values."""
        count = export_visible_rows(self.proxy, self.model, path)
        self.exported.emit(path, count)
        return count

    def choose_export_file(self) -> None:
        choose_and_export(self, "Export fills", "fills.csv", self.export_csv)
