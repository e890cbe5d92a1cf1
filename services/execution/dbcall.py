"""Where the engine's blocking database calls run: in a worker thread (``asyncio.to_thread``: a
GUI's loop never blocks on the database), or inline for a backtest, whose loop serves no screen
and whose every step waits for its database call anyway; there, the thread hop per call and the
threads queueing for SQLite's write lock were most of a backtest's time (issue 11's benchmark)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
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


async def db_call_detached(inline: bool, fn, *args):
    """``fn(*args)`` in a daemon thread of its own (inline for a backtest): a database step its
    process may end without. A halt's or a Cancel All's step waiting for a lock another connection
    keeps is left behind after ``LOCK_WAIT_LIMIT`` (services.execution.unrecorded), and a command
    then says it NOT recorded and ends; in the default executor its thread held the command's exit
    for as long as the server's lock waits lasted (50 s, three times over), and could still commit
    what the command had said was not recorded. Ended with the process, its transaction is rolled
    back by the server, as said. A run lease's renewal runs so too (``LeaseManager._heartbeat``):
    never queued behind the default executor's other steps."""
    if inline:
        return fn(*args)
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    context = contextvars.copy_context()  # as asyncio.to_thread does

    def settle(result, error) -> None:
        if done.done():  # its awaiter was cancelled meanwhile
            return
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)

    def run() -> None:
        try:
            result, error = context.run(fn, *args), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiter, as a worker thread's is
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop closed meanwhile: nobody waits for it any more
            pass

    threading.Thread(target=run, name=f"detached {getattr(fn, '__name__', 'database step')}", daemon=True).start()
    return await done
