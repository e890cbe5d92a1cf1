"""`trading-console sim` as a process: serves a real client, stops cleanly on SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import pytest
from ib_async import IB, MarketOrder, Stock

from app.cli import build_parser
from app.commands.sim import build_config
from tests.fixtures.ib import wait_for

ROOT = Path(__file__).resolve().parents[2]


async def start_cli(*args: str):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "sim", "--port", "0", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    match = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
    assert match, line
    return process, int(match.group(1))


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_and_saves_state_on_signal(tmp_path, stop_signal):
    state, ledger = tmp_path / "state.json", tmp_path / "ledger.json"
    process, port = await start_cli("--state", str(state), "--ledger-json", str(ledger), "--seed", "5",
                                    "--walk-interval", "0", "--account", "DU7654321", "--reject-symbols", "TSLA")
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", port, clientId=9, timeout=10)
        assert ib.managedAccounts() == ["DU7654321"]
        [spy] = await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD"))
        trade = ib.placeOrder(spy, MarketOrder("BUY", 3, orderRef="cli-1"))
        await wait_for(lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId, timeout=10)
        assert trade.fills[0].execution.price == 598.42  # 598.40 + half spread + slippage
        ib.disconnect()
        process.send_signal(stop_signal)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        ib.disconnect()
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert b"state saved to" in out
    log = err.decode()
    assert "client 9 connected" in log  # per-order lines are DEBUG (one line per event at INFO)
    saved = json.loads(state.read_text())
    assert [(o["order_ref"], o["status"]) for o in saved["orders"]] == [("cli-1", "Filled")]
    assert [e["orderRef"] for e in json.loads(ledger.read_text())] == ["cli-1"]


def test_cli_flags_build_the_config():
    args = build_parser().parse_args([
        "sim", "--fill-mode", "partial", "--ack-delay", "0.5", "--reject-symbols", "tsla, ibm", "--pacing", "20",
        "--presubmitted", "--duplicate-status", "--exec-correction", "--late-commission", "--info-10349",
        "--drop-after", "100", "--reject-min-qty", "1000", "--fault", "ref=^slow:ack_delay=2",
    ])
    config = build_config(args)
    f = config.faults
    assert (config.fill_mode, config.accounts, config.walk_interval) == ("partial", ("DU1234567",), 1.0)
    assert (f.ack_delay, f.reject_symbols, f.pacing_limit, f.drop_after_messages, f.reject_min_quantity) == (
        0.5, {"TSLA", "IBM"}, 20, 100, 1000)
    assert (f.presubmitted, f.duplicate_status, f.exec_correction, f.late_commission, f.info_10349) == (True,) * 5
    assert f.for_order("AAPL", "slow-1", 1).ack_delay == 2.0
    assert args.host == "127.0.0.1" and args.port == 7497


def test_ibs_strict_limits_are_kept_by_default_and_can_be_changed():
    defaults = build_config(build_parser().parse_args(["sim"])).faults
    assert (defaults.pacing_limit, defaults.pacing_disconnect_after, defaults.market_data_lines) == (50, 5, 100)
    # historical pacing: IB's 60 in 10 minutes, strict for bars of 30 s or less only
    assert (defaults.history_pacing, defaults.history_window, defaults.history_pacing_bar_seconds) == (60, 600.0, 30)
    changed = build_config(build_parser().parse_args(["sim", "--history-pacing", "4", "--market-data-lines", "0"])).faults
    assert (changed.history_pacing, changed.history_pacing_bar_seconds, changed.market_data_lines) == (4, None, 0)


def test_synthetic_symbols_extend_the_universe():
    from services.core.snapshots import SYMBOL_RE
    from services.ibsim import IBGatewaySimulator

    config = build_config(build_parser().parse_args(["sim", "--synthetic-symbols", "1200"]))
    sim = IBGatewaySimulator(config)
    synthetic = [s for s in sim.universe if s.startswith("SYN")]
    assert len(synthetic) == 1200 and "AAPL" in sim.universe  # added to the usual universe
    assert synthetic[0] == "SYN0001" and all(SYMBOL_RE.match(s) for s in synthetic)
    assert len({i.con_id for i in sim.universe.values()}) == len(sim.universe)  # conIds stay unique
    assert all(sim.universe[s].price > 0 for s in synthetic)


def test_cli_bad_universe_is_bad_input(tmp_path, capsys):
    from app.cli import EXIT_BAD_INPUT, main

    assert main(["sim", "--universe", str(tmp_path / "missing.csv")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "missing.csv" in err and err.startswith("trading-console: "), err  # as every command's failure begins
