"""Run progress and slippage (services.run_progress): each execution once, corrections replace
their earlier revision, slippage volume-weighted and signed as a cost."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from services.domain import FillRecord, OrderRecord, OrderState, OrderType, Side
from services.run_progress import PlannedOrder, RunProgress, settled_run_shown

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _order(oid, coid, symbol, side, qty, status=OrderState.ACCEPTED, run_id=7):
    return OrderRecord(id=oid, client_order_id=coid, run_id=run_id, symbol=symbol, side=side, quantity=D(qty),
                       order_type=OrderType.MKT, limit_price=None, status=status, filled_quantity=D(0),
                       avg_fill_price=None, updated_at=T0, created_at=T0)


def _fill(fid, oid, exec_id, symbol, side, qty, price, seconds=0, superseded=False):
    return FillRecord(id=fid, order_id=oid, exec_id=exec_id, symbol=symbol, side=side, quantity=D(qty), price=D(price),
                      commission=None, fill_time=T0 + timedelta(seconds=seconds), superseded=superseded)


def _progress():
    progress = RunProgress()
    progress.reset(7, {"A": PlannedOrder("AAPL", Side.BUY, D("100")), "M": PlannedOrder("MSFT", Side.SELL, D("400")),
                       "S": PlannedOrder("SAP", Side.BUY, D("200"), D("1.10"))}, D("10000"))
    return progress


def test_volume_weighted_slippage_signed_as_a_cost():
    progress = _progress()
    orders = [_order(1, "A", "AAPL", Side.BUY, 30), _order(2, "M", "MSFT", Side.SELL, 10)]
    fills = [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101"), _fill(2, 1, "e2.01.01", "AAPL", Side.BUY, 20, "100.5"),
             _fill(3, 2, "e3.01.01", "MSFT", Side.SELL, 10, "398")]
    snap = progress.apply(orders, fills, now=T0)
    aapl = snap.slippage["AAPL"]
    # (10 x 1 + 20 x 0.5) / (30 x 100) = 66.7 bps, not the plain mean of 100 and 50
    assert aapl.quantity == D(30) and round(aapl.bps, 1) == D("66.7")
    assert snap.slippage["MSFT"].bps == D(50)  # sold 2 below the reference: a cost
    assert snap.traded_notional == D(10 * 101 + 20 * D("100.5") + 10 * 398)  # at the fills' own prices
    assert snap.filled_notional == D(30 * 100 + 10 * 400)  # at the plan's, as its target
    assert snap.working == 2 and "slippage +" in snap.text


def test_a_plan_filled_in_full_at_other_prices_reads_filled_not_overfilled():
    """Walked in the demo: the bar read "48,903 of 48,863 filled", the fills' notional at their
    prices against the plan's at its reference prices; a trader read it as overfilled. The
    progress counts the filled shares at the plan's prices; the fills' own notional is said with
    the slippage."""
    progress = RunProgress()
    progress.reset(7, {"A": PlannedOrder("AAPL", Side.BUY, D("100")), "M": PlannedOrder("MSFT", Side.SELL, D("400"))},
                   D("7000"))  # 30 x 100 + 10 x 400
    orders = [_order(1, "A", "AAPL", Side.BUY, 30, OrderState.FILLED), _order(2, "M", "MSFT", Side.SELL, 10, OrderState.FILLED)]
    # AAPL bought 1 above its reference, MSFT sold 1 above its: 30 + 10 more notional at the fills' prices
    fills = [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 30, "101"), _fill(2, 2, "e2.01.01", "MSFT", Side.SELL, 10, "401")]
    snap = progress.apply(orders, fills, now=T0)
    assert snap.filled_notional == snap.target_notional == D(7000)
    assert snap.traded_notional == D(7040)
    # (30 x 1 - 10 x 1) / 7,000 = +28.6 bps
    assert snap.text == "run 7: 7,000 of 7,000 filled at the plan's prices · slippage +28.6 bps (7,040 at the fill prices)"
    half = RunProgress()
    half.reset(7, {"A": PlannedOrder("AAPL", Side.BUY, D("100"))}, D("3000"))
    snap = half.apply([_order(1, "A", "AAPL", Side.BUY, 30)], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 15, "100")], now=T0)
    assert snap.text == "run 7: 1,500 of 3,000 filled at the plan's prices · 1 working · slippage +0.0 bps"


def test_a_correction_replaces_its_earlier_revision_and_a_fill_counts_once():
    progress = _progress()
    progress.apply([_order(1, "A", "AAPL", Side.BUY, 10)], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101")], now=T0)
    again = progress.apply([], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101")], now=T0)  # the same fill twice
    assert again.traded_notional == D(1010) and again.filled_notional == D(1000)
    corrected = progress.apply([], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101", superseded=True),
                                    _fill(2, 1, "e1.01.02", "AAPL", Side.BUY, 10, "100.9")], now=T0 + timedelta(seconds=1))
    assert corrected.traded_notional == D(1009) and corrected.slippage["AAPL"].bps == D(90)
    # first seen with its fill: from zero at the fill's time; the correction makes no progress
    assert [p for _, p in corrected.points] == [D(0), D(1000)]
    assert corrected.fill_points["AAPL"] == ((T0, D("100.9")),)


def test_fills_before_their_order_and_other_runs():
    progress = _progress()
    early = progress.apply([], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 5, "100")], now=T0)
    assert early.filled_notional == 0  # its order not seen yet
    later = progress.apply([_order(1, "A", "AAPL", Side.BUY, 5, OrderState.FILLED),
                            _order(9, "X", "IBM", Side.BUY, 5, run_id=8)],
                           [_fill(2, 9, "e9.01.01", "IBM", Side.BUY, 5, "200")], now=T0)
    assert later.filled_notional == D(500) and later.working == 0 and set(later.slippage) == {"AAPL"}


def test_a_foreign_fill_counts_in_the_base_currency():
    progress = _progress()
    snap = progress.apply([_order(3, "S", "SAP", Side.BUY, 10)], [_fill(1, 3, "s1.01.01", "SAP", Side.BUY, 10, "202")], now=T0)
    assert snap.traded_notional == D("2222.00") and snap.slippage["SAP"].bps == D(100)
    assert snap.filled_notional == D("2200.00")  # 10 x the plan's 200 x 1.10


def test_a_second_plan_of_the_same_run_counts_only_its_own_orders_and_their_replacements():
    """The day's run of a snapshot is reused: the second preview's plan (a small remainder) must
    not be compared with the first plan's fills ("run 1: 141,800 of 415 filled")."""
    progress = RunProgress()
    progress.reset(7, {"B2": PlannedOrder("AAPL", Side.BUY, D("100"))}, D("415"))
    first_plan = [_order(1, "A", "AAPL", Side.BUY, 1000, OrderState.FILLED)]
    first_fills = [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 1000, "100")]
    snap = progress.apply(first_plan, first_fills, now=T0)
    assert snap.filled_notional == 0 and snap.working == 0
    assert snap.text == "run 7: 0 of 415 filled"
    ours = _order(2, "B2", "AAPL", Side.BUY, 4, OrderState.CANCELED)
    replacement = replace(_order(3, "B2-R1", "AAPL", Side.BUY, 4), replaces_order_id=2)
    snap = progress.apply([ours, replacement], [_fill(2, 3, "e2.01.01", "AAPL", Side.BUY, 4, "100")], now=T0)
    assert snap.filled_notional == D(400) and snap.working == 1  # the replacement counts as the plan's


def test_the_runs_slippage_and_its_tca_total_agree_in_the_base_currency():
    """One rule (services.core.shortfall): the run's slippage on the fill-prices chart and the TCA
    report's total shortfall in bps are the same number for the same fills, a EUR listing's cost
    counted at its plan's rate in both."""
    from services.backtest.tca import TcaLine, TcaReport

    progress = _progress()
    orders = [_order(1, "A", "AAPL", Side.BUY, 30), _order(2, "M", "MSFT", Side.SELL, 10), _order(3, "S", "SAP", Side.BUY, 5)]
    fills = [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 30, "101"), _fill(2, 2, "e2.01.01", "MSFT", Side.SELL, 10, "398"),
             _fill(3, 3, "e3.01.01", "SAP", Side.BUY, 5, "204")]
    snap = progress.apply(orders, fills, now=T0)
    lines = []
    for order, fill, plan in zip(orders, fills, (progress.planned["A"], progress.planned["M"], progress.planned["S"]), strict=True):
        cost = plan.side.sign * (fill.price - plan.reference_price) * fill.quantity
        lines.append(TcaLine(order.client_order_id, order.symbol, order.side, order.quantity, fill.quantity,
                             plan.reference_price, fill.price, None, cost, fx_rate=plan.fx_rate))
    report = TcaReport(7, "paper", "2026-12-01", tuple(lines))
    # 30 x 1 + 10 x 2 + 5 x 4 x 1.10 = 72 over 3,000 + 4,000 + 1,100 of reference notional
    assert report.shortfall == D(72)
    assert report.shortfall_bps == snap.slippage_bps.quantize(D("0.01")) == D("88.89")


def test_a_run_is_settled_once_nothing_works_and_something_filled():
    progress = _progress()
    working = progress.apply([_order(1, "A", "AAPL", Side.BUY, 30)], [], now=T0)
    assert not working.settled  # working, nothing filled
    part = progress.apply([_order(1, "A", "AAPL", Side.BUY, 30)], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101")], now=T0)
    assert not part.settled  # still working
    done = progress.apply([_order(1, "A", "AAPL", Side.BUY, 30, status=OrderState.FILLED)],
                          [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 30, "101")], now=T0)
    assert done.working == 0 and done.settled
    canceled = RunProgress()
    canceled.reset(8, {"A": PlannedOrder("AAPL", Side.BUY, D("100"))}, D("1000"))
    assert not canceled.apply([_order(1, "A", "AAPL", Side.BUY, 30, status=OrderState.CANCELED, run_id=8)], [], now=T0).settled


def test_a_replacements_fills_are_judged_against_the_plan_it_stands_for_as_the_tca_judges_them():
    """Order A was stuck and canceled; recovery's A-R1 filled 100 at 101 against the plan's 100,
    and MSFT's planned order sold 10 at 398 against 400. The replacement's fills counted in the
    notional but not in the slippage, which read only MSFT's; the TCA (services.backtest.tca)
    judged both. Now the progress takes the replacement's plan along its chain."""
    progress = _progress()
    dead = _order(1, "A", "AAPL", Side.BUY, 100, status=OrderState.CANCELED)
    again = replace(_order(2, "A-R1", "AAPL", Side.BUY, 100), replaces_order_id=1)
    msft = _order(3, "M", "MSFT", Side.SELL, 10)
    snap = progress.apply([dead, again, msft], [_fill(1, 2, "e1.01.01", "AAPL", Side.BUY, 100, "101"),
                                               _fill(2, 3, "e2.01.01", "MSFT", Side.SELL, 10, "398")], now=T0)
    assert snap.slippage["AAPL"].bps == D(100)  # 1 above 100
    # (100 x 1 + 10 x 2) / (100 x 100 + 10 x 400) = 120 / 14,000: 85.7 bps over both, not MSFT's 50 alone
    assert round(snap.slippage_bps, 1) == D("85.7")
    # a replacement in another currency counts at its plan's rate
    sap = replace(_order(4, "S-R1", "SAP", Side.BUY, 10), replaces_order_id=5)
    root = _order(5, "S", "SAP", Side.BUY, 10, status=OrderState.CANCELED)
    euro = progress.apply([root, sap], [_fill(3, 4, "e3.01.01", "SAP", Side.BUY, 10, "200")], now=T0)
    assert euro.traded_notional == D(100 * 101) + D(10 * 398) + D(10 * 200) * D("1.10")
    assert euro.filled_notional == D(100 * 100) + D(10 * 400) + D(10 * 200) * D("1.10")  # the plan's prices


def test_an_older_state_of_an_order_read_late_does_not_replace_a_newer_one():
    """The window reads the followed run again (its state, after a failed send, at start-up)
    while the writer hands the orders' newer states: a read from before a fill, landing after
    it, counted the filled order as working again."""
    progress = _progress()
    submitted = _order(1, "A", "AAPL", Side.BUY, 10)
    filled = replace(submitted, status=OrderState.FILLED, filled_quantity=D(10), updated_at=T0 + timedelta(seconds=2))
    fill = _fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101")
    assert progress.apply([filled], [fill], now=T0).settled
    late = progress.apply([submitted], [fill], now=T0 + timedelta(seconds=3))  # read before the fill
    assert late.working == 0 and late.settled
    assert progress.apply([replace(filled, updated_at=T0 + timedelta(seconds=2))], now=T0).working == 0  # the same state again


def test_a_run_read_back_whole_shows_its_progress_as_its_fills_came_from_zero():
    """Walked under Xvfb: the monitor opened after the demo's run (and a window following a run
    it did not send) read the run's fills at once, so its progress was one point at the moment
    of reading: nothing drawn, the target line alone on an axis of 96,734.60 to 96,735.40, the
    run's time out of view. A run first seen with fills shows them as they came, from zero at
    its first order's time (its wait for the first fill in view, as the window that sent it
    showed it); what comes after is added as it is seen, as for a run followed live."""
    progress = _progress()
    orders = [_order(1, "A", "AAPL", Side.BUY, 30), _order(2, "M", "MSFT", Side.SELL, 10)]
    fills = [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101", seconds=1),
             _fill(2, 1, "e2.01.01", "AAPL", Side.BUY, 20, "100.5", seconds=1),
             _fill(3, 2, "e3.01.01", "MSFT", Side.SELL, 5, "398", seconds=3)]
    later = T0 + timedelta(minutes=5)
    snap = progress.apply(orders, fills, now=later)
    t1, t3 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=3)
    assert snap.points == ((T0, D(0)), (t1, D(1000)), (t1, D(3000)), (t3, D(5000)))
    more = progress.apply([], [_fill(4, 2, "e4.01.01", "MSFT", Side.SELL, 5, "399", seconds=400)], now=later + timedelta(seconds=9))
    assert more.points[-1] == (later + timedelta(seconds=9), D(7000)) and len(more.points) == 5

    live = _progress()  # followed from its send: nothing filled yet, then its fills as they are seen
    assert live.apply(orders, [], now=T0).points == ((T0, D(0)),)
    assert live.apply([], fills, now=t3).points == ((T0, D(0)), (t3, D(5000)))


def test_a_run_read_back_with_nothing_filled_starts_at_its_orders_time_not_at_the_reading():
    """Walked under Xvfb: the console opened after a run whose order was canceled unfilled; its
    progress was one point at the moment of reading, so the chart showed minutes around the
    console's start, the run's own time (a quarter of an hour before) out of view."""
    progress = _progress()
    canceled = [_order(1, "A", "AAPL", Side.BUY, 30, OrderState.CANCELED)]
    snap = progress.apply(canceled, [], now=T0 + timedelta(minutes=15))
    assert snap.points == ((T0, D(0)),)
    # a fill seen later is added when it is seen, as for a run followed live
    late = T0 + timedelta(minutes=16)
    assert progress.apply([], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 10, "101", seconds=960)], now=late).points == (
        (T0, D(0)), (late, D(1000)))


def test_a_ticket_s_run_takes_the_progress_only_from_a_finished_older_run():
    """The order ticket's one-order run is followed once sent, unless the run followed is newer
    or still has orders working (a rebalance filling is watched to its end)."""
    progress = _progress()  # run 7
    progress.apply([_order(1, "A", "AAPL", Side.BUY, 30), _order(2, "M", "MSFT", Side.SELL, 10, OrderState.FILLED)],
                   now=T0)
    assert not progress.gives_way_to(8)  # AAPL still working
    assert not progress.gives_way_to(6)  # older than the run followed
    progress.apply([_order(1, "A", "AAPL", Side.BUY, 30, OrderState.FILLED)], now=T0 + timedelta(seconds=1))
    assert progress.gives_way_to(8) and not progress.gives_way_to(6)
    assert RunProgress().gives_way_to(1)  # nothing followed yet


def test_a_ticket_s_run_gives_way_to_the_next_ticket_even_while_its_order_works():
    """A ticket's resting limit order (run 7) is no rebalance to watch to its end: the next
    ticket's run takes the progress; an older one still does not."""
    ticket = RunProgress()
    ticket.reset(7, {"A": PlannedOrder("AAPL", Side.BUY, D("100"))}, D("3000"), ticket=True)
    ticket.apply([_order(1, "A", "AAPL", Side.BUY, 30)], now=T0)
    assert ticket.snapshot(T0).working == 1
    assert ticket.gives_way_to(8) and not ticket.gives_way_to(6)


def test_a_settled_run_takes_the_decisions_and_tca_only_from_its_own_preview_or_from_nothing():
    assert settled_run_shown(7, None)  # nothing shown yet
    assert settled_run_shown(7, 7)  # its preview's plan, shown since the trader previewed it
    # another run the trader reads (a ticket's run 8 settling, another project's latest run)
    assert not settled_run_shown(8, 7)
    assert not settled_run_shown(6, 7)


def test_the_amounts_are_said_in_the_runs_base_currency():
    """A ticket's SELL 5 resting read "0 of 1,141 filled · 1 working" on the bar: the plan's
    notional read as shares. The bar's line and the chart's words say what they count
    (ProgressSnapshot.amounts), the fill prices' notional too."""
    from services.console_charts import run_chart

    progress = RunProgress()
    progress.reset(7, {"A": PlannedOrder("AAPL", Side.SELL, D("228.20"))}, D("1141"), currency="USD")
    resting = progress.apply([_order(1, "A", "AAPL", Side.SELL, 5)], [], now=T0)
    assert resting.amounts == "0 of 1,141 USD"
    assert resting.text == "run 7: 0 of 1,141 USD filled · 1 working"
    assert run_chart(resting).said == "Run 7: nothing filled yet, 1 order working (0 of 1,141 USD target)"
    filled = progress.apply([_order(1, "A", "AAPL", Side.SELL, 5, OrderState.FILLED)],
                            [_fill(1, 1, "e1.01.01", "AAPL", Side.SELL, 5, "226.20")], now=T0)
    assert filled.text == ("run 7: 1,141 of 1,141 USD filled at the plan's prices · slippage +87.6 bps "
                           "(1,131 USD at the fill prices)")


def test_a_run_with_nothing_filled_says_so_over_its_chart():
    """Walked under Xvfb: a ticket's limit order resting below the market drew the target over an
    empty plot (the filled line, one point at zero, draws nothing), not a word, where before any
    run the chart says "No run yet". The chart now says what is so, in the progress line's
    amounts; whatever filled, its line says it."""
    from services.console_charts import run_chart

    progress = _progress()
    assert run_chart(progress.apply([], [], now=T0)).said == "Run 7: nothing filled yet (0 of 10,000 target)"
    resting = [_order(1, "A", "AAPL", Side.BUY, 30), _order(2, "M", "MSFT", Side.SELL, 5)]
    assert run_chart(progress.apply(resting, [], now=T0)).said == (
        "Run 7: nothing filled yet, 2 orders working (0 of 10,000 target)")
    one_ended = [_order(1, "A", "AAPL", Side.BUY, 30, OrderState.CANCELED), resting[1]]
    assert run_chart(progress.apply(one_ended, [], now=T0)).said == (
        "Run 7: nothing filled yet, 1 order working (0 of 10,000 target)")
    ended = [one_ended[0], _order(2, "M", "MSFT", Side.SELL, 5, OrderState.REJECTED)]
    assert run_chart(progress.apply(ended, [], now=T0)).said == (
        "Run 7: nothing filled, 2 orders ended unfilled (0 of 10,000 target)")
    filled = progress.apply([_order(3, "S", "SAP", Side.BUY, 10)], [_fill(1, 3, "e3.01.01", "SAP", Side.BUY, 10, "200")],
                            now=T0)
    assert filled.filled_notional and run_chart(filled).said is None
    assert run_chart(RunProgress().snapshot(T0)).said is None  # no run: the chart says "No run yet" itself


def test_a_run_whose_order_reported_filled_before_its_fill_came_is_not_said_ended_unfilled():
    """An order's FILLED state can come before its execution (the writer stores each as it
    lands): its run has nothing filled yet, not "ended unfilled"."""
    from services.console_charts import run_chart

    progress = _progress()
    reported = replace(_order(1, "A", "AAPL", Side.BUY, 30, OrderState.FILLED), filled_quantity=D(30))
    assert run_chart(progress.apply([reported], [], now=T0)).said == "Run 7: nothing filled yet (0 of 10,000 target)"


def test_a_traders_replace_to_another_quantity_moves_the_target_to_it():
    """A planned BUY 10 AAPL at 100 replaced by the trader to 5: the bar counted the plan's 10 to
    its end, "500 of 1,000 filled" for an order filled in full. The target is each planned order
    at the quantity it now stands for, modified in place or canceled and sent anew (the new
    order sends the new total less what had filled)."""
    planned = {"A": PlannedOrder("AAPL", Side.BUY, D("100"), quantity=D(10)),
               "M": PlannedOrder("MSFT", Side.SELL, D("400"), quantity=D(5))}
    modified = RunProgress()
    modified.reset(7, planned, D("3000"))  # 10 x 100 + 5 x 400
    snap = modified.apply([replace(_order(1, "A", "AAPL", Side.BUY, 5, OrderState.FILLED), filled_quantity=D(5)),
                           _order(2, "M", "MSFT", Side.SELL, 5)],
                          [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 5, "100")], now=T0)
    assert snap.target_notional == D(2500)
    assert snap.text.startswith("run 7: 500 of 2,500 filled")

    sent_anew = RunProgress()
    sent_anew.reset(7, planned, D("3000"))
    first = replace(_order(1, "A", "AAPL", Side.BUY, 10, OrderState.CANCELED), filled_quantity=D(3))
    second = replace(_order(3, "A-R1", "AAPL", Side.BUY, 2, OrderState.FILLED), filled_quantity=D(2), replaces_order_id=1)
    snap = sent_anew.apply([first, second, replace(_order(2, "M", "MSFT", Side.SELL, 5, OrderState.FILLED),
                                                   filled_quantity=D(5))],
                           [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 3, "100"), _fill(2, 3, "e2.01.01", "AAPL", Side.BUY, 2, "100"),
                            _fill(3, 2, "e3.01.01", "MSFT", Side.SELL, 5, "400")], now=T0)
    assert snap.filled_notional == snap.target_notional == D(2500)  # 3 + 2 of the 5 asked, and MSFT's 2,000
    assert snap.text == "run 7: 2,500 of 2,500 filled at the plan's prices · slippage +0.0 bps"


def test_an_order_filled_at_the_broker_whose_fills_are_not_recorded_is_said_beside_the_filled_amount():
    """The database down: the blotter's row reads FILLED (not recorded) while the fills, which the
    progress counts, are not stored. The line read "0 of 10,000 filled" and no longer "working",
    as if nothing had happened; it says which orders filled at the broker wait to be recorded."""
    progress = _progress()
    accepted = _order(1, "A", "AAPL", Side.BUY, 30)
    progress.apply([accepted, _order(2, "M", "MSFT", Side.SELL, 10)], now=T0)
    reported = replace(accepted, status=OrderState.FILLED, filled_quantity=D(30), unrecorded_since=T0)
    snap = progress.apply([reported], now=T0)
    assert snap.unrecorded_fills == 1 and snap.working == 1
    assert snap.text == ("run 7: 0 of 10,000 filled · 1 working · 1 order with fills at the broker not recorded yet")
    # its fills stored and the row as stored: nothing more to say
    stored = replace(reported, unrecorded_since=None, updated_at=T0 + timedelta(seconds=1))
    snap = progress.apply([stored], [_fill(1, 1, "e1.01.01", "AAPL", Side.BUY, 30, "100")], now=T0)
    assert snap.unrecorded_fills == 0 and "not recorded" not in snap.text
