"""Fixtures the GUI tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def ticket(qtbot):
    """The order ticket, shown and exposed, empty (a test file's own ``ticket`` fills it in or
    replaces it)."""
    from widgets.dialogs.order_ticket import OrderTicketDialog

    dialog = OrderTicketDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog
