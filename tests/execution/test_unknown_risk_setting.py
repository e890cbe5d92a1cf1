"""A risk limit stored under a name this version has no rule for (a newer version stored it, or
someone by hand): the preview keeps refusing, since a limit nobody checks would let through what
it was set to block, but it says which setting, that another version stored it, and the command
that removes it. It made every preview fail with 'unknown risk parameter' and the list of known
names, which neither names where it came from nor how to get rid of it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.db.models import OrderPlan
from services.db.repositories.settings import SettingsRepository
from services.domain import TradeMode
from services.execution.errors import BadInput

from .conftest import make_snapshot

FROM_A_NEWER_VERSION = {"max_order_notional": "25000", "some_future_rule": "3"}


def store_risk_defaults(db, values) -> None:
    """As another version (or a hand in the database) stores them: past the service's checks."""
    with db.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults(values)


async def test_a_preview_refuses_a_limit_it_has_no_rule_for_and_says_how_to_remove_it(stack):
    store_risk_defaults(stack.db, FROM_A_NEWER_VERSION)
    project_id, snapshot = make_snapshot(stack.db, "future", {"AAPL": "0.01"})
    with pytest.raises(BadInput) as refused:
        await stack.service.preview_snapshot(project_id, snapshot, TradeMode.PAPER, portfolio_value=Decimal(100000))
    said = str(refused.value)
    assert "risk.some_future_rule = 3" in said and "another version" in said, said
    assert "trading-console trade-settings unset risk.some_future_rule" in said, said
    with stack.db.session() as session:  # nothing half written: no plan of a preview that was refused
        assert session.scalar(select(func.count()).select_from(OrderPlan)) == 0


def test_an_offline_preview_of_a_stored_snapshot_says_it_of_the_setting_not_of_risk_overrides(database, db_url):
    """The offline preview reads the stored limits too: it named the setting's problem as one of
    --risk, which the trader never gave."""
    from services.db import Database
    from services.offline_preview import OfflinePreviewRequest, PreviewInputError, offline_preview

    store_risk_defaults(database, FROM_A_NEWER_VERSION)
    _project, snapshot = make_snapshot(database, "future", {"AAPL": "0.01"})
    with pytest.raises(PreviewInputError) as refused:
        offline_preview(OfflinePreviewRequest(snapshot=str(snapshot), portfolio_value=Decimal(100000)), lambda: Database(db_url))
    [error] = refused.value.errors
    assert error["source"] is None, error
    assert "risk.some_future_rule = 3 is a setting of another version" in error["message"], error
    assert "`trading-console trade-settings unset risk.some_future_rule` removes it" in error["message"], error


async def test_an_order_ticket_is_refused_the_same_way_not_with_a_traceback(stack):
    """The order ticket's check reads the same stored limits: it raised the bare ValueError, which
    the window showed as an unexpected error with a traceback; now the same refusal as the
    preview's, and nothing stored or sent."""
    from services.domain import Side

    store_risk_defaults(stack.db, FROM_A_NEWER_VERSION)
    with pytest.raises(BadInput) as refused:
        await stack.actions.manual_order("AAPL", Side.BUY, Decimal(1))
    assert "risk.some_future_rule = 3 is a setting of another version" in str(refused.value)
    assert stack.sim.orders() == []
