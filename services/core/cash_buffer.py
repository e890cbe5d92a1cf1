"""The cash buffer as a trader types it: a percent of the portfolio value kept as cash, read
into the builder's ratio (``BuildParams.cash_buffer``). One reading for every front end: the
window's "Cash buffer %" fields (preview, backtest) and ``--cash-buffer`` of ``preview``,
``execute`` and ``backtest``.

Why a bare fraction is refused on the command line: ``preview`` and ``execute`` read
``--cash-buffer`` as a ratio (0.05 kept 5 %) until they were made to read a percent like the
window and ``backtest``. An old script's ``--cash-buffer 0.05`` would now keep 0.05 %, and a live
account would be sent nearly the whole cash buffer in orders. On the command line, where no unit
is shown, a value above 0 and below 1 is therefore refused unless written with its sign
(``0.5%``); in a field labelled with "%" the unit is on screen and the value is taken as typed.
"""

from __future__ import annotations

from decimal import Decimal

from .typed_numbers import NotANumber, must_be_said, not_a_number_said, plain, typed_decimal

HUNDRED = Decimal(100)


class BadCashBuffer(ValueError):
    """A cash buffer that cannot be read; the message names the field and says why."""


class CashBufferNotANumber(BadCashBuffer):
    """What was typed is no number at all (``hint``: why a misplaced comma is none), for a front
    end that says that in its own words for every number (the command line's options)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def cash_buffer_ratio(text: str, *, label: str, unit_shown: bool) -> Decimal:
    """The ratio of ``text``, a percent (``"5"``, ``"5%"``, ``"2.5 %"``) from 0 to below 100.
    ``label`` names the field in a refusal (empty: the caller names it); ``unit_shown``: the field says "%" on screen (a bare
    fraction is then meant as typed, else it is refused as ambiguous)."""
    typed = str(text).strip()
    named = f"{label} {typed!r}".lstrip()  # no label: argparse names the option itself
    signed = typed.endswith("%")
    number = typed[:-1].rstrip() if signed else typed
    try:
        percent = typed_decimal(number)
    except NotANumber as exc:
        raise CashBufferNotANumber(not_a_number_said(typed, exc.hint, name=label), exc.hint) from None
    if not percent.is_finite() or percent < 0 or percent >= HUNDRED:
        raise BadCashBuffer(must_be_said(typed, "a percent from 0 to below 100", name=label))
    if 0 < percent < 1 and not signed and not unit_shown:
        raise BadCashBuffer(
            f"{named} is ambiguous: it is a percent of the portfolio value (5 keeps 5 % as cash), "
            f"so {typed} would keep {typed} %; write {typed}% if that is meant, or {plain(percent * HUNDRED)} "
            f"for {plain(percent * HUNDRED)} % (the ratio {typed})")
    return percent / HUNDRED


def cash_buffer_percent(ratio: Decimal) -> str:
    """The text of ``ratio`` as a percent field shows it (``Decimal("0.025")`` -> ``"2.5"``)."""
    return plain(Decimal(ratio) * HUNDRED)

