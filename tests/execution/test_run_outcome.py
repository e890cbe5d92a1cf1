"""What makes a run executed to its end incomplete (``execute`` exits 5 and lists why) is the
service's rule (RunOutcome.incomplete), not the command's own condition beside the problems it
printed (pure: no database, no broker)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from services.domain import OrderState
from services.execution.headless_run import RunOutcome
from services.execution.runs.records import ExecuteResult
from tests.gui.factories import order


def _outcome(result: ExecuteResult, orders=(), **kwargs) -> RunOutcome:
    view = SimpleNamespace(orders=tuple(orders), run=SimpleNamespace(params={}))
    given = {"created": False, "still_working": [], "commissions_missing": [], "not_sent": [], "connection_lost": None}
    return RunOutcome(view, result, **{**given, **kwargs})


def test_a_run_sent_whole_is_complete_even_with_orders_still_working_or_a_commission_missing():
    done = _outcome(ExecuteResult(1, sent=("a", "b")), [order(1, status=OrderState.FILLED)],
                    still_working=["b"], commissions_missing=["0001.01"])
    assert not done.incomplete and done.problems() == []


@pytest.mark.parametrize("case", ["not_sent", "connection_lost", "stopped", "lease_lost", "rejected",
                                  "canceled_after_cancel_all", "not_canceled_after_cancel_all"])
def test_each_way_a_run_falls_short_makes_it_incomplete_and_is_said(case):
    result, orders, kwargs = ExecuteResult(1, sent=("a",)), [], {}
    if case == "not_sent":
        kwargs["not_sent"] = ["b"]
    elif case == "connection_lost":
        kwargs["connection_lost"] = "socket closed"
    elif case == "stopped":
        result = replace(result, stopped="trading HALTED")
    elif case == "lease_lost":
        result = replace(result, stopped="the run was taken by another process", lease_lost=True)
    elif case == "rejected":
        orders = [replace(order(1), status=OrderState.REJECTED, rejected_reason="no permissions")]
    elif case == "canceled_after_cancel_all":
        result = replace(result, canceled_after_cancel_all=("a",))
    else:
        result = replace(result, not_canceled_after_cancel_all=(("a", "not open in this session"),))
    outcome = _outcome(result, orders, **kwargs)
    assert outcome.incomplete and outcome.problems(), case
