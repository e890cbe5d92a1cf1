"""One reading of a typed number (services/core/typed_numbers.py) for every field, option and
service that takes one: thousands grouped with commas are read alike everywhere, and a comma
that does not group thousands is refused everywhere instead of being dropped ("1,5" was 15 in
the order ticket, the Replace dialog, the preview and the capital, and refused by the commands,
the backtest and the settings)."""

from __future__ import annotations

import argparse
import io
import tokenize
from decimal import Decimal
from pathlib import Path

import pytest

from services.core.typed_numbers import NotANumber, plain, typed_decimal

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "value"), [
    ("1000", "1000"), (" 1,000 ", "1000"), ("1,000,000.50", "1000000.50"), ("-12,345.6", "-12345.6"),
    ("0.25", "0.25"), ("1e3", "1E+3"), ("+7", "7"), ("999", "999"), ("1,000.", "1000"),
])
def test_numbers_as_typed(text, value):
    assert typed_decimal(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", " ", "abc", "1,5", "1,00", "10,00,000", "1,0000", ",100", "1,000,",
                                  "1_000", "nan", "NaN", "inf", "-Infinity", "1.000,5", "1 000"])
def test_what_is_not_a_number(text):
    with pytest.raises(NotANumber):
        typed_decimal(text)


@pytest.mark.parametrize("text", ["0,125", "0,500", "-0,250", "00,100", "012,000"])
def test_a_decimal_comma_after_a_leading_zero_is_not_read_as_thousands(text):
    """"0,125" (a decimal comma: 0.125) was read as 125, a thousands group no one writes: a
    European trader's limit of 0,125 became 125, a notional of 0,500 five hundred. A grouped
    number's first group never starts with a zero."""
    with pytest.raises(NotANumber, match=r"commas only group thousands"):
        typed_decimal(text)


def test_a_misplaced_comma_is_named():
    with pytest.raises(NotANumber, match=r"^not a number: '1,5' \(commas only group thousands"):
        typed_decimal("1,5")


def test_values_already_numbers_are_kept_and_others_refused():
    assert typed_decimal(Decimal("2.50")) == Decimal("2.50")
    assert typed_decimal(3) == 3
    assert typed_decimal(0.1) == Decimal("0.1")
    for value in (True, None, Decimal("NaN"), float("inf"), [1]):
        with pytest.raises(NotANumber):
            typed_decimal(value)


def _every_reader():
    """Each place a trader's number is read, as (name, read(text) -> Decimal or raises)."""
    from app.commands.arguments import number
    from services.backtest.costs import parse_commission
    from services.backtest.requests import _number
    from services.core.books import parse_capital
    from services.core.preview_form import PreviewForm
    from services.core.replace_rules import typed_replace
    from services.core.risk import rules_from_params
    from services.execution.errors import BadInput
    from services.execution.manual import _decimal
    from services.trade_settings_keys import checked_value, read_setting
    from tests.gui.factories import order

    def backtest(text):
        problems: list[str] = []
        value = _number("--initial-cash", text, problems, strict=True)
        if problems:
            raise ValueError(problems)
        return value

    def preview(text):
        form = PreviewForm("", "0", "1", "0", text, "floor", "MKT", False)
        return form.build_values()["min_order_value"]

    def replace_dialog(text):  # the Replace dialog's Quantity, read by the service
        typed = typed_replace(order(1, quantity="1", limit="10"), text, "10")
        if typed.problem:
            raise ValueError(typed.problem)
        return typed.quantity

    def settings_cell(text):  # the Settings dialog's cell, read by the service (and the dialog's check)
        return Decimal(read_setting("risk", "max_order_notional", text))

    def risk(text):
        rules = rules_from_params({}, [f"max_order_notional={text}"])
        return next(r for r in rules if type(r).__name__ == "MaxOrderNotional").limit

    def commission(text):
        return parse_commission(f"per-share={text}").per_share

    def recovery(text):
        return Decimal(checked_value("stuck_after_seconds", Decimal(60), text))

    def manual_ticket(text):
        try:
            return _decimal("quantity", text)
        except BadInput as exc:
            raise ValueError(str(exc)) from None

    def command_line(text):
        try:
            return number(Decimal(0))(text)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None

    return [("capital", parse_capital), ("backtest", backtest), ("preview", preview), ("replace", replace_dialog),
            ("settings cell", settings_cell), ("risk override", risk), ("manual ticket", manual_ticket),
            ("command line", command_line), ("auto recovery", recovery), ("commission", commission)]


@pytest.mark.parametrize(("text", "value"), [("1,000", Decimal(1000)), (" 2500 ", Decimal(2500)), ("1,5", None),
                                             ("1_000", None), ("nan", None)])
def test_every_reader_of_a_typed_number_reads_it_alike(text, value):
    for name, read in _every_reader():
        if name == "commission" and "," in text:
            continue  # a commission spec separates its parts with commas: no grouping inside it
        if value is None:
            with pytest.raises(ValueError):
                read(text)
        else:
            assert read(text) == value, name


def test_no_other_code_drops_commas_from_a_number():
    """The rule has one home: no other module strips commas to read a number."""
    offenders = []
    for folder in ("app", "widgets", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            # the token pattern below needs both strings in the text: only those few files are
            # tokenized (all ~300 took 1 s of CPU, 3-10 s of a loaded run, to find the same)
            if path.name == "typed_numbers.py" or "replace" not in text or ('","' not in text and "','" not in text):
                continue
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
            for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False):
                if a.string == "replace" and b.string == "(" and c.string in ('","', "','"):
                    offenders.append(f"{path.relative_to(ROOT)}:{a.start[0]}")
    assert not offenders, offenders


@pytest.mark.parametrize(("value", "text"), [
    (Decimal(0).scaleb(-8), "0"),  # a zero Money as both databases read it back (str(): "0E-8")
    (Decimal("0.000000"), "0"),  # a zero Quantity
    (Decimal("-0"), "0"),
    (Decimal("4.000000"), "4"),
    (Decimal("1E+2"), "100"),
    (Decimal(5).scaleb(-8), "0.00000005"),  # str(): "5E-8"
    (Decimal("-12.50000000"), "-12.5"),
    (Decimal("1234567890123456789012345678901.25"), "1234567890123456789012345678901.25"),  # past 28 digits: not rounded
])
def test_plain_is_exact_text_without_exponent_or_trailing_zeros(value, text):
    assert plain(value) == text


@pytest.mark.parametrize(("read", "name"), [("typed_port", "Port"), ("typed_client_id", "Client id"),
                                            ("typed_lines", "Market data lines")])
def test_a_settings_field_refuses_an_exponent_as_the_order_ticket_does(read, name):
    """The Settings dialog's Port read 1e3 as 1000 (and saved it) where the ticket refuses an
    exponent; its whole-number fields now say it in the ticket's words (exponent_said)."""
    from services.core import typed_numbers

    reader = getattr(typed_numbers, read)
    for typed in ("1e3", "1E3", " 2e2 "):
        with pytest.raises(ValueError) as refused:
            reader(typed, name=name)
        assert str(refused.value) == f"{name}: must be a number in digits, without an exponent: {typed!r}"
    assert reader("1,000", name=name) == 1000  # grouped digits are still a number
