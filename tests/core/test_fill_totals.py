"""The fills' totals (services.core.fill_totals): kept as fills come, go and are corrected."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from services.core.fill_totals import FillTally, FillTotals
from services.domain import Side
from tests.gui.factories import fill


def test_a_tally_adds_removes_and_replaces_fills_and_ignores_superseded_revisions():
    tally = FillTally()
    bought, sold = fill(1, quantity="10", price="100", commission="1.00"), fill(2, side=Side.SELL, quantity="4", price="110",
                                                                                  commission=None)
    for f in (bought, sold, fill(3, quantity="99", price="1", superseded=True)):
        tally.add(f, 1)
    (usd,) = tally.totals()
    assert usd == FillTotals(2, Decimal(10), Decimal(1000), Decimal(4), Decimal(440), Decimal("1.00"), "USD")
    assert usd.net_cash == Decimal("-561.00") and usd.gross_notional == Decimal(1440)
    tally.add(sold, -1)  # a commission report arrives: the fill is replaced
    tally.add(replace(sold, commission=Decimal("0.75")), 1)
    assert tally.totals()[0].commission == Decimal("1.75") and tally.count == 2
    tally.add(bought, -1)
    tally.add(replace(sold, commission=Decimal("0.75")), -1)
    assert tally.totals() == () and tally.count == 0


def test_fills_in_two_currencies_are_summed_apart_never_at_face_value():
    """A Xetra fill's euros and a US fill's dollars: each currency its own sums (before, one
    total added 1,000 USD and 2,000 EUR into "3,000" of nothing)."""
    tally = FillTally()
    us = fill(1, quantity="10", price="100", commission="1.00")
    xetra = replace(fill(2, quantity="10", price="200", commission="2.00", symbol="SAP@IBIS:EUR"), currency="EUR")
    tally.add(us, 1)
    tally.add(xetra, 1)
    assert tally.totals() == (FillTotals(1, Decimal(10), Decimal(2000), commission=Decimal("2.00"), currency="EUR"),
                              FillTotals(1, Decimal(10), Decimal(1000), commission=Decimal("1.00"), currency="USD"))
    assert tally.count == 2
    tally.add(xetra, -1)
    assert [t.currency for t in tally.totals()] == ["USD"]
