"""The account's exchange rates are stored by the equity recorder, which only a window starts:
a console used through its commands (``execute``) had none, and the run's portfolio snapshots of
a project with a capital were written without money figures (docs/currencies.md, "Decision
trail"). A preview stores the broker's rates of the account it previews for, the ones it built
the orders at, once the account reported its NetLiquidation (its base currency is then known)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from services.books import BooksService
from services.db.models import TrailPortfolioSnapshot
from services.db.repositories import EquityRepository
from services.domain import TradeMode
from tests.fixtures.waiting import wait_until

from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(90)


def _snapshots(db, run_id: int) -> list[TrailPortfolioSnapshot]:
    with db.session() as session:
        return list(session.scalars(select(TrailPortfolioSnapshot).where(TrailPortfolioSnapshot.run_id == run_id)))


async def test_a_run_of_an_engine_without_an_equity_recorder_has_snapshots_with_money_figures(stack):
    account = stack.provider.account
    with stack.db.session() as session:
        assert EquityRepository(session).rates_of(account) is None  # nothing stored before the preview
    _, snapshot = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": "100000"})
    run = await stack.service.prepare_run("P", snapshot, TradeMode.PAPER)
    result = await stack.service.execute(run.id)  # previews, then sends
    assert len(result.sent) == 1
    with stack.db.session() as session:
        account_, base, rates, _ = EquityRepository(session).rates_of(account)
    assert (account_, base) == (account, "USD") and all(rate > 0 for rate in rates.values())
    await wait_until(lambda: any(s.reason == "run_end" for s in _snapshots(stack.db, run.id)), 10,
                     lambda: f"the run's closing portfolio snapshot: {[s.reason for s in _snapshots(stack.db, run.id)]}")
    for snap in _snapshots(stack.db, run.id):
        assert snap.rates is not None and snap.rates["base"] == "USD" and not snap.rates.get("missing"), snap.rates
        assert None not in (snap.market_value, snap.cash, snap.equity)
        assert snap.equity == snap.cash + snap.market_value and snap.market_value > Decimal(0)
