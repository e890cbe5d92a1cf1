"""The settings form. It edits a plain dict and emits it; the composition root saves it through
the settings object (this dialog saves nothing itself).

Input and output shape::

    {"ib": {"host": str, "port": int, "client_id": int, "account": str, "market_data_type": str,
            "market_data_lines": int},
     "execution_data_source": "ib" | "simulator",   # input: the stored value, which may be unknown;
                                                     # output: not in a demo session's (it ignores it)
     "session": {"text": str, "demo": bool},         # input only: what this session is connected to
     "data_sources": ["ib", "simulator"],            # input only: the known sources
     "risk_defaults": {name: value, ...},
     "recovery": {"new_timeout_seconds": ..., "max_auto_retries": ..., "max_price_deviation_pct": ...,
                  "allow_replace_outside_rth": bool, ...},
     "project_capital": {project name: amount or None},  # a project's capital (None: off),
                                 # its previews' default portfolio value (docs/project-books.md)
     "stored_problems": [str, ...],  # input only: stored values today's rules refuse, said at opening
     "remove": ["risk.NAME", ...],  # output only: stored settings of another version to remove

In the output the three tables' values are each cell's text as typed ("25,000", "off", "yes"):
the services read it per setting (services.trade_settings_keys.read_setting), as they read
``trade-settings set``'s.
     "database_url": str,        # only in the output when the user typed a new URL
     "theme": "dark" | "light"}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.core.books import CapitalError, parse_capital
from services.core.typed_numbers import MAX_CLIENT_ID, typed_client_id, typed_lines, typed_port
from services.core.wording import ANOTHER_VERSION, as_sentence
from services.trade_settings_keys import SECTIONS, TradeSettingsError, changed_section
from services.urls import redact_url

from ..common import plain_label, wheel_only_when_focused

MARKET_DATA_TYPES = ("live", "frozen", "delayed", "delayed_frozen")
KEY_ROLE = Qt.ItemDataRole.UserRole + 1  # the stored key behind a row's label
THEMES = ("dark", "light")


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "off" if value is None else str(value)


class SettingsDialog(QDialog):
    settings_submitted = Signal(dict)

    def __init__(self, values: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        ib = values.get("ib", {})
        self.host_edit = QLineEdit(str(ib.get("host", "127.0.0.1")))
        # a field read by the services' rule (services.core.typed_numbers.typed_port), a bad port
        # said under the form at OK as the other fields' are: a spin box took no key that went
        # beyond 65535, and said nothing (7497 with a 0 typed after it stayed 7497)
        self.port_edit = QLineEdit(str(ib.get("port", 7497)))
        self.port_edit.setToolTip("TWS: 7497 paper, 7496 live; IB Gateway: 4002 paper, 4001 live (1 to 65535)")
        # fields read by the services' rules too (typed_client_id, typed_lines): the spin boxes took
        # no key going past their limits and said nothing (150000 lines typed became 15000)
        self.client_id_edit = QLineEdit(str(ib.get("client_id", 1)))
        self.client_id_edit.setToolTip(f"The API client id, unique per connection to TWS / IB Gateway (0 to {MAX_CLIENT_ID})")
        self.account_edit = QLineEdit(str(ib.get("account", "")))
        self.market_data_combo = QComboBox()
        self.market_data_combo.addItems(MARKET_DATA_TYPES)
        self.market_data_combo.setCurrentText(str(ib.get("market_data_type", "delayed")))
        self.market_data_lines_edit = QLineEdit(str(ib.get("market_data_lines", 100)))
        self.market_data_lines_edit.setToolTip("The account's market data lines (IB: 100, more with commissions or "
                                               "booster packs), shared by the watchlist's quotes and the preview's "
                                               "prices. Used at the next start.")
        self.data_sources = tuple(values.get("data_sources") or ("ib", "simulator"))
        stored_source = str(values.get("execution_data_source") or self.data_sources[0])
        self.data_source_combo = QComboBox()
        self.data_source_combo.addItems(self.data_sources)
        if stored_source not in self.data_sources:  # stored before it was validated: shown, never kept
            self.data_source_combo.insertItem(0, stored_source)
        self.data_source_combo.setCurrentText(stored_source)
        self.data_source_combo.setToolTip("ib: TWS / IB Gateway at the host and port below; simulator: the built-in "
                                          "simulator, run inside the console. Used at the next start.")
        session = values.get("session") or {}
        # A demo session runs the built-in simulator whatever is stored: its data source (stored in
        # the demo's own database) is not offered, and the rest is said to be for paper and live.
        self.demo = bool(session.get("demo"))
        self.session_label = plain_label(str(session.get("text", "")))
        self.session_label.setObjectName("sessionConnection")
        self.session_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        connection = QGroupBox("Connection of paper and live sessions" if self.demo else "Connection")
        form = QFormLayout(connection)
        if session:
            form.addRow("This session", self.session_label)
        if self.demo:
            note = QLabel("Demo mode always runs the built-in simulator: the settings below are for paper and "
                          "live sessions, used at their next start.")
            note.setObjectName("demoConnectionNote")
            note.setWordWrap(True)
            form.addRow(note)
        form.addRow("Data source", self.data_source_combo)
        form.setRowVisible(self.data_source_combo, not self.demo)
        form.addRow("Host", self.host_edit)
        form.addRow("Port", self.port_edit)
        form.addRow("Client id", self.client_id_edit)
        form.addRow("Account", self.account_edit)
        form.addRow("Market data", self.market_data_combo)
        form.addRow("Market data lines", self.market_data_lines_edit)

        labels = values.get("labels") or {}
        # what is stored, for OK to tell a row left as it was from a change (a value stored beyond
        # today's bounds stops no other change)
        self._stored = {"risk": dict(values.get("risk_defaults", {})), "auto_recovery": dict(values.get("recovery", {})),
                        "execution": dict(values.get("execution", {}))}
        self.risk_table = self._dict_table(values.get("risk_defaults", {}), labels, "switches the limit off")
        self.risk_table.setMinimumHeight(200)
        risk = QGroupBox("Risk defaults")
        QVBoxLayout(risk).addWidget(self.risk_table)
        self.recovery_table = self._dict_table(values.get("recovery", {}), labels)
        self.recovery_table.setMinimumHeight(120)
        recovery = QGroupBox("Auto-recovery")
        QVBoxLayout(recovery).addWidget(self.recovery_table)
        self.execution_table = self._dict_table(values.get("execution", {}), labels)
        self.execution_table.setMinimumHeight(100)
        execution = QGroupBox("Sending stored plans")
        QVBoxLayout(execution).addWidget(self.execution_table)
        execution.setVisible(bool(values.get("execution")))
        # a setting another version stored cannot be changed here, only removed (as by
        # `trade-settings unset`): its row shows the value read-only beside Remove, which hides
        # the row; OK hands the key over in "remove" (Cancel forgets it)
        self._removed: set[str] = set()
        self.remove_buttons: dict[str, QPushButton] = {}
        for section, table in (("risk", self.risk_table), ("auto_recovery", self.recovery_table),
                               ("execution", self.execution_table)):
            for row in range(table.rowCount()):
                if _cell_key(table, row) not in SECTIONS[section]:
                    self._offer_removal(section, table, row)

        capitals = values.get("project_capital", {})
        self.capital_table = self._dict_table(capitals, {str(name): str(name) for name in capitals},  # names as they are
                                              "removes the capital (previews then take the account's NetLiquidation)")
        self.capital_table.setHorizontalHeaderLabels(["Project", "Capital"])
        self.capital_table.setToolTip("Each project's capital: the default portfolio value of its previews "
                                      "(off: the account's NetLiquidation)")
        capital = QGroupBox("Project capital")
        QVBoxLayout(capital).addWidget(self.capital_table)
        capital.setVisible(bool(values.get("project_capital")))

        self._masked_url = redact_url(values.get("database_url", ""))
        self.database_edit = QLineEdit(self._masked_url)
        self.database_edit.setToolTip("The password is never shown; type a full URL to change it.")
        self.theme_combo = QComboBox()
        self.theme_combo.addItems(THEMES)
        self.theme_combo.setCurrentText(str(values.get("theme", "dark")))
        other = QGroupBox("Database and display")
        other_form = QFormLayout(other)
        other_form.addRow("Database URL", self.database_edit)
        other_form.addRow("Theme", self.theme_combo)

        self.error_label = plain_label()
        self.error_label.setObjectName("errorLabel")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        # the groups scroll; the error line and OK / Cancel stay in view below them (with project
        # capitals the groups are taller than a 768-pixel screen: OK was off the bottom)
        groups = QWidget()
        groups_layout = QVBoxLayout(groups)
        groups_layout.setContentsMargins(0, 0, 0, 0)
        for box in (connection, risk, recovery, execution, capital, other):
            groups_layout.addWidget(box)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no Tab stop of its own, as the preview form's
        self.scroll_area.setWidget(groups)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.error_label.setWordWrap(True)
        # values stored beyond today's bounds, said until OK (the services word them: "stored_problems")
        self.error_label.setText(self._source_error(stored_source) or "\n".join(values.get("stored_problems") or ()))
        screen = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        self.resize(min(680, screen.width()), min(720, screen.height() - 40))  # 40: the title bar
        wheel_only_when_focused(self)  # a wheel over a choice does not turn it unless it is in use

    @staticmethod
    def _dict_table(values: dict[str, Any], labels: dict[str, str], off: str | None = None) -> QTableWidget:
        """One row per stored key: its label (the key itself in KEY_ROLE and the tooltip, with
        what may be typed), its value; ``off``: what "off" or empty means for a number of the
        table (None: a number is required)."""
        table = QTableWidget(len(values), 2)
        table.setHorizontalHeaderLabels(["Setting", "Value"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        for row, (name, value) in enumerate(values.items()):
            key = QTableWidgetItem(labels.get(str(name)) or str(name).replace("_", " ").capitalize())
            key.setData(KEY_ROLE, str(name))
            typed = ("true or false (yes / no, on / off)" if isinstance(value, bool)
                     else f"a number; \"off\" or empty {off}" if off else "a number")
            key.setToolTip(f"{name}: {typed}")
            key.setFlags(key.flags() & ~Qt.ItemFlag.ItemIsEditable)
            table.setItem(row, 0, key)
            table.setItem(row, 1, QTableWidgetItem(_value_text(value)))
        return table

    def _offer_removal(self, section: str, table: QTableWidget, row: int) -> None:
        name = _cell_key(table, row)
        key = f"{section}.{name}"
        key_item, value = table.item(row, 0), table.item(row, 1)
        assert key_item is not None and value is not None  # a row of the table built above
        key_item.setToolTip(f"{name}: {ANOTHER_VERSION}; Remove removes it when OK is pressed")
        value.setFlags(value.flags() & ~Qt.ItemFlag.ItemIsEditable)
        button = QPushButton("Remove")
        button.setToolTip(f"Remove {key} from the stored settings (trade-settings unset {key})")
        button.clicked.connect(lambda _checked=False: self._remove(table, key))
        cell = QWidget()  # transparent: the value's own text shows left of the button
        layout = QHBoxLayout(cell)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addStretch(1)
        layout.addWidget(button)
        table.setCellWidget(row, 1, cell)
        self.remove_buttons[key] = button

    def _remove(self, table: QTableWidget, key: str) -> None:
        self._removed.add(key)
        table.setRowHidden(self.row_of(table, key.split(".", 1)[1]), True)

    def _read_table(self, table: QTableWidget, section: str = "") -> dict[str, str]:
        # each cell's text as typed: what a word means depends on the setting ("off" switches a
        # risk limit off but is false for a true/false setting), so the services read it
        # (services.trade_settings_keys.read_setting, services.core.books.parse_capital)
        return {_cell_key(table, r): _cell_text(table, r, 1).strip() for r in range(table.rowCount())
                if f"{section}.{_cell_key(table, r)}" not in self._removed}

    @staticmethod
    def row_of(table: QTableWidget, key: str) -> int:
        """The row of a stored key (``max_order_notional``), whatever its label says."""
        return next(r for r in range(table.rowCount()) if _cell_key(table, r) == key)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ib": {
                "host": self.host_edit.text().strip(),
                "port": self._port(),
                "client_id": _typed(typed_client_id, self.client_id_edit),
                "account": self.account_edit.text().strip(),
                "market_data_type": self.market_data_combo.currentText(),
                "market_data_lines": _typed(typed_lines, self.market_data_lines_edit),
            },
            "risk_defaults": self._read_table(self.risk_table, "risk"),
            "recovery": self._read_table(self.recovery_table, "auto_recovery"),
            "execution": self._read_table(self.execution_table, "execution"),
            "project_capital": self._read_table(self.capital_table),
            "theme": self.theme_combo.currentText(),
        }
        if not self.demo:
            out["execution_data_source"] = self.data_source_combo.currentText()
        if self._removed:
            out["remove"] = sorted(self._removed)
        url = self.database_edit.text().strip()
        if url != self._masked_url:
            out["database_url"] = url
        return out

    def _port(self) -> int | str:
        """The port typed (as typed when it is none: ``_error`` says why)."""
        return _typed(typed_port, self.port_edit)

    def _source_error(self, source: str | None) -> str:
        if source is None or self.demo or source in self.data_sources:
            return ""
        return f"Execution data source {source!r} is not one of {', '.join(self.data_sources)}: choose one."

    def _error(self, values: dict[str, Any]) -> str:
        source_error = self._source_error(values.get("execution_data_source"))
        if source_error:
            return source_error
        if not values["ib"]["host"]:
            return "The host cannot be empty."
        for read, edit, label in ((typed_port, self.port_edit, "Port"), (typed_client_id, self.client_id_edit, "Client id"),
                                  (typed_lines, self.market_data_lines_edit, "Market data lines")):
            try:
                read(edit.text().strip(), name=label)
            except ValueError as exc:
                return as_sentence(str(exc))
        # the services' own reading of what they store (services.trade_settings reads it again)
        for section, table, key in (("risk", self.risk_table, "risk_defaults"),
                                    ("auto_recovery", self.recovery_table, "recovery"),
                                    ("execution", self.execution_table, "execution")):
            for name, text in values[key].items():
                try:
                    changed_section(section, {name: text}, self._stored[section])
                except TradeSettingsError as exc:  # the service's reason, the setting named by the row's label
                    label = _cell_text(table, self.row_of(table, name), 0)
                    return f"{label}: {exc.reason}."
        for name, capital in values["project_capital"].items():
            try:
                parse_capital(capital)
            except CapitalError as exc:
                return f"Project {name}: {exc}."
        if "database_url" in values and "***" in values["database_url"]:
            return "Type the full database URL including its password, or leave it unchanged."
        return ""

    def accept(self) -> None:
        values = self.values()
        error = self._error(values)
        self.error_label.setText(error)
        if error:
            return
        self.settings_submitted.emit(values)
        super().accept()


def _typed(read: Callable[[str], int], edit: QLineEdit) -> int | str:
    """The number typed in ``edit`` as the services' rule ``read`` reads it (as typed when it is
    none: ``_error`` says why)."""
    text = edit.text().strip()
    try:
        return read(text)
    except ValueError:
        return text


def _cell_key(table: QTableWidget, row: int) -> str:
    item = table.item(row, 0)
    return "" if item is None else str(item.data(KEY_ROLE) or item.text())


def _cell_text(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return "" if item is None else item.text()
