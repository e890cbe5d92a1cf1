"""Window tests run in the product's theme whatever their worker ran before
(tests/fixtures/theme.py): a layout measured bare or themed by chance passed or failed with the
machine's load (tests/app/test_window_layout.py's laptop case at 1024x640)."""

from __future__ import annotations

from tests.fixtures.theme import PRODUCT_THEME, put_back_product_theme
from widgets.theme import apply_theme, stylesheet


def test_a_window_test_starts_in_the_product_theme(qapp):
    assert qapp.property("tc_theme") == PRODUCT_THEME
    assert qapp.styleSheet() == stylesheet(PRODUCT_THEME)


def test_a_theme_a_test_changed_is_put_back_after_it(qapp):
    apply_theme(qapp, "light")  # as a light test leaves it, or one that failed before putting dark back
    put_back_product_theme()
    assert qapp.property("tc_theme") == PRODUCT_THEME
    assert qapp.styleSheet() == stylesheet(PRODUCT_THEME)
