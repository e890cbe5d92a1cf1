"""The window's preview form read as build parameters (pure): its fields as typed, the cash
buffer in percent, to the values the trade service takes (``services.core.builder.params_from``
reads them), or a ValueError whose message is a sentence for the form. The form's own wording
(percent, a field named by its label) comes first; the builder's rules (whole lots, the limit offset's
range, ...) are the last word, so the form refuses what the builder would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.domain import OrderType

from .builder import given_builder, params_from
from .cash_buffer import BadCashBuffer, cash_buffer_ratio
from .typed_numbers import NotANumber, exponent_said, must_be_said, not_a_number_said, typed_decimal
from .wording import as_sentence


def run_inputs(values: Mapping[str, Any]) -> tuple[dict[str, Any], Decimal | None]:
    """The form's build values (``PreviewForm.build_values``) as a preview takes them: the run's
    builder parameters (``services.core.builder.given_builder``, the commands' reading too) and
    the portfolio value (None when empty: the project's capital, else NetLiquidation)."""
    value = values.get("portfolio_value")
    return given_builder(values), (Decimal(str(value)) if value not in (None, "") else None)

@dataclass(frozen=True, slots=True)
class PreviewForm:
    portfolio_value: str  # empty: the project's capital, else the account's NetLiquidation (the service's)
    cash_buffer_pct: str
    lot_size: str
    limit_offset_bps: str
    min_order_value: str
    rounding: str
    order_type: str
    liquidate_unlisted: bool

    def build_values(self) -> dict[str, Any]:
        """The build parameters (``portfolio_value`` None when the field is empty)."""
        portfolio = None
        if self.portfolio_value.strip():
            portfolio = _number("Portfolio value", self.portfolio_value)
            if portfolio <= 0:
                raise ValueError(as_sentence(must_be_said(self.portfolio_value.strip(), "a number > 0", name="Portfolio value")))
        _in_digits("Cash buffer", self.cash_buffer_pct)
        try:  # the field says "%": a fraction is meant as typed
            cash_buffer = cash_buffer_ratio(self.cash_buffer_pct, label="Cash buffer", unit_shown=True)
        except BadCashBuffer as exc:
            raise ValueError(as_sentence(str(exc))) from None
        order_type = OrderType(self.order_type)
        # the limit offset's field is disabled for MKT and may still hold what was typed while LMT
        # was chosen: not the trader's word for market orders (the builder refuses an offset with MKT)
        numbers = {"limit_offset_bps": Decimal(0)}
        fields = [("lot_size", "Lot size"), ("min_order_value", "Min order value")]
        if order_type == OrderType.LMT:
            fields.append(("limit_offset_bps", "Limit offset"))
        for name, label in fields:
            typed = getattr(self, name).strip()
            value = _number(label, typed)
            least = ">" if name == "lot_size" else ">="  # a lot of no shares buys nothing
            if value < 0 or (least == ">" and value == 0):
                raise ValueError(as_sentence(must_be_said(typed, f"a number {least} 0", name=label)))
            numbers[name] = value
        values = {
            "portfolio_value": portfolio,
            "cash_buffer": cash_buffer,
            "lot_size": numbers["lot_size"],
            "rounding": self.rounding,
            "order_type": order_type,
            "limit_offset_bps": numbers["limit_offset_bps"],
            "min_order_value": numbers["min_order_value"],
            "liquidate_unlisted": self.liquidate_unlisted,
        }
        try:  # the builder's own rules: what it would refuse is said before a run is made
            params_from(values, portfolio_value=portfolio or Decimal(0))
        except ValueError as exc:
            raise ValueError(as_sentence(str(exc))) from None
        return values


def _in_digits(label: str, text: str) -> None:
    """A number typed with an exponent refused, the field named, as the order ticket refuses one
    (``exponent_said``): the fields swallowed the e as it was typed, and 1e3 became 13."""
    problem = exponent_said(text.strip(), name=label)
    if problem is not None:
        raise ValueError(as_sentence(problem))


def _number(label: str, text: str) -> Decimal:
    """The field's number; what is none is refused in the words of every number field and option
    (``not_a_number_said``; a misplaced comma with the reason: a decimal comma is said, not guessed;
    an exponent, ``_in_digits``)."""
    _in_digits(label, text)
    try:
        return typed_decimal(text)
    except NotANumber as exc:
        raise ValueError(as_sentence(not_a_number_said(text, exc.hint, name=label))) from None
