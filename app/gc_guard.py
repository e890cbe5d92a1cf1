"""Python's cyclic garbage collector runs in whatever thread happens to allocate; when that is a
worker thread (the database work of ``asyncio.to_thread``) and the garbage holds Qt objects, their
C++ destructors run off the GUI thread: Qt warns "Timers cannot be started/stopped from another
thread", loses timers (qasync's loop stalls) or crashes. So the automatic collector is switched
off and the same generational collection runs on a GUI-thread timer instead (the recipe used by
PyQt/PySide applications such as Mu and pyqtgraph's examples)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGarbageCollector(QObject):
    INTERVAL_MS = 500

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(self.INTERVAL_MS)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds, as the
        automatic collector would, but here, on the GUI thread."""
        counts = gc.get_count()
        if counts[0] > self.threshold[0]:
            generation = 0
            if counts[1] > self.threshold[1]:
                generation = 1
                if counts[2] > self.threshold[2]:
                    generation = 2
            gc.collect(generation)

    def stop(self) -> None:
        self.timer.stop()
        if self._was_enabled:
            gc.enable()
