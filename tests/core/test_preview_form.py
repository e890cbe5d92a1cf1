"""The preview form read as build parameters without a widget (services.core.preview_form):
the form's wording first, the builder's rules as the last word."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.core.preview_form import PreviewForm
from services.domain import OrderType


def _form(**typed) -> PreviewForm:
    fields = {"portfolio_value": "", "cash_buffer_pct": "2", "lot_size": "1", "limit_offset_bps": "0",
              "min_order_value": "0", "rounding": "nearest", "order_type": "MKT", "liquidate_unlisted": False}
    return PreviewForm(**{**fields, **typed})


def test_the_fields_become_the_services_build_values():
    values = _form(portfolio_value="150,000", cash_buffer_pct="2.5", order_type="LMT", limit_offset_bps="5").build_values()
    assert values == {"portfolio_value": D(150000), "cash_buffer": D("0.025"), "lot_size": D(1), "rounding": "nearest",
                      "order_type": OrderType.LMT, "limit_offset_bps": D(5), "min_order_value": D(0),
                      "liquidate_unlisted": False}
    assert _form().build_values()["portfolio_value"] is None  # empty: the project's capital (the service's)


@pytest.mark.parametrize("typed, said", [
    ({"portfolio_value": "0"}, "Portfolio value: must be a number > 0: '0'."),
    ({"cash_buffer_pct": "abc"}, "Cash buffer: not a number: 'abc'."),
    ({"cash_buffer_pct": "100"}, "Cash buffer: must be a percent from 0 to below 100: '100'."),
    ({"lot_size": "0"}, "Lot size: must be a number > 0: '0'."),
    ({"min_order_value": "-1"}, "Min order value: must be a number >= 0: '-1'."),
    ({"lot_size": "2.5"}, "Lot size: must be a whole number: '2.5'."),  # the builder's rule
    ({"order_type": "LMT", "limit_offset_bps": "10000"}, "Limit offset (bps): must be a number from 0 to below 10000: '10000'."),
])
def test_what_the_form_or_the_builder_refuses_is_said_as_a_sentence(typed, said):
    with pytest.raises(ValueError) as refused:
        _form(**typed).build_values()
    assert str(refused.value) == said


def test_the_limit_offset_field_is_not_read_for_market_orders():
    """Disabled for MKT, the field keeps what was typed while LMT was chosen: a market order has
    no offset (the builder refuses the pair), so the form sends 0 and does not refuse its text."""
    for typed in ("20", "", "10000"):
        assert _form(order_type="MKT", limit_offset_bps=typed).build_values()["limit_offset_bps"] == D(0)


def test_the_forms_values_and_the_commands_options_are_read_as_one_run_builder():
    """The window's preview split its form's values into the run's builder parameters with its own
    list of keys (app/composition.py), the commands with theirs, the run's stored parameters with a
    third reading: one now (services.core.builder.given_builder; run_inputs for the form), whose
    keys are the builder's own (BUILDER_KEYS)."""
    from argparse import ArgumentParser

    from app.commands.preview import add_builder_options, given_builder_values
    from services.core.builder import BUILDER_KEYS, given_builder
    from services.core.preview_form import run_inputs

    values = _form(portfolio_value="150,000", cash_buffer_pct="2.5", order_type="LMT", limit_offset_bps="5").build_values()
    builder, portfolio_value = run_inputs(values)
    assert portfolio_value == D(150000)
    assert builder == {"cash_buffer": "0.025", "lot_size": "1", "rounding": "nearest", "min_order_value": "0",
                       "order_type": "LMT", "limit_offset_bps": "5", "liquidate_unlisted": False}
    assert set(builder) == set(BUILDER_KEYS)
    assert run_inputs(_form().build_values())[1] is None and run_inputs({"portfolio_value": ""}) == ({}, None)
    assert given_builder({"lot_size": None, "portfolio_value": D(5), "other": "x", "liquidate_unlisted": True}) == \
        {"liquidate_unlisted": True}
    parser = ArgumentParser()
    add_builder_options(parser, defaults=False)
    typed = parser.parse_args(["--cash-buffer", "2.5", "--order-type", "lmt", "--limit-bps", "5", "--lot-size", "1",
                               "--min-order-value", "0", "--rounding", "nearest", "--liquidate-unlisted"])
    assert given_builder_values(typed) == {**builder, "liquidate_unlisted": True}  # the command line reads the same
