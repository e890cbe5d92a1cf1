"""The TCA's orders as a trader reads them, against hand-computed figures: a cost on either side
is positive, a replacement (cancel-and-new) is measured against the plan of the order it
replaces, an order that did not fill is shown as such (never as a zero cost), several fills at
different prices are volume-weighted, IB's commissions are counted and said to be outside the
shortfall, and a listing in another currency than the base says which."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.backtest.costs import FillAt
from services.backtest.tca import cached_tca
from services.backtest.tca_text import order_text, totals_text
from services.db.models import PriceBar, Project, TradeOrder, TradeRun
from services.domain import OrderState, TradeMode

pytestmark = pytest.mark.timeout(120)
DAY = date(2024, 3, 1)


def _run(db, orders: list[dict], base: str = "USD", day: date = DAY, rates: dict[str, str] | None = None) -> dict[str, int]:
    """A paper run of ``day`` with these orders as the trade service stores them: ``symbol``,
    ``side``, ``quantity``, ``filled``, ``fill`` (average), ``reference`` (None: no plan's draft, a
    replace's new order), ``status``, ``replaces`` (the ``symbol`` of an earlier order), listing
    columns, ``fx``; ``rates``: the run's stored exchange rates (base units per unit). Returns
    each order's id by its ``name`` (else its symbol), and the run's under ``"run"``."""
    ids: dict[str, int] = {}
    with db.unit_of_work() as s:
        project = Project(name="tca")
        s.add(project)
        s.flush()
        run = TradeRun(project_id=project.id, mode=TradeMode.PAPER, trade_date=day, params={"fx": {"base": base, "rates": rates or {}}})
        s.add(run)
        s.flush()
        ids["run"] = run.id
        for n, o in enumerate(orders, start=1):
            draft = None
            if o.get("reference") is not None:
                draft = {"reference_price": o["reference"], **({"fx_rate": o["fx"]} if "fx" in o else {})}
            filled = Decimal(o.get("filled", o["quantity"]))
            row = TradeOrder(run_id=run.id, project_id=project.id, client_order_id=f"T.{run.id}-{n}-{o['symbol']}",
                             symbol=o["symbol"], exchange=o.get("exchange", "SMART"), primary_exchange=o.get("primary_exchange"),
                             currency=o.get("currency", "USD"), side=o.get("side", "BUY"), quantity=Decimal(o["quantity"]),
                             filled_quantity=filled, avg_fill_price=Decimal(o["fill"]) if filled and o["fill"] is not None else None,
                             status=o.get("status", OrderState.FILLED if filled == Decimal(o["quantity"]) else OrderState.CANCELED),
                             replaces_order_id=ids[o["replaces"]] if "replaces" in o else None,
                             params={"draft": draft} if draft else None)
            s.add(row)
            s.flush()
            ids[o.get("name", o["symbol"])] = row.id
    return ids


def _bars(db, rows: list[tuple[str, str]]) -> None:
    """Cached daily bars of DAY: (listing key, close)."""
    with db.unit_of_work() as s:
        for key, closed in rows:
            s.add(PriceBar(symbol=key, what_to_show="TRADES", day=DAY, open=Decimal(closed), high=Decimal(closed),
                           low=Decimal(closed), close=Decimal(closed), volume=Decimal(1), source="broker"))


def test_a_buy_paying_more_and_a_sell_receiving_less_are_both_costs(database):
    run = _run(database, [{"symbol": "AAA", "side": "BUY", "quantity": "10", "fill": "101", "reference": "100"},
                          {"symbol": "BBB", "side": "SELL", "quantity": "20", "fill": "49", "reference": "50"},
                          {"symbol": "CCC", "side": "SELL", "quantity": "5", "fill": "202", "reference": "200"}])
    _bars(database, [("AAA", "100.5"), ("BBB", "49.5"), ("CCC", "199")])

    report = cached_tca(database, run["run"])

    lines = {line.symbol: line for line in report.lines}
    # AAA: +1 a share on a buy of 10; BBB: 1 less a share on a sale of 20; CCC: a sale 2 above, a gain
    assert [(lines[s].shortfall, lines[s].shortfall_bps) for s in ("AAA", "BBB", "CCC")] == [
        (Decimal(10), Decimal("100.00")), (Decimal(20), Decimal("200.00")), (Decimal(-10), Decimal("-100.00"))]
    # the backtest: AAA bought 0.5 above (5), BBB sold 0.5 below (10), CCC sold 1 below (5)
    assert [lines[s].backtest_shortfall for s in ("AAA", "BBB", "CCC")] == [Decimal(5), Decimal(10), Decimal(5)]
    # 20 of cost over 1,000 + 1,000 + 1,000 of reference notional
    assert (report.shortfall, report.shortfall_bps, report.backtest_shortfall) == (Decimal(20), Decimal("66.67"), Decimal(20))


def test_a_replacements_fills_are_measured_against_the_plan_of_the_order_it_replaced(database):
    """A cancel-and-new replace stores its new order without the plan's draft (draft_params): the
    TCA showed its fills with "no reference price", left them out of the totals and counted them
    at a rate of 1, so a run that paid 88 EUR-in-USD over its plan was reported at 22."""
    run = _run(database, [
        {"symbol": "SAP", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "100", "filled": "40",
         "fill": "100.50", "reference": "100", "fx": "1.10", "status": OrderState.CANCELED},
        {"symbol": "SAP", "name": "SAP-R1", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "60",
         "fill": "101", "reference": None, "replaces": "SAP"}], base="USD")
    _bars(database, [("SAP@IBIS:EUR", "100.80")])

    report = cached_tca(database, run["run"])

    replacement = report.lines[1]
    assert (replacement.reference_price, replacement.fx_rate) == (Decimal(100), Decimal("1.10"))
    assert (replacement.shortfall, replacement.shortfall_bps) == (Decimal(60), Decimal("100.00"))
    assert replacement.backtest_shortfall == Decimal(48)  # 60 at 100.80
    # 40 x 0.50 + 60 x 1 = 80 EUR, at 1.10 = 88 USD, over 100 x 100 x 1.10 of reference notional
    assert (report.shortfall, report.shortfall_bps) == (Decimal("88.00"), Decimal("80.00"))
    assert (report.compared_shortfall, report.backtest_shortfall) == (Decimal("88.00"), Decimal("88.00"))
    assert report.orders_compared == 2
    # the replaced order says where its remainder went, not only that it was canceled
    whole = report.to_dict()
    assert whole["orders"][0]["replaced_by"] == f"T.{run['run']}-2-SAP" and whole["orders"][1]["replaced_by"] is None
    assert order_text(whole["orders"][0]).startswith(f"BUY  40/100 SAP (canceled, replaced by T.{run['run']}-2-SAP): ")


def test_an_order_that_did_not_fill_is_shown_as_not_filled_with_its_state_never_as_a_zero_cost(database):
    """The backtest column of a canceled order that filled nothing said a shortfall of 0.00 (the
    backtest's price times the nothing that filled), and the line said "not filled" whether the
    order was canceled, rejected or still working."""
    run = _run(database, [{"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"},
                          {"symbol": "BBB", "quantity": "30", "filled": "0", "fill": "0", "reference": "50",
                           "status": OrderState.CANCELED},
                          {"symbol": "CCC", "quantity": "30", "filled": "10", "fill": "20.10", "reference": "20",
                           "status": OrderState.ACCEPTED}])
    _bars(database, [("AAA", "100.5"), ("BBB", "50.5"), ("CCC", "20.05")])

    report = cached_tca(database, run["run"])
    whole = report.to_dict()
    bbb, ccc = whole["orders"][1], whole["orders"][2]

    assert Decimal(bbb["filled"]) == 0 and (bbb["fill_price"], bbb["shortfall"], bbb["backtest_shortfall"]) == (None, None, None)
    assert Decimal(bbb["backtest_price"]) == Decimal("50.5") and bbb["status"] == "CANCELED"
    assert order_text(bbb) == "BUY  0/30 BBB (canceled): reference 50.00, not filled, backtest 50.50 (100.00 bps)"
    assert order_text(ccc) == ("BUY  10/30 CCC (accepted): reference 20.00, fill 20.10, shortfall 50.00 bps (1.00), "
                               "backtest 20.05 (25.00 bps)")
    assert order_text(whole["orders"][0]).startswith("BUY  10/10 AAA: reference 100.00")  # filled: no state said
    # the totals: AAA's 10 and CCC's 1; the backtest on the same two orders 5 + 0.5
    assert (report.shortfall, report.backtest_shortfall, report.orders_compared) == (Decimal(11), Decimal("5.5"), 2)


def test_a_listing_in_another_currency_than_the_base_says_its_currency(database):
    """The lines' shortfalls are in the listing's currency and the totals in the base currency:
    "(18.04)" beside a EUR listing read as dollars, and the totals named no currency at all."""
    run = _run(database, [
        {"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"},
        {"symbol": "SAP", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "10", "fill": "181", "reference": "180",
         "fx": "1.10"}])
    _bars(database, [("AAA", "100.5"), ("SAP@IBIS:EUR", "180.5")])

    whole = cached_tca(database, run["run"]).to_dict()

    assert whole["base_currency"] == "USD" and [o["currency"] for o in whole["orders"]] == ["USD", "EUR"]
    assert order_text(whole["orders"][0], whole["base_currency"]) == (
        "BUY  10/10 AAA: reference 100.00, fill 101.00, shortfall 100.00 bps (10.00), backtest 100.50 (50.00 bps)")
    assert order_text(whole["orders"][1], whole["base_currency"]) == (
        "BUY  10/10 SAP: reference 180.00, fill 181.00, shortfall 55.56 bps (10.00 EUR), backtest 180.50 (27.78 bps)")
    # 10 + 10 x 1.10 = 21 USD over 1,000 + 1,980 of reference notional; the backtest 5 + 5.5
    assert totals_text(whole, FillAt.CLOSE) == (
        "shortfall 21.00 USD (70.47 bps) · on the 2 orders with a bar: run 21.00 USD · backtest 10.50 USD")


def test_the_tca_command_says_an_unfilled_orders_state_and_the_currencies(database, db_url, capsys):
    from app.cli import main

    run = _run(database, [
        {"symbol": "SAP", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "10", "fill": "181", "reference": "180",
         "fx": "1.10"},
        {"symbol": "BBB", "quantity": "30", "filled": "0", "fill": "0", "reference": "50", "status": OrderState.REJECTED}])

    assert main(["--db-url", db_url, "tca", "--run", str(run["run"])]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "BUY  10/10 SAP: reference 180.00, fill 181.00, shortfall 55.56 bps (10.00 EUR)",
        "BUY  0/30 BBB (rejected): reference 50.00, not filled",
        "shortfall 11.00 USD (55.56 bps) · backtest: the price cache has no bar for 2024-03-01 yet (bars download, after the close)"]


async def test_several_fills_are_volume_weighted_and_ibs_commissions_counted_beside_the_shortfall(database):
    """An order's fill is the volume-weighted price of its executions as the writer keeps it (a
    corrected execution counts at its correction), and its commission is the sum IB reported for
    them (the corrected revision's, not both). The TCA said nothing of commissions: whether its
    cost included them was anybody's guess."""
    from services.execution.events import CommissionEvent, ExecutionEvent
    from services.execution.writer import EventWriter

    run = _run(database, [{"symbol": "AAA", "quantity": "100", "filled": "0", "fill": "0", "reference": "100",
                           "status": OrderState.ACCEPTED},
                          {"symbol": "BBB", "quantity": "10", "filled": "0", "fill": "0", "reference": "50",
                           "status": OrderState.ACCEPTED}])
    when = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)

    def execution(exec_id, symbol, shares, price, perm):
        return ExecutionEvent(exec_id=exec_id, ib_order_id=perm, perm_id=perm, client_id=1,
                              order_ref=f"T.{run['run']}-{1 if symbol == 'AAA' else 2}-{symbol}", account="DU1",
                              symbol=symbol, side="BUY", shares=Decimal(shares), price=Decimal(price), time=when)

    writer = EventWriter(database)
    writer.start()
    try:
        for event in (execution("0001.aa.01.01", "AAA", 60, "100.00", 7001), CommissionEvent("0001.aa.01.01", Decimal("0.30")),
                      execution("0001.aa.01.02", "AAA", 60, "100.10", 7001), CommissionEvent("0001.aa.01.02", Decimal("0.31")),
                      execution("0001.aa.02.01", "AAA", 40, "102.00", 7001), CommissionEvent("0001.aa.02.01", Decimal("0.20")),
                      execution("0002.bb.01.01", "BBB", 10, "50.05", 7002)):  # its commission report not in yet
            writer.submit(event)
        await writer.flush()
    finally:
        await writer.stop()

    report = cached_tca(database, run["run"])
    aaa, bbb = report.lines

    # (60 x 100.10 + 40 x 102) / 100 = 100.86: 0.86 a share over the reference on 100 shares
    assert (aaa.filled, aaa.fill_price, aaa.shortfall, aaa.shortfall_bps) == (Decimal(100), Decimal("100.86"), Decimal(86),
                                                                              Decimal("86.00"))
    assert (aaa.commission, aaa.commissions_unreported) == (Decimal("0.51"), 0)
    assert (bbb.commission, bbb.commissions_unreported) == (None, 1)
    assert (report.shortfall, report.shortfall_bps) == (Decimal("86.50"), Decimal("82.38"))  # 86.50 over 10,500
    assert (report.commission, report.commissions_unreported) == (Decimal("0.51"), 1)
    whole = report.to_dict()
    assert whole["totals"]["commission_in_shortfall"] is False
    assert order_text(whole["orders"][0]) == "BUY  100/100 AAA: reference 100.00, fill 100.86, shortfall 86.00 bps (86.00), commission 0.51"
    assert order_text(whole["orders"][1]) == ("BUY  10/10 BBB: reference 50.00, fill 50.05, shortfall 10.00 bps (0.50), "
                                              "commission not reported yet")
    assert totals_text(whole, FillAt.CLOSE).startswith(
        "shortfall 86.50 (82.38 bps), before IB's commissions of 0.51 (1 fill's not reported yet) · backtest: ")


def test_a_run_that_filled_nothing_says_so_in_the_window_and_in_json_not_a_zero_shortfall(database, db_url, capsys):
    """The TCA tab of a run whose orders were all canceled or rejected read "shortfall 0.00 ·
    backtest: ...", and ``--json`` gave a total shortfall of "0": a cost of nothing, where there
    was nothing to measure."""
    from app.cli import main

    run = _run(database, [{"symbol": "AAA", "quantity": "10", "filled": "0", "fill": "0", "reference": "100",
                           "status": OrderState.CANCELED}])
    _bars(database, [("AAA", "100.5")])

    whole = cached_tca(database, run["run"]).to_dict()

    assert whole["filled"] is False and whole["totals"]["shortfall"] is None
    assert totals_text(whole, FillAt.CLOSE) == "no fills: nothing to compare"
    assert main(["--db-url", db_url, "tca", "--run", str(run["run"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["shortfall"] is None
    assert main(["--db-url", db_url, "tca", "--run", str(run["run"])]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "BUY  0/10 AAA (canceled): reference 100.00, not filled, backtest 100.50 (50.00 bps)", "no fills: nothing to compare"]


async def test_a_commission_ib_reports_in_the_base_currency_is_counted_at_the_plans_rate(database):
    """IB reports each commission in a currency of its own (the writer keeps it as the fill's
    currency): a EUR listing's commission reported as 1.10 USD was read as 1.10 EUR, and then
    converted again: 1.21 USD in the totals."""
    from services.execution.events import CommissionEvent, ExecutionEvent
    from services.execution.writer import EventWriter

    run = _run(database, [{"symbol": "SAP", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "10", "filled": "0",
                           "fill": "0", "reference": "180", "fx": "1.10", "status": OrderState.ACCEPTED}])
    writer = EventWriter(database)
    writer.start()
    try:
        for event in (ExecutionEvent(exec_id="0005.ee.01.01", ib_order_id=7005, perm_id=7005, client_id=1,
                                     order_ref=f"T.{run['run']}-1-SAP", account="DU1", symbol="SAP", side="BUY",
                                     shares=Decimal(10), price=Decimal(181), time=datetime(2024, 3, 1, 15, 0, tzinfo=UTC),
                                     currency="EUR"),
                      CommissionEvent("0005.ee.01.01", Decimal("1.10"), currency="USD")):
            writer.submit(event)
        await writer.flush()
    finally:
        await writer.stop()

    report = cached_tca(database, run["run"])

    assert (report.lines[0].commission, report.lines[0].commissions_unreported) == (Decimal(1), 0)  # 1.10 USD at 1.10
    assert report.commission == Decimal("1.10")


async def test_a_commission_ib_reports_in_a_third_currency_is_converted_at_the_runs_rates_or_said_not_counted(
        database, db_url, capsys):
    """A commission reported in neither the listing's nor the base currency was counted as one
    not reported yet ("commission not reported yet"), though IB had reported it. It is converted
    at the run's own rates when they hold its currency, and otherwise said as reported in its
    currency and not counted."""
    from app.cli import main
    from services.execution.events import CommissionEvent, ExecutionEvent
    from services.execution.writer import EventWriter

    run = _run(database, [{"symbol": "SAP", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "10", "filled": "0",
                           "fill": "0", "reference": "180", "fx": "1.25", "status": OrderState.ACCEPTED},
                          {"symbol": "AAA", "quantity": "10", "filled": "0", "fill": "0", "reference": "100",
                           "status": OrderState.ACCEPTED},
                          {"symbol": "BBB", "quantity": "10", "filled": "0", "fill": "0", "reference": "50",
                           "status": OrderState.ACCEPTED}],
               base="USD", rates={"EUR": "1.25", "GBP": "1.30"})

    def execution(exec_id, n, symbol, shares, price, currency="USD"):
        return ExecutionEvent(exec_id=exec_id, ib_order_id=7300 + n, perm_id=7300 + n, client_id=1,
                              order_ref=f"T.{run['run']}-{n}-{symbol}", account="DU1", symbol=symbol, side="BUY",
                              shares=Decimal(shares), price=Decimal(price), time=datetime(2024, 3, 1, 15, 0, tzinfo=UTC),
                              currency=currency)

    writer = EventWriter(database)
    writer.start()
    try:
        for event in (execution("0008.aa.01.01", 1, "SAP", 5, "181", "EUR"), CommissionEvent("0008.aa.01.01", Decimal("1.00"), currency="EUR"),
                      execution("0008.aa.02.01", 1, "SAP", 5, "181", "EUR"), CommissionEvent("0008.aa.02.01", Decimal("2.50"), currency="GBP"),
                      execution("0008.bb.01.01", 2, "AAA", 10, "101"), CommissionEvent("0008.bb.01.01", Decimal("1.20"), currency="CHF"),
                      execution("0008.cc.01.01", 3, "BBB", 5, "50.05"), CommissionEvent("0008.cc.01.01", Decimal("0.35"), currency="USD"),
                      execution("0008.cc.02.01", 3, "BBB", 5, "50.05")):  # its commission report not in yet
            writer.submit(event)
        await writer.flush()
    finally:
        await writer.stop()

    report = cached_tca(database, run["run"])
    sap, aaa, bbb = report.lines

    # SAP: 1.00 EUR, and 2.50 GBP at the run's 1.30 = 3.25 USD, at the plan's 1.25 = 2.60 EUR
    assert (sap.commission, sap.commissions_unreported) == (Decimal("3.60"), 0)
    # AAA: the run has no CHF rate: reported, not counted, and not "not reported yet"
    assert (aaa.commission, aaa.commissions_unreported) == (None, 0)
    assert (bbb.commission, bbb.commissions_unreported) == (Decimal("0.35"), 1)
    assert [line.commissions_not_counted for line in report.lines] == [(), (("CHF", Decimal("1.20")),), ()]
    # 3.60 EUR at 1.25 = 4.50 USD, and BBB's 0.35
    assert (report.commission, report.commissions_unreported, report.commissions_not_counted) == (
        Decimal("4.85"), 1, {"CHF": Decimal("1.20")})
    whole = report.to_dict()
    assert order_text(whole["orders"][0], "USD").endswith(", commission 3.60 EUR")
    assert order_text(whole["orders"][1], "USD").endswith(", commission 1.20 CHF not counted: no CHF rate in the run")
    assert order_text(whole["orders"][2], "USD").endswith(", commission 0.35 (1 fill's not reported yet)")
    # the shortfall: 10 EUR at 1.25 + 10 + 0.50 = 23 USD over 2,250 + 1,000 + 500 of reference notional
    assert totals_text(whole, FillAt.CLOSE).startswith(
        "shortfall 23.00 USD (61.33 bps), before IB's commissions of 4.85 USD (1 fill's not reported yet; "
        "1.20 CHF not counted: no CHF rate in the run) · backtest: ")

    assert main(["--db-url", db_url, "tca", "--run", str(run["run"]), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert {c: Decimal(a) for c, a in said["totals"]["commissions_not_counted"].items()} == {"CHF": Decimal("1.20")}
    assert [{c: Decimal(a) for c, a in o["commissions_not_counted"].items()} for o in said["orders"]] == [
        {}, {"CHF": Decimal("1.20")}, {}]
    assert (Decimal(said["totals"]["commission"]), said["totals"]["commissions_unreported"]) == (Decimal("4.85"), 1)
    assert [o["commissions_unreported"] for o in said["orders"]] == [0, 0, 1]


async def test_an_order_filled_on_another_day_than_its_runs_says_so(database):
    """A run's fills may span two days (a GTC order, a recovery's re-placement the next
    morning): the TCA set them beside the run's day's backtest without a word. The day of a
    fill is its exchange's: 19:30 in New York is still that day, though 00:30 UTC is the next."""
    from services.execution.events import ExecutionEvent
    from services.execution.writer import EventWriter

    run = _run(database, [{"symbol": "AAA", "quantity": "100", "filled": "0", "fill": "0", "reference": "100",
                           "status": OrderState.ACCEPTED},
                          {"symbol": "BBB", "quantity": "10", "filled": "0", "fill": "0", "reference": "50",
                           "status": OrderState.ACCEPTED}])
    _bars(database, [("AAA", "100.5"), ("BBB", "50.5")])

    def execution(exec_id, symbol, shares, price, when):
        return ExecutionEvent(exec_id=exec_id, ib_order_id=7100, perm_id=7100 if symbol == "AAA" else 7101, client_id=1,
                              order_ref=f"T.{run['run']}-{1 if symbol == 'AAA' else 2}-{symbol}", account="DU1",
                              symbol=symbol, side="BUY", shares=Decimal(shares), price=Decimal(price), time=when)

    writer = EventWriter(database)
    writer.start()
    try:
        for event in (execution("0006.ff.01.01", "AAA", 60, "100", datetime(2024, 3, 1, 15, 0, tzinfo=UTC)),
                      execution("0006.ff.02.01", "AAA", 40, "102", datetime(2024, 3, 4, 15, 0, tzinfo=UTC)),  # Monday
                      execution("0006.ff.03.01", "BBB", 10, "50", datetime(2024, 3, 2, 0, 30, tzinfo=UTC))):
            writer.submit(event)
        await writer.flush()
    finally:
        await writer.stop()

    report = cached_tca(database, run["run"])
    whole = report.to_dict()

    assert [line.fill_days for line in report.lines] == [("2024-03-01", "2024-03-04"), ("2024-03-01",)]
    assert whole["totals"]["orders_filled_another_day"] == 1
    assert order_text(whole["orders"][0], trade_date=whole["trade_date"]).endswith(
        "shortfall 80.00 bps (80.00), commission not reported yet, backtest 100.50 (50.00 bps), filled on 2024-03-01 and 2024-03-04")
    assert "filled on" not in order_text(whole["orders"][1], trade_date=whole["trade_date"])
    assert totals_text(whole, FillAt.CLOSE).endswith(
        " · 1 order filled on another day than the run's 2024-03-01, beside the backtest of that day")


def test_a_run_stored_without_its_base_currency_takes_its_accounts(database):
    """A ticket's run stored before it kept its base currency: its totals are the account's
    base currency (the rates the account last reported), not USD by default."""
    from services.db.models import AccountRates

    run = _run(database, [{"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100", "fx": "0.90"}])
    with database.unit_of_work() as s:
        s.get(TradeRun, run["run"]).params = {"ticket": {"symbol": "AAA"}}
        s.get(TradeOrder, run["AAA"]).account = "DU1"
        s.add(AccountRates(account="DU1", base="EUR", rates={"USD": "0.90"}, rated_at=datetime(2024, 3, 1, tzinfo=UTC)))

    report = cached_tca(database, run["run"])

    assert (report.base_currency, report.shortfall) == ("EUR", Decimal("9.00"))
    assert totals_text(report.to_dict(), FillAt.CLOSE).startswith("shortfall 9.00 EUR (100.00 bps)")


def test_a_draft_whose_numbers_are_json_numbers_is_read_exactly(database):
    """A draft written with JSON numbers (by hand, by another tool) gave the reference price's
    binary expansion: 228.93 read as 228.93000000000000682121026329696178436279296875."""
    run = _run(database, [{"symbol": "AAA", "quantity": "10", "fill": "229.93", "reference": 228.93, "fx": 1.1}])

    line = cached_tca(database, run["run"]).lines[0]

    assert (line.reference_price, line.fx_rate, line.shortfall) == (Decimal("228.93"), Decimal("1.1"), Decimal(10))
    assert line.to_dict()["reference_price"] == "228.93"


def test_a_filled_order_the_totals_cannot_measure_is_said_to_be_left_out(database):
    """A filled order without a reference price (a draft without one), or whose average price
    the broker has not given yet, was left out of the run's shortfall without a word, and the
    latter's line said "not filled" beside its 10/10."""
    run = _run(database, [{"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"},
                          {"symbol": "BBB", "quantity": "10", "fill": "51", "reference": None},
                          {"symbol": "CCC", "quantity": "10", "fill": None, "reference": "20"}])

    whole = cached_tca(database, run["run"]).to_dict()

    assert whole["totals"]["orders_not_measured"] == 2
    assert order_text(whole["orders"][1]) == "BUY  10/10 BBB: reference none, fill 51.00, no reference price to measure it against"
    assert order_text(whole["orders"][2]) == "BUY  10/10 CCC: reference 20.00, fill price not reported yet"
    assert totals_text(whole, FillAt.CLOSE).startswith(
        "shortfall 10.00 (100.00 bps), 2 filled orders not measured (no reference or fill price) · backtest: ")


def test_a_run_none_of_whose_fills_could_be_measured_has_no_total_shortfall_not_a_zero_one(database):
    run = _run(database, [{"symbol": "BBB", "quantity": "10", "fill": "51", "reference": None}])

    whole = cached_tca(database, run["run"]).to_dict()

    assert whole["filled"] is True and whole["totals"]["shortfall"] is None
    assert totals_text(whole, FillAt.CLOSE).startswith(
        "shortfall not measured, 1 filled order not measured (no reference or fill price) · backtest: ")


async def test_a_weekend_fill_of_a_run_dated_the_next_session_is_that_sessions(database):
    """The demo's simulator is always open: a run executed on a Saturday is Monday's (the next
    session, ``trading_day``) and its fills come on the Saturday. They belong to Monday's session
    as their run does, not to "another day than the run's" (seen in the demo on a Sunday); a
    fill on the Friday before stays another day."""
    from services.execution.events import ExecutionEvent
    from services.execution.writer import EventWriter

    monday = date(2024, 3, 4)
    run = _run(database, [{"symbol": "AAA", "quantity": "10", "filled": "0", "fill": "0", "reference": "100",
                           "status": OrderState.ACCEPTED},
                          {"symbol": "BBB", "quantity": "10", "filled": "0", "fill": "0", "reference": "50",
                           "status": OrderState.ACCEPTED}], day=monday)

    def execution(exec_id, n, symbol, when):
        return ExecutionEvent(exec_id=exec_id, ib_order_id=7200 + n, perm_id=7200 + n, client_id=1,
                              order_ref=f"T.{run['run']}-{n}-{symbol}", account="DU1", symbol=symbol, side="BUY",
                              shares=Decimal(10), price=Decimal(100 if symbol == "AAA" else 50), time=when)

    writer = EventWriter(database)
    writer.start()
    try:
        writer.submit(execution("0007.ff.01.01", 1, "AAA", datetime(2024, 3, 2, 15, 0, tzinfo=UTC)))  # Saturday
        writer.submit(execution("0007.ff.02.01", 2, "BBB", datetime(2024, 3, 1, 15, 0, tzinfo=UTC)))  # Friday
        await writer.flush()
    finally:
        await writer.stop()

    report = cached_tca(database, run["run"])
    assert [line.fill_days for line in report.lines] == [("2024-03-04",), ("2024-03-01",)]
    assert report.to_dict()["totals"]["orders_filled_another_day"] == 1


def test_a_run_stored_without_its_rates_leaves_what_it_cannot_convert_out_of_the_totals(database, db_url, capsys):
    """A run stored without ``params["fx"]`` (before runs kept their base currency and rates, or
    by a path that sets none) with an order whose plan recorded no rate either: its USD
    shortfall was added to the account's EUR totals at 1:1. The line keeps its own currency;
    the totals hold what they can convert (the base currency's own order) and say what they
    left out, and why."""
    from app.cli import main
    from services.db.models import AccountRates

    run = _run(database, [
        {"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"},  # USD, no rate in its plan
        {"symbol": "SAP", "primary_exchange": "IBIS", "currency": "EUR", "quantity": "10", "fill": "181", "reference": "180"}])
    with database.unit_of_work() as s:
        s.get(TradeRun, run["run"]).params = None
        s.get(TradeOrder, run["AAA"]).account = "DU1"
        # the account's rate of today is not the run's: not used
        s.add(AccountRates(account="DU1", base="EUR", rates={"USD": "0.90"}, rated_at=datetime(2024, 3, 1, tzinfo=UTC)))

    report = cached_tca(database, run["run"])

    assert (report.base_currency, report.shortfall, report.shortfall_bps) == ("EUR", Decimal(10), Decimal("55.56"))
    assert [line.fx_rate for line in report.lines] == [None, Decimal(1)]
    whole = report.to_dict()
    assert whole["totals"]["orders_not_converted"] == {"USD": 1}
    assert main(["--db-url", db_url, "tca", "--run", str(run["run"])]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "BUY  10/10 AAA: reference 100.00, fill 101.00, shortfall 100.00 bps (10.00 USD)",
        "BUY  10/10 SAP: reference 180.00, fill 181.00, shortfall 55.56 bps (10.00)",
        ("shortfall 10.00 EUR (55.56 bps), 1 order in USD left out: no USD rate recorded with the run"
         " · backtest: the price cache has no bar for 2024-03-01 yet (bars download, after the close)")]


@pytest.mark.parametrize(("profile", "said"), [("demo", "demo"), ("paper", "paper")])
def test_the_tca_command_heads_a_run_in_the_words_of_a_window_of_its_profile(database, db_url, capsys, profile, said):
    """``tca`` said "run N (paper) of DATE" of a demo run, which went to the built-in simulator,
    while the window's TCA said "(demo)": the command heads it with the window's title
    (services.backtest.tca_text.run_heading), its profile's word and, for a demo run, the note the
    window's TCA tab says under its title. The database named with --db-url is the one a window of
    the same settings reads, the demo window's too (app.composition.demo_db_url)."""
    from app.cli import main
    from services.backtest.tca_text import SIMULATED_FILLS

    run = _run(database, [{"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"}])

    assert main(["--db-url", db_url, "--profile", profile, "tca", "--run", str(run["run"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Run {run['run']} ({said}) of 2024-03-01"
    assert (lines[1] == SIMULATED_FILLS) is (said == "demo")


@pytest.mark.parametrize(("profile", "said"), [("demo", "demo"), ("paper", "paper")])
def test_the_tca_commands_json_says_a_demo_run_as_its_text_does_keeping_the_stored_mode(
        database, db_url, capsys, profile, said):
    """``tca --json`` said "mode": "paper" of a run its text heads "(demo)" with the simulator's
    note: the JSON keeps the stored mode its readers take ("paper"), and says beside it the word,
    the title and the note the text and the window's TCA tab say (tca_text.heading_fields)."""
    from app.cli import main
    from services.backtest.tca_text import SIMULATED_FILLS

    run = _run(database, [{"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"}])

    assert main(["--db-url", db_url, "--profile", profile, "tca", "--run", str(run["run"])]) == 0
    text = capsys.readouterr().out.splitlines()
    assert main(["--db-url", db_url, "--profile", profile, "tca", "--run", str(run["run"]), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)

    assert whole["mode"] == "paper"
    assert (whole["mode_said"], whole["title"]) == (said, f"Run {run['run']} ({said}) of 2024-03-01") and whole["title"] == text[0]
    assert whole["note"] == (SIMULATED_FILLS if said == "demo" else None)
    assert (whole["note"] == text[1]) is (said == "demo")


def test_a_command_says_runs_demo_only_given_the_demo_profile_and_reading_the_demo_windows_database(tmp_path):
    """Demo is the profile of everyone who never chose one, the users of `execute` with TWS too,
    and the demo window writes only its own database (demo.sqlite3, or the one named), never the
    commands' console.sqlite3: a command says its runs "demo" only when given the demo profile
    and reading that database; else as stored (None), or in a paper or live profile's words."""
    from dataclasses import replace

    from app.composition import runs_profile
    from app.settings import Settings

    default = Settings(data_dir=tmp_path)
    assert runs_profile(default, default.effective_db_url) is None  # the default profile: console.sqlite3
    given = Settings(data_dir=tmp_path, demo_given=True)
    assert runs_profile(given, given.effective_db_url) == "demo"  # demo.sqlite3
    assert runs_profile(given, f"sqlite:///{(tmp_path / 'console.sqlite3').as_posix()}") is None
    named = Settings(data_dir=tmp_path, db_url="sqlite:///shared.sqlite3")
    assert runs_profile(replace(named, demo_given=True), named.effective_db_url) == "demo"
    assert runs_profile(named, named.effective_db_url) is None  # the default profile
    paper = Settings(data_dir=tmp_path, profile="paper")
    assert runs_profile(paper, paper.effective_db_url) == "paper"


def test_a_command_given_demo_reads_the_run_the_demo_window_stored(capsys):
    """A trader who executed run 1 in the demo window (`python3 dev.py console`, demo.sqlite3)
    and then asked `trading-console --demo tca --run 1` was told "no run 1", or shown another run:
    the command read the commands' console.sqlite3 whatever the profile. Given the demo profile on
    the command line, every command opens the demo window's database (Settings.effective_db_url),
    `tca` and `orders` here; without it, console.sqlite3 as before. The data folder is the test's
    own (TC_DATA_DIR)."""
    from app.cli import main
    from app.composition import demo_db_url, open_database
    from app.settings import load_settings

    settings = load_settings()  # the window's: demo, the default profile
    window = open_database(settings, demo_db_url(settings))  # as app.composition.assemble_stack opens it
    try:
        run = _run(window, [{"symbol": "AAA", "quantity": "10", "fill": "101", "reference": "100"}])
    finally:
        window.dispose()

    for given in (["--demo"], ["--profile", "demo"]):
        assert main([*given, "tca", "--run", str(run["run"])]) == 0, capsys.readouterr().err
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == f"Run {run['run']} (demo) of 2024-03-01", (given, lines)
        assert main([*given, "orders", "--json"]) == 0
        assert [order["symbol"] for order in json.loads(capsys.readouterr().out)] == ["AAA"], given
    # the default profile (demo too, everyone's who never chose one) keeps the commands' database
    assert main(["tca", "--run", str(run["run"])]) == 2
    assert "console.sqlite3" in capsys.readouterr().err
