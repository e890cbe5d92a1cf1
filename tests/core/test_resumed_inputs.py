"""The rule a run with orders is resumed by (services/execution/runs/resumed_inputs.py): a value
given is compared with the run's as the builder and the risk engine read them, so the same value
written another way resumes the run and only a real difference is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.execution.errors import BadInput
from services.execution.runs.resumed_inputs import RunInputs, refuse_differences

STORED = {"builder": {"cash_buffer": "0.05", "lot_size": "10", "rounding": "floor", "min_order_value": "0",
                      "order_type": "LMT", "limit_offset_bps": "10", "liquidate_unlisted": False},
          "risk_overrides": ["max_order_notional=5000", "allow_short=true"]}


def test_the_same_values_written_another_way_resume_the_run():
    same = RunInputs({"cash_buffer": Decimal("0.050"), "lot_size": Decimal("1E+1"), "rounding": "FLOOR", "order_type": "lmt",
                      "limit_offset_bps": "10.0", "liquidate_unlisted": False},
                     ["allow_short=True", "max_order_notional=5000.0"], None, Decimal("100000"))
    assert same.differences(STORED, Decimal("100000.00")) == []
    refuse_differences(1, [])  # nothing to refuse


def test_each_difference_is_named_with_the_stored_and_the_given_value():
    given = RunInputs({"cash_buffer": Decimal("0.1"), "lot_size": "10", "order_type": "MKT", "liquidate_unlisted": True},
                      ["max_order_notional=off"], None, Decimal(90000))
    assert given.differences(STORED, Decimal(100000)) == [
        "--cash-buffer: stored 5%, given 10%", "--order-type: stored LMT, given MKT", "--liquidate-unlisted: stored no, given yes",
        "--risk allow_short: stored true, given not overridden", "--risk max_order_notional: stored 5000, given off",
        "--portfolio-value: stored 100000, given 90000"]
    with pytest.raises(BadInput, match=r"run 7 .*--cash-buffer: stored 5%, given 10%.*--new-run"):
        refuse_differences(7, given.differences(STORED, Decimal(100000)))


def test_only_what_was_given_is_compared():
    # preview fills the builder's defaults in for the options not typed: those are not the trader's
    defaults = RunInputs({"cash_buffer": "0", "lot_size": "1", "rounding": "nearest", "order_type": "MKT"}, [], {"lot_size"})
    assert defaults.differences(STORED, None) == ["--lot-size: stored 10, given 1"]
    # no risk overrides and no portfolio value given: the run's stand
    assert RunInputs({}, []).differences(STORED, Decimal(1)) == []


def test_a_run_stored_with_market_orders_has_no_limit_offset():
    stored = {"builder": {"order_type": "MKT", "limit_offset_bps": "25"}}  # stored before the builder refused the pair
    assert RunInputs({"limit_offset_bps": "0"}, []).differences(stored, None) == []
    assert RunInputs({"lot_size": "1", "cash_buffer": "0"}, []).differences({}, None) == []  # the builder's defaults
