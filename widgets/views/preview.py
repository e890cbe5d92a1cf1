"""The order preview: the build parameters, the orders with totals, Execute and the run's progress."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from services.core.builder import builder_defaults
from services.core.cash_buffer import cash_buffer_percent
from services.core.preview_form import PreviewForm
from services.core.typed_numbers import plain
from services.core.wording import counted, percent
from services.domain import OrderType

from ..common import LineProgressBar, add_action, fit_column, make_table, number_keys, plain_label
from ..models.base import fmt_money
from ..models.preview import PreviewOrdersModel

ROUNDINGS = ("nearest", "floor")


class LetShortcutsThrough(QObject):
    """Event filter for line edits: the window's Ctrl+E / Ctrl+P win over the edit's own key
    bindings (on X11 a QLineEdit takes Ctrl+E as "end of line" and the shortcut never fires)."""

    def __init__(self, sequences: Iterable[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sequences = {QKeySequence(s) for s in sequences}

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and QKeySequence(event.keyCombination()) in self.sequences):
            event.ignore()  # not the edit's: the shortcut map tries the window's action
            return True
        return super().eventFilter(watched, event)


class PreviewView(QWidget):
    preview_requested = Signal(object)  # dict of build parameters (Decimal values)
    new_run_preview_requested = Signal(object)  # the same, previewed in a new run of the day
    execute_requested = Signal()
    form_changed = Signal()  # a field of the form changed (typed, chosen or set)

    def __init__(self, model: PreviewOrdersModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        # read, or refused with the reason, by services.core.preview_form; an e too, refused there
        # with the field named (swallowed as it was typed, a lot size typed 1e3 became 13)
        validator = number_keys(self, exponent=True)
        # empty: the project's capital, else the account's NetLiquidation (docs/project-books.md)
        self.portfolio_edit = QLineEdit("")
        self.portfolio_edit.setPlaceholderText("project capital, else NetLiquidation")
        self.portfolio_edit.setToolTip("Empty: the project's capital (Settings), else the account's NetLiquidation")
        # the builder's own defaults, as the commands' options (a preview left as it opens builds
        # the same orders as `preview` given no option)
        builder = builder_defaults()
        self.cash_buffer_edit = QLineEdit(cash_buffer_percent(builder["cash_buffer"]))
        self.lot_size_edit = QLineEdit(plain(builder["lot_size"]))
        self.bps_edit = QLineEdit(plain(builder["limit_offset_bps"]))
        self.min_order_edit = QLineEdit(plain(builder["min_order_value"]))
        for edit in (self.portfolio_edit, self.cash_buffer_edit, self.lot_size_edit, self.bps_edit, self.min_order_edit):
            edit.setValidator(validator)
            edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.rounding_combo = QComboBox()
        self.rounding_combo.addItems(ROUNDINGS)
        self.rounding_combo.setCurrentText(builder["rounding"].value)
        self.order_type_combo = QComboBox()
        # a run's orders are market or limit orders (stop orders go through the order ticket)
        self.order_type_combo.addItems([OrderType.MKT.value, OrderType.LMT.value])
        self.order_type_combo.setCurrentText(builder["order_type"].value)
        self.order_type_combo.currentTextChanged.connect(self._on_order_type_changed)
        self.liquidate_check = QCheckBox("Sell holdings not in the snapshot")
        self.liquidate_check.setChecked(builder["liquidate_unlisted"])
        self.liquidate_check.setToolTip("liquidate-unlisted: positions of symbols the snapshot does not list "
                                        "are sold down to zero (otherwise they are left alone)")
        self.error_label = plain_label()
        self.error_label.setObjectName("errorLabel")
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Build the orders (Ctrl+P)")
        self.execute_button = QPushButton("Execute")
        self.execute_button.setObjectName("executeButton")
        self.execute_button.setToolTip("Send the previewed orders (Ctrl+E)")
        self.execute_button.setEnabled(False)
        self.subject_label = plain_label()  # whose plan the table shows (PreviewResult.subject_line)
        self.subject_label.setObjectName("subjectLabel")
        self.subject_label.setVisible(False)
        self.totals_label = plain_label()
        self.totals_label.setObjectName("totalsLabel")
        self._targeted = ""  # what the shown preview's plan targets (PreviewResult.targeted)
        self.skipped_label = plain_label()
        self.skipped_label.setWordWrap(True)
        # each line takes its room only while it says something: empty, the two took some 40 px
        # of the table's rows (two of the five a 1366x768 screen showed; seen under Xvfb)
        for line in (self.error_label, self.skipped_label):
            line.setVisible(False)
        self.progress = LineProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("no run")
        self.table = make_table(model, self, sortable=False, replaced_whole=True)
        # Empty, before the first preview, its eleven columns at Qt's 100 px ran past the table's
        # 1,011 px at 1366x768, a sideways scrollbar under nothing: each starts at its title's width
        for column in range(model.columnCount()):
            fit_column(self.table, column)

        form = QFormLayout()
        form.addRow("Portfolio value", self.portfolio_edit)
        form.addRow("Cash buffer %", self.cash_buffer_edit)
        form.addRow("Lot size", self.lot_size_edit)
        form.addRow("Rounding", self.rounding_combo)
        form.addRow("Order type", self.order_type_combo)
        form.addRow("Limit offset bps", self.bps_edit)
        form.addRow("Min order value", self.min_order_edit)
        form.addRow("", self.liquidate_check)
        # A laptop screen gives this panel about 230 px: the form scrolls rather than being
        # squeezed (a layout shrinks line edits below their own height, clipping their text),
        # and the buttons share the progress bar's row, always in view.
        form_holder = QWidget()
        form_holder.setLayout(form)
        form.setContentsMargins(0, 0, 4, 0)
        form.setVerticalSpacing(3)  # all eight rows in view on a 1366x768 screen
        form_scroll = QScrollArea()
        form_scroll.setWidget(form_holder)
        form_scroll.setWidgetResizable(True)
        form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        form_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no Tab stop of its own: Tab goes to the fields it holds
        form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        form_scroll.setMinimumWidth(form_holder.minimumSizeHint().width() + form_scroll.verticalScrollBar().sizeHint().width())
        form_scroll.setMaximumWidth(form_scroll.minimumWidth())
        right = QVBoxLayout()
        right.addWidget(self.subject_label)
        right.addWidget(self.table)
        right.addWidget(self.totals_label)
        right.addWidget(self.error_label)
        right.addWidget(self.skipped_label)
        top = QHBoxLayout()
        top.addWidget(form_scroll)
        top.addLayout(right, 1)
        for button in (self.preview_button, self.execute_button):
            button.setMinimumWidth(form_scroll.minimumWidth() // 2 - 4)
        bottom = QHBoxLayout()
        bottom.addWidget(self.preview_button)
        bottom.addWidget(self.execute_button)
        bottom.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top, 1)
        layout.addLayout(bottom)

        self.preview_button.clicked.connect(self.request_preview)
        self.execute_button.clicked.connect(self.request_execute)
        model.modelReset.connect(self._update_totals)
        model.flushed.connect(self._update_totals)
        # Window-wide: the main window's menu binds these keys (see add_action).
        self.preview_action = add_action(self, "Preview orders", self.request_preview, "Ctrl+P", install=False)
        self.new_run_action = add_action(self, "Preview in a new run", self.request_new_run_preview, "Ctrl+Shift+P",
                                         install=False)
        self.execute_action = add_action(self, "Execute run…", self.request_execute, "Ctrl+E", install=False)
        self._shortcuts_through = LetShortcutsThrough(("Ctrl+E", "Ctrl+P", "Ctrl+Shift+P"), self)
        for edit in (self.portfolio_edit, self.cash_buffer_edit, self.lot_size_edit, self.bps_edit, self.min_order_edit):
            edit.installEventFilter(self._shortcuts_through)
        for edit in (self.portfolio_edit, self.cash_buffer_edit, self.lot_size_edit, self.bps_edit, self.min_order_edit):
            edit.textChanged.connect(self.form_changed)
        self.rounding_combo.currentTextChanged.connect(self.form_changed)
        self.order_type_combo.currentTextChanged.connect(self.form_changed)
        self.liquidate_check.toggled.connect(self.form_changed)
        self._on_order_type_changed(self.order_type_combo.currentText())
        self._update_totals()

    def install_shortcuts(self) -> None:
        """Make Ctrl+P / Ctrl+E live on this panel (when no main-window menu has them)."""
        self.addActions([self.preview_action, self.new_run_action, self.execute_action])

    # -- parameters -------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """The build parameters, or raises ValueError with a message for the user (the form's
        reading and the builder's rules: services.core.preview_form)."""
        return PreviewForm(self.portfolio_edit.text(), self.cash_buffer_edit.text(), self.lot_size_edit.text(),
                           self.bps_edit.text(), self.min_order_edit.text(), self.rounding_combo.currentText(),
                           self.order_type_combo.currentText(), self.liquidate_check.isChecked()).build_values()

    def set_params(self, params: dict[str, Any]) -> None:
        if "portfolio_value" in params:
            self.portfolio_edit.setText(str(params["portfolio_value"]))
        if "cash_buffer" in params:
            self.cash_buffer_edit.setText(cash_buffer_percent(Decimal(str(params["cash_buffer"]))))
        if "lot_size" in params:
            self.lot_size_edit.setText(str(params["lot_size"]))
        if "rounding" in params:
            self.rounding_combo.setCurrentText(str(params["rounding"]))
        if "order_type" in params:
            self.order_type_combo.setCurrentText(str(params["order_type"]))
        if "limit_offset_bps" in params:
            self.bps_edit.setText(str(params["limit_offset_bps"]))
        if "min_order_value" in params:
            self.min_order_edit.setText(str(params["min_order_value"]))
        if "liquidate_unlisted" in params:
            self.liquidate_check.setChecked(str(params["liquidate_unlisted"]).lower() in ("true", "1"))

    def field_texts(self) -> dict[str, str]:
        """The fields as typed (kept between sessions, even when not valid yet)."""
        return {"portfolio_value": self.portfolio_edit.text(), "cash_buffer_pct": self.cash_buffer_edit.text(),
                "lot_size": self.lot_size_edit.text(), "rounding": self.rounding_combo.currentText(),
                "order_type": self.order_type_combo.currentText(), "limit_offset_bps": self.bps_edit.text(),
                "min_order_value": self.min_order_edit.text(),
                "liquidate_unlisted": "true" if self.liquidate_check.isChecked() else "false"}

    def set_field_texts(self, texts: dict[str, str]) -> None:
        """What field_texts() returned (an unknown or missing field keeps its value)."""
        edits = {"portfolio_value": self.portfolio_edit, "cash_buffer_pct": self.cash_buffer_edit,
                 "lot_size": self.lot_size_edit, "limit_offset_bps": self.bps_edit, "min_order_value": self.min_order_edit}
        for name, edit in edits.items():
            if isinstance(texts.get(name), str):
                edit.setText(texts[name])
        for name, combo in (("rounding", self.rounding_combo), ("order_type", self.order_type_combo)):
            if isinstance(texts.get(name), str) and combo.findText(texts[name]) >= 0:
                combo.setCurrentText(texts[name])
        if isinstance(texts.get("liquidate_unlisted"), str):
            self.liquidate_check.setChecked(texts["liquidate_unlisted"] == "true")

    # -- state from the controller ----------------------------------------------------------

    def set_busy(self, operation: str, busy: bool) -> None:
        if operation in ("preview", "all"):
            # a focused button turned off hands the focus to the next widget in the chain (walked
            # under Xvfb: after Preview the Fills table held it); it comes back to Preview when the
            # preview ends, unless the trader moved it meanwhile
            had_focus = busy and self.preview_button.hasFocus()
            self.preview_button.setEnabled(not busy)
            self.preview_action.setEnabled(not busy)
            self.new_run_action.setEnabled(not busy)
            if had_focus:
                self._focus_moved_to = QApplication.focusWidget()
            elif not busy:
                moved_to, self._focus_moved_to = self._focus_moved_to, None
                if moved_to is not None and QApplication.focusWidget() is moved_to:
                    self.preview_button.setFocus(Qt.FocusReason.OtherFocusReason)
        if operation in ("execute", "all"):
            self._execute_busy = busy
            self.execute_button.setEnabled(not busy and self._execute_allowed)
            self.execute_action.setEnabled(not busy and self._execute_allowed)

    _execute_allowed = False
    _execute_busy = False
    _focus_moved_to: QWidget | None = None  # where the focus went as a focused Preview turned off

    def set_execute_enabled(self, enabled: bool, reason: str = "") -> None:
        """The controller decides (a preview exists, risk is ready, trading not halted); the
        button stays off while the panel is busy (a preview still finishing its plan)."""
        self._execute_allowed = enabled
        self.execute_button.setEnabled(enabled and not self._execute_busy)
        self.execute_action.setEnabled(enabled and not self._execute_busy)
        self.execute_button.setToolTip(reason or "Send the previewed orders (Ctrl+E)")

    def set_subject(self, line: str) -> None:
        """Whose plan the table shows ("" when none is shown): its project and snapshot."""
        _say(self.subject_label, line)

    def set_skipped(self, skipped: Iterable[Any], note: str = "") -> None:
        """The symbols the builder skipped, after ``note`` (the preview's working orders counted
        as filled, when there were any)."""
        skipped = list(skipped)
        lines = [note[:1].upper() + note[1:]] if note else []
        if skipped:
            # the builder's message names its symbol ("MSFT: no price"): shown once
            lines.append("Skipped: " + "; ".join(s.message for s in skipped))
        _say(self.skipped_label, "\n".join(lines))

    def set_targeted(self, targeted: str = "") -> None:
        """What the shown preview's plan targets, said at the end of the totals line ("" when no
        preview is shown): the service's words (PreviewResult.targeted), not a sum of the rows,
        which counted only the traded names' weights."""
        self._targeted = targeted
        self._update_totals()

    def clear_progress(self) -> None:
        """No run followed (a preview forgotten before it was sent): the bar says so, not the
        forgotten plan's "0 of N filled"."""
        self.progress.setValue(0)
        self.progress.setFormat("no run")

    def set_progress(self, filled_notional: Decimal, target_notional: Decimal, text: str | None = None) -> None:
        ratio = Decimal(0) if not target_notional else min(Decimal(1), filled_notional / target_notional)
        self.progress.setValue(int(ratio * 1000))
        self.progress.setFormat(text or f"{fmt_money(filled_notional)} of {fmt_money(target_notional)} ({percent(ratio)})")

    # -- intents ----------------------------------------------------------------------------

    def request_preview(self) -> None:
        self._request(self.preview_requested)

    def request_new_run_preview(self) -> None:
        """Preview in a new run of the day: the day's run of this snapshot already executed its
        plan (a preview in it can be reviewed, not sent) and the trader wants to trade again."""
        self._request(self.new_run_preview_requested)

    def _request(self, signal) -> None:
        if not self.preview_button.isEnabled():
            return
        try:
            params = self.params()
        except ValueError as exc:
            _say(self.error_label, str(exc))
            return
        _say(self.error_label, "")
        signal.emit(params)

    def request_execute(self) -> None:
        if self.execute_button.isEnabled():
            self.execute_requested.emit()

    def _on_order_type_changed(self, text: str) -> None:
        self.bps_edit.setEnabled(text == OrderType.LMT.value)

    def _update_totals(self, *_args) -> None:
        t = self.model.totals()
        self.totals_label.setText(
            f"{counted(t.count, 'order')} · buy {fmt_money(t.buy_notional)} · sell {fmt_money(t.sell_notional)}"
            f" · gross {fmt_money(t.gross_notional)}" + (f" · {self._targeted}" if self._targeted else "")
        )


def _say(label, text: str) -> None:
    """A line of the panel under the table, shown only while it has something to say."""
    label.setText(text)
    label.setVisible(bool(text))
