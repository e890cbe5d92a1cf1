"""Conformance: the official client (ibapi 9.81), ib_insync and ib_async run the same scenario
against the simulator, each from its own venv (venvs.py) and at the protocol version it
announces, and must all see the same account.

Each test starts a fresh simulator on a free loopback port (on its own thread), runs the
client's scenario script as a subprocess with the venv's python, and asserts on the JSON the
script prints. Run this suite alone with ``python3 dev.py test tests/sim/conformance``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from services.ibsim.config import SimConfig
from services.ibsim.thread import SimulatorThread
from tests.sim.conformance.venvs import CLIENTS, client_python

HERE = Path(__file__).parent
SCENARIO_TIMEOUT = 120  # seconds; each scenario step has its own 10 s deadline inside the script

# the server version each client gets: min(its announced maximum, 178)
ANNOUNCED = {"ibapi": 157, "ib_insync": 176, "ib_async": 178}


@pytest.fixture
def sim_port():
    runner = SimulatorThread(SimConfig(), host="127.0.0.1", port=0)
    port = runner.start()
    yield port
    runner.stop()


def run_scenario(client_name: str, port: int) -> dict:
    python = client_python(CLIENTS[client_name])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(python), str(HERE / f"scenario_{client_name}.py"), str(port)],
        capture_output=True, text=True, timeout=SCENARIO_TIMEOUT, cwd=HERE, env=env, check=False,
    )
    assert result.returncode == 0, f"{client_name} scenario failed:\n{result.stderr[-4000:]}"
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{client_name} scenario printed no JSON:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return json.loads(lines[-1])


@pytest.mark.slow  # one of the longest of the quick subset (3-10 s): left out of --quick
@pytest.mark.parametrize("client_name", sorted(CLIENTS))
def test_client_scenario(client_name, sim_port):
    r = run_scenario(client_name, sim_port)

    assert r["server_version"] == ANNOUNCED[client_name]
    assert r["accounts"] == [SimConfig().account]
    assert r["details_known"] == {"conId": 265598, "primaryExchange": "NASDAQ", "longName": "APPLE INC", "minTick": 0.01}
    assert r["details_unknown"] == {"count": 0, "errors": [200]}

    delayed = r["delayed"]
    assert delayed["notice"] and delayed["marketDataType"] == 3
    assert {66, 67, 68, 75} <= set(delayed["tick_types"])  # delayed bid, ask, last, close
    assert not set(delayed["tick_types"]) & {1, 2, 4, 9}  # and no live tick types
    assert (delayed["bid"], delayed["ask"]) == (228.49, 228.51)

    assert r["market_order"] == {"status": "Filled", "filled": 100.0, "avgFillPrice": 228.52,
                                 "executions": [["BOT", 100.0]], "commission": 1.0, "commissionCurrency": "USD"}
    assert r["limit"] == {"rest": "Submitted", "modified": 101.0, "cancel": "Cancelled"}
    two = r["two_clients"]
    assert two["client2_status"] == "Submitted" and two["all_open_clients"] == [1, 2]
    assert len(two["client1_open"]) == 1  # reqOpenOrders: only the client's own resting order
    assert r["open_orders"] == 0
    assert r["completed_orders"] == ["Cancelled", "Cancelled", "Filled"]
    assert r["executions"] == {"AAPL": 1, "MSFT": 0, "SELL": 0}
    assert r["positions"] == {"AAPL": 100.0}
    assert r["account_summary"] == {"NetLiquidation": "USD", "TotalCashValue": "USD"}
    assert r["account_updates"] == {"NetLiquidation": True, "portfolio": {"AAPL": 100.0}}
    assert r["what_if"]["initMarginChange"] > 0 and r["what_if"]["commission"] == 1.0
    assert r["reject"]["codes"] == [201] and r["reject"]["status"] in ("Inactive", "Cancelled")
    assert r["historical"]["bars"] > 0 and r["historical"]["last_close_positive"]
    assert r["pnl"] == {"daily_is_number": True, "single_position": 100.0}
    assert r["forex"] == {"conId": 12087792, "spread_positive": True, "status": "Filled", "filled": 20000.0,
                          "commission": 2.0, "commissionCurrency": "USD", "EUR": 20000.0}
    assert r["reconnect"] == {"server_version": ANNOUNCED[client_name], "positions": {"AAPL": 100.0, "EUR": 20000.0},
                            "executions": 2}


def test_cache_key_follows_the_pin():
    """A new pin makes a new venv: the folder is named after the requirement's versions."""
    assert CLIENTS["ibapi"].cache_key == "ibapi-9.81.1.post1"
    assert CLIENTS["ib_insync"].cache_key == "ib_insync-0.9.86"
    assert CLIENTS["ib_async"].cache_key.startswith("ib_async-2.")


@pytest.mark.parametrize("ci", ["true", ""])
def test_unreachable_index_fails_under_ci_and_skips_elsewhere(ci, tmp_path, monkeypatch):
    """pip's failure (here a stand-in for ``python -m venv`` and ``pip install``) is reported with
    pip's message; nothing half made stays in the cache."""
    from tests.sim.conformance import venvs

    def fake_run(command, **kwargs):
        if command[1:3] == ["-m", "venv"]:
            Path(command[3]).mkdir(parents=True)
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for ibapi")

    monkeypatch.setattr(venvs.subprocess, "run", fake_run)
    monkeypatch.setenv("TC_CONFORMANCE_CACHE", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="No matching distribution"):
        client_python(CLIENTS["ibapi"])
    assert not (tmp_path / CLIENTS["ibapi"].cache_key).exists()
