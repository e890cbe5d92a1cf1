"""Errors of the execution layer; each carries the CLI exit code it maps to."""

from __future__ import annotations

from typing import Any


class ExecutionError(Exception):
    code = "execution_error"
    exit_code = 5

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.code)
        if code:
            self.code = code


class BadInput(ExecutionError):
    code = "bad_input"
    exit_code = 2


class Missing(BadInput):
    """An id that names nothing stored (a plan, run, order, snapshot, project): bad input (exit 2)
    with the code `tca`, `trail`, `positions` and `backtests` give it."""

    code = "not_found"


class RiskBlocked(ExecutionError):
    code = "risk_blocked"
    exit_code = 3


class PlanRefused(ExecutionError):
    """A frozen plan that may no longer be sent: too old, prices moved, or superseded. Nothing
    was sent; the trader previews again."""

    code = "plan_refused"
    exit_code = 3


class Refused(ExecutionError):
    """Live token missing, account guard, trading halted."""

    code = "refused"
    exit_code = 4


class LiveConfirmRequired(Refused):
    code = "live_confirm_required"


class AccountGuardError(Refused):
    code = "account_guard"


class TradingHalted(RiskBlocked):
    """HALTED blocks new orders and modifications: the trading-state rule of the risk engine."""

    code = "trading_halted"


class MarketUnhealthy(RiskBlocked):
    """The market-health gate refused: not connected, connectivity lost (1100), a data farm
    broken, or the market of a listing closed (services.execution.market_health)."""

    code = "market_unhealthy"


class SendingStopped(ExecutionError):
    """Not written to the broker: a halt or a Cancel All (of this process or another) stopped the
    run's sending while the order waited for its turn (services.execution.sending)."""


class LeaseExpired(ExecutionError):
    """Not written to the broker: the run's lease this process sends under is lost, or may expire
    before the order is surely at the broker (services.execution.lease). Another process may take
    the run over: this one sends nothing more."""

    code = "lease_expired"
    exit_code = 5


class BrokerError(ExecutionError):
    code = "broker_error"
    exit_code = 5


class NothingSent(BrokerError):
    """A run's send where no order went (each failed, or sending stopped first): ``why`` the first
    failure or the stop, ``client_order_ids`` the orders not sent. Its message is a run's; a ticket,
    its one order, says ``why`` alone (services.execution.manual.not_sent_line)."""

    def __init__(self, message: str, why: str, client_order_ids: tuple[str, ...]) -> None:
        super().__init__(message)
        self.why = why
        self.client_order_ids = client_order_ids


class NotConnected(BrokerError):
    code = "not_connected"


class ConnectionLost(NotConnected):
    """Not connected because the gateway dropped the connection this session had (its message
    says when): a command says to run it again once the gateway is back."""


class UnknownContract(BrokerError):
    """IB knows no (single) listing of a symbol: bad input (exit 2, README), said the same by
    ``order``, ``preview``, ``execute`` and the window; still a BrokerError for the handlers that
    withdraw what was not sent (``order --symbol ZZZZNOPE`` exited 5, as if the broker failed)."""

    code = "unknown_contract"
    exit_code = 2

    def __init__(self, message: str, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys  # the listings IB knew none of (ContractSpec.key)


class StreamRefused(BrokerError):
    """A listing's stream IB refused or ended (no permission, no such listing, ...): nothing
    streams. ``word``: what its watchlist row says; the message (naming the listing) says why."""

    code = "stream_refused"

    def __init__(self, key: str, message: str, word: str = "refused") -> None:
        super().__init__(message)
        self.key = key
        self.word = word

    @classmethod
    def by_ib(cls, key: str, word: str, code: int, message: str) -> StreamRefused:
        return cls(key, f"{key}: no quotes, {word} (IB error {code}: {message})", word)


class MarketDataLinesFull(StreamRefused):
    """A listing's stream refused: every one of the account's market data lines is in use (IB's
    error 101, or the console's own streams already hold the lines the settings give). Asked
    again when one of the console's streams frees a line."""

    code = "market_data_lines_full"

    def __init__(self, key: str, lines: int, kept: int = 0) -> None:
        kept_words = f"{kept} kept for the snapshots of previews and tickets; " if kept else ""
        super().__init__(key, f"{key}: IB's market data lines are all in use ({lines}; {kept_words}TWS and the account's "
                              f"other programs share them): remove a listing from the watchlist to free one")


class QueryFailed(BrokerError):
    """A broker query failed or timed out: its answer is UNKNOWN, never empty."""

    code = "query_failed"
    answered: dict[Any, Any]  # set by PacedSender.ask_each: what did get an answer (key -> future)


class DatabaseLockHeld(ExecutionError, TimeoutError):
    """The event writer still waits, at the end of a ``flush``, for row locks another connection
    keeps in an open transaction (a process paused or stuck inside it): what this process did
    waits to be written, and it goes no further. Still a TimeoutError for a caller that waits
    for the writer only as long as it likes (services.execution.writer.queue)."""

    code = "database_lock_held"
    exit_code = 5
