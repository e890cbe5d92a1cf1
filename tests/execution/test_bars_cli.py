"""`trading-console bars` as real subprocesses: a corrupt file is refused with every line named
and nothing stored; a second download from the simulator asks for nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .cli_helpers import cli_args, run, until_client_gone

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # every step a `python -m app` subprocess

NOW = datetime(2025, 1, 6, 22, 0, tzinfo=UTC)


async def test_import_refuses_a_corrupt_file_and_stores_a_good_one(db_url, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,symbol,open,high,low,close,volume\n2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000\n"
                   "2025-01-32,AAPL,1,1,1,1,0\n2025-01-03,AAPL,10,9,8,9.5,0\n2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000\n")
    refused = await run(cli_args(db_url, 0, "bars", "import", str(bad), connection=False))
    assert refused.code == 2
    assert "bad.csv: 3 problems; nothing was stored" in refused.err
    assert "line 3, column date" in refused.err and "line 4, column high" in refused.err and "line 5: a second bar" in refused.err
    as_json = await run(cli_args(db_url, 0, "bars", "import", str(bad), "--json", connection=False))
    assert as_json.code == 2 and [p["line"] for p in as_json.json["problems"]] == [3, 4, 5]
    backwards = await run(cli_args(db_url, 0, "bars", "download", "--symbols", "AAPL", "--from", "2025-01-03",
                                   "--to", "2025-01-02", connection=False))
    assert backwards.code == 2 and "before --from" in backwards.err
    unknown = await run(cli_args(db_url, 0, "bars", "download", "--symbols", "AAPL,ÄX", "--from", "2025-01-02",
                                 "--to", "2025-01-03", connection=False))
    assert unknown.code == 2 and "non-ASCII" in unknown.err
    empty = await run(cli_args(db_url, 0, "bars", "show", connection=False))
    assert empty.code == 0 and "no bars cached" in empty.out

    good = tmp_path / "good.csv"
    good.write_text("date,symbol,open,high,low,close,volume\n2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000\n"
                    "2025-01-03,aapl,243.85,245,243.5,244.0,\n")
    stored = await run(cli_args(db_url, 0, "bars", "import", str(good), "--json", connection=False))
    assert stored.code == 0, stored.err
    assert {k: stored.json[k] for k in ("bars", "inserted", "replaced", "first", "last")} == {
        "bars": 2, "inserted": 2, "replaced": 0, "first": "2025-01-02", "last": "2025-01-03"}
    shown = await run(cli_args(db_url, 0, "bars", "show", "--json", connection=False))
    assert shown.json == [{"symbol": "AAPL", "what_to_show": "TRADES", "bars": 2, "first": "2025-01-02", "last": "2025-01-03"}]


async def test_importing_a_stored_file_again_says_its_bars_were_already_stored(db_url, tmp_path):
    """The second import of the same file said "0 new, 2 replaced"."""
    good = tmp_path / "good.csv"
    good.write_text("date,symbol,open,high,low,close,volume\n2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000\n"
                    "2025-01-03,AAPL,243.85,245,243.5,244.0,\n")
    first = await run(cli_args(db_url, 0, "bars", "import", str(good), connection=False))
    assert first.code == 0, first.err
    assert first.out.strip() == "good.csv: 2 bars of 1 listing, 2025-01-02 to 2025-01-03: 2 new, 0 changed, 0 unchanged"

    again = await run(cli_args(db_url, 0, "bars", "import", str(good), connection=False))
    assert again.code == 0, again.err
    assert again.out.strip() == ("good.csv: 2 bars of 1 listing, 2025-01-02 to 2025-01-03: all already stored, "
                                 "nothing changed (0 new, 0 changed, 2 unchanged)")
    as_json = await run(cli_args(db_url, 0, "bars", "import", str(good), "--json", connection=False))
    assert {k: as_json.json[k] for k in ("bars", "inserted", "changed", "unchanged", "replaced")} == {
        "bars": 2, "inserted": 0, "changed": 0, "unchanged": 2, "replaced": 0}

    good.write_text(good.read_text().replace("244.0,", "244.5,") + "2025-01-06,AAPL,244,245,243,244.5,10\n")
    changed = await run(cli_args(db_url, 0, "bars", "import", str(good), connection=False))
    assert changed.out.strip() == "good.csv: 3 bars of 1 listing, 2025-01-02 to 2025-01-06: 1 new, 1 changed, 1 unchanged"


async def test_download_twice_fetches_nothing_the_second_time(db_url, make_simulator):
    sim = await make_simulator(clock=lambda: NOW)
    args = ("bars", "download", "--symbols", "AAPL,MSFT", "--from", "2024-12-01", "--to", "2024-12-31", "--json")
    first = await run(cli_args(db_url, sim.port, *args))
    assert first.code == 0, first.err
    assert first.json["requests"] == 2 and first.json["stored"] == 2 * 21  # December 2024: 21 trading days
    assert [r.listing for r in sim.history_requests] == ["AAPL", "MSFT"]
    await until_client_gone(sim, 1)
    second = await run(cli_args(db_url, sim.port, *args))
    assert second.code == 0, second.err
    assert second.json["requests"] == 0 and second.json["stored"] == 0
    assert len(sim.history_requests) == 2


async def test_an_unknown_symbol_is_bad_input_named_and_nothing_is_downloaded(db_url, make_simulator):
    """`bars download --symbols AAPL,ZZZZZ,MSFT` stored AAPL's and MSFT's bars and exited 5 (a
    broker error) for a mistyped symbol. It is bad input, refused whole as `bars import` refuses a
    file with any problem: named, exit 2, no bar asked for or stored."""
    sim = await make_simulator(clock=lambda: NOW)
    december = ("--from", "2024-12-01", "--to", "2024-12-31")
    text = await run(cli_args(db_url, sim.port, "bars", "download", "--symbols", "AAPL,ZZZZZ,MSFT", *december))
    assert (text.code, text.out, text.err.strip()) == (
        2, "", "trading-console: unknown contract: ZZZZZ: the broker knows no such listing; nothing was downloaded")
    assert list(sim.history_requests) == []
    await until_client_gone(sim, 1)
    two = await run(cli_args(db_url, sim.port, "bars", "download", "--symbols", "NOPE,AAPL,ZZZZZ", *december, "--json"))
    assert two.code == 2 and two.json == {
        "error": "unknown_contract",
        "message": "unknown contracts: NOPE, ZZZZZ: the broker knows none of these listings; nothing was downloaded"}
    assert list(sim.history_requests) == []
    shown = await run(cli_args(db_url, 0, "bars", "show", connection=False))
    assert shown.code == 0 and "no bars cached" in shown.out


async def test_download_from_before_1900_is_refused_before_connecting(db_url):
    """--from 0001-01-01 asked the broker for "7975 Y" of bars (the simulator dropped the
    connection over it: "ConnectionError: Socket disconnect", exit 1); a bar of such a day would
    be refused by the cache anyway. Nothing listens on port 1: the refusal comes first."""
    result = await run(cli_args(db_url, 1, "bars", "download", "--symbols", "AAPL", "--from", "0001-01-01",
                                "--to", "2024-12-31"))
    assert result.code == 2, result.err
    assert "--from 0001-01-01 is before 1900-01-01, the first day a bar may have" in result.err
