"""A stored plan's request refuses the inputs only a snapshot's preview reads (no database: the
refusal comes before anything is read, stored or sent)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import TradeMode
from services.execution.errors import BadInput
from services.execution.headless_run import RunRequest, execute_to_end


class _NoStack:
    def __getattr__(self, name):
        raise AssertionError(f"the stack's {name} was used: the request should have been refused first")


@pytest.mark.parametrize("given", [{"portfolio_value": Decimal(1000)}, {"builder": {"lot_size": Decimal(100)}},
                                   {"risk_overrides": ("max_order_notional=100",)}, {"project": "other"}, {"new_run": True}])
async def test_a_plan_is_not_executed_with_inputs_it_would_ignore(given):
    with pytest.raises(BadInput, match="plan 3 is sent exactly as it was previewed"):
        await execute_to_end(_NoStack(), RunRequest(TradeMode.PAPER, plan_id=3, **given))
