"""A connection the gateway drops while a command asks its questions (here the preview's market
data snapshots of `execute`), as a real process against the simulator: the command says the
connection was lost, when, and what to do (exit 5, the one JSON error object), and nothing else
lands on stderr. Before, it said "not connected to IB at HOST:PORT" alone (as if it had never
connected) and asyncio printed "Future exception was never retrieved ... ConnectionError:
Socket disconnect" for a snapshot asked and never answered."""

from __future__ import annotations

import asyncio
import re

import pytest

from .cli_helpers import ROOT, Result, child_env, cli_args, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # a `python -m app` subprocess and a simulator

SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "V", "KO", "PG")


@pytest.mark.parametrize(("request_id", "nth", "while_asking"), [
    (1, 3, ""),  # the 3rd market data snapshot: the others are still to be asked
    (62, 1, " while asking for the account summary"),  # was "account summary: Socket disconnect"
])
async def test_a_connection_dropped_during_the_preview_is_said_as_lost(db_url, make_simulator, tmp_path, ib_log_guard,
                                                                       request_id, nth, while_asking):
    ib_log_guard.allow(r"Peer closed connection|Socket disconnect")
    sim = await make_simulator()
    loop = asyncio.get_running_loop()
    asked = []
    answer = sim._handlers[request_id]

    def dropping_unanswered(simulator, session, fields) -> None:
        asked.append(1)
        if len(asked) == nth:  # unanswered: the command is waiting for it
            loop.call_soon(sim.drop_connections)
            return
        answer(simulator, session, fields)

    sim._handlers = {**sim._handlers, request_id: dropping_unanswered}
    weights = tmp_path / "weights.csv"
    weights.write_text("symbol,weight\n" + "".join(f"{s},0.05\n" for s in SYMBOLS), encoding="utf-8")
    # exec'd, not forked (cli_helpers.run): the stray line came as the interpreter ended, which a forked child skips
    child = await asyncio.create_subprocess_exec(
        *cli_args(db_url, sim.port, "execute", "--snapshot", str(weights), "--project", "lost", "--portfolio-value",
                  "100000", "--json"), cwd=ROOT, env=child_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), 120)
    result = Result(child.returncode, out.decode(), err.decode())

    assert result.code == 5, result.err
    assert "never retrieved" not in result.err and "Traceback" not in result.err, result.err
    said = result.json
    assert said["error"] == "not_connected", said
    assert re.fullmatch(rf"not connected to IB at 127\.0\.0\.1:{sim.port}: the connection was lost at \d\d:\d\d:\d\d UTC"
                        rf"{while_asking}; run the command again once TWS / IB Gateway is reachable", said["message"]), said
    assert result.err.strip() == f"trading-console: {said['message']}", result.err  # that line and nothing else


async def test_orders_a_dropped_run_never_sent_are_not_said_to_be_working(db_url, make_simulator, tmp_path, ib_log_guard):
    """`execute` whose connection dropped mid-run said "still working 3, not sent 3" for three
    orders that never left (still_working listed the NEW ones too): a trader read three orders at
    the broker. Still working is what the broker has and has not finished."""
    ib_log_guard.allow(r"Peer closed connection|Socket disconnect")
    sim = await make_simulator()
    loop = asyncio.get_running_loop()
    placed = []
    place = sim._handlers[3]

    def dropping_after_the_fourth(simulator, session, fields) -> None:
        place(simulator, session, fields)
        placed.append(1)
        if len(placed) == 4:
            loop.call_soon(sim.drop_connections)

    sim._handlers = {**sim._handlers, 3: dropping_after_the_fourth}
    weights = tmp_path / "weights.csv"
    weights.write_text("symbol,weight\n" + "".join(f"{s},0.05\n" for s in SYMBOLS), encoding="utf-8")
    args = ("execute", "--snapshot", str(weights), "--project", "dropped", "--portfolio-value", "100000", "--wait-seconds", "30")
    result = await run(cli_args(db_url, sim.port, *args, "--json"), timeout=120)
    assert result.code == 5, result.err
    data = result.json["run"]
    assert data["connection_lost"] and data["not_sent"], data
    assert set(data["still_working"]).isdisjoint(data["not_sent"]), data
    statuses = {o["client_order_id"]: o["status"] for o in result.json["orders"]}
    assert {statuses[c] for c in data["not_sent"]} <= {"NEW", "SENDING"}, statuses
    assert not {statuses[c] for c in data["still_working"]} & {"NEW", "SENDING"}, statuses
