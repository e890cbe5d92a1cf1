"""The garbage collector runs on the GUI thread only while the console runs."""

from __future__ import annotations

import gc
import threading
import weakref


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_collection_happens_on_the_gui_thread_timer_not_in_workers(qtbot):
    from app.gc_guard import MainThreadGarbageCollector

    collector = MainThreadGarbageCollector()
    try:
        assert not gc.isenabled()
        collected_in: list[str] = []
        garbage = _Cycle()
        weakref.finalize(garbage, lambda: collected_in.append(threading.current_thread().name))
        del garbage

        def allocate_in_a_worker() -> None:  # would trigger an automatic collection there
            _ = [_Cycle() for _ in range(5 * gc.get_threshold()[0])]

        worker = threading.Thread(target=allocate_in_a_worker, name="worker")
        worker.start()
        worker.join()
        assert collected_in == []  # the worker did not collect it
        qtbot.waitUntil(lambda: collected_in != [], timeout=5000)
        assert collected_in == [threading.main_thread().name]
    finally:
        collector.stop()
    assert gc.isenabled()


def test_a_pass_freezes_its_survivors_and_a_complete_pass_finds_cycles_among_them(qtbot):
    from app.gc_guard import MainThreadGarbageCollector

    collector = MainThreadGarbageCollector()
    collector.timer.stop()  # driven by hand here
    try:
        old = _Cycle()
        found: list[bool] = []
        weakref.finalize(old, lambda: found.append(True))
        _ = [_Cycle() for _ in range(gc.get_threshold()[0] + 1)]  # past the youngest threshold
        collector.check()
        assert gc.get_freeze_count() > 0  # the survivors, ``old`` among them
        del old
        collector.check()
        gc.collect(2)  # an ordinary pass of the oldest generation skips the frozen cycle
        assert found == []
        collector.complete_pass()
        assert found == [True]
        assert gc.get_freeze_count() > 0
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0 and gc.isenabled()
