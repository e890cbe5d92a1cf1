"""The connection to TWS / IB Gateway: connecting (with the reason a failed attempt gets),
the connection state and its listeners, reconnecting with backoff after a loss, and the resync
hooks (reconciliation) awaited after every (re)connect and on 1101/1102. A mixin of
``IbExecutionProvider`` (ib_provider.py), which holds the state it uses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import AccountGuardError, ConnectionLost, DatabaseLockHeld, NotConnected, Refused
from .events import (
    ConnectionEvent,
    ConnectionState,
)
from .provider import ConnectionListener, ReconnectHook, check_account

if TYPE_CHECKING:
    from services.domain import TradeMode

    from .paced import InFlightOrders, PacedSender
    from .pacing import PacingLimiter

log = logging.getLogger("services.execution.ib_provider")  # one logger for the adapter (log filters, tests)

MARKET_DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
BACKOFF_START = 1.0
BACKOFF_MAX = 60.0


def backoff_delays(start: float = BACKOFF_START, maximum: float = BACKOFF_MAX):
    """1, 2, 4, ... seconds, capped at ``maximum`` (forever)."""
    delay = start
    while True:
        yield delay
        delay = min(delay * 2, maximum)


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return utc_now()


# IB errors that end a connection attempt (client id in use, TWS not connected / out of date).
CONNECT_FATAL_CODES = frozenset({326, 502, 503, 504})
# How long a connect waits for the previous connection's socket to finish closing.
PREVIOUS_CLOSE_WAIT = 5.0


class ConnectAttempt:
    """Watches one ``connectAsync``: every failure comes back with its reason, and an attempt the
    server ends early (client id in use, closed socket) fails at once rather than at the timeout."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.data = False
        self.closed: str | None = None
        self.fatal: tuple[int, str] | None = None
        self._early: asyncio.Future = asyncio.get_running_loop().create_future()
        self._watching = False
        self._task: asyncio.Future | None = None

    def _on_data(self, _data) -> None:
        self.data = True

    def _on_closed(self, message: str) -> None:
        if self._task is None or self._task.done():
            return  # ib_async closing the socket itself after a failure (a timeout): not the server
        self.closed = message or "closed"
        if not self._early.done():
            self._early.set_result(None)

    def on_error(self, code: int, message: str) -> None:
        if code in CONNECT_FATAL_CODES and self.fatal is None:
            self.fatal = (code, message)
            if not self._early.done():
                self._early.set_result(None)

    async def run(self, connect) -> None:
        if self.conn.transport is not None:
            # a previous socket still closing: its close must not count as this attempt's
            await self._previous_socket_closed()
        self.conn.hasData += self._on_data
        self.conn.disconnected += self._on_closed
        self._watching = True
        task = self._task = asyncio.ensure_future(connect())
        try:
            done, _ = await asyncio.wait({task, self._early}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        if task in done:
            task.result()
            return
        task.cancel()  # ib_async disconnects on the way out
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:  # the handshake's own failure: the ConnectionError below says what matters
            log.debug("handshake task ended with an error", exc_info=True)
        raise ConnectionError("connection ended by the server during the handshake")

    async def _previous_socket_closed(self) -> None:
        """Listened for before the close is asked: the socket reports its close on the loop's
        next turn, before a task started now would listen (``wait_for`` on the event), and a
        connect right after a disconnect waited the whole PREVIOUS_CLOSE_WAIT for a close
        already past (5 s for every reconnect of the window or a watchlist)."""
        closed = asyncio.get_running_loop().create_future()

        def on_closed(_message: str) -> None:
            if not closed.done():
                closed.set_result(None)

        self.conn.disconnected += on_closed
        try:
            self.conn.disconnect()
            if self.conn.transport is not None:
                await asyncio.wait_for(closed, PREVIOUS_CLOSE_WAIT)
        except TimeoutError:
            log.warning("the previous connection's socket did not close within %g s; connecting all the same",
                        PREVIOUS_CLOSE_WAIT)
        finally:
            self.conn.disconnected -= on_closed

    def close(self) -> None:
        if self._watching:
            self.conn.hasData -= self._on_data
            self.conn.disconnected -= self._on_closed
        if not self._early.done():
            self._early.cancel()

    def reason(self, exc: BaseException, timeout: float, client_id: int) -> str:
        """Why the attempt failed, never empty."""
        if self.fatal is not None:
            code, message = self.fatal
            if code == 326:
                # what to do too: said alone, a `serve` or the window holding the id left the trader guessing
                return (f"client id {client_id} already in use (IB error 326): another connection (a window, `serve`, "
                        f"another command) holds it; connect with another client id, or stop that one")
            return f"IB error {code}: {message}"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused (nothing listens on that port: is TWS / IB Gateway running with the API enabled?)"
        tcp_open = self.conn.numBytesSent > 0  # the API handshake went out (the count restarts per socket)
        if self.closed is not None and tcp_open:
            return "the server closed the connection during the handshake" + ("" if self.data else " (before answering)")
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            if not tcp_open:
                return f"timed out after {timeout:g} s opening the TCP connection (host unreachable or the port filtered?)"
            if self.data:
                return (f"timed out after {timeout:g} s: the server answered, but not with the IB API handshake "
                        f"(is this a TWS / IB Gateway API port?)")
            return f"timed out after {timeout:g} s: the server accepted the connection but never answered the API handshake"
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror[:1].lower() + exc.strerror[1:]
        text = str(exc)
        if isinstance(exc, ConnectionError) and "broken" in text.lower():
            return "the server closed the connection during the handshake"
        return text or type(exc).__name__




class ProviderState:
    """The state ``IbExecutionProvider.__init__`` sets, declared for the type checker of its
    mixins (connection, callbacks); ib_async's IB and its objects are untyped."""

    host: str
    port: int
    client_id: int
    requested_account: str
    account: str
    _session_account: str
    _login_accounts: tuple[str, ...]
    mode: TradeMode
    _live_token: str | None
    connect_timeout: float
    request_timeout: float
    market_data_type: str
    pacing: PacingLimiter
    auto_reconnect: bool
    _sleep: Callable[[float], Any]
    ib: Any
    events: asyncio.Queue
    state: ConnectionState
    _listeners: list[ConnectionListener]
    _resync_hooks: list[ReconnectHook]
    _waiters: list[tuple[Callable[[object], bool], asyncio.Future]]
    _notice_listeners: list[Callable[[int, str], None]]
    _ref_by_order_id: dict[int, str]
    _ref_by_perm_id: dict[int, str]
    _trades: dict[str, Any]
    _modifying: set[int]
    _answered_executions: dict[str, tuple[int, int]]
    _closing: bool
    _reconnect_task: asyncio.Task | None
    _hook_tasks: set[asyncio.Task]
    connected_at: datetime | None
    lost_at: datetime | None
    reconnect_attempts: list[float]
    _connect_attempt: ConnectAttempt | None
    sender: PacedSender
    inflight: InFlightOrders

    if TYPE_CHECKING:
        def _set_state(self, state: ConnectionState, detail: str = "", retry_in: float | None = None, *,
                       refused: bool = False) -> None: ...
        def _schedule_resync(self, state: ConnectionState) -> None: ...
        async def _send(self, fn: Any, *args: Any) -> Any: ...
        def _remember(self, order_id: int, perm_id: int, order_ref: str, trade: Any = None) -> None: ...
        def _require_connected(self) -> None: ...
        def _renew_account_summary(self) -> None: ...


class IbConnection(ProviderState):
    """Needs from the provider: ``ib``, ``state``, the listener lists, ``_resync_hooks``, the
    reconnect fields set in its ``__init__`` and ``_connect_once``'s collaborators."""

    # ------------------------------------------------------------------ connection state
    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe_notices(self, listener: Callable[[int, str], None]) -> Callable[[], None]:
        """``listener(code, message)`` for every connectivity and data-farm notice (1100-1102,
        2103-2108, 2157/2158): the market-health gate follows them."""
        self._notice_listeners.append(listener)
        return lambda: self._notice_listeners.remove(listener) if listener in self._notice_listeners else None

    def add_resync_hook(self, hook: ReconnectHook) -> None:
        self._resync_hooks.append(hook)

    def _set_state(self, state: ConnectionState, detail: str = "", retry_in: float | None = None, *,
                   refused: bool = False) -> None:
        self.state = state
        event = ConnectionEvent(state, detail, utc_now(), retry_in, refused)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a failing subscriber must not stop the others
                log.exception("connection listener failed")

    @property
    def is_connected(self) -> bool:
        return self.ib.isConnected() and self.state in (ConnectionState.CONNECTED, ConnectionState.RESTORED, ConnectionState.LOST)

    def _require_connected(self) -> None:
        if not self.ib.isConnected():
            if self.lost_at is not None:  # said as a drop: "not connected" alone read as if it had never connected
                raise self._lost()
            raise NotConnected(f"not connected to IB at {self.host}:{self.port}")

    def _lost(self, during: str = "") -> ConnectionLost:
        """The connection this session had, dropped (``during``: what was being asked); a drop whose
        close ib_async has not reported yet is dated now."""
        return ConnectionLost(f"not connected to IB at {self.host}:{self.port}: the connection was lost at "
                              f"{self.lost_at or utc_now():%H:%M:%S} UTC{during}")

    # ------------------------------------------------------------------ connect
    async def connect(self) -> None:
        self._closing = False
        await self._connect_once()
        await self._run_resync_hooks(ConnectionState.CONNECTED)

    async def _connect_once(self) -> None:
        from ib_async import StartupFetch

        self._set_state(ConnectionState.CONNECTING, f"{self.host}:{self.port} client {self.client_id}")
        self._ref_by_order_id.clear()
        self._trades.clear()
        self._modifying.clear()
        self.inflight.clear()
        attempt = ConnectAttempt(self.ib.client.conn)
        self._connect_attempt = attempt
        try:
            await attempt.run(lambda: self.ib.connectAsync(
                self.host,
                self.port,
                clientId=self.client_id,
                timeout=self.connect_timeout,
                account=self.requested_account,
                # open orders so that ib_async can modify our own orders; the rest is reconciled
                fetchFields=StartupFetch.POSITIONS | StartupFetch.ORDERS_OPEN,
            ))
        except (OSError, TimeoutError, ConnectionError) as exc:
            reason = attempt.reason(exc, self.connect_timeout, self.client_id)
            self._set_state(ConnectionState.DISCONNECTED, reason)
            raise NotConnected(f"cannot connect to IB at {self.host}:{self.port}: {reason}") from exc
        finally:
            attempt.close()
            self._connect_attempt = None
        accounts = [a.strip() for a in self.ib.managedAccounts() if a.strip()]
        try:
            if self._session_account:
                # A reconnect trades the account this session first connected to, or nothing: the
                # Gateway may have been logged into another account meanwhile (same kind, so the
                # paper/live check alone passes), and the writer keeps only this account's fills.
                if self._session_account not in accounts:
                    raise AccountGuardError(
                        f"reconnect refused: this session trades account {self._session_account!r}, the login now "
                        f"manages {', '.join(accounts) or 'no account'}; start a new session to trade another account")
                account = self._session_account
            elif self.requested_account:
                if accounts and self.requested_account not in accounts:
                    raise AccountGuardError(f"account {self.requested_account!r} is not managed by this login ({', '.join(accounts)})")
                account = self.requested_account
            elif len(accounts) == 1:
                account = accounts[0]
            else:
                raise AccountGuardError(f"several accounts ({', '.join(accounts)}); choose one with --account")
            check_account(self.mode, account, self._live_token)
        except Refused as exc:
            self._closing = True
            self.ib.disconnect()
            self._set_state(ConnectionState.DISCONNECTED, str(exc), refused=True)
            raise
        self.account = self._session_account = account
        # IB's global cancel acts on every one of them, not only the account this session trades
        self._login_accounts = (account, *(a for a in accounts if a != account))
        await self._send(self.ib.reqMarketDataType, MARKET_DATA_TYPES[self.market_data_type])
        for trade in self.ib.openTrades():
            if trade.order.orderRef and trade.order.clientId == self.client_id:
                self._remember(trade.order.orderId, trade.order.permId, trade.order.orderRef, trade)
        self.connected_at = utc_now()
        self.lost_at = None
        self._set_state(ConnectionState.CONNECTED, account)

    def login_accounts(self) -> tuple[str, ...]:
        """The accounts the login manages (IB's managedAccounts at the last connect), this
        session's first; before any connect, the requested one."""
        return self._login_accounts or ((self.account,) if self.account else ())

    async def disconnect(self) -> None:
        self._closing = True
        if self._reconnect_task:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        for task in list(self._hook_tasks):
            task.cancel()
        self.inflight.clear()
        if self.ib.isConnected():
            self.ib.disconnect()
        if self.state is not ConnectionState.DISCONNECTED:
            self._set_state(ConnectionState.DISCONNECTED, "closed")

    def _on_disconnected(self) -> None:
        if self._closing:
            return
        self.lost_at = utc_now()
        self._set_state(ConnectionState.DISCONNECTED, "connection lost")
        if self.auto_reconnect and (self._reconnect_task is None or self._reconnect_task.done()):
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        for delay in backoff_delays():
            if self._closing:
                return
            self.reconnect_attempts.append(delay)
            del self.reconnect_attempts[:-100]  # the recent ones: a long session must not grow it
            self._set_state(ConnectionState.DISCONNECTED, f"reconnecting in {delay:g} s", retry_in=delay)
            await self._sleep(delay)
            if self._closing:
                return
            try:
                await self._connect_once()
            except Refused as exc:  # the account guard: final (the event's detail says why)
                log.error("%s; not retrying", exc)
                return
            except NotConnected as exc:
                log.warning("reconnect failed: %s", exc)
                continue
            await self._run_resync_hooks(ConnectionState.CONNECTED)
            if self.is_connected or self._closing:
                return
            # lost again while resynchronising: _on_disconnected saw this loop still running and
            # left the reconnecting to it, so it must go on
            log.warning("connection lost again during the resync after reconnecting; reconnecting")

    async def _run_resync_hooks(self, state: ConnectionState) -> None:
        for hook in list(self._resync_hooks):
            try:
                await hook(state)
            except DatabaseLockHeld as exc:  # a known state with its own words: a traceback on a command's stderr said no more
                log.warning("resync after %s stopped: %s", state, exc)
            except Exception:
                log.exception("resync hook failed after %s", state)

    def _schedule_resync(self, state: ConnectionState) -> None:
        task = asyncio.get_running_loop().create_task(self._run_resync_hooks(state))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

