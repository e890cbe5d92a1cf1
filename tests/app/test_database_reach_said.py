"""The followed database lost and found again is said by the monitor window and `watch` in the
same words (services.change_feed.reach_line): the monitor said "Database unreachable; the
monitor keeps trying" (without the why) and "Database reachable again", `watch` "database
unreachable, still watching: <why>" and "database reachable again". The real monitor window
offscreen, and the command in this process; the database's answer refused by a poll that raises
as a restarting server's would."""

from __future__ import annotations

import signal
from dataclasses import replace

import pytest
from sqlalchemy.exc import OperationalError

from services.change_feed import ChangeFeed
from tests.app.conftest import run
from tests.app.test_monitor_mode import open_monitor
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

# the server's words carry the URL it was reached by: its password is never said
LOST = OperationalError("SELECT 1", {}, Exception("(2013) Lost connection to mysql+pymysql://reader:secret@db-host/trading"))
MONITOR_FOLLOWING = "monitor — no broker connection"  # the monitor's state while the database answers
UNREACHABLE = ("Database unreachable, still watching: database error: (2013) Lost connection to "
               "mysql+pymysql://reader:***@db-host/trading")
AGAIN = "Database reachable again"


def _lost_twice_then_found(monkeypatch, after=None):
    """ChangeFeed.poll refused twice (said once), then the database's own answer; ``after``
    called on each poll after that."""
    real, polls = ChangeFeed.poll, []

    def poll(feed):
        polls.append(feed)
        if len(polls) <= 2:
            raise LOST
        if after is not None:
            after(len(polls))
        return real(feed)

    monkeypatch.setattr(ChangeFeed, "poll", poll)


def test_the_monitor_says_the_database_lost_and_found_in_the_words_of_watch(qloop, qtbot, db_url, console_settings,
                                                                            monkeypatch):
    said: list[str] = []

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        bar = monitor.window.statusBar()
        bar.messageChanged.connect(lambda _shown: said.append(bar.currentMessage()))  # whole, not elided
        try:
            _lost_twice_then_found(monkeypatch)
            await wait_until(lambda: AGAIN in said, 10, lambda: f"the database found again: {said}")
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)
    # each said once: the bar fits a message again when the state beside it changes width (the
    # same words, drawn again), so a repeat in a row is one saying
    shown = [s for s in said if s.startswith("Database")]
    assert [s for i, s in enumerate(shown) if i == 0 or s != shown[i - 1]] == [UNREACHABLE, AGAIN]


class _Stopped(Exception):
    """Ends the command's loop (it stops on a signal, which this process keeps for pytest)."""


def test_watch_says_the_database_lost_and_found_in_the_words_of_the_monitor(db_url, database, monkeypatch, capsys):
    from app.commands.watch import _follow

    monkeypatch.setattr(signal, "signal", lambda *args: None)  # pytest keeps its own Ctrl+C

    def stop(polls: int) -> None:
        if polls > 3:
            raise _Stopped

    _lost_twice_then_found(monkeypatch, after=stop)
    with pytest.raises(_Stopped):
        _follow(db_url, False, 0.01)
    said = [line for line in capsys.readouterr().err.splitlines() if "reachable" in line]
    assert said == [f"trading-console: {UNREACHABLE}", f"trading-console: {AGAIN}"]


def test_the_words_are_one_function_of_the_services():
    from services.change_feed import reach_line

    assert (reach_line(LOST), reach_line(None)) == (UNREACHABLE, AGAIN)


def test_the_why_is_said_in_the_words_of_every_other_database_error():
    """The server gone mid-query, as PyMySQL raises it: said as the window's other errors of the
    same outage say it (services.db.errors.describe_db_error), where the status bar showed the
    driver's repr, "(pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during
    ...", cut off there."""
    import pymysql

    from services.change_feed import reach_line

    lost = OperationalError("SELECT 1", {}, pymysql.err.OperationalError(
        2013, "Lost connection to MySQL server during query ([Errno 104] Connection reset by peer)"))
    assert reach_line(lost, "mysql+pymysql://reader:secret@db-host:3306/trading") == (
        "Database unreachable, still watching: database server unreachable at db-host:3306 "
        "(Connection reset by peer): is MariaDB/MySQL running there?")


def test_a_database_dropped_under_the_follower_is_said_so_not_unreachable():
    """Seen under Xvfb: a monitor whose MariaDB database was dropped (the server answering) said
    "Database unreachable, still watching: database error: Table '...audit_logs' doesn't exist":
    the server was there, the database was not."""
    import pymysql
    from sqlalchemy.exc import ProgrammingError

    from services.change_feed import reach_line

    gone = ProgrammingError("SELECT 1", {}, pymysql.err.ProgrammingError(
        1146, "Table 'trading.audit_logs' doesn't exist"))
    assert reach_line(gone, "mysql+pymysql://reader:secret@db-host:3306/trading") == (
        "Database not there any more (dropped, or created again without its tables yet), still watching: "
        "database error: Table 'trading.audit_logs' doesn't exist")


def test_the_monitor_keeps_the_loss_in_view_whatever_message_comes_after(qloop, qtbot, db_url, console_settings,
                                                                        monkeypatch):
    """Walked under Xvfb: the database gone, Verify full chain clicked; its error replaced the
    loss in the status bar and, 15 s later, timed out: a blank bar and a monitor that looked
    current while the database was still gone. The bar's permanent part says it now, until the
    database answers again."""
    real, gone = ChangeFeed.poll, [True]

    def poll(feed):
        if gone[0]:
            raise LOST
        return real(feed)

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        status, bar = monitor.window.connection_status, monitor.window.statusBar()
        try:
            assert status.state_label.text() == f"● {MONITOR_FOLLOWING}"
            monkeypatch.setattr(ChangeFeed, "poll", poll)
            await wait_until(lambda: monitor.controller.follower.unreachable, 10, "the database lost")
            bar.showMessage("Verify the full audit chain: database server unreachable", 15_000)
            bar.clearMessage()  # its timeout
            lost = (status.state_label.text(), status.state_label.property("state"), status.state_label.toolTip())
            gone[0] = False
            await wait_until(lambda: not monitor.controller.follower.unreachable, 10, "the database found again")
            return lost, status.state_label.text()
        finally:
            await monitor.close()

    (shown, state, tip), found = run(qloop, scenario(), timeout=60)
    assert shown.startswith("● disconnected — database unreachable since ") and shown.endswith(" UTC"), shown
    assert state == "disconnected"  # coloured as a trading window's lost connection
    assert tip == UNREACHABLE
    assert found == f"● {MONITOR_FOLLOWING}"
