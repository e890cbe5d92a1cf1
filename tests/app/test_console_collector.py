"""The console tests' collector (tests/fixtures/console_collector.py) keeps the guarantee of the
application's (app/gc_guard.py): cyclic garbage holding Qt objects is collected on the GUI thread,
never by the automatic collector in another thread; its end walks what the test made, not the
worker's heap, and a complete pass still comes once the frozen objects grew."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _qt_cycle(collected_in: list[str]) -> _Cycle:
    """A cycle holding a Qt object with a running timer (what a closed window leaves), whose
    finalization says on which thread it ran."""
    from PySide6.QtCore import QObject, QTimer

    cycle = _Cycle()
    cycle.owner = QObject()  # type: ignore[attr-defined]
    cycle.timer = QTimer(cycle.owner)  # type: ignore[attr-defined]
    cycle.timer.start(1000)  # type: ignore[attr-defined]
    weakref.finalize(cycle, lambda: collected_in.append(threading.current_thread().name))
    return cycle


def _allocate_in_a_worker() -> None:  # would trigger an automatic collection there
    def allocate() -> None:
        _ = [_Cycle() for _ in range(5 * gc.get_threshold()[0])]

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()


@pytest.fixture
def no_complete_pass_due(monkeypatch):
    """The frozen objects have not grown by a quarter since the last complete pass."""
    from tests.fixtures import console_collector

    monkeypatch.setattr(console_collector, "_frozen_after_complete_pass", gc.get_freeze_count() + 10**9)


def _passes_of_the_oldest_generation() -> tuple[list[int], object]:
    """The frozen count at the start of each collection of the oldest generation, and the callback."""
    frozen_at_start: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            frozen_at_start.append(gc.get_freeze_count())

    return frozen_at_start, count


def test_the_end_collects_the_tests_cycles_on_the_gui_thread_without_walking_what_was_frozen_before(
        qtbot, no_complete_pass_due):
    from tests.fixtures.console_collector import ConsoleTestCollector

    collector = ConsoleTestCollector()
    collector.timer.stop()  # driven by hand here
    collected_in: list[str] = []
    frozen_at_start, count = _passes_of_the_oldest_generation()
    try:
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # the worker's heap of before the test
        cycle = _qt_cycle(collected_in)
        _ = [_Cycle() for _ in range(gc.get_threshold()[0] + 1)]  # past the youngest threshold
        collector.check()  # a pass of the youngest generation: the cycle survives it
        del cycle
        _allocate_in_a_worker()
        collector.check()
        assert collected_in == []  # neither the worker nor the youngest pass collected it
        gc.callbacks.append(count)
        collector.stop()
    finally:
        if count in gc.callbacks:
            gc.callbacks.remove(count)
        if collector.timer.isActive() or not gc.isenabled():
            collector.stop()
    assert collected_in == [threading.main_thread().name]  # at the end, on this thread
    assert len(frozen_at_start) == 1 and frozen_at_start[0] > 0  # one pass, what was frozen left out of it
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # the survivors frozen for the next tests


def test_garbage_among_frozen_objects_waits_for_a_complete_pass_on_the_gui_thread(qtbot, no_complete_pass_due,
                                                                                    monkeypatch):
    from tests.fixtures import console_collector
    from tests.fixtures.console_collector import ConsoleTestCollector

    collected_in: list[str] = []
    old = _qt_cycle(collected_in)
    collector = ConsoleTestCollector()  # freezes ``old`` with the rest of the worker's heap
    collector.timer.stop()
    del old
    _allocate_in_a_worker()
    collector.stop()  # an ordinary end: what was frozen is not walked
    gc.collect(2)  # nor by any automatic collection, in any thread
    _allocate_in_a_worker()
    assert collected_in == []
    monkeypatch.setattr(console_collector, "_frozen_after_complete_pass", 0)  # the frozen objects grew
    collector = ConsoleTestCollector()
    collector.timer.stop()
    frozen_at_start, count = _passes_of_the_oldest_generation()
    gc.callbacks.append(count)
    try:
        collector.stop()
    finally:
        gc.callbacks.remove(count)
    assert collected_in == [threading.main_thread().name]  # the complete pass found it, on this thread
    assert frozen_at_start == [0]  # unfrozen for it
    assert console_collector._frozen_after_complete_pass > 0  # the next complete pass once it grew by a quarter
    assert gc.isenabled()


def test_after_the_timers_own_complete_pass_froze_the_tests_objects_the_end_walks_everything(qtbot,
                                                                                             no_complete_pass_due):
    from tests.fixtures.console_collector import ConsoleTestCollector

    collector = ConsoleTestCollector()
    collector.timer.stop()
    collected_in: list[str] = []
    cycle = _qt_cycle(collected_in)
    collector.complete_pass()  # as the timer runs it when the console is inactive past COMPLETE_PASS_S
    del cycle  # garbage now, frozen by that pass
    collector.stop()
    assert collected_in == [threading.main_thread().name]
    assert gc.isenabled()
