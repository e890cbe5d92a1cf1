"""A number as a trader types it: the one reading of typed amounts, quantities, prices, rates
and settings, for every field of the window, every option of the commands and the services
that check what reaches them; and :func:`plain`, the one exact text of a Decimal that the
exports, the change feed and the commands write.

Spaces around the number are ignored; thousands may be grouped with commas, in threes, as the
window shows them (``1,000,000.50``, which the Replace dialog reads back); nothing else is a
number: no ``1,5`` (a decimal comma would be read as 15 if commas were simply dropped), no ``0,125``
(read as 125: a first group never starts with a zero), no
``1_000`` (Python's spelling), no NaN or infinity. What a caller then allows (positive, below a
bound, whole) is its own rule, said in its own words.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation

# the first group never starts with a zero: "0,125" is a decimal comma (0.125), not 125
_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?")


COMMA_HINT = "commas only group thousands, as in 1,000.5"


class NotANumber(ValueError):
    """What was typed is not a number (the message names it; ``hint``, for a misplaced comma,
    says why, for a caller that words the refusal its own way)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class NotFinite(NotANumber):
    """What was typed is NaN or an infinity: a number to Python, never an amount."""


def not_a_number_said(typed: object, hint: str = "", *, name: str = "") -> str:
    """The one wording of a typed value that is no number, for every option, field and service
    that reads one: ``not a number: 'x'`` (argparse names its option before it: ``argument
    --limit: not a number: 'x'``), ``--initial-cash: not a number: 'x'`` with ``name``, and why a
    misplaced comma is none (``hint``, a NotANumber's). The commands' own options, the backtest's
    and the order ticket's checks and the risk limits said it four ways ("quantity must be a
    number, got 'x'", "--initial-cash 'x' is not a number") for one mistake."""
    said = f"not a number: {typed!r}" + (f" ({hint})" if hint else "")
    return f"{name}: {said}" if name else said


def must_be_said(typed: object, rule: str, *, name: str = "") -> str:
    """The one wording of a number outside what its reader allows, said as ``not_a_number_said``
    says one that is none: ``must be a number > 0: '-5'`` (argparse: ``argument --portfolio-value:
    must be a number > 0: '0'``), ``--initial-cash: must be a number > 0: '-5'`` with ``name``;
    ``rule`` is what it must be (``a number > 0``, ``a whole number``). The backtest's checks said
    "--initial-cash '-5' must be > 0" where its options say the rule before the value typed.
    A Decimal (a value already read, checked again by a service) is shown as typed text, exact
    (``plain``): ``lot size: must be a whole number: '2.5'``."""
    if isinstance(typed, Decimal):
        typed = plain(typed) if typed.is_finite() else str(typed)
    said = f"must be {rule}: {typed!r}"
    return f"{name}: {said}" if name else said


IN_DIGITS = "a number in digits, without an exponent"
_EXPONENT = re.compile(r"\d\s*[eE]")


def exponent_said(typed: object, *, name: str = "") -> str | None:
    """Why a number typed with an exponent (``1e3``, which Python and ``typed_decimal`` read as
    1000) is refused where a trader types an order's figures, said as every bound is
    (``must_be_said``: ``quantity: must be a number in digits, without an exponent: '1e3'``);
    None for text in digits and for a value already read (a Decimal, an int). A trader types
    digits: a quantity typed 1e3 is a slip of the keys, and the order ticket sent 1,000 shares."""
    if isinstance(typed, str) and _EXPONENT.search(typed):
        return must_be_said(typed, IN_DIGITS, name=name)
    return None


def typed_decimal(value: object) -> Decimal:
    """``value`` as a finite Decimal; a NotANumber for anything else (text that is not a number
    by the rule above, a bool, None)."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = _from_text(value.strip())
    else:
        raise NotANumber(not_a_number_said(value))
    if not number.is_finite():
        raise NotFinite(f"not a finite number: {value!r}")
    return number


def _from_text(text: str) -> Decimal:
    digits = text
    if "," in text:
        if not _GROUPED.fullmatch(text):
            raise NotANumber(not_a_number_said(text, COMMA_HINT), COMMA_HINT)
        digits = text.replace(",", "")
    if "_" in digits:
        raise NotANumber(not_a_number_said(text))
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise NotANumber(not_a_number_said(text)) from None


def plain(value: Decimal) -> str:
    """``value`` as exact plain text: no exponent, no trailing zeros beyond what the value needs,
    never rounded (``4.000000`` -> ``"4"``, ``1E+2`` -> ``"100"``, ``0.00000500`` -> ``"0.000005"``).
    Every zero is ``"0"``: both databases read a zero back as ``0E-8`` (str() writes it so) and a
    quantity's as ``0.000000``, and a sum can give ``-0``, so one zero would otherwise be written
    three ways."""
    if not value:
        return "0"
    # normalize() in the default context rounds to 28 digits; a context as wide as the number never rounds
    return f"{value.normalize(Context(prec=max(len(value.as_tuple().digits), 1))):f}"


MAX_PORT = 65535


def port_problem(value: int, *, free: bool = False, typed: object = None, name: str = "") -> str | None:
    """Why ``value`` is not a TCP port, 1-65535 (0 too with ``free``: the system picks a free
    one), said as every bound is (``must_be_said``: ``ib.port: must be a port from 1 to 65535:
    99999``; ``typed``, what was typed, defaults to ``value``); None when it is. The one rule of
    ``--ib-port`` / ``--port`` and the settings file's ``ib.port`` / ``TC_IB_PORT`` (``port =
    99999`` passed the settings and failed at connect; both then said "must be 1-65535" their
    own ways: "ib.port must be 1-65535, got 99999", "argument --ib-port: port must be 1-65535:
    '0'")."""
    low = 0 if free else 1
    if low <= value <= MAX_PORT:
        return None
    return must_be_said(value if typed is None else typed, f"a port from {low} to {MAX_PORT}", name=name)


def typed_whole(typed: str, *, name: str = "") -> int:
    """A whole number as typed in a form, read as every typed number is; a ``ValueError`` in the
    one wording otherwise (``Client id: not a number: '7a'``, ``Client id: must be a whole
    number: '7.5'``). An exponent is refused as the order ticket refuses one (``exponent_said``:
    ``Port: must be a number in digits, without an exponent: '1e3'``): the Settings dialog's
    Port read 1e3 as 1000 and saved it."""
    exponent = exponent_said(typed, name=name)
    if exponent is not None:
        raise ValueError(exponent)
    try:
        number = typed_decimal(typed)
    except NotANumber as exc:
        raise ValueError(not_a_number_said(typed, exc.hint, name=name)) from None
    if number != number.to_integral_value():
        raise ValueError(must_be_said(typed, "a whole number", name=name))
    return int(number)


# IB's clientId is a 32-bit integer (TWS's Java int); the Settings dialog's spin box's range was this
MAX_CLIENT_ID = 2**31 - 1


def client_id_problem(value: int, *, typed: object = None, name: str = "") -> str | None:
    """Why ``value`` is no API client id, 0 to 2**31 - 1, said as every bound is (``ib.client_id:
    must be a client id from 0 to 2147483647: '-1'``); None when it is one. The one rule of the
    settings file's ``ib.client_id``, ``TC_IB_CLIENT_ID``, ``--client-id`` and the Settings dialog."""
    if 0 <= value <= MAX_CLIENT_ID:
        return None
    return must_be_said(value if typed is None else typed, f"a client id from 0 to {MAX_CLIENT_ID}", name=name)


def lines_problem(value: int, *, typed: object = None, name: str = "") -> str | None:
    """Why ``value`` is no count of the account's market data lines (at least 1), said as every
    bound is; None when it is one. The one rule of the settings file's ``ib.market_data_lines``,
    ``TC_IB_MARKET_DATA_LINES`` and the Settings dialog (whose spin box stopped at 100,000 and took
    no key beyond it: 150000 typed became 15000)."""
    if value >= 1:
        return None
    return must_be_said(value if typed is None else typed,
                        "at least 1 (IB gives every account 100 market data lines)", name=name)


def _typed_bounded(typed: str, problem_of, name: str) -> int:
    number = typed_whole(typed, name=name)
    problem = problem_of(number, typed=typed, name=name)
    if problem is not None:
        raise ValueError(problem)
    return number


def typed_client_id(typed: str, *, name: str = "") -> int:
    """A client id as typed in a form (the Settings dialog's), bounded by ``client_id_problem``;
    a ``ValueError`` in the one wording otherwise."""
    return _typed_bounded(typed, client_id_problem, name)


def typed_lines(typed: str, *, name: str = "") -> int:
    """Market data lines as typed in a form (the Settings dialog's), bounded by ``lines_problem``;
    a ``ValueError`` in the one wording otherwise."""
    return _typed_bounded(typed, lines_problem, name)


def typed_port(typed: str, *, name: str = "") -> int:
    """A port as typed in a form (the Settings dialog's), read as every typed number is and
    bounded by ``port_problem``; a ``ValueError`` in the one wording otherwise (``Port: must be a
    port from 1 to 65535: '70000'``, ``Port: not a number: '74a'``; a whole number by
    ``typed_whole``, in digits). The dialog's spin box took no key beyond 65535 and said nothing:
    7497 with a 0 typed after it stayed 7497, 70000 typed became 7000."""
    return _typed_bounded(typed, port_problem, name)
