"""The TCA's backtest column: each order of a paper or live run priced as the backtest's broker
would have filled it (services.backtest.costs.simulated_fill), from the bars of the order's own
listing, in the session the fill rule names; the run's totals compared with the backtest's on
the same orders."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from services.backtest.costs import FillAt
from services.backtest.tca import cached_tca
from services.db.models import PriceBar, Project, TradeOrder, TradeRun
from services.domain import TradeMode

pytestmark = pytest.mark.timeout(120)


def _run(db, day: date, orders: list[dict]) -> int:
    """A paper run of ``day`` with these filled orders (symbol, side, quantity, fill, reference,
    optional listing columns, fx rate, order type and limit), as the trade service stores them."""
    with db.unit_of_work() as s:
        project = s.query(Project).filter_by(name="tca").one_or_none() or Project(name="tca")
        s.add(project)
        s.flush()
        run = TradeRun(project_id=project.id, mode=TradeMode.PAPER, trade_date=day)
        s.add(run)
        s.flush()
        for n, o in enumerate(orders, start=1):
            draft = {"reference_price": o["reference"], **({"fx_rate": o["fx"]} if "fx" in o else {}),
                     "order_type": o.get("order_type", "MKT"), "limit_price": o.get("limit")}
            s.add(TradeOrder(run_id=run.id, project_id=project.id, client_order_id=f"T.{run.id}-{n}-{o['symbol']}",
                             symbol=o["symbol"], exchange=o.get("exchange", "SMART"),
                             primary_exchange=o.get("primary_exchange"), currency=o.get("currency", "USD"),
                             side=o.get("side", "BUY"), quantity=Decimal(o["quantity"]),
                             order_type=o.get("order_type", "MKT"), limit_price=Decimal(o["limit"]) if "limit" in o else None,
                             filled_quantity=Decimal(o["quantity"]), avg_fill_price=Decimal(o["fill"]),
                             params={"draft": draft}))
        return run.id


def _bars(db, rows: list[tuple[str, date, str, str]]) -> None:
    """Cached daily bars: (listing key, day, open, close)."""
    with db.unit_of_work() as s:
        for key, day, opened, closed in rows:
            s.add(PriceBar(symbol=key, what_to_show="TRADES", day=day, open=Decimal(opened), high=Decimal(opened),
                           low=Decimal(closed), close=Decimal(closed), volume=Decimal(1), source="broker"))


def test_next_open_tca_of_a_run_traded_on_29_february_fills_at_the_next_sessions_open(database):
    run_id = _run(database, date(2024, 2, 29), [{"symbol": "AAPL", "side": "SELL", "quantity": "10", "fill": "180",
                                                  "reference": "180"}])
    _bars(database, [("AAPL", date(2024, 2, 29), "181", "180"), ("AAPL", date(2024, 3, 1), "182", "183")])

    report = cached_tca(database, run_id, FillAt.NEXT_OPEN)

    assert report.lines[0].backtest_price == Decimal(182)  # Friday 1 March's open


def test_each_order_is_priced_at_its_own_listings_bar_as_the_backtest_keys_it(database):
    day = date(2024, 3, 1)
    run_id = _run(database, day, [
        {"symbol": "SHOP", "primary_exchange": "TSE", "currency": "CAD", "quantity": "10", "fill": "101.00",
         "reference": "100.00", "fx": "0.74"},
        {"symbol": "SAP", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "10", "fill": "180.50",
         "reference": "180.00", "fx": "1.08"}])
    # the price cache keys bars by listing (ContractSpec.key); the US SHOP trades at another price
    _bars(database, [("SHOP", day, "75.00", "75.00"), ("SHOP@TSE:CAD", day, "101.00", "101.50"),
                     ("SAP@IBIS:EUR", day, "180.00", "181.00")])

    report = cached_tca(database, run_id, FillAt.CLOSE, Decimal(10))

    prices = {line.symbol: line.backtest_price for line in report.lines}
    assert prices == {"SHOP": Decimal("101.50") * Decimal("1.001"), "SAP": Decimal("181.00") * Decimal("1.001")}


def test_the_totals_compare_the_run_and_the_backtest_on_the_same_orders(database):
    day = date(2024, 3, 1)
    run_id = _run(database, day, [
        {"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"},   # 10 of cost; the bar: 5
        {"symbol": "BBB", "quantity": "10", "fill": "52", "reference": "50"}])    # 20 of cost; no bar
    _bars(database, [("AAA", day, "100.00", "100.50")])

    report = cached_tca(database, run_id)

    assert report.shortfall == Decimal(30)  # the whole run
    assert (report.compared_shortfall, report.backtest_shortfall) == (Decimal(10), Decimal(5))  # AAA alone, both sides
    assert (report.orders_compared, report.orders_without_bar) == (1, 1)
    totals = report.to_dict()["totals"]
    assert (Decimal(totals["compared_shortfall"]), Decimal(totals["backtest_shortfall"])) == (Decimal(10), Decimal(5))
    assert (totals["orders_compared"], totals["orders_without_bar"]) == (1, 1)


@pytest.mark.parametrize("typed", ["-500", "10000", "20000"])
def test_tca_refuses_a_slippage_the_backtest_refuses_exit_2_with_its_message(database, db_url, typed, capsys):
    from app.cli import main

    run_id = _run(database, date(2024, 3, 1), [{"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"}])

    code = main(["--db-url", db_url, "tca", "--run", str(run_id), "--slippage-bps", typed])

    assert code == 2
    assert f"--slippage-bps: must be a number from 0 to below 10000: '{typed}'" in capsys.readouterr().err


def test_tca_refuses_a_backtest_run_and_says_when_a_run_has_no_fills(database, db_url, capsys):
    """README: ``tca --run`` takes a paper or live run; a backtest run was reported as if it were
    one, and a run with no fills printed "total shortfall 0 (None bps)"."""
    from app.cli import main

    with database.unit_of_work() as s:
        project = Project(name="tca")
        s.add(project)
        s.flush()
        backtest = TradeRun(project_id=project.id, mode=TradeMode.BACKTEST, trade_date=date(2024, 3, 1))
        unfilled = TradeRun(project_id=project.id, mode=TradeMode.PAPER, trade_date=date(2024, 3, 1))
        s.add_all([backtest, unfilled])
        s.flush()
        s.add(TradeOrder(run_id=unfilled.id, project_id=project.id, client_order_id=f"T.{unfilled.id}-1-AAA", symbol="AAA",
                         exchange="SMART", currency="USD", side="BUY", quantity=Decimal(10), filled_quantity=Decimal(0),
                         params={"draft": {"reference_price": "100"}}))
        backtest_id, unfilled_id = backtest.id, unfilled.id
    capsys.readouterr()

    for json_flag in ([], ["--json"]):
        assert main(["--db-url", db_url, "tca", "--run", str(backtest_id), *json_flag]) == 2
        out, err = capsys.readouterr()
        said = f"run {backtest_id} is a backtest run: TCA compares paper and live runs with the backtest"
        assert said in err
        # with --json the refusal is also one object on stdout, as every command says a failure (app.cli.say_failure)
        assert (json.loads(out)["message"].startswith(said) if json_flag else out == "")

    assert main(["--db-url", db_url, "tca", "--run", str(unfilled_id)]) == 0
    out = capsys.readouterr().out
    assert "no fills: nothing to compare" in out and "None bps" not in out and "total shortfall" not in out


def test_the_tca_command_words_its_numbers_as_the_window_shows_them(database, db_url, capsys):
    """``tca --run`` printed the stored decimals ("BUY  44.000000/44.000000 AAPL: ... fill
    229.34000000, shortfall 17.91 bps (18.04000000000000)", "total shortfall 75.74999977000000")
    and said nothing of the missing backtest, beside the window's "shortfall 75.75 (7.80 bps) ·
    backtest: the price cache has no bar ...". Both now word them once (services.backtest.tca_text)."""
    from app.cli import main
    from services.backtest.tca_text import totals_text

    day = date(2024, 3, 1)
    run_id = _run(database, day, [
        {"symbol": "AAA", "quantity": "44", "fill": "229.34000000", "reference": "228.93"},
        {"symbol": "BBB", "quantity": "63", "fill": "63.27666667", "reference": "63.33"}])
    _bars(database, [("AAA", day, "229.00", "229.10")])

    assert main(["--db-url", db_url, "tca", "--run", str(run_id)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "BUY  44/44 AAA: reference 228.93, fill 229.34, shortfall 17.91 bps (18.04), backtest 229.10 (7.43 bps)",
        "BUY  63/63 BBB: reference 63.33, fill 63.2767, shortfall -8.42 bps (-3.36)",
        ("shortfall 14.68 (10.44 bps) · on the 1 order with a bar: run 18.04 · backtest 7.48 "
         "(1 filled order without a bar left out)")]
    # the window's TCA view shows this very line (widgets.views.tca calls totals_text)
    assert lines[-1] == totals_text(cached_tca(database, run_id).to_dict(), FillAt.CLOSE)

    database_run = _run(database, date(2024, 3, 4), [{"symbol": "AAA", "quantity": "1", "fill": "230", "reference": "230"}])
    assert main(["--db-url", db_url, "tca", "--run", str(database_run), "--fill", "next-open"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "shortfall 0.00 (0.00 bps) · backtest: the price cache has no bar for the session after 2024-03-04 "
        "yet (bars download, after the close)")


def _beyond_limit_run(db, day: date) -> int:
    """AAA: a LMT buy filled at 100.05 whose limit 100.10 the backtest's close (101.20) does not
    reach; BBB: a market order the backtest fills (5 of cost against the run's 10); CCC: no bar."""
    run_id = _run(db, day, [
        {"symbol": "AAA", "quantity": "10", "fill": "100.05", "reference": "100", "order_type": "LMT", "limit": "100.10"},
        {"symbol": "BBB", "quantity": "10", "fill": "51", "reference": "50"},
        {"symbol": "CCC", "quantity": "10", "fill": "21", "reference": "20"}])
    _bars(db, [("AAA", day, "100.00", "101.20"), ("BBB", day, "50.00", "50.50")])
    return run_id


BEYOND = "the backtest would not have filled it: the close 101.20 is above its limit 100.10"


def test_a_limit_order_the_backtest_would_not_have_filled_has_no_backtest_price_says_why_and_is_left_out(database):
    """The backtest column showed AAA's close (101.20) as its backtest fill, a fill the backtest
    itself never gives a buy limited at 100.10 (services.backtest.costs.simulated_order_fill, the
    backtest broker's rule), and compared it in the totals."""
    from services.backtest.tca_text import order_text, totals_text

    day = date(2024, 3, 1)
    report = cached_tca(database, _beyond_limit_run(database, day))
    aaa = report.lines[0]

    assert (aaa.backtest_price, aaa.backtest_shortfall_bps, aaa.backtest_shortfall) == (None, None, None)
    assert aaa.backtest_not_filled == BEYOND and report.lines[1].backtest_not_filled is None
    # compared on BBB alone; AAA counted as beyond its limit, not as an order without a bar
    assert (report.compared_shortfall, report.backtest_shortfall) == (Decimal(10), Decimal(5))
    assert (report.orders_compared, report.orders_without_bar, report.orders_beyond_limit) == (1, 1, 1)
    whole = report.to_dict()
    assert whole["orders"][0]["backtest_not_filled"] == BEYOND and whole["orders"][0]["backtest_price"] is None
    assert (whole["totals"]["orders_compared"], whole["totals"]["orders_without_bar"],
            whole["totals"]["orders_beyond_limit"]) == (1, 1, 1)
    assert order_text(whole["orders"][0]) == (
        f"BUY  10/10 AAA: reference 100.00, fill 100.05, shortfall 5.00 bps (0.50), {BEYOND}")
    assert totals_text(whole, FillAt.CLOSE) == (
        "shortfall 20.50 (120.59 bps) · on the 1 order with a bar: run 10.00 · backtest 5.00 "
        "(1 filled order without a bar left out; 1 filled order the backtest would not have filled "
        "(beyond its limit) left out)")


def test_a_run_whose_only_backtest_priced_order_is_beyond_its_limit_does_not_say_the_bars_are_missing(database):
    from services.backtest.tca_text import totals_text

    day = date(2024, 3, 1)
    run_id = _run(database, day, [
        {"symbol": "AAA", "quantity": "10", "fill": "100.05", "reference": "100", "order_type": "LMT", "limit": "100.10"}])
    _bars(database, [("AAA", day, "100.00", "101.20")])

    assert totals_text(cached_tca(database, run_id).to_dict(), FillAt.CLOSE) == (
        "shortfall 0.50 (5.00 bps) · backtest: no order to compare "
        "(1 filled order the backtest would not have filled (beyond its limit) left out)")


def test_the_tca_command_says_why_the_backtest_would_not_have_filled_an_order_and_its_json_carries_it(
        database, db_url, capsys):
    from app.cli import main

    day = date(2024, 3, 1)
    run_id = _beyond_limit_run(database, day)
    capsys.readouterr()

    assert main(["--db-url", db_url, "tca", "--run", str(run_id), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    aaa, bbb = whole["orders"][0], whole["orders"][1]
    assert aaa["backtest_not_filled"] == BEYOND and bbb["backtest_not_filled"] is None
    assert (aaa["backtest_price"], aaa["backtest_shortfall_bps"], aaa["backtest_shortfall"]) == (None, None, None)
    assert Decimal(bbb["backtest_price"]) == Decimal("50.50")  # the fields kept as they were
    assert (whole["totals"]["orders_beyond_limit"], whole["totals"]["orders_without_bar"]) == (1, 1)
    assert Decimal(whole["totals"]["backtest_shortfall"]) == Decimal(5)

    assert main(["--db-url", db_url, "tca", "--run", str(run_id)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        f"BUY  10/10 AAA: reference 100.00, fill 100.05, shortfall 5.00 bps (0.50), {BEYOND}")
