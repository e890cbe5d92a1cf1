"""Status-bar pieces: the bar itself (messages elided to the room left of the connection),
connection state with the reconnect countdown, endpoint, account, database, time of the last
event; and the large mode badge."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStatusBar, QWidget

from services.core.wording import accounts_said
from services.domain import TradingState
from services.urls import database_name, redact_url

from ..common import plain_label
from ..models.base import fmt_time
from ..plain_text import plain_tooltip

MODES = ("demo", "paper", "live")


class ModeBadge(QLabel):
    """DEMO / PAPER / LIVE, always visible; LIVE in red (styled through the ``mode`` property)."""

    def __init__(self, mode: str = "demo", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modeBadge")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumWidth(90)
        self.mode = ""
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        mode = str(getattr(mode, "value", mode)).strip().lower()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.setText(mode.upper())
        self.setProperty("mode", mode)
        # Inline colours too, so the badge is right even without a theme applied.
        colours = {"demo": "#4f8fd6", "paper": "#d08a1c", "live": "#d62828"}
        self.setStyleSheet(
            f"QLabel#modeBadge {{ background: {colours[mode]}; color: white; font-weight: bold;"
            f" font-size: 16px; padding: 4px 14px; border-radius: 4px; }}"
        )

    def colour(self) -> str:
        return {"demo": "#4f8fd6", "paper": "#d08a1c", "live": "#d62828"}[self.mode]


class TradingStateBadge(QLabel):
    """TRADING HALTED (red) or REDUCING ONLY (amber) beside the mode badge; its toolbar hides it while
    ACTIVE (MainWindow.set_trading_state), so a halt is seen wherever the trader looks, not only on the blotter's Resume button."""

    COLOURS: ClassVar[dict[str, str]] = {"HALTED": "#b3261e", "REDUCING": "#b26a00"}
    TEXTS: ClassVar[dict[str, str]] = {"HALTED": f"TRADING HALTED: {TradingState.HALTED.meaning}",
                                       "REDUCING": f"REDUCING ONLY: {TradingState.REDUCING.meaning}"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tradingStateBadge")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.state = "ACTIVE"
        self.set_state("ACTIVE")

    def set_state(self, state) -> None:
        self.state = str(getattr(state, "value", state)).upper()
        colour = self.COLOURS.get(self.state)
        self.setText(self.TEXTS.get(self.state, ""))
        self.setToolTip("Trading -> Halt / resume (Ctrl+H)" if colour is not None else "")
        if colour is not None:
            self.setStyleSheet(f"QLabel#tradingStateBadge {{ background: {colour}; color: white; font-weight: bold;"
                               f" font-size: 14px; padding: 4px 14px; border-radius: 4px; margin-left: 8px; }}")


class ElidingStatusBar(QStatusBar):
    """A message longer than the room left of the permanent widgets is elided ("…"), not cut
    under them mid-word, with its whole text in the bar's tooltip (and in the activity log);
    ``currentMessage()`` is the whole text. A message Qt shows itself (an action's status tip)
    is elided alike; the room is measured again when the permanent widgets move."""

    # QStatusBar draws the message from x=6 to 2 px before the first permanent widget; 4 more
    # keep the ellipsis off that widget's edge
    MESSAGE_LEFT, MESSAGE_GAP = 6, 6

    def __init__(self, parent: QWidget | None = None, *, clock=time.monotonic) -> None:
        super().__init__(parent)
        self._clock = clock
        self._full = ""  # the message as given
        self._shown = ""  # as drawn: elided to the room
        self._until: float | None = None  # when a timed message goes
        self._permanent: list[QWidget] = []
        self.messageChanged.connect(self._on_message_changed)

    def addPermanentWidget(self, widget: QWidget, stretch: int = 0) -> None:  # type: ignore[override]
        super().addPermanentWidget(widget, stretch)
        self._permanent.append(widget)
        widget.installEventFilter(self)

    def showMessage(self, text: str, timeout: int = 0) -> None:  # type: ignore[override]
        self._full = text
        self._until = self._clock() + timeout / 1000 if timeout > 0 else None
        self._show(timeout)

    def currentMessage(self) -> str:
        return self._full if super().currentMessage() else ""

    def message_room(self) -> int:
        """The width the message is drawn in (0: not laid out yet)."""
        shown = [w.x() for w in self._permanent if w.isVisible() and w.x() > 0]
        right = min(shown) if shown else self.width()
        return max(0, right - self.MESSAGE_LEFT - self.MESSAGE_GAP)

    def _show(self, timeout: int) -> None:
        room = self.message_room()
        self._shown = (self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room)
                       if room > 0 else self._full)  # not laid out: drawn as Qt draws it, fitted once laid out
        # a room narrower than "…" elides to nothing, which Qt's message signal reads as cleared:
        # the message was lost, not only hidden (a monitor's account label grown by its name)
        self._shown = self._shown or "…"
        self.setToolTip(plain_tooltip(self._full) if self._shown != self._full else "")
        super().showMessage(self._shown, timeout)

    def _on_message_changed(self, text: str) -> None:
        if not text:  # cleared, or its time is up
            self._full = self._shown = ""
            self._until = None
            self.setToolTip("")
        elif text != self._shown:  # Qt's own (a status tip): fitted too
            self._full, self._until = text, None
            self._show(0)

    def _refit(self) -> None:
        if not self._full:
            return
        remaining = 0
        if self._until is not None:
            remaining = round((self._until - self._clock()) * 1000)
            if remaining <= 0:
                return
        self._show(remaining)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Hide):
            self._refit()
        return super().eventFilter(watched, event)


class ConnectionStatusBar(QWidget):
    """Put it in a QStatusBar with ``addPermanentWidget``. Short texts (the database by its
    name), each label's whole story in its tooltip: the bar's left part stays free for the
    messages."""

    def __init__(self, parent: QWidget | None = None, *, clock=time.monotonic, now=lambda: datetime.now(UTC)) -> None:
        super().__init__(parent)
        self._clock = clock
        self._now = now  # the wall clock: an event of another day is shown with its day
        self._state = "disconnected"
        self._reconnect_at: float | None = None
        self.state_label = plain_label()
        self.state_label.setObjectName("connectionState")
        self.endpoint_label = plain_label()
        self.account_label = plain_label()
        self.database_label = plain_label()
        self._database = ""  # its name (set_database), said again when it answers again
        self.database_label.setObjectName("databaseState")  # coloured as a lost connection while unreachable
        # nothing until the database is read: "no events yet" over a database holding a day's
        # orders read as nothing having happened
        self.last_event_label = QLabel("")
        self._last_event: datetime | None = None
        # each its own tooltip: the bar's (an elided message) is not theirs
        self.setToolTip("the broker connection, the account and the database of this window")
        self.state_label.setToolTip("the connection to TWS / IB Gateway (or the built-in simulator)")
        self.endpoint_label.setToolTip("host:port of TWS / IB Gateway (or the built-in simulator)")
        self.account_label.setToolTip("the account traded")
        self.last_event_label.setToolTip("when the last order, fill or position change came in (this window's or another "
                                         "program's, read from the database), or the connection came up (UTC)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for label in (self.state_label, self.endpoint_label, self.account_label, self.database_label,
                      self.last_event_label):
            layout.addWidget(label)
        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self._render_state)
        self._render_state()

    def set_connection_state(self, state: str, reconnect_in: float | None = None) -> None:
        """state: connected | connecting | disconnected | reconnecting (free text allowed);
        ``reconnect_in`` seconds starts a countdown shown until the next state."""
        self._state = state
        self._reconnect_at = None if reconnect_in is None else self._clock() + reconnect_in
        if self._reconnect_at is None:
            self._ticker.stop()
        else:
            self._ticker.start()
        self.state_label.setProperty("state", state.split()[0].lower() if state else "")
        self.state_label.style().unpolish(self.state_label)
        self.state_label.style().polish(self.state_label)
        self._render_state()

    def seconds_to_reconnect(self) -> int | None:
        if self._reconnect_at is None:
            return None
        return max(0, round(self._reconnect_at - self._clock()))

    def _render_state(self) -> None:
        remaining = self.seconds_to_reconnect()
        text = f"● {self._state}"
        if remaining is not None:
            text += f" — retry in {remaining} s"
        self.state_label.setText(text)

    def set_endpoint(self, host: str, port: int) -> None:
        self.endpoint_label.setText(f"{host}:{port}")

    def set_account(self, account: str | None) -> None:
        self.account_label.setText(f"account {account}" if account else "no account")

    def set_accounts(self, accounts: Sequence[str]) -> None:
        """A monitor's: the accounts the database's orders and positions are of (it connects to
        no broker, and said "no account" over a window of DU1234567's orders)."""
        self.account_label.setText(accounts_said(accounts))

    def set_database(self, url: str) -> None:
        self._database = database_name(url)
        self.database_label.setText(self._database)
        self.database_label.setToolTip(f"database: {redact_url(url)}")

    def set_database_lost(self, words: str | None) -> None:
        """The database does not answer (``words``: since when, the service's) or answers again
        (None): said beside its name, coloured as a lost connection, for as long as it lasts; a
        status-bar message of it was replaced by the next message while it was still away."""
        self.database_label.setText(f"{self._database} — {words}" if words else self._database)
        self.database_label.setProperty("state", "disconnected" if words else "")
        self.database_label.style().unpolish(self.database_label)
        self.database_label.style().polish(self.database_label)

    def set_last_event_time(self, when: datetime | None) -> None:
        """An event came at ``when`` (never moves the time back: the stored one read at the start
        may answer after the connection's). None: the database holds none (read)."""
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when is None:
            if self._last_event is None:
                self.last_event_label.setText("no events yet")
            return
        if self._last_event is not None and when < self._last_event:
            return
        self._last_event = when
        shown = fmt_time(when)
        # the time alone today; an older event with its day (a time alone read as today's)
        today = fmt_time(self._now())[:10]
        self.last_event_label.setText(f"last event {shown[11:19] if shown[:10] == today else shown[:19]} UTC")

    def clear_last_event(self) -> None:
        """Another database followed now: its own last event is read next (older, or none)."""
        self._last_event = None
        self.last_event_label.setText("")

    def last_event_time(self) -> datetime | None:
        return self._last_event
