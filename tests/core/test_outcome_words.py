"""What an import or a download did, worded once in services for the window and the commands
alike: the Backtest panel and ``backtest --from-broker`` said a listing's download and the price
cache's summary each in words of their own ("bars X: 3 new bars" beside "bars X: error: ..."),
the window said "Imported" of a snapshot file that was already stored, and its Halt said nothing
of the runs' orders not sent yet that the halt canceled."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.console_queries import ImportOutcome
from services.core.snapshots import ParsedSnapshot, SnapshotItem
from services.domain import TradingState
from services.execution.action_outcomes import Halted, trading_state_line
from services.price_cache import DownloadReport, ListingDownload


def test_a_listing_s_download_says_its_new_bars_its_error_or_that_the_cache_had_them():
    assert ListingDownload("AAPL", missing=3, requests=1, stored=3).outcome_words() == "3 new bars"
    assert ListingDownload("AAPL", missing=1, requests=1, stored=1).outcome_words() == "1 new bar"
    refused = ListingDownload("ZZZZ", missing=2, requests=1, stored=0, error="unknown contract: ZZZZ")
    assert refused.outcome_words() == "error: unknown contract: ZZZZ"
    assert ListingDownload("MSFT", missing=0, requests=0, stored=0).outcome_words() == "cached"
    # the line `backtest --from-broker` and the Backtest panel both say as it comes (each composed it)
    assert refused.line() == "bars ZZZZ: error: unknown contract: ZZZZ"


def test_the_download_s_summary_counts_requests_and_bars_over_its_days():
    report = DownloadReport(date(2024, 1, 2), date(2024, 1, 31), "TRADES", (
        ListingDownload("AAPL", 3, 1, 3), ListingDownload("MSFT", 2, 2, 1), ListingDownload("IBM", 0, 0, 0)))
    assert report.summary() == "3 requests, 4 bars stored (2024-01-02 to 2024-01-31)"
    assert DownloadReport(date(2024, 1, 2), date(2024, 1, 2), "TRADES", ()).summary() == (
        "0 requests, 0 bars stored (2024-01-02 to 2024-01-02)")


def _parsed(source: str = "growth.csv") -> ParsedSnapshot:
    items = tuple(SnapshotItem(symbol, Decimal("0.05"), line) for line, symbol in enumerate(("AAPL", "MSFT"), start=2))
    return ParsedSnapshot(source, "csv", items, (), "hash")


def test_an_import_says_whether_it_stored_the_file_or_found_it_stored_already():
    stored = ImportOutcome(_parsed(), snapshot_id=3, project_id=1, created=True)
    assert stored.headline("Growth book") == (
        "growth.csv: imported as snapshot 3 into project Growth book: 2 items, gross weight 10.00%")
    again = ImportOutcome(_parsed(), snapshot_id=3, project_id=1, created=False)
    assert again.headline("Growth book") == (
        "growth.csv: already stored (same content) as snapshot 3 of project Growth book: 2 items, gross weight 10.00%")


def test_a_halt_says_the_runs_orders_not_sent_yet_it_canceled():
    """`halt` said them; the window's Halt did not, and the trader did not learn that those
    orders will never go (services.execution.halt_unsent)."""
    assert Halted(TradingState.HALTED, unsent_canceled=("R1-AAPL", "R1-MSFT")).unsent_words() == (
        "2 orders of runs not sent yet canceled")
    assert Halted(TradingState.HALTED, unsent_canceled=("R1-AAPL",)).unsent_words() == "1 order of runs not sent yet canceled"
    assert Halted(TradingState.HALTED).unsent_words() == ""


def test_a_halt_and_a_resume_are_said_with_what_the_state_lets_out():
    # the window's activity-log line, which `halt` and `resume` now print too ("trading state: HALTED")
    assert Halted(TradingState.HALTED, unsent_canceled=("R1-AAPL",)).headline() == (
        "Trading HALTED: only cancels go out; 1 order of runs not sent yet canceled")
    assert Halted(TradingState.HALTED).headline() == "Trading HALTED: only cancels go out"
    assert trading_state_line(TradingState.ACTIVE) == "Trading ACTIVE: new orders and replaces go out"
    assert trading_state_line(TradingState.HALTED, " (the trading state in force changed)") == (
        "Trading HALTED (the trading state in force changed): only cancels go out")
