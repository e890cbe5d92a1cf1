"""The GUI thread's turn at the interpreter lock (issue 15: no GUI stall over a 16 ms frame).

The database work runs in worker threads (``asyncio.to_thread``: a history page read and turned
into records, the writer's batches) and holds the GIL while it runs Python. The GUI thread that
wakes for a timer, an input event or a paint must wait for the worker to hand the GIL over,
which CPython asks for only after the switch interval (5 ms by default) and again each time the
worker takes it back while the GUI thread paints. benchmarks/history_scroll.py measured it
(2026-12-02, load 6-7 on 2 cores, the same code): scrolling one screen per frame while pages
were read, 36-51 heartbeat gaps over 16 ms by the wall clock at 5 ms, 5-20 at 0.5 ms; filtering
9-11 and 1-2; the GUI thread's own CPU unchanged. A shorter interval costs the threads that
compete for the GIL a few more hand-overs (microseconds each); a thread alone never switches.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

GUI_SWITCH_INTERVAL_S = 0.0005


def prefer_gui_thread(interval_s: float = GUI_SWITCH_INTERVAL_S) -> Callable[[], None]:
    """Set the interpreter's switch interval for the GUI process; returns what restores it."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    return lambda: sys.setswitchinterval(previous)


BACKGROUND_NICE = 5  # how much lower than the GUI thread the database threads run, in nice steps


def _run_lower(step: int) -> None:
    """A worker thread's initializer: this thread only (on Linux a thread id names one thread to
    ``setpriority``) runs ``step`` nice levels below the process."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (AttributeError, OSError):  # not Linux, or not allowed: the thread keeps the process's priority
        pass


def background_executor(step: int = BACKGROUND_NICE) -> ThreadPoolExecutor:
    """The executor behind ``asyncio.to_thread`` in the GUI process, its threads at a lower OS
    priority than the GUI thread. With two cores, the GUI thread painting and a worker reading a
    history page fill both; any third runnable task then took a core from whichever the scheduler
    picked, and the GUI thread lost 10-15 ms with no CPU spent (benchmarks/history_scroll.py on a
    quiet machine: gaps over 16 ms by the wall clock, none by the GUI thread's CPU). A lower
    priority only matters when the cores are all busy; then the frame comes first and the
    database work waits a little."""
    return ThreadPoolExecutor(thread_name_prefix="console-db", initializer=_run_lower, initargs=(step,))
