"""The broker connection's story for the window's activity log: connected, lost, restored, each
said once with its time. The log said none of it (the status bar's state label alone, which a
reconnect rewrites): after a drop and a reconnect nothing in the log told the trader the line had
been down, when, or for how long. The reconnect attempts in between are not lines (the label
counts down to the next); the account guard's refusal is said apart (``refused_line``, an error).
``trading-console serve`` prints the same lines (services.execution.headless), and the attempts
too (``attempt_line``): it has no label counting down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .events import ConnectionEvent, ConnectionState


@dataclass(frozen=True, slots=True)
class ConnectionLine:
    text: str
    warning: bool  # the line is down (lost, or IB's own connection lost)


def _hms(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%H:%M:%S} UTC"


def _lasted(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def refused_line(event: ConnectionEvent) -> str:
    """A connection refused for good (the account guard, a live session without its word): no
    reconnect follows, so the trader (or whoever reads `serve`'s output) must know why."""
    return f"Connection refused: {event.detail}"


class ConnectionStory:
    """Feed it every ``ConnectionEvent``; ``line`` says the ones worth a line of the log."""

    def __init__(self) -> None:
        self._endpoint = ""  # "host:port client N", from the connecting event
        self._up = False
        self._ever_up = False
        self._down_since: datetime | None = None  # the socket dropped at
        self._farm_lost_at: datetime | None = None  # IB's 1100 at

    def already_connected(self, endpoint: str, account: str | None, since: datetime | None) -> ConnectionLine:
        """The log starts on a connection made before it (the demo's, at the window's start)."""
        self._endpoint = endpoint
        return self.line(ConnectionEvent(ConnectionState.CONNECTED, account or "", since))  # type: ignore[return-value]

    def line(self, event: ConnectionEvent) -> ConnectionLine | None:
        when = event.time or datetime.now(UTC)
        state = event.state
        if state is ConnectionState.CONNECTING:
            self._endpoint = event.detail or self._endpoint
            return None
        if state is ConnectionState.CONNECTED:
            was_down, since = self._ever_up and not self._up, self._down_since
            self._up, self._ever_up, self._down_since, self._farm_lost_at = True, True, None, None
            account = f", account {event.detail}" if event.detail else ""
            if was_down and since is not None:
                return ConnectionLine(f"Connection to IB restored at {_hms(when)} after {_lasted((when - since).total_seconds())} "
                                      f"down ({self._endpoint}{account}); reconciling orders, fills and positions", False)
            return ConnectionLine(f"Connected to IB at {_hms(when)} ({self._endpoint}{account})", False)
        if state is ConnectionState.DISCONNECTED:
            if not self._up or event.refused:  # a failed attempt while down, or the refusal the window says
                self._up = False
                return None
            self._up = False
            if event.detail == "closed":  # this session's own disconnect
                return ConnectionLine(f"Disconnected from IB at {_hms(when)}", False)
            self._down_since = when
            why = f" ({event.detail})" if event.detail and event.detail != "connection lost" else ""
            return ConnectionLine(f"Connection to IB lost at {_hms(when)}{why}; reconnecting: "
                                  "nothing can be sent until it is back", True)
        if state is ConnectionState.LOST:
            self._farm_lost_at = when
            return ConnectionLine(f"IB lost its connection to its servers at {_hms(when)} ({event.detail or 'code 1100'}): "
                                  "orders wait until it is restored", True)
        if state is ConnectionState.RESTORED:
            since, self._farm_lost_at = self._farm_lost_at, None
            lasted = f" after {_lasted((when - since).total_seconds())}" if since is not None else ""
            return ConnectionLine(f"IB's connection to its servers restored at {_hms(when)}{lasted}; "
                                  "reconciling orders, fills and positions", False)
        return None

    def attempt_line(self, event: ConnectionEvent) -> str | None:
        """A reconnect attempt after a loss, for a log with no label counting down (`serve`): the
        next one's delay, or why one failed. None for every other event (``line`` says those).
        Asked after ``line`` for the same event."""
        if event.state is not ConnectionState.DISCONNECTED or self._up or not self._ever_up or event.refused:
            return None
        when = event.time or datetime.now(UTC)
        if event.retry_in is not None:
            return f"Reconnecting to IB: next attempt in {event.retry_in:g} s"
        if (event.detail and event.detail not in ("connection lost", "closed")
                and self._down_since is not None and when > self._down_since):  # not the loss itself
            return f"Reconnect to IB failed at {_hms(when)}: {event.detail}"
        return None
