"""`trading-console backtest --from-broker` as a real process against the simulator: the daily
bars the price cache lacks are downloaded (the simulator answers reqHistoricalData), the backtest
runs on them, and a second run asks the broker for nothing and gives the same result."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services import price_cache
from tests.execution.cli_helpers import cli_args, run, until_client_gone

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

NOW = datetime(2025, 1, 6, 22, 0, tzinfo=UTC)
SYMBOLS = ["AAPL", "AMZN", "GOOGL", "META", "MSFT"]
WEIGHTS = "date,symbol,weight\n" + "".join(  # within the default risk limits (20 % a position)
    f"{day},{symbol},{weight}\n" for day, weights in (("2024-12-02", (0.18, 0.18, 0.15, 0.15, 0.18)),
                                                      ("2024-12-16", (0.12, 0.19, 0.19, 0.19, 0.19)))
    for symbol, weight in zip(SYMBOLS, weights, strict=True))


async def test_backtest_from_broker_bars_downloads_once(database, db_url, make_simulator, tmp_path):
    sim = await make_simulator(clock=lambda: NOW)
    weights = tmp_path / "weights.csv"
    weights.write_text(WEIGHTS, encoding="utf-8")
    args = ("backtest", "--from-broker", "--snapshots", str(weights), "--project", "demo", "--initial-cash", "100000",
            "--fill", "close", "--commission", "ib-fixed", "--from", "2024-12-02", "--to", "2024-12-31", "--json")
    first = await run(cli_args(db_url, sim.port, *args), timeout=180)
    assert first.code == 0, first.err
    assert sorted(r.listing for r in sim.history_requests) == SYMBOLS
    cached = price_cache.load_bars(database, SYMBOLS)
    assert cached and min(b.day for b in cached) == date(2024, 11, 25) and max(b.day for b in cached) == date(2024, 12, 31)
    project = first.json["projects"]["demo"]
    assert project["equity"][0][0] == "2024-12-02" and project["equity"][-1][0] == "2024-12-31"
    assert project["orders"] == project["fills"] >= len(SYMBOLS) and not project["risk_blocked"]
    assert Decimal(project["commissions"]) > 0 and Decimal(project["final_equity"]) != Decimal(100000)

    await until_client_gone(sim, 1)
    second = await run(cli_args(db_url, sim.port, *args), timeout=180)
    assert second.code == 0, second.err
    assert len(sim.history_requests) == len(SYMBOLS), "the second run asked the broker for bars again"
    assert "0 requests, 0 bars stored" in second.err
    assert second.json["run_id"] != first.json["run_id"]
    assert second.json["projects"]["demo"]["final_equity"] == project["final_equity"]

    # the cached bars alone, no connection (a port nobody listens on): the same result. A trader's
    # walk found no way to backtest the bars the demo window had downloaded from the command line
    cached_args = tuple("--cached" if a == "--from-broker" else a for a in args)
    offline = await run(cli_args(db_url, 1, *cached_args), timeout=180)
    assert offline.code == 0, offline.err
    assert offline.json["projects"]["demo"]["final_equity"] == project["final_equity"]
    assert len(sim.history_requests) == len(SYMBOLS)  # nothing asked
    both = await run(cli_args(db_url, 1, *cached_args, "--from-broker"), timeout=60)
    assert both.code == 2 and "give one of --prices FILE, --from-broker or --cached" in both.err, both.err
    empty = await run(cli_args(db_url, 1, *cached_args, "--what-to-show", "MIDPOINT"), timeout=60)  # never downloaded
    assert empty.code == 2 and "the price cache holds no MIDPOINT daily bars" in empty.err, empty.err

    # the split- and dividend-adjusted series is another series: its bars are asked for and cached apart
    await until_client_gone(sim, 1)
    adjusted = await run(cli_args(db_url, sim.port, *args, "--what-to-show", "ADJUSTED_LAST"), timeout=180)
    assert adjusted.code == 0, adjusted.err
    assert sorted((r.listing, r.what_to_show) for r in list(sim.history_requests)[len(SYMBOLS):]) == \
        [(symbol, "ADJUSTED_LAST") for symbol in SYMBOLS]
    assert len(price_cache.load_bars(database, SYMBOLS, what_to_show="ADJUSTED_LAST")) == len(cached)
    assert adjusted.json["projects"]["demo"]["orders"] > 0


async def test_from_broker_checks_the_other_inputs_before_connecting(db_url, tmp_path):
    weights = tmp_path / "weights.csv"
    weights.write_text("date,symbol,weight\n2024-12-32,AAPL,0.5\n", encoding="utf-8")
    both = await run(cli_args(db_url, 1, "backtest", "--from-broker", "--prices", str(weights), "--snapshots",
                              str(weights), "--fill", "later", "--what-to-show", "LAST"))  # port 1: nothing listens, nothing is asked
    assert both.code == 2, both.err
    for expected in ("not both", "--fill 'later'", "line 2", "--what-to-show 'LAST'"):
        assert expected in both.err, (expected, both.err)
    # a From after every snapshot: no listing to ask bars of. Said as a bar file's backtest says
    # it, before connecting; it was a bare "no prices" (a trader's walk of the window)
    weights.write_text(WEIGHTS, encoding="utf-8")
    late = await run(cli_args(db_url, 1, "backtest", "--from-broker", "--snapshots", str(weights), "--from", "2025-01-02",
                              "--to", "2025-01-31"))
    said = "no snapshot between 2025-01-02 and 2025-01-31 (the snapshots are dated 2024-12-02 to 2024-12-16)"
    assert late.code == 2 and said in late.err, late.err


@pytest.mark.parametrize("as_json", [False, True])
async def test_a_listing_the_broker_does_not_know_is_bad_input_named_with_its_snapshot_and_nothing_is_downloaded(
        db_url, make_simulator, tmp_path, ib_log_guard, as_json):
    """The panel and the command said "bars ZZZZNOPE: unknown contract: ZZZZNOPE" and nothing of
    which of the project's snapshots holds the typo (seen under Xvfb, with three stored snapshots).
    It then exited 5, a broker error, with AAPL's bars downloaded around the typo, where `bars
    download` refuses the same typo as bad input, exit 2, nothing downloaded
    (services.price_cache.check_listings, one check for both). With --json stdout was empty: now
    the one error object."""
    ib_log_guard.allow(r"Error 200, .*ZZZZNOPE")
    sim = await make_simulator(clock=lambda: NOW)
    weights = tmp_path / "weights.csv"
    weights.write_text("date,symbol,weight\n2024-12-02,AAPL,0.1\n2024-12-16,ZZZZNOPE,0.1\n", encoding="utf-8")
    refused = await run(cli_args(db_url, sim.port, "backtest", "--from-broker", "--snapshots", str(weights), "--project",
                                 "demo", "--initial-cash", "100000", "--from", "2024-12-02", "--to", "2024-12-31",
                                 *(["--json"] if as_json else [])), timeout=180)
    # the service's one wording, which the panel shows too (app.controllers.backtest: exc.problems)
    said = ("unknown contract: ZZZZNOPE (in 2024-12-16-weights-demo.csv of demo): the broker knows no such listing; "
            "nothing was downloaded")
    assert (refused.code, refused.err) == (2, f"trading-console: {said}\n"), refused.err
    assert list(sim.history_requests) == []  # AAPL's bars neither asked for nor stored
    if as_json:
        assert refused.out.count("\n") == 1, refused.out
        assert refused.json == {"error": "unknown_contract", "message": said}
    else:
        assert refused.out == ""
