"""`trading-console order` as a real subprocess against the simulator (SQLite and MariaDB): the
ticket's use case from the command line, refused like the window's."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from .cli_helpers import cli_args, run, until_client_gone

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # every step a `python -m app` subprocess


async def test_order_command_checks_sends_and_refuses(db_url, simulator):
    port = simulator.port
    simulator.set_price("AAPL", "100")
    check = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "buy", "--quantity", "20000", "--check"))
    assert check.code == 3, check.err
    assert "may NOT send" in check.out and "max_order_quantity" in check.out and simulator.orders() == []
    await until_client_gone(simulator, 1)

    sent = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "SELL", "--quantity", "3", "--type", "STP",
                              "--stop", "90", "--tif", "GTC", "--project", "desk", "--allow-short-not-an-option", "--json"))
    assert sent.code == 2 and "unrecognized arguments" in sent.err  # argparse: a typo sends nothing

    bought = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "3", "--project", "desk",
                                "--json", "--wait-seconds", "10"))
    assert bought.code == 0, bought.err
    [order] = bought.json["orders"]
    assert (order["symbol"], order["side"], order["quantity"], order["status"]) == ("AAPL", "BUY", "3", "FILLED")
    await until_client_gone(simulator, 1)

    # a stop for desk's shares is desk's order: from the default project (`manual`, holding no
    # AAPL) the same sale would go short in that book, and risk blocks it as a run's would
    shorting = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "SELL", "--quantity", "3", "--type", "STP",
                                  "--stop", "90", "--tif", "GTC", "--check"))
    assert shorting.code == 3 and "short_sale" in shorting.out, (shorting.out, shorting.err)
    await until_client_gone(simulator, 1)
    stop = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "SELL", "--quantity", "3", "--type", "STP",
                              "--stop", "90", "--tif", "GTC", "--project", "desk", "--json", "--wait-seconds", "1"))
    assert stop.code == 0, stop.err
    [order] = stop.json["orders"]
    assert (order["order_type"], order["stop_price"], order["tif"], order["status"]) == ("STP", "90", "GTC", "ACCEPTED")
    [resting] = simulator.open_orders()
    assert (resting.order_type, resting.stop_price) == ("STP", Decimal(90))
    await until_client_gone(simulator, 1)

    # as the window names an order: it printed "BUY 1.000000 AAPL LMT: ACCEPTED, filled 0.000000", no limit
    text = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "1", "--type", "LMT",
                              "--limit", "98", "--project", "desk", "--wait-seconds", "1"))
    assert text.code == 0, text.err
    # first the window's "Sent" line as it went (services.execution.manual.SentTicket), then the order as it stands
    said = re.fullmatch(r"Sent BUY 1 AAPL LMT 98.00 DAY: run (\d+), order (\S+)\nrun (\d+): order \d+ BUY 1 AAPL LMT 98.00 · (\S+): ACCEPTED\n",
                        text.out)
    assert said is not None and (said[1], said[2]) == (said[3], said[4]), text.out
    await until_client_gone(simulator, 1)

    # the window's words for the order (services.core.wording.describe_order), its stop and its
    # limit named: it printed "STP LMT 101.25 stop 101", words of its own
    stop_limit = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "1", "--type", "STP LMT",
                                    "--stop", "101", "--limit", "101.25", "--project", "desk", "--wait-seconds", "1"))
    assert stop_limit.code == 0, stop_limit.err
    [resting] = [o for o in simulator.open_orders() if o.order_type == "STP LMT"]
    said = re.fullmatch(r"Sent (.*)\nrun (\d+): order (\d+) (.*)\n", stop_limit.out)
    assert said is not None, stop_limit.out
    assert said[1] == f"BUY 1 AAPL STP LMT stop 101.00 limit 101.25 DAY: run {said[2]}, order {resting.order_ref}"
    assert said[4] == f"BUY 1 AAPL STP LMT stop 101.00 limit 101.25 · {resting.order_ref}: ACCEPTED"
    await until_client_gone(simulator, 1)
    # `orders` shows the stop too: its table had no stop column (a STP order's row showed no
    # price at all) and a type column four wide, "STP LMT" pushing the rest of its row aside
    listed = await run(cli_args(db_url, port, "orders", connection=False))
    header, *rows = listed.out.splitlines()
    assert header.split()[5:9] == ["type", "limit", "stop", "status"], header
    [row] = [line for line in rows if resting.order_ref in line]
    assert f"STP LMT {'101.25':>10} {'101.00':>10} ACCEPTED" in row, row
    assert row.index("STP LMT") == header.index("type") and row.index("ACCEPTED") == header.index("status"), (header, row)
    # the plain STP: no limit, its stop in the stop column
    assert [line for line in rows if f"STP     {'':>10} {'90.00':>10} ACCEPTED" in line], rows

    off_grid = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "1", "--type", "LMT",
                                  "--limit", "99.999"))
    assert off_grid.code == 2 and "not on the 0.01 tick grid" in off_grid.err
    # the window's activity-log line for a refused send (services.execution.manual.not_sent_line):
    # the command said the refusal bare
    assert "trading-console: Order not sent: AAPL: limit price 99.999 is not on the 0.01 tick grid" in off_grid.err, off_grid.err
    await until_client_gone(simulator, 1)

    live = await run(cli_args(db_url, port, "order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "1", "--mode", "live"))
    assert live.code == 4 and "LIVE" in live.err  # refused before anything: the account guard wants the word
    assert len(simulator.orders()) == 4
