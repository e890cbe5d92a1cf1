"""The audit log: entries, a filter by action, and the hash chain's state.

After every action the controller verifies only the entries since the stored checkpoint (cheap
at any chain length); "Verify full chain" asks for a walk from the first entry, the only way
to find an altered entry older than the checkpoint."""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ..common import make_table, plain_label
from ..models.audit import AuditModel
from ..models.proxy import NativeOrderProxyModel

ALL_ACTIONS = "All actions"


class AuditView(QWidget):
    full_verify_requested = Signal()

    def __init__(self, model: AuditModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = NativeOrderProxyModel(AuditModel.ID, self)
        self.proxy.setFilterKeyColumn(AuditModel.ACTION)
        self.proxy.setSourceModel(model)
        self.action_combo = QComboBox()
        self.action_combo.addItem(ALL_ACTIONS)
        self.chain_label = plain_label("Chain not verified yet")
        self.chain_label.setObjectName("chainLabel")
        self.full_verify_button = QPushButton("Verify full chain")
        self.full_verify_button.setToolTip("Walk the whole hash chain from the first entry (after an action only the "
                                           "entries since the last verified one are checked)")
        self.table = make_table(self.proxy, self, sortable=True, widths=[c.width for c in model.columns])
        self.table.sortByColumn(AuditModel.ID, Qt.SortOrder.DescendingOrder)
        bar = QHBoxLayout()
        bar.addWidget(self.action_combo)
        bar.addStretch(1)
        bar.addWidget(self.chain_label)
        bar.addWidget(self.full_verify_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.action_combo.currentTextChanged.connect(self._on_action_changed)
        self.full_verify_button.clicked.connect(self.full_verify_requested)
        model.flushed.connect(self._refresh_actions)
        model.modelReset.connect(self._refresh_actions)

    def set_action_filter(self, action: str | None) -> None:
        self._refresh_actions()
        text = action or ALL_ACTIONS
        if self.action_combo.findText(text) < 0:
            self.action_combo.addItem(text)
        self.action_combo.setCurrentText(text)

    def set_chain_state(self, verified: bool, label: str, details: str = "") -> None:
        """The chain's verification as the service words it (``AuditVerification.describe``:
        ``label`` short, ``details`` the whole sentence, shown as the tooltip); ``verified``
        colours it."""
        self.show_chain_verdict("ok" if verified else "broken", label, details)

    def show_chain_verdict(self, state: str, label: str, details: str = "") -> None:
        """``state``: "ok" (green), "broken" (red: tampering) or "unverified" (amber: the last
        attempt failed or did not finish; services.audit.ChainVerdicts words it)."""
        self.chain_label.setText(label)
        self.chain_label.setToolTip(details)
        self.chain_label.setProperty("state", state)
        self.chain_label.style().unpolish(self.chain_label)
        self.chain_label.style().polish(self.chain_label)

    def _on_action_changed(self, text: str) -> None:
        if text == ALL_ACTIONS or not text:
            self.proxy.setFilterRegularExpression(QRegularExpression())
        else:
            self.proxy.setFilterRegularExpression(
                QRegularExpression(f"^{QRegularExpression.escape(text)}$")
            )

    def _refresh_actions(self, *_args) -> None:
        known = {self.action_combo.itemText(i) for i in range(self.action_combo.count())}
        for action in self.model.actions():
            if action not in known:
                self.action_combo.addItem(action)
