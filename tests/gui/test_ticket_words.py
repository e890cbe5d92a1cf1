"""The order ticket names its size field with the word every message about it uses: the row was
labelled "Amount" beside a Shares / Notional chooser, while the services' refusals said
"quantity: must be a whole number: '2.5'" and the ticket's own prompt "Type a symbol and an
amount". The chooser is now the row's label, Quantity or Notional, the words of the services'
messages (and of the `order` command's --quantity and --notional)."""

from __future__ import annotations

import pytest
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFormLayout, QLabel


def _labels(dialog) -> list[str]:
    form = dialog.form
    out = []
    for row in range(form.rowCount()):
        item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        widget = None if item is None else item.widget()
        if isinstance(widget, QLabel) and widget.text():
            out.append(widget.text())
        elif widget is dialog.amount_kind:
            out.append(f"[{widget.currentText()}]")
    return out


def test_the_size_row_is_named_by_the_word_the_services_messages_use(ticket):
    from services.execution.errors import BadInput
    from services.execution.manual import Ticket

    assert "Amount" not in _labels(ticket)
    assert "[Quantity]" in _labels(ticket)  # the chooser, where the label was
    assert [ticket.amount_kind.itemText(i) for i in range(ticket.amount_kind.count())] == ["Quantity", "Notional"]
    QTest.keyClicks(ticket.symbol_edit, "AAPL")
    ticket.request_check()  # a symbol and no size yet: the prompt names the field by its label
    assert ticket.verdict_label.text().startswith("Type a symbol and a quantity:")
    for kind, typed, unit in (("Quantity", "2.5", "shares"), ("Notional", "-5", "in the base currency")):
        ticket.amount_kind.setCurrentText(kind)
        assert ticket.amount_edit.placeholderText() == unit
        ticket.amount_edit.clear()
        ticket.request_check()
        assert ticket.verdict_label.text().startswith(f"Type a symbol and a {kind.lower()}:")
        QTest.keyClicks(ticket.amount_edit, typed)
        with pytest.raises(BadInput) as refused:
            Ticket.of(**ticket.fields())
        assert str(refused.value).startswith(f"{kind.lower()}: must be"), str(refused.value)
