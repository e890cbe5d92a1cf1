from datetime import datetime, timezone
from decimal import Decimal as D

from hypothesis import given, settings, strategies as st

from services.core.portfolio import Fill, Portfolio
from services.domain import Side

T0 = datetime(2026, 11, 21, 15, 0, tzinfo=timezone.utc)
BUY, SELL = Side.BUY, Side.SELL


def fill(side, qty, price, commission=None, symbol="AAPL", **kw):
    return Fill(symbol, side, D(qty), D(price), None if commission is None else D(commission), time=T0, **kw)


def test_long_round_trip_with_commissions():
    book = Portfolio(D(10000))
    p = book.apply_fill(fill(BUY, 100, 10, 1))
    assert (p.quantity, p.average_cost, p.realized_pnl) == (D(100), D("10.01"), D(0))
    p = book.apply_fill(fill(BUY, 100, 12, 1))
    assert p.average_cost == D("11.01")
    p = book.apply_fill(fill(SELL, 50, 13, 1))
    assert (p.quantity, p.average_cost, p.realized_pnl) == (D(150), D("11.01"), D("98.50"))  # 1.99 * 50 - 1
    assert book.cash() == D(10000) - D(1001) - D(1201) + D(649)
    book.mark("AAPL", D(14))
    assert book.unrealized_pnl() == D("448.50")  # (14 - 11.01) * 150
    assert book.market_value() == D(2100)
    assert book.equity() == D(10000) - D(1001) - D(1201) + D(649) + D(2100)
    assert book.commissions() == D(3)
    assert book.position("AAPL").unrealized_pnl == D("448.50")


def test_short_round_trip_as_ib_reports_it():
    book = Portfolio()
    p = book.apply_fill(fill(SELL, 100, 10, 1))
    assert (p.quantity, p.average_cost) == (D(-100), D("9.99"))  # proceeds net of commission
    p = book.apply_fill(fill(BUY, 100, 9, 1))
    assert (p.quantity, p.average_cost, p.realized_pnl) == (D(0), D(0), D(98))  # 999 in, 901 out
    assert book.cash() == D(98)


def test_reversal_through_zero_splits_the_commission():
    book = Portfolio()
    book.apply_fill(fill(BUY, 100, 10, 0))
    p = book.apply_fill(fill(SELL, 150, 12, 3))  # closes 100 (commission 2), opens -50 (commission 1)
    assert (p.quantity, p.realized_pnl, p.average_cost) == (D(-50), D(198), D("11.98"))
    p = book.apply_fill(fill(BUY, 80, 11, 0))  # covers 50 at a profit of 0.98 each, opens +30 at 11
    assert (p.quantity, p.realized_pnl, p.average_cost) == (D(30), D(198) + D(49), D(11))


def test_late_commission_is_charged_to_realized_and_cash():
    book = Portfolio(D(1000))
    book.apply_fill(fill(BUY, 10, 10))
    p = book.apply_commission(None, "", "AAPL", D("0.35"))
    assert (p.average_cost, p.realized_pnl) == (D(10), D("-0.35"))
    assert book.cash() == D("899.65")


def test_positions_per_project_account_symbol_and_snapshots():
    book = Portfolio({(1, "DU1"): D(5000), (2, "DU1"): D(5000)})
    book.apply_fill(fill(BUY, 10, 100, 1, project_id=1, account="DU1"))
    book.apply_fill(fill(BUY, 5, 100, 1, project_id=2, account="DU1"))
    book.apply_fill(fill(BUY, 3, 50, 0, symbol="MSFT", project_id=2, account="DU1"))
    assert [(r.project_id, r.symbol, r.quantity) for r in book.positions()] == [(1, "AAPL", D(10)), (2, "AAPL", D(5)), (2, "MSFT", D(3))]
    assert book.quantities(project_id=2) == {"AAPL": D(5), "MSFT": D(3)}
    assert book.quantities(account="DU1") == {"AAPL": D(15), "MSFT": D(3)}
    book.mark_many({"AAPL": D(110), "MSFT": D(40)})
    s1 = book.snapshot(T0, project_id=2)
    assert (s1.cash, s1.market_value, s1.equity, s1.unrealized_pnl) == (D(4349), D(670), D(5019), D(19))  # (110 - 100.2) * 5 + (40 - 50) * 3
    book.mark("AAPL", D(120))
    s2 = book.snapshot(T0, project_id=2)
    assert s2.equity == D(5069) and [h.equity for h in book.history] == [D(5019), D(5069)]
    assert book.positions(project_id=1)[0].market_price == D(120)


# ---------------------------------------------------------------------------------------------

fills_st = st.lists(
    st.tuples(
        st.sampled_from([BUY, SELL]),
        st.integers(1, 500),
        st.decimals(min_value=D("0.01"), max_value=D(1000), places=2),
        st.one_of(st.none(), st.decimals(min_value=D(0), max_value=D(5), places=2)),
        st.sampled_from(["A", "B"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(fills_st)
def test_a_position_is_the_signed_sum_of_its_fills_and_cash_balances(rows):
    book = Portfolio()
    for side, qty, price, commission, symbol in rows:
        book.apply_fill(Fill(symbol, side, D(qty), price, commission))
    for symbol in ("A", "B"):
        expected = sum((D(q) * s.sign for s, q, _, _, sym in rows if sym == symbol), D(0))
        got = book.position(symbol)
        assert (got.quantity if got else D(0)) == expected
        if got is not None and got.quantity == 0:
            assert got.average_cost == 0
    # cash = -(signed notional) - commissions
    flows = sum((-(D(q) * s.sign * p) - (c or 0) for s, q, p, c, _ in rows), D(0))
    assert book.cash() == flows
    # when every position is flat, realized P&L is exactly the cash flow (to 20 digits)
    if all(not (book.position(s) and book.position(s).quantity) for s in ("A", "B")):
        assert abs(book.realized_pnl() - flows) < D("1e-18")


def test_fill_from_a_stored_record():
    from services.domain import FillRecord

    record = FillRecord(1, 7, "0001.01", "MSFT", SELL, D(3), D("410.5"), D("1.00"), T0)
    f = Fill.from_record(record, project_id=2, account="DU1")
    assert (f.symbol, f.side, f.quantity, f.price, f.commission, f.time, f.project_id, f.account, f.exec_id) == (
        "MSFT", SELL, D(3), D("410.5"), D("1.00"), T0, 2, "DU1", "0001.01")
    assert Portfolio().apply_fill(f).average_cost == D("410.5") - D("1.00") / 3
