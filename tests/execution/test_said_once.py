"""Lines the window and the commands both say, worded once in services (no database, no broker):
the ticket's "Sent" line (services.execution.manual.SentTicket), the account panel's "as of" time
(AccountSummary.as_of) and the run a monitor follows next (RunProgress.newer_run). The window's
controllers composed each of them themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

from services.core.builder import OrderDraft
from services.domain import OrderRecord, OrderState, OrderType, Side

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _draft(**changes) -> OrderDraft:
    fields = dict(sequence=1, symbol="AAPL", side=Side.BUY, quantity=D(7), order_type=OrderType.LMT,
                  limit_price=D("100.25"), reference_price=D(100), notional=D(700), current_quantity=D(0),
                  target_quantity=D(7), target_weight=None, client_order_id="M-1")
    return OrderDraft(**{**fields, **changes})


def test_the_sent_line_names_the_order_as_it_went_its_run_and_its_client_order_id():
    from services.execution.manual import SentTicket

    # the type and prices as the blotter, the cancel question and the order's details name them
    # (services.core.wording.order_kind): it said "LMT limit 100.25" and "STP stop 166.00"
    assert SentTicket(12, _draft(), ("M-1",)).line() == "Sent BUY 7 AAPL LMT 100.25 DAY: run 12, order M-1"
    stop = _draft(side=Side.SELL, quantity=D(5), order_type=OrderType.STP, stop_price=D(166), limit_price=None, tif="GTC")
    assert SentTicket(4, stop, ("M-3",)).line() == "Sent SELL 5 AAPL STP 166.00 GTC: run 4, order M-3"
    stop_limit = _draft(side=Side.SELL, order_type=OrderType.STP_LMT, stop_price=D(90), limit_price=D("89.5"), tif="GTC")
    assert SentTicket(3, stop_limit, ("M-2",)).line() == "Sent SELL 7 AAPL STP LMT stop 90.00 limit 89.50 GTC: run 3, order M-2"


def test_the_account_figures_are_as_of_their_time_in_utc():
    from services.execution.account import AccountSummary

    at = datetime(2026, 12, 1, 14, 3, 5, 900_000, tzinfo=timezone(timedelta(hours=2)))
    assert AccountSummary("DU1", "USD", {}, summary_time=at, pnl_time=at).as_of() == (
        "summary as of 12:03:05 · P&L as of 12:03:05 UTC")
    # no time given: not yet received, never the time of asking (tests/execution/test_account_moments.py)
    assert AccountSummary("DU1", "USD", {}).as_of() == "summary not yet received · P&L not yet received"


def _order(oid: int, run_id: int | None) -> OrderRecord:
    return OrderRecord(id=oid, client_order_id=f"C{oid}", run_id=run_id, symbol="AAPL", side=Side.BUY, quantity=D(1),
                       order_type=OrderType.MKT, limit_price=None, status=OrderState.ACCEPTED, filled_quantity=D(0),
                       avg_fill_price=None, updated_at=T0, created_at=T0)


def test_a_monitor_follows_the_newest_run_its_orders_name_and_never_goes_back():
    from services.run_progress import PlannedOrder, RunProgress

    progress = RunProgress()
    assert progress.newer_run([]) is None
    assert progress.newer_run([_order(1, None)]) is None  # a manual order of no run
    assert progress.newer_run([_order(1, 4), _order(2, 9), _order(3, None), _order(4, 7)]) == 9
    progress.reset(9, {"C2": PlannedOrder("AAPL", Side.BUY, D(100))}, D(100))
    assert progress.newer_run([_order(5, 9), _order(6, 8)]) is None  # the one followed, an older one
    assert progress.newer_run([_order(7, 8), _order(8, 10)]) == 10
