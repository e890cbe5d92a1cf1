"""The one table of IB message codes (services/core/ib_codes.py, docs/ib-message-codes.md):
every code's class and what each consumer does with it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.core import ib_codes
from services.core.ib_codes import CodeClass as C
from services.core.ib_codes import (
    classify,
    confirms_cancel,
    is_informational,
    is_warning,
    refuses_modify,
    rejects_order,
)
from services.core.order_state import EventKind, OrderEvent, OrderStatus, Outcome, apply_event
from services.domain import OrderState as S

# code, class, never changes an order, rejects a new order, refuses a pending modification
TABLE = [
    (100, C.PACING, False, False, False),
    (103, C.DUPLICATE_ORDER_ID, False, True, True),
    (104, C.MODIFY_REFUSED, False, False, True),
    (105, C.MODIFY_REFUSED, False, False, True),  # was a warning too: a refused modify waited 10 s
    (110, C.ORDER_REJECTED, False, True, True),  # was a warning and a reject at once
    (135, C.MODIFY_REFUSED, False, False, True),
    (161, C.CANCEL_REFUSED, False, False, False),
    (200, C.ORDER_REJECTED, False, True, True),
    (201, C.ORDER_REJECTED, False, True, True),
    (202, C.CANCEL_CONFIRMED, False, False, False),
    (203, C.ORDER_REJECTED, False, True, True),
    (321, C.REQUEST_ERROR, False, False, True),
    (326, C.DUPLICATE_CLIENT_ID, False, False, False),
    (388, C.ORDER_REJECTED, False, True, True),
    (399, C.INFORMATION, True, False, False),
    (404, C.WARNING, True, False, False),
    (1100, C.CONNECTIVITY_LOST, True, False, False),
    (1101, C.CONNECTIVITY_RESTORED, True, False, False),
    (1102, C.CONNECTIVITY_RESTORED, True, False, False),
    (2104, C.DATA_FARM, True, False, False),
    (2110, C.WARNING, True, False, False),
    (2158, C.DATA_FARM, True, False, False),
    (2150, C.INFORMATION, True, False, False),  # not listed: the 21xx range is notices
    (10147, C.CANCEL_REFUSED, False, False, False),
    (10148, C.CANCEL_REFUSED, False, False, False),  # was a reject: a cancel of a filled order
    (10167, C.INFORMATION, True, False, False),
    (10349, C.INFORMATION, True, False, False),
    (99999, C.ERROR, False, False, True),  # unknown: an error, answers a modify as refused
]


@pytest.mark.parametrize("code, cls, warning, rejects, refuses", TABLE)
def test_each_code_has_one_class_and_one_meaning(code, cls, warning, rejects, refuses):
    assert classify(code) is cls
    assert is_warning(code) is warning
    assert rejects_order(code) is rejects
    assert refuses_modify(code) is refuses
    assert confirms_cancel(code) is (code == 202)
    if is_informational(code):
        assert warning  # what the adapter restores after ib_async's local cancel never ends an order


def test_no_code_is_in_two_classes_and_every_class_is_used():
    assert len(ib_codes.IB_CODES) == len(set(ib_codes.IB_CODES))
    used = set(ib_codes.IB_CODES.values()) | {C.ERROR}
    assert used == set(C)


@pytest.mark.parametrize("code, cls, warning, rejects, refuses", TABLE)
def test_state_machine_follows_the_table(code, cls, warning, rejects, refuses):
    replacing = OrderStatus(S.REPLACE_REQUESTED, D(10), before_replace=S.ACCEPTED, pending_quantity=D(20))
    t = apply_event(replacing, OrderEvent.error(code, "x"))
    assert (t.after.state is S.ACCEPTED) is refuses  # a refusal rolls the replace back at once
    working = OrderStatus(S.ACCEPTED, D(10))
    t = apply_event(working, OrderEvent.error(code, "x"))
    assert t.after.state is S.ACCEPTED  # no code decides a final state by itself
    assert (t.after.reject_reason is not None) is rejects
    if warning:
        assert t.outcome is Outcome.IGNORED


def test_a_rejected_order_becomes_rejected_with_its_reason():
    st = apply_event(OrderStatus(S.SUBMITTED, D(10)), OrderEvent.error(110, "The price does not conform")).after
    final = apply_event(st, OrderEvent(EventKind.STATUS, status="Cancelled")).after
    assert (final.state, final.reject_reason) == (S.REJECTED, "110: The price does not conform")


def test_a_historical_data_error_is_no_data_a_pacing_violation_or_a_refusal():
    A = ib_codes.HistoryAnswer
    prefix = "Historical Market Data Service error message:"
    assert ib_codes.history_answer(162, prefix + "HMDS query returned no data: AAPL@SMART Trades") is A.NO_DATA
    assert ib_codes.history_answer(162, prefix + "Historical data request pacing violation") is A.PACING
    assert ib_codes.history_answer(162, prefix + "No market data permissions for NYSE STK") is A.REFUSED
    assert ib_codes.history_answer(200, "No security definition has been found for the request") is A.REFUSED
    assert ib_codes.history_answer(100, "Max rate of messages per second has been exceeded") is A.REFUSED



def test_an_error_on_a_stream_ends_it_in_a_word_unless_it_is_a_notice():
    assert ib_codes.stream_ended_word(354) == "not subscribed"
    assert ib_codes.stream_ended_word(200) == "no such listing"
    assert ib_codes.stream_ended_word(10197) == "competing session"
    assert ib_codes.stream_ended_word(322) == "refused"  # an error the table does not name
    for notice in (10167, 10090, 2104, 2119):  # delayed data, part of the data, farm notices: it streams on
        assert ib_codes.stream_ended_word(notice) is None
