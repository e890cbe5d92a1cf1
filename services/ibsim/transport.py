"""Transport: the listener, the handshake, the framing and one ``Session`` per client connection.

A connection starts with ``API\\0`` and the client's version range; the simulator answers with
the negotiated server version (versions.py) or refuses it with error 506. Then every frame goes to
``IBGatewaySimulator._dispatch`` (server.py), which lets nothing but startApi through until the
session has a client id. The lifecycle (start, stop, tasks and timers) lives here too, since
stopping is closing the sockets.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from services.ibsim import messages as m
from services.ibsim.base import SimulatorBase
from services.ibsim.codec import API_PREFIX, FrameBuffer, frame, parse_version_range
from services.ibsim.model import AccountSummarySubscription, utcnow
from services.ibsim.pnl import PnLSubscriptions
from services.ibsim.versions import negotiate

log = logging.getLogger("services.ibsim")


class Session:
    """One client connection."""

    def __init__(self, sim: SimulatorBase, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.server_version = m.MAX_SERVER_VERSION
        self.sent = 0
        self.closed = False
        self.market_data_type = 1
        self.market_data: dict[int, str] = {}  # reqId -> symbol (streaming)
        self.frozen: set[int] = set()  # reqIds of frozen data: no updates after the first values
        self.snapshots: set[int] = set()  # reqIds of snapshots not yet ended (each holds a line)
        self.pnl = PnLSubscriptions()
        self.positions_subscribed = False
        self.account_updates: str | None = None
        self.account_multi: dict[int, str] = {}
        # reqAccountSummary subscriptions: reqId -> what was asked and what was last sent (account.py)
        self.account_summaries: dict[int, AccountSummarySubscription] = {}
        self._received: deque[float] = deque()
        self._violations: deque[float] = deque()  # when each run of errors 100 began
        self._last_refused: float | None = None
        # while the gateway has lost IB's servers (gateway_faults.py): what IB would push, held
        self.held: list[list[str]] | None = None
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    def send(self, fields: list[str]) -> None:
        if self.closed:
            return
        if self.held is not None and self.sim._answering is not self:
            self.held.append(fields)  # a push during lost connectivity; answers still go out
            return
        try:
            self.writer.write(frame(fields))
        except (ConnectionError, RuntimeError):
            self.close()
            return
        self.sent += 1
        limit = self.sim.faults.drop_after_messages
        if limit is not None and self.sent >= limit and self.client_id is not None:
            log.info("fault: dropping client %s after %d messages", self.client_id, self.sent)
            self.close()

    def error(self, req_id: int, code: int, message: str) -> None:
        self.send(m.error(req_id, code, message, self.server_version))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.writer.close()
        except RuntimeError:  # loop already closed
            pass

    def restart_pacing_window(self) -> None:
        self._received.clear()
        self._last_refused = None  # as after a quiet second: the next error 100 is a new violation

    def refused_for_pace(self, now: float, disconnect_after: int, window: float) -> bool:
        """A message was refused with error 100: whether this connection now broke the rate so
        often (``disconnect_after`` runs of errors 100 within ``window`` seconds) that TWS closes it."""
        new_run = self._last_refused is None or now - self._last_refused >= 1.0
        self._last_refused = now
        if not new_run:
            return False
        self._violations.append(now)
        while self._violations and now - self._violations[0] > window:
            self._violations.popleft()
        return 0 < disconnect_after <= len(self._violations)

    def over_pace(self, now: float, limit: int) -> bool:
        if limit <= 0:
            return False
        received = self._received
        while received and now - received[0] >= 1.0:
            received.popleft()
        if len(received) >= limit:
            return True
        received.append(now)
        return False


class TransportMixin(SimulatorBase):
    """Start and stop, the tasks and timers, the connections and their handshake."""

    # ----------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 7497) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._on_connection, host, port)
        sock = self._server.sockets[0]
        self.host, self.port = sock.getsockname()[:2]
        if self.config.walk_interval:
            self._spawn(self._random_walk(self.config.walk_interval))
        if self.config.account_interval:
            self._account_clock_task = self._loop.create_task(self._account_clock(self.config.account_interval),
                                                              name="ibsim-account-clock")
        self._start_fault_schedule()
        for order in self.open_orders():  # DAY orders of a state file: canceled at the end of their session
            if order.tif == "DAY":
                self._expire_at_session_end(order)
        log.info("IB Gateway simulator listening on %s:%d (accounts %s)", self.host, self.port, ",".join(self.config.accounts))

    async def stop(self) -> None:
        """Close the listener and every connection, cancel timers and tasks, save the state."""
        if self._server is not None:
            self._server.close()
        for session in list(self._all_sessions):
            session.close()
        for timer in list(self._timers):
            timer.cancel()
        self._timers.clear()
        clock, self._account_clock_task = self._account_clock_task, None
        tasks = [t for t in (*self._tasks, *self._session_tasks, *([clock] if clock else [])) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except TimeoutError:
                log.warning("simulator listener did not close within 2 s")
            self._server = None
        self._filling.clear()
        self.save()
        log.info("IB Gateway simulator stopped")

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def restart_pacing_windows(self) -> None:
        """Every connection's one-second window of received messages emptied, as after a quiet
        second: a test that changes ``faults.pacing_limit`` on a connected client counts from
        here (what the handshake and sync sent no longer counts), without waiting that second."""
        for session in self._all_sessions:
            session.restart_pacing_window()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task failed", exc_info=task.exception())

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        loop = self._loop or asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def run() -> None:
            self._timers.discard(holder[0])
            callback()

        handle = loop.call_later(delay, run)
        holder.append(handle)
        self._timers.add(handle)

    def drop_connections(self) -> None:
        """Close every client connection now (the listener stays up)."""
        for session in list(self._all_sessions):
            log.info("dropping connection of client %s", session.client_id)
            session.close()

    def connected_client_ids(self) -> list[int]:
        return sorted(cid for cid, s in self._sessions.items() if not s.closed)

    # ----------------------------------------------------------------- connections

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._session_tasks.add(task)
        session = Session(self, reader, writer)
        self._all_sessions.add(session)
        try:
            await self._serve(session)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("session %s failed", session.peer)
        finally:
            session.close()
            self._all_sessions.discard(session)
            if session.client_id is not None and self._sessions.get(session.client_id) is session:
                del self._sessions[session.client_id]
                log.info("client %s disconnected (%s)", session.client_id, session.peer)
                self._emit("disconnected", {"client_id": session.client_id, "peer": session.peer})
            if task is not None:
                self._session_tasks.discard(task)

    async def _serve(self, session: Session) -> None:
        reader = session.reader
        prefix = await reader.readexactly(4)
        if prefix != API_PREFIX:
            log.warning("connection from %s did not start with API\\0; closing", session.peer)
            return
        (size,) = struct.unpack(">I", await reader.readexactly(4))
        announcement = (await reader.readexactly(size)).decode(errors="replace")
        try:
            low, high, _options = parse_version_range(announcement)
        except ValueError:
            log.warning("connection from %s sent no version range (%r); closing", session.peer, announcement)
            return
        negotiation = negotiate(low, high)
        if not negotiation.accepted:
            log.warning("refusing %s: %s", session.peer, negotiation.refusal)
            session.server_version = negotiation.server_version
            session.send(m.handshake(negotiation.server_version, utcnow()))
            session.error(-1, 506, negotiation.refusal or "")
            await session.writer.drain()
            return
        server_version = negotiation.server_version
        session.server_version = server_version
        session.send(m.handshake(server_version, utcnow()))
        buffer = FrameBuffer()
        loop = asyncio.get_running_loop()
        while not session.closed:
            data = await reader.read(65536)
            if not data:
                break
            for fields in buffer.feed(data):
                if session.closed:
                    break
                self._dispatch(session, fields, loop.time())
            if not session.closed:
                await session.writer.drain()

    def _emit(self, event: str, details: dict) -> None:
        for listener in list(self.listeners):
            try:
                listener(event, details)
            except Exception:
                log.exception("simulator listener failed")
