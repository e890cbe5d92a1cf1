"""ContractSpec <-> ib_async contracts, and the exchange rates the account reports.

Qualification asks IB for exactly the listing a row names (symbol, type, exchange, primary
exchange, currency) and then checks that what came back is that listing: a contract in another
currency or on another market is refused, never traded in its place.

Exchange rates come from the account summary that the adapter already keeps for the
NetLiquidation (ib_async asks for it once per connection, with the ``$LEDGER:ALL`` tags, and
TWS keeps it updated): the ``ExchangeRate`` value per currency is the number of base-currency
units one unit of that currency is worth, and the currency of ``NetLiquidation`` is the base
currency. See docs/currencies.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.core.contracts import ContractSpec, contract_problem

from .errors import BrokerError


@dataclass(frozen=True, slots=True)
class FxRates:
    """The account's base currency and, per other currency, base units per unit. ``as_of``:
    None for the broker's rates of now; else when the console stored them (what a window not
    connected yet, or a command, converts at: ``services.books.stored_rates_by_account``)."""

    base: str = "USD"
    rates: dict[str, Decimal] = field(default_factory=dict)
    as_of: datetime | None = None

    def to_dict(self) -> dict[str, str]:
        return {c: str(r) for c, r in sorted(self.rates.items())}


def ib_contract(spec: ContractSpec, *, con_id: int = 0, primary_exchange: str | None = None):
    """The ib_async contract that names ``spec`` (a qualified one when ``con_id`` is known)."""
    from ib_async import Stock

    problem = contract_problem(spec)
    if problem is not None:
        raise BrokerError(f"{spec.key}: {problem[1]}", code="unsupported_contract")
    return Stock(spec.symbol, spec.exchange, spec.currency, conId=con_id,
                 primaryExchange=primary_exchange if primary_exchange is not None else spec.primary_exchange)


def is_listing(spec: ContractSpec, contract: Any) -> bool:
    """True when the qualified ``contract`` is the listing ``spec`` names."""
    return (
        contract.symbol == spec.symbol
        and (contract.secType or "STK") == spec.sec_type
        and (contract.currency or "") == spec.currency
        and spec.exchange in ("SMART", contract.exchange, contract.primaryExchange)
        and spec.primary_exchange in ("", contract.primaryExchange)
    )


def spec_of_ib(contract: Any) -> ContractSpec:
    """The listing of a contract IB reported (a position, an execution): its currency and market."""
    return ContractSpec.of(contract.symbol, contract.secType, contract.primaryExchange or contract.exchange or "SMART",
                           "", contract.currency)


def fx_from_account_values(values: Iterable[Any]) -> FxRates:
    base = ""
    rates: dict[str, Decimal] = {}
    for value in values:
        if value.tag == "NetLiquidation" and value.currency not in ("", "BASE"):
            base = value.currency
        elif value.tag == "ExchangeRate" and value.currency not in ("", "BASE"):
            try:
                rate = Decimal(str(value.value))
            except (InvalidOperation, ValueError):
                continue
            if rate.is_finite() and rate > 0:
                rates[value.currency] = rate
    base = base or "USD"
    rates.pop(base, None)
    return FxRates(base, rates)
