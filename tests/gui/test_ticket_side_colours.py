"""The order ticket's Side reads BUY green and SELL red, the blotter's and the preview's colours
(widgets.models.orders.SIDE_COLOURS), in the closed box and in its open list alike. Seen under
Xvfb: the open list drew every item in the closed box's colour, SELL green under BUY (and BUY
red under SELL)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from widgets.models.orders import SIDE_COLOURS


def _text_colours(combo) -> dict[str, set[str]]:
    """The side colours each item of ``combo``'s open list is drawn in (its pixels of either)."""
    combo.showPopup()
    QApplication.processEvents()
    view = combo.view()
    image = view.grab().toImage()
    wanted = {colour.name() for colour in SIDE_COLOURS.values()}
    seen: dict[str, set[str]] = {}
    for row in range(combo.count()):
        rect = view.visualRect(combo.model().index(row, 0)).intersected(image.rect())
        seen[combo.itemText(row)] = {name for x in range(rect.left(), rect.right() + 1)
                                     for y in range(rect.top(), rect.bottom() + 1)
                                     if (name := image.pixelColor(x, y).name()) in wanted}
    combo.hidePopup()
    QApplication.processEvents()
    return seen


def test_the_tickets_side_list_shows_each_side_in_its_own_colour(qtbot, ticket):
    side = ticket.side_combo
    buy, sell = SIDE_COLOURS["BUY"].name(), SIDE_COLOURS["SELL"].name()
    assert side.currentText() == "BUY" and f"color: {buy}" in side.styleSheet()
    # the current item is drawn highlighted; the other one in its own side's colour
    assert _text_colours(side)["SELL"] == {sell}
    side.setCurrentText("SELL")
    assert f"color: {sell}" in side.styleSheet()
    assert _text_colours(side)["BUY"] == {buy}
