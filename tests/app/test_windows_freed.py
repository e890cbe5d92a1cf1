"""A window test leaves no widget alive: what pytest-qt does with a window handed to
``qtbot.addWidget`` at a test's end (close, ``deleteLater``), followed by the suite's teardown
(tests/fixtures/widgets_freed.py), frees the window and every widget it made. Left alive, they
stayed in ``QApplication.allWidgets()`` for the rest of the worker and every later theme change
repolished them (a theme test took 75 s late in a worker, under 1 s alone)."""

from __future__ import annotations

from collections import Counter

from PySide6.QtWidgets import QApplication

from tests.fixtures.widgets_freed import free_deleted_widgets


def _alive() -> tuple[int, Counter]:
    tops = Counter(type(w).__name__ for w in QApplication.topLevelWidgets())
    return len(QApplication.allWidgets()), tops


def test_a_window_handed_to_qtbot_is_freed_with_all_its_widgets_when_the_test_ends(qtbot):
    from app.main_window import MainWindow

    free_deleted_widgets()  # what an earlier test of this worker left is not counted here
    widgets_before, tops_before = _alive()
    window = MainWindow(mode="demo")
    qtbot.addWidget(window)
    with qtbot.waitExposed(window):
        window.show()
    made = len(QApplication.allWidgets()) - widgets_before
    assert made > 500, made  # a whole window: docks, panels, menus, charts
    # the end of the test, as pytest-qt ends it (pytestqt.qtbot._close_widgets) ...
    window.close()
    window.deleteLater()
    del window
    QApplication.processEvents()
    # ... then the suite's teardown
    free_deleted_widgets()
    widgets_after, tops_after = _alive()
    assert widgets_after <= widgets_before, (
        f"{widgets_after - widgets_before} of the {made} widgets a window made are alive after its test "
        f"ended; top-level ones left: {dict(tops_after - tops_before)}. Every later theme change of the "
        "worker repolishes them (tests/fixtures/widgets_freed.py says why a closed window stays)")
