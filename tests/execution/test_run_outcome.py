"""What makes a run executed to its end incomplete (``execute`` exits 5 and lists why) is the
service's rule (RunOutcome.incomplete), not the command's own condition beside the problems it
printed (pure: no database, no broker)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from services.domain import OrderState, RunStatus, TradeMode
from services.execution.headless_run import RunOutcome
from services.execution.runs.records import ExecuteResult
from services.preview_session import describe_execute
from tests.gui.factories import order


def _outcome(result: ExecuteResult, orders=(), **kwargs) -> RunOutcome:
    view = SimpleNamespace(orders=tuple(orders), run=SimpleNamespace(id=result.run_id, mode=TradeMode.PAPER, snapshot_id=1,
                                                                      status=RunStatus.PARTIAL, params={"plan_id": 2}))
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


def test_the_command_says_the_send_in_the_window_s_words_and_the_run_s_end_after_them():
    """The window's status line after Execute and `execute`'s line say one send's counts alike
    (ExecuteResult.counts_said): the command said "sent 2, already at the broker 1, still working
    1, not sent 1" beside the window's "2 sent, 1 already at the broker, 1 failed, 0 not sent",
    in another order and without the failed. What only a run waited for to its end knows follows."""
    result = ExecuteResult(3, sent=("a", "b"), already_known=("c",), failed=(("d", "unknown contract"),), unsent=("d",))
    outcome = _outcome(result, still_working=["b"], commissions_missing=["0001.01"], not_sent=["d"])
    shared = "2 sent, 1 already at the broker, 1 failed, 0 not sent"  # d once: failed
    assert describe_execute(3, result) == f"Run 3: {shared}"
    assert outcome.headline() == (f"run 3 (paper, snapshot 1, plan 2): partial; {shared}; "
                                  "1 still working, 1 fill without a commission report")
    assert _outcome(result, not_sent=["d"]).headline().endswith(f"{shared}; 0 still working")  # no commission missing


def test_the_command_s_not_sent_is_the_run_s_end_the_orders_it_lists_and_exits_5_for():
    """Waited for, the run may end otherwise than its send left it: an order left unsent that
    auto-recovery sent meanwhile is not said "not sent" by the line above a clean exit."""
    result = ExecuteResult(3, sent=("a",), unsent=("b",))
    sent_since = _outcome(result, not_sent=[])
    assert "1 sent, 0 already at the broker, 0 failed, 0 not sent;" in sent_since.headline()
    assert not sent_since.incomplete
    left = _outcome(result, not_sent=["b"])
    assert "0 failed, 1 not sent;" in left.headline() and "1 order not sent: b" in left.problems()
