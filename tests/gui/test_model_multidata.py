"""A painted cell asks its roles in one call (multiData) and gets exactly what data() says, through
the blotter's proxy and on the model itself; indexes outside the table are invalid."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from services.domain import OrderState
from tests.gui.factories import order
from widgets.models.orders import OrderBlotterModel
from widgets.models.proxy import BlotterFilterProxyModel

ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.TextAlignmentRole,
         Qt.ItemDataRole.ToolTipRole)


def test_a_delegate_gets_every_role_in_one_call_through_the_proxy(qtbot):
    model = OrderBlotterModel()
    model.reset([order(i, status=OrderState.PARTIALLY_FILLED if i % 2 else OrderState.ACCEPTED, filled="40")
                 for i in range(5)])
    proxy = BlotterFilterProxyModel(model)
    proxy.sort_newest_first()
    calls = []
    original = model.data
    model.data = lambda index, role=0: calls.append(role) or original(index, role)  # type: ignore[method-assign]
    delegate = QStyledItemDelegate()
    blank = QStyleOptionViewItem()
    default_text = QColor(blank.palette.text().color())
    for row in range(proxy.rowCount()):
        for column in range(proxy.columnCount()):
            index = proxy.index(row, column)
            option = QStyleOptionViewItem()
            delegate.initStyleOption(option, index)
            source = proxy.mapToSource(index)
            assert option.text == original(source, Qt.ItemDataRole.DisplayRole)
            # The delegate reuses its role buffer from cell to cell: a cell without a colour
            # must not show the previous cell's.
            foreground = original(source, Qt.ItemDataRole.ForegroundRole) or default_text
            assert option.palette.text().color() == foreground, (row, column)
            assert int(option.displayAlignment) == original(source, Qt.ItemDataRole.TextAlignmentRole)
    assert calls == []  # painting never goes role by role through data()


def test_index_checks_its_bounds(qtbot):
    model = OrderBlotterModel()
    model.reset([order(1), order(2)])
    assert model.index(1, OrderBlotterModel.RUN).isValid()
    assert not model.index(2, 0).isValid()
    assert not model.index(0, len(model.columns)).isValid()
    assert not model.index(-1, 0).isValid()
    assert not model.index(0, 0, model.index(0, 0)).isValid()  # a table has no children
    assert model.index(0, 0, QModelIndex()).row() == 0
