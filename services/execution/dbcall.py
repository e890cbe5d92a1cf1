"""Where the engine's blocking database calls run: in a worker thread (``asyncio.to_thread``: a
GUI's loop never blocks on the database), or inline for a backtest, whose loop serves no screen
and whose every step waits for its database call anyway; there, the thread hop per call and the
threads queueing for SQLite's write lock were most of a backtest's time (issue 11's benchmark)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.domain import TradeMode

# the modes whose engine calls the database inline: a set lookup (a TradeMode or its text hash
# alike), asked on every database call of an engine rather than converting the mode each time
_INLINE_MODES = frozenset(mode for mode in TradeMode if mode.simulated)


def runs_inline(provider: Any) -> bool:
    """Whether the engine of this provider calls the database inline (a simulated one: a backtest)."""
    mode = getattr(provider, "mode", None)
    try:
        return mode in _INLINE_MODES
    except TypeError:  # not hashable: no mode of ours
        return False


async def db_call(inline: bool, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, inline or in a worker thread (see the module's docstring)."""
    if inline:
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)
