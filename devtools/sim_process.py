"""The IB Gateway simulator in a child process, driven from the parent through a pipe.

The soak test measures the memory of the console's process; a simulator on the same process
would add its own ever-growing order book and ledger to that figure. Here it lives apart:

    sim = SimulatorProcess(seed=3, fill_mode="partial")
    port = await sim.start()                  # the child's loopback port
    await sim.call("add_rule", {"symbols": ["MSFT"], "exec_correction": True})
    await sim.call("drop_connections")
    ledger = await sim.call("ledger")         # plain data (dicts, tuples, Decimals)
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import multiprocessing

_SPAWN = multiprocessing.get_context("spawn")


def _child(conn, config: dict, faults: dict) -> None:  # runs in the child process
    asyncio.run(_serve(conn, config, faults))


async def _serve(conn, config: dict, faults: dict) -> None:
    from services.ibsim.config import SimConfig
    from services.ibsim.server import IBGatewaySimulator

    sim = IBGatewaySimulator(SimConfig(**config))
    for name, value in faults.items():
        setattr(sim.faults, name, value)
    await sim.start("127.0.0.1", 0)
    conn.send(("ok", sim.port))
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def commands() -> dict:
        return {
            "add_rule": lambda rule: bool(sim.faults.add_rule(**rule)),
            "set_fault": lambda name, value: setattr(sim.faults, name, value),
            "drop_connections": sim.drop_connections,
            "connected_client_ids": sim.connected_client_ids,
            "set_price": lambda symbol, price: sim.set_price(symbol, price),
            "price": lambda symbol: sim.price(symbol),
            "orders": lambda: [(o.order_ref, o.status, o.quantity, o.filled, o.symbol, o.perm_id) for o in sim.orders()],
            "open_orders": lambda: [(o.order_ref, o.status) for o in sim.open_orders()],
            "executions": lambda: [(e.exec_id, e.order_ref, e.symbol, "BUY" if e.side == "BOT" else "SELL", e.shares, e.price)
                                   for e in sim.executions()],
            "ledger": sim.ledger,
            "positions": sim.positions,
            "stop": stopped.set,
        }

    table = commands()

    def on_readable() -> None:
        try:
            name, args = conn.recv()
        except (EOFError, OSError):  # the parent went away: stop
            stopped.set()
            return
        try:
            conn.send(("ok", table[name](*args)))
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))

    loop.add_reader(conn.fileno(), on_readable)
    try:
        await stopped.wait()
    finally:
        loop.remove_reader(conn.fileno())
        await sim.stop()


class SimulatorError(RuntimeError):
    pass


class SimulatorProcess:
    def __init__(self, *, faults: dict | None = None, **config) -> None:
        # No state or ledger files: the simulator would rewrite the whole state after every fill.
        self.config = {"state_file": None, "ledger_file": None, **config}
        self.faults = dict(faults or {})
        self.port: int | None = None
        self._conn = None
        self._process = None
        self._lock = asyncio.Lock()

    async def start(self, timeout: float = 30.0) -> int:
        parent, child = _SPAWN.Pipe()
        process = _SPAWN.Process(target=_child, args=(child, self.config, self.faults), name="ib-simulator", daemon=True)
        try:
            process.start()
        finally:
            child.close()
        self._process, self._conn = process, parent
        _status, value = await asyncio.wait_for(asyncio.to_thread(self._recv_checked), timeout)
        self.port = value
        return value

    def _recv_checked(self):
        if not self._conn.poll(60):
            raise SimulatorError("the simulator process did not answer within 60 s")
        status, value = self._conn.recv()
        if status != "ok":
            raise SimulatorError(value)
        return status, value

    async def call(self, name: str, *args, timeout: float = 60.0):
        async with self._lock:
            def roundtrip():
                self._conn.send((name, args))
                return self._recv_checked()[1]

            return await asyncio.wait_for(asyncio.to_thread(roundtrip), timeout)

    async def stop(self, timeout: float = 30.0) -> None:
        if self._process is None:
            return
        try:
            if self._process.is_alive():
                await self.call("stop", timeout=timeout)
        except (SimulatorError, OSError, EOFError, TimeoutError):
            pass
        finally:
            await asyncio.to_thread(self._process.join, timeout)
            if self._process.is_alive():
                self._process.kill()
                await asyncio.to_thread(self._process.join, 5)
            self._conn.close()
            self._process = None
