"""The GUI process's switch interval (app/gil_turns.py) is set and given back; its database
threads run below the GUI thread's priority."""

from __future__ import annotations

import sys

import pytest

from app.gil_turns import BACKGROUND_NICE, GUI_SWITCH_INTERVAL_S, background_executor, prefer_gui_thread


def test_the_switch_interval_is_shortened_for_the_gui_and_restored():
    before = sys.getswitchinterval()
    restore = prefer_gui_thread()
    try:
        assert abs(sys.getswitchinterval() - GUI_SWITCH_INTERVAL_S) < 1e-9
        assert before > GUI_SWITCH_INTERVAL_S
    finally:
        restore()
    assert sys.getswitchinterval() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
async def test_asyncio_to_thread_runs_the_database_work_below_the_gui_threads_priority():
    import asyncio
    import os
    import threading

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop = asyncio.get_running_loop()
    executor = background_executor()
    loop.set_default_executor(executor)
    try:
        worker = await asyncio.to_thread(nice)
    finally:
        executor.shutdown(wait=True)
    assert worker == min(19, nice() + BACKGROUND_NICE)  # this thread (the GUI's) is left as it was
