"""Python's cyclic garbage collector runs in whatever thread happens to allocate; when that is a
worker thread (the database work of ``asyncio.to_thread``) and the garbage holds Qt objects, their
C++ destructors run off the GUI thread: Qt warns "Timers cannot be started/stopped from another
thread", loses timers (qasync's loop stalls) or crashes. So the automatic collector is switched
off and the same generational collection runs on a GUI-thread timer instead (the recipe used by
PyQt/PySide applications such as Mu and pyqtgraph's examples).

Keeping each pass short (issue 15: no GUI stall over a 16 ms frame). A pass walks every
tracked object of the generations it collects, at about 1 µs an object on the project's machine:
benchmarks/blotter_stream.py measured passes of 45-110 ms over the oldest generation and 10-35 ms
over the middle one (10,000-17,000 objects: the records that had just joined the tables). So
- the timer runs every 20 ms and collects the youngest generation when its allocation count
  passed the threshold: it holds at most a frame or so of allocations (under 1 ms);
- the survivors are frozen (``gc.freeze``): whatever outlived a pass (the records the tables
  show, mostly) is skipped by the next passes, so no pass walks what lived before it;
- cycles that become garbage after being frozen (a closed dialog's wrappers, say) are found by
  a complete pass, frozen objects included, which runs when the application is not the active
  one (the trader is elsewhere) once ``COMPLETE_PASS_S`` has passed, and at the latest every
  ``COMPLETE_PASS_MAX_S``: the one pass that takes longer than a frame, at most that often.
Objects freed by their reference count (most of them: records replaced by newer revisions) are
freed at once, frozen or not. The price: a cycle that lived a frame or more and then became
garbage waits for the complete pass, so a window or dialog that is closed must not rely on the
collector to stop its timers (delete it, ``deleteLater``, or stop them when it closes).
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication


class MainThreadGarbageCollector(QObject):
    INTERVAL_MS = 20
    COMPLETE_PASS_S = 60.0
    COMPLETE_PASS_MAX_S = 1800.0

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._last_complete = time.monotonic()
        self.timer = QTimer(self)
        self.timer.setInterval(self.INTERVAL_MS)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        """Collect the youngest generation when its allocation count passed the threshold, as
        the automatic collector would, but here, on the GUI thread; freeze the survivors."""
        since_complete = time.monotonic() - self._last_complete
        if since_complete > self.COMPLETE_PASS_MAX_S or (
                since_complete > self.COMPLETE_PASS_S and not _application_active()):
            self.complete_pass()
        elif gc.get_count()[0] > self.threshold[0]:
            gc.collect(0)
            self.freeze_survivors()

    def freeze_survivors(self) -> None:
        """After a pass of the youngest generation: what outlived it frozen, out of the next passes."""
        gc.freeze()

    def complete_pass(self) -> None:
        """Every object, frozen ones too; the survivors frozen again."""
        gc.unfreeze()
        gc.collect(2)
        gc.freeze()
        self._last_complete = time.monotonic()

    def stop(self) -> None:
        """Back to the automatic collector, after a complete pass here: the frozen objects go
        back to its oldest generation, which it rarely walks, and cyclic garbage holding Qt
        objects (a closed window's timers) must not outlive this collector's watch."""
        self.timer.stop()
        gc.unfreeze()
        gc.collect()
        if self._was_enabled:
            gc.enable()


def _application_active() -> bool:
    app = QGuiApplication.instance()
    return isinstance(app, QGuiApplication) and app.applicationState() == Qt.ApplicationState.ApplicationActive
