"""The broker connection's lines in the window's activity log (services.execution.connection_words):
once each, the attempts between a loss and the restore not lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.activity_log import ActivityLog, Level
from services.execution.events import ConnectionEvent, ConnectionState

T = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)


def _event(state: ConnectionState, detail: str = "", seconds: float = 0, **kw) -> ConnectionEvent:
    return ConnectionEvent(state, detail, T + timedelta(seconds=seconds), **kw)


def test_a_drop_and_its_reconnect_are_said_once_each_with_how_long_it_was_down():
    log = ActivityLog()
    for event in (_event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1"),
                  _event(ConnectionState.CONNECTED, "DU1", 1),
                  _event(ConnectionState.DISCONNECTED, "connection lost", 10),
                  _event(ConnectionState.DISCONNECTED, "reconnecting in 1 s", 10, retry_in=1),
                  _event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1", 11),
                  _event(ConnectionState.DISCONNECTED, "cannot connect: refused", 11),
                  _event(ConnectionState.DISCONNECTED, "reconnecting in 2 s", 11, retry_in=2),
                  _event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1", 85),
                  _event(ConnectionState.CONNECTED, "DU1", 85)):
        log.note_connection(event)
    assert [(e.level, e.text) for e in log.entries()] == [
        (Level.INFO, "Connected to IB at 14:30:01 UTC (127.0.0.1:4002 client 1, account DU1)"),
        (Level.WARNING, "Connection to IB lost at 14:30:10 UTC; reconnecting: nothing can be sent until it is back"),
        (Level.INFO, ("Connection to IB restored at 14:31:25 UTC after 1 min 15 s down (127.0.0.1:4002 client 1, "
                     "account DU1); reconciling orders, fills and positions")),
    ]
    assert log.entries()[1].timeout_ms == 0  # the loss stays in the status bar until the next message


def test_ibs_own_loss_and_restore_a_refusal_and_the_sessions_own_disconnect():
    log = ActivityLog()
    log.note_connected_before("127.0.0.1:4002 client 1", "DU1", T)
    log.note_connection(_event(ConnectionState.LOST, "Connectivity between IB and TWS has been lost", 5))
    log.note_connection(_event(ConnectionState.RESTORED, "Connectivity restored", 47))
    log.note_connection(_event(ConnectionState.DISCONNECTED, "closed", 60))
    log.note_connection(_event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1", 70))
    log.note_connection(_event(ConnectionState.DISCONNECTED, "reconnect refused: account", 71, refused=True))
    assert [e.text for e in log.entries()] == [
        "Connected to IB at 14:30:00 UTC (127.0.0.1:4002 client 1, account DU1)",
        ("IB lost its connection to its servers at 14:30:05 UTC (Connectivity between IB and TWS has been lost): "
        "orders wait until it is restored"),
        "IB's connection to its servers restored at 14:30:47 UTC after 42 s; reconciling orders, fills and positions",
        "Disconnected from IB at 14:31:00 UTC",
    ]  # the refusal: the window says it itself ("Connection refused: ...")


def test_serve_says_the_connection_in_the_activity_logs_words_and_its_attempts_too():
    """`serve` printed its own words ("connection connected: DU1", "connection disconnected:
    connection lost", "connection disconnected: reconnecting in 1 s (retry in 1 s)"): the same
    connection said two ways, and no line said how long it had been down. It says the activity
    log's lines, the refusal as the window says it, and (it has no label counting down) each
    reconnect attempt."""
    from types import SimpleNamespace

    from services.execution.headless import HeadlessService

    events = (_event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1"),
              _event(ConnectionState.CONNECTED, "DU1", 1),
              _event(ConnectionState.DISCONNECTED, "connection lost", 10),
              _event(ConnectionState.DISCONNECTED, "reconnecting in 1 s", 10, retry_in=1),
              _event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1", 11),
              _event(ConnectionState.DISCONNECTED, "cannot connect: refused", 11),
              _event(ConnectionState.DISCONNECTED, "reconnecting in 2 s", 11, retry_in=2),
              _event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1", 85),
              _event(ConnectionState.CONNECTED, "DU1", 85),
              _event(ConnectionState.LOST, "Connectivity between IB and TWS has been lost", 90),
              _event(ConnectionState.RESTORED, "Connectivity restored", 95),
              _event(ConnectionState.DISCONNECTED, "closed", 100),
              _event(ConnectionState.CONNECTING, "127.0.0.1:4002 client 1", 110),
              _event(ConnectionState.DISCONNECTED, "account DU2 is not the session's DU1", 111, refused=True))
    said: list[str] = []
    service = HeadlessService(SimpleNamespace(), SimpleNamespace(), recovery_interval=1,  # type: ignore[arg-type]
                              say=said.append)
    log = ActivityLog()
    for event in events:
        service._connection_line(event)
        log.note_connection(event)
    logged = [e.text for e in log.entries()]
    assert len(logged) == 6
    assert said == [
        logged[0],
        logged[1],
        "Reconnecting to IB: next attempt in 1 s",
        "Reconnect to IB failed at 14:30:11 UTC: cannot connect: refused",
        "Reconnecting to IB: next attempt in 2 s",
        *logged[2:],
        "Connection refused: account DU2 is not the session's DU1",  # the window's words (an error there)
    ]
