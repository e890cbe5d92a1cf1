"""A window test leaves no widget alive: what pytest-qt does with a window handed to
``qtbot.addWidget`` at a test's end (close, ``deleteLater``), followed by the suite's teardown
(tests/fixtures/widgets_freed.py), frees the window and every widget it made; a window closed
without qtbot (the console's own) is freed too, and one left shown is named. Left alive, they
stayed in ``QApplication.allWidgets()`` for the rest of the worker and every later theme change
repolished them (a theme test took 75 s late in a worker, under 1 s alone)."""

from __future__ import annotations

import gc
from collections import Counter

from PySide6.QtWidgets import QApplication

from tests.fixtures.widgets_freed import (
    end_of_qt_test,
    free_closed_windows,
    free_deleted_widgets,
    left_alive_message,
    made_since,
    stop_window_collector,
    top_level_addresses,
)


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


def _console_window_closed_by_its_scenario(points) -> None:
    """As the console's own window ends in a scenario: shown, its charts drawn, closed, and never
    handed to qtbot (app.main.Console makes it)."""
    from app.main_window import MainWindow

    window = MainWindow(mode="demo")
    window.show()
    window.charts_view.set_equity(points)
    QApplication.processEvents()
    window.close()


def test_a_closed_window_not_handed_to_qtbot_is_freed_charts_and_all(qtbot):
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    free_deleted_widgets()
    widgets_before = len(QApplication.allWidgets())
    alive_before = top_level_addresses()
    now = datetime.now(UTC)
    _console_window_closed_by_its_scenario([(now - timedelta(minutes=m), Decimal(100_000 + m), Decimal(m))
                                            for m in range(5)])
    free_deleted_widgets()
    assert made_since(alive_before), "closed, the window is still alive: nothing deleted it"
    free_closed_windows(alive_before)  # as the suite's teardown does (no crash in the charts' scenes)
    assert made_since(alive_before) == []
    assert len(QApplication.allWidgets()) <= widgets_before


def test_a_window_left_shown_is_named_by_the_teardown(qtbot):
    from PySide6.QtWidgets import QWidget

    alive_before = top_level_addresses()
    left_open = QWidget()
    left_open.show()
    free_closed_windows(alive_before)  # a shown window is not the teardown's to close
    left = made_since(alive_before)
    assert [type(w).__name__ for w in left] == ["QWidget"]
    assert left_alive_message(left).startswith("1 top-level widgets this test made are still alive after its end (QWidget x1)")
    left.clear()
    left_open.close()  # closed, the suite's teardown deletes it: this test passes


def test_the_end_of_a_console_test_walks_what_the_test_made_once(qtbot, monkeypatch):
    """A console test (tests/app's ``qloop``) runs the console's own collector; its end stopped
    it, whose complete pass walked the worker's whole heap (0.1-0.3 s of CPU late in a worker),
    while the window pytest-qt had closed still waited for its deferred delete; the suite's
    teardown then deleted the window and walked the whole heap again to free its wrappers. One
    pass, after the delete, frees them all, and it walks only what the test made: the worker's
    heap of before the test stays frozen through it (tests/fixtures/console_collector.py); the
    survivors stay frozen for the next tests."""
    from app.main_window import MainWindow
    from tests.fixtures import console_collector

    monkeypatch.setattr(console_collector, "_frozen_after_complete_pass", gc.get_freeze_count() + 10**9)
    free_deleted_widgets()
    alive_before = top_level_addresses()
    collector = console_collector.ConsoleTestCollector()  # as the qloop fixture starts one for each test
    window = MainWindow(mode="demo")
    window.show()
    QApplication.processEvents()
    window.close()  # the end of the test, as pytest-qt ends it (pytestqt.qtbot._close_widgets)
    window.deleteLater()
    del window
    frozen_at_start: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            frozen_at_start.append(gc.get_freeze_count())

    gc.callbacks.append(count)
    try:
        stop_window_collector(collector)  # the qloop fixture's end
        end_of_qt_test(alive_before)  # then the suite's teardown
    finally:
        gc.callbacks.remove(count)
    assert made_since(alive_before) == []
    assert len(frozen_at_start) == 1, f"{len(frozen_at_start)} passes over the oldest generation at a console test's end"
    assert frozen_at_start[0] > 0  # the worker's heap of before the test was not walked
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # the survivors: the next tests' collections skip them
