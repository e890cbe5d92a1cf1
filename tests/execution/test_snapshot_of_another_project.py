"""A stored snapshot given with another project (`preview --save --snapshot 3 --project alpha`,
`execute --snapshot 3 --project alpha`, a backtest's rebalance) is refused naming whose it is:
it read "snapshot 3 does not exist in this project", and the trader looking at `snapshot list`
saw snapshot 3 right there. A snapshot that does not exist is said so; nothing is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.db.models import Project, TradeRun
from services.domain import TradeMode
from services.execution.errors import BadInput

from .conftest import make_snapshot


async def test_a_snapshot_of_another_project_is_refused_naming_its_project(stack):
    _beta, snapshot = make_snapshot(stack.db, "beta", {"AAPL": "0.1"})
    gamma, later = make_snapshot(stack.db, "gamma", {"MSFT": "0.1"})
    for project, name in (("alpha", "alpha"), (gamma, "gamma")):  # by name (the commands) and by id (the window)
        with pytest.raises(BadInput) as refused:
            await stack.service.create_run(project, snapshot, TradeMode.PAPER)
        assert str(refused.value) == f"snapshot {snapshot} belongs to project 'beta', not to '{name}'"
    with pytest.raises(BadInput) as missing:
        await stack.service.create_run("beta", later + 1, TradeMode.PAPER)
    assert str(missing.value) == f"snapshot {later + 1} does not exist"
    with stack.db.session() as session:  # 'alpha' was not left created by the refusal, nor any run
        assert sorted(session.scalars(select(Project.name)).all()) == ["beta", "gamma"]
        assert session.scalar(select(func.count(TradeRun.id))) == 0
