"""The command line's value types, one of each: argparse calls them on the text given and shows
their ``ArgumentTypeError`` as ``argument --x: <message>`` with exit 2 (bad input), so a wrong
number, port, duration or date is refused before anything opens or connects. Pure and light:
the parser is built at every start-up (``--help`` loads no database or broker library)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from services.core.bars import iso_day
from services.core.cash_buffer import BadCashBuffer, CashBufferNotANumber, cash_buffer_ratio
from services.core.typed_numbers import (
    NotANumber,
    NotFinite,
    exponent_said,
    must_be_said,
    not_a_number_said,
    port_problem,
    typed_decimal,
)
from services.execution.timings import seconds_problem

MAX_AMOUNT = Decimal("1e15")  # far above any account; keeps exact arithmetic in range


def not_a_number(text: str, hint: str = "") -> argparse.ArgumentTypeError:
    """The one refusal of a value that is not a number, for every number option, whatever it counts
    (an amount, a count, an id, a port, seconds): ``argument --limit: not a number: 'x'``; ``hint``
    says why a misplaced comma is none (``services.core.typed_numbers.COMMA_HINT``). argparse's
    ``int`` and ``float`` said "invalid int value: 'x'", other options "not a port number" or "not a
    number of seconds", for one mistake."""
    return argparse.ArgumentTypeError(not_a_number_said(text, hint))


def _finite(text: str) -> Decimal:
    """``text`` as a finite Decimal, or the argument's error (one wording for every number type):
    read as the window reads a typed number (``typed_decimal``: ``1,000`` grouped, no ``1_000``)."""
    try:
        return typed_decimal(text)
    except NotFinite as exc:  # 'nan', 'inf': typed_decimal's own words
        raise argparse.ArgumentTypeError(str(exc)) from None
    except NotANumber as exc:
        raise not_a_number(text, exc.hint) from None


def _whole(text: str) -> int:
    """``text`` as a whole number, said as a fraction is by ``number(whole=True)``."""
    value = _finite(text)
    if value != value.to_integral_value():
        raise argparse.ArgumentTypeError(must_be_said(text, "a whole number"))
    return int(value)


def number(minimum: Decimal | None = None, *, strict: bool = False, below: Decimal | None = None,
           whole: bool = False) -> Callable[[str], Decimal]:
    """A finite Decimal within +-``MAX_AMOUNT``; at least ``minimum`` (above it with ``strict``),
    under ``below``, a whole number with ``whole``."""
    def parse(text: str) -> Decimal:
        value = _finite(text)
        if abs(value) > MAX_AMOUNT:  # finite, just beyond what the console computes with
            raise argparse.ArgumentTypeError(f"too large: {text!r} (at most 1e{MAX_AMOUNT.adjusted()})")
        if minimum is not None and (value < minimum or (strict and value == minimum)):
            raise argparse.ArgumentTypeError(must_be_said(text, f"a number {'>' if strict else '>='} {minimum}"))
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(must_be_said(text, f"below {below}"))
        if whole and value != value.to_integral_value():
            raise argparse.ArgumentTypeError(must_be_said(text, "a whole number"))
        return value

    return parse


positive = number(Decimal(0), strict=True)  # a price, a quantity, an amount of money


def order_number(name: str) -> Callable[[str], Decimal]:
    """A positive ``name`` of an order (quantity, limit price) its column can keep
    (``services.core.replace_rules.too_large_problem``, the order ticket's rule)."""
    from services.core.replace_rules import too_large_problem

    def parse(text: str) -> Decimal:
        value = _finite(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(must_be_said(text, "a number > 0"))
        problem = too_large_problem(name, value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def in_digits(parse: Callable[[str], Decimal]) -> Callable[[str], Decimal]:
    """``parse``, refusing first a number typed with an exponent, in the order ticket's words
    (``services.core.typed_numbers.exponent_said``: ``argument --quantity: must be a number in
    digits, without an exponent: '1e3'``): the `order` command's figures, which it read as 1,000
    shares before the ticket's own check (Ticket.of) could see what was typed."""
    def parse_digits(text: str) -> Decimal:
        problem = exponent_said(text)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return parse(text)

    return parse_digits


def cash_buffer(text: str) -> Decimal:
    """``--cash-buffer PCT``: the builder's ratio of a percent (``services.core.cash_buffer``)."""
    try:
        return cash_buffer_ratio(text, label="", unit_shown=False)
    except CashBufferNotANumber as exc:
        raise not_a_number(text, exc.hint) from None
    except BadCashBuffer as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole_in_digits(text: str) -> int:
    """``text`` as a whole number in digits, as the Settings dialog takes a port or a client id
    (``services.core.typed_numbers.typed_whole``): ``--ib-port 1e3`` was read as 1000 where the
    dialog refuses it (``argument --ib-port: must be a number in digits, without an exponent: '1e3'``)."""
    problem = exponent_said(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return _whole(text)


def client_id(text: str) -> int:
    """An API client id as typed: a whole number in digits (its bounds are the settings': one rule
    for the file, TC_IB_CLIENT_ID and the option, ``app.settings``)."""
    return _whole_in_digits(text)


def port(*, free: bool = False) -> Callable[[str], int]:
    """A TCP port (``services.core.typed_numbers.port_problem``), in digits."""

    def parse(text: str) -> int:
        value = _whole_in_digits(text)
        problem = port_problem(value, free=free, typed=text)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def count(minimum: int | None = 0) -> Callable[[str], int]:
    """A whole number of things, at least ``minimum`` (None: any whole number, a seed or a client id)."""
    def parse(text: str) -> int:
        value = _whole(text)
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(must_be_said(text, f"at least {minimum}"))
        return value

    return parse


# The id of a stored record (an order, a run, a plan, a backtest: the first column of its listing),
# a whole number from 1, refused as every other number is ("argument ORDER_ID: not a number:
# 'abc'"); argparse's ``int`` said "invalid int value: 'abc'" and took -3 to the broker.
record_id = count(1)


def seconds(*, positive: bool, within: tuple[float, float] | None = None) -> Callable[[str], float]:
    """A finite duration in seconds, above zero with ``positive``, else zero or more; from the first
    to the second of ``within`` when given."""
    def parse(text: str) -> float:
        value = float(_finite(text))
        if not math.isfinite(value):  # 1e400 is a finite Decimal, an infinite float
            raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
        if value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(must_be_said(text, f"a number {'>' if positive else '>='} 0"))
        problem = None if within is None else seconds_problem(value, within, typed=text)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def day(text: str) -> date:
    parsed = iso_day(text)
    if parsed is None:  # 20240102 and 2024-W01-2 too: fromisoformat takes them
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}")
    return parsed


def plan_hash(text: str) -> str:
    """``--plan-hash``: a plan's content hash or a prefix of it (``services.core.plans.plan_hash_problem``)."""
    from services.core.plans import plan_hash_problem

    problem = plan_hash_problem(text.strip())
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text.strip().lower()


def described(doc: str | None) -> str | None:
    """A command's ``--help`` description from its module docstring: the text after the first
    paragraph (which names the module for a reader of the code), with reStructuredText's double
    backticks as the single ones the rest of the help uses."""
    if not doc or "\n\n" not in doc:
        return None
    return doc.split("\n\n", 1)[1].replace("``", "`").strip()
