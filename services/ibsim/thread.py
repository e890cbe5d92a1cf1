"""Run the simulator on its own thread and event loop (demo mode beside a GUI, scripts).

    runner = SimulatorThread(SimConfig(walk_interval=1.0))
    port = runner.start()                 # blocks until the port is bound
    runner.call(lambda sim: sim.set_price("AAPL", 200))
    runner.stop()                         # state saved, sockets closed, thread joined

On the caller's loop (tests, qasync) use ``IBGatewaySimulator.start/stop`` directly instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import TypeVar

from services.ibsim.config import SimConfig
from services.ibsim.server import IBGatewaySimulator

T = TypeVar("T")


class SimulatorThread:
    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = IBGatewaySimulator(config)
        self.host = host
        self.requested_port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._started: concurrent.futures.Future[int] = concurrent.futures.Future()

    @property
    def port(self) -> int:
        return self.simulator.port

    def start(self, timeout: float = 10.0) -> int:
        """Start the thread; returns the bound port, or raises what the start raised."""
        if self._thread is not None:
            raise RuntimeError("simulator thread already started")
        self._thread = threading.Thread(target=self._run, name="ib-simulator", daemon=True)
        self._thread.start()
        return self._started.result(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.simulator.start(self.host, self.requested_port)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits for the start
            self._started.set_exception(exc)
            return
        self._started.set_result(self.simulator.port)
        try:
            await self._stop.wait()
        finally:
            await self.simulator.stop()

    def call(self, fn: Callable[[IBGatewaySimulator], T], timeout: float = 10.0) -> T:
        """Run ``fn(simulator)`` on the simulator's loop and return its result."""
        if self._loop is None or not self._started.done():
            raise RuntimeError("simulator thread not running")
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(self.simulator))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the simulator (state saved) and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # loop closed meanwhile
                pass
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("simulator thread did not stop")
        self._thread = None
