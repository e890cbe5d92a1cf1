"""Fewer glibc malloc arenas for the console's long-running processes.

glibc gives each thread that allocates its own arena (up to eight per core) and keeps the
memory freed in an arena for later use. The console allocates on the event loop and on the
database worker threads (``asyncio.to_thread``): after a burst (the reconciliation after a
reconnect loads the day's orders) every arena holds freed memory that no one reuses, and the
resident size stays up. The soak measured it (issue 14): live Python objects flat, malloc's free
memory growing at each dropped connection. Two arenas keep the peaks in fewer places; the
operator's own ``MALLOC_ARENA_MAX`` wins. A no-op where there is no glibc (macOS, musl)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def limit_malloc_arenas(count: int = ARENAS) -> bool:
    """Call before threads start; True when glibc took the limit."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, count))
    except (OSError, AttributeError):  # no C library to load, or one without mallopt (musl)
        return False
