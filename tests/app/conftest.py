"""The console as a trader uses it: the real window offscreen, the real controller and services,
the built-in simulator over a real socket, SQLite and MariaDB. Each test runs one scenario
coroutine on a qasync loop, so Qt timers (the models' coalescing flush) and asyncio share one
loop exactly as in the application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import pytest


@pytest.fixture(scope="session")
def _session_qloop(qapp):
    """One qasync loop for the whole session, as the application has one: a loop per test left
    Qt socket notifiers and timers of dead loops behind on the one QApplication."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    yield loop
    loop.close()  # also stops the loop's worker threads (asyncio.to_thread)


@pytest.fixture
def qloop(_session_qloop):
    from tests.fixtures.console_collector import ConsoleTestCollector
    from tests.fixtures.widgets_freed import stop_window_collector

    asyncio.set_event_loop(_session_qloop)
    # as in the application, Qt objects die on this thread; its end walks what the test made only
    collector = ConsoleTestCollector()
    try:
        yield _session_qloop
    finally:
        stop_window_collector(collector)
        asyncio.set_event_loop(None)


@dataclass
class ConsoleHarness:
    window: object
    stack: object
    controller: object

    @property
    def sim(self):
        return self.stack.simulator

    async def close(self) -> None:
        self.controller.close()
        await self.controller.runner.drain(timeout=5)
        await self.stack.close()
        self.window.close()

    async def __aenter__(self) -> ConsoleHarness:  # ``async with await open_console() as console:``
        return self

    async def __aexit__(self, *_exc) -> None:  # closed whatever the scenario ended with, as its finally did
        await self.close()

    def said(self) -> list[str]:
        """The window's activity log, oldest first: each line's text."""
        return [entry.text for entry in self.window.activity_log.entries()]


@pytest.fixture
def console_settings(db_url, tmp_path):
    return demo_settings(db_url, tmp_path)


def demo_settings(db_url: str, tmp_path):
    """A demo window's settings on ``db_url``, its data, logs and settings file in ``tmp_path``
    (a test's own ``console_settings`` fixture puts the window on another database with it)."""
    from app.settings import load_settings

    settings = load_settings(env={"TC_DATA_DIR": str(tmp_path / "data"), "TC_LOG_DIR": str(tmp_path / "logs"),
                                  "TC_CONFIG_FILE": str(tmp_path / "settings.toml")})
    return replace(settings, db_url=db_url, profile="demo")


@pytest.fixture
def open_console(qtbot, console_settings, monkeypatch):
    """``await open_console()`` -> a ConsoleHarness in demo mode (closed by the scenario)."""
    from app.composition import build_stack
    from app.controller import ConsoleController
    from app.main_window import MainWindow

    async def open_(**simulator_options) -> ConsoleHarness:
        options = {"walk_interval": None, "fill_interval": 0.02, **simulator_options}
        stack = await build_stack(console_settings, demo=True, simulator_options=options)
        window = MainWindow(mode="demo")
        qtbot.addWidget(window)
        window.show()
        controller = ConsoleController(window, stack, settings=console_settings)
        controller.quiet_errors = True
        await controller.load_initial()
        return ConsoleHarness(window, stack, controller)

    return open_


def run(loop, coro, timeout: float = 60.0):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until_console(running: asyncio.Future, predicate, timeout: float, message: str) -> None:
    """Wait for ``predicate`` while ``Console.run()`` (the task ``running``) starts; if run()
    ends first, fail at once with what it raised or returned instead of waiting out the
    deadline (a start-up that died is not a slow start-up)."""
    from tests.fixtures.waiting import wait_until

    await wait_until(lambda: running.done() or predicate(), timeout, message)
    if running.done() and not predicate():
        error = None if running.cancelled() else running.exception()
        if error is not None:
            raise AssertionError(f"Console.run() failed before {message}: {error!r}") from error
        raise AssertionError(f"Console.run() returned {running.result()!r} before {message}")


async def feed_stopped(controller) -> None:
    """The window's change feed stopped (``controller.feed.start()`` follows again): what the window
    does before its feed finds the database gone or replaced."""
    task, controller.feed._task = controller.feed._task, None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
