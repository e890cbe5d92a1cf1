"""Which instrument a row names: the contract specification and what the console can trade.

A snapshot row ``SAP,0.1,STK,IBIS,EUR`` names the Xetra listing in euros, not the US one in
dollars. :class:`ContractSpec` carries that from the row to qualification, orders and fills;
its :attr:`~ContractSpec.key` names the listing wherever a symbol alone would be ambiguous
(positions, prices, the builder's and the risk engine's maps), so that a same-named US and EUR
listing held at once never merge.

The key is the bare symbol for a US stock (currency USD: how every existing row and position is
keyed) and ``SYMBOL@VENUE:CUR`` otherwise, where the venue is the primary exchange when one is
given, else the exchange (``SAP@IBIS:EUR`` for both ``SMART`` + primary ``IBIS`` and a direct
``IBIS`` row: one listing, two routes). Non-stock types add ``~TYPE``; the console refuses them
anyway (:func:`contract_problem`), never trades something else in their place.

Exchange rates: :func:`rate_to_base` converts an amount in a listing's currency to the account's
base currency with the broker's rate (units of base per unit of the currency, as IB reports the
``ExchangeRate`` account value). See docs/currencies.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

DEFAULT_SEC_TYPE = "STK"
DEFAULT_EXCHANGE = "SMART"
DEFAULT_CURRENCY = "USD"
US_CURRENCY = "USD"

# The console trades stocks only: options and futures need multipliers, expiries and other
# risk rules than the ones it has.
SUPPORTED_SEC_TYPES = frozenset({"STK"})

# IB exchange codes the console knows, with the currencies their stocks trade in. SMART (IB's
# router) reaches every market; a non-US SMART row should name its primary exchange.
EXCHANGE_CURRENCIES: dict[str, frozenset[str]] = {
    "SMART": frozenset({"USD", "EUR", "GBP", "CHF", "CAD", "JPY", "HKD", "AUD", "SEK", "DKK", "NOK"}),
    # United States
    "NYSE": frozenset({"USD"}), "NASDAQ": frozenset({"USD"}), "ISLAND": frozenset({"USD"}),
    "ARCA": frozenset({"USD"}), "AMEX": frozenset({"USD"}), "BATS": frozenset({"USD"}), "IEX": frozenset({"USD"}),
    # Europe
    "IBIS": frozenset({"EUR"}), "FWB": frozenset({"EUR"}), "SBF": frozenset({"EUR"}), "AEB": frozenset({"EUR"}),
    "BVME": frozenset({"EUR"}), "BM": frozenset({"EUR"}), "ENEXT.BE": frozenset({"EUR"}),
    "LSE": frozenset({"GBP"}), "EBS": frozenset({"CHF"}),
    "SFB": frozenset({"SEK"}), "CPH": frozenset({"DKK"}), "OSE": frozenset({"NOK"}),
    # elsewhere
    "TSE": frozenset({"CAD"}), "TSEJ": frozenset({"JPY"}), "SEHK": frozenset({"HKD"}), "ASX": frozenset({"AUD"}),
}


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """What a row names: symbol, security type, (routing) exchange, primary exchange, currency."""

    symbol: str
    sec_type: str = DEFAULT_SEC_TYPE
    exchange: str = DEFAULT_EXCHANGE
    primary_exchange: str = ""
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def of(cls, symbol: str, sec_type: str | None = None, exchange: str | None = None,
           primary_exchange: str | None = None, currency: str | None = None) -> ContractSpec:
        """Upper-cased, blanks replaced by the defaults."""
        return cls(
            symbol.strip().upper(),
            (sec_type or "").strip().upper() or DEFAULT_SEC_TYPE,
            (exchange or "").strip().upper() or DEFAULT_EXCHANGE,
            (primary_exchange or "").strip().upper(),
            (currency or "").strip().upper() or DEFAULT_CURRENCY,
        )

    @classmethod
    def from_key(cls, key: str) -> ContractSpec:
        """The inverse of :attr:`key` (for a held listing known only by its key)."""
        text, _, sec_type = key.partition("~")
        symbol, at, rest = text.partition("@")
        if not at:
            return cls(symbol, sec_type or DEFAULT_SEC_TYPE)
        venue, _, currency = rest.partition(":")
        return cls(symbol, sec_type or DEFAULT_SEC_TYPE, venue or DEFAULT_EXCHANGE, "", currency or DEFAULT_CURRENCY)

    @property
    def venue(self) -> str:
        """The listing's market: the primary exchange if given, else the exchange."""
        return self.primary_exchange or self.exchange

    @property
    def key(self) -> str:
        base = self.symbol if self.currency == US_CURRENCY else f"{self.symbol}@{self.venue}:{self.currency}"
        return base if self.sec_type == DEFAULT_SEC_TYPE else f"{base}~{self.sec_type}"

    def __str__(self) -> str:
        return self.key

    def to_dict(self) -> dict[str, str]:
        return {"symbol": self.symbol, "sec_type": self.sec_type, "exchange": self.exchange,
                "primary_exchange": self.primary_exchange, "currency": self.currency}


def spec_of(item) -> ContractSpec:
    """The spec of a listing key (a bare symbol: the US stock) or of anything with ``symbol`` and
    optional ``sec_type``, ``exchange``, ``primary_exchange``, ``currency`` attributes (snapshot
    items, targets, drafts, order rows)."""
    if isinstance(item, ContractSpec):
        return item
    if isinstance(item, str):
        return ContractSpec.from_key(item.strip().upper())
    return ContractSpec.of(item.symbol, getattr(item, "sec_type", None), getattr(item, "exchange", None),
                           getattr(item, "primary_exchange", None), getattr(item, "currency", None))


def contract_problem(spec: ContractSpec) -> tuple[str, str] | None:
    """(column, message) when the console cannot trade this spec, else None."""
    if spec.sec_type not in SUPPORTED_SEC_TYPES:
        return "sec_type", f"security type {spec.sec_type} is not supported (stocks only: {', '.join(sorted(SUPPORTED_SEC_TYPES))})"
    for column, code in (("exchange", spec.exchange), ("primary_exchange", spec.primary_exchange)):
        if code and code not in EXCHANGE_CURRENCIES:
            return column, f"unknown exchange {code}"
        if code and spec.currency not in EXCHANGE_CURRENCIES[code]:
            return column, f"{code} does not trade in {spec.currency}"
    if spec.primary_exchange == DEFAULT_EXCHANGE:
        return "primary_exchange", "SMART is a router, not a primary exchange"
    return None


class MissingRate(LookupError):
    """No exchange rate from the broker for a currency."""


def rate_to_base(currency: str, rates: Mapping[str, Decimal], base: str = US_CURRENCY) -> Decimal:
    """Units of the base currency per unit of ``currency`` (1 for the base itself)."""
    if currency == base:
        return Decimal(1)
    rate = rates.get(currency)
    if rate is None or not rate > 0:
        raise MissingRate(f"no exchange rate {currency}{base} from the broker")
    return rate


def rates_to_base(currencies: Iterable[str], rates: Mapping[str, Decimal],
                  base: str | None) -> tuple[dict[str, Decimal], tuple[str, ...]]:
    """:func:`rate_to_base` of each of ``currencies``: (currency -> its rate, 1 for the base
    itself; the currencies without one, in the order given). ``base`` None: the account's base
    currency is not known (no rates from the broker), so every currency is without a rate."""
    found: dict[str, Decimal] = {}
    missing: list[str] = []
    for currency in currencies:
        try:
            if base is None:
                raise MissingRate(currency)
            found[currency] = rate_to_base(currency, rates, base)
        except MissingRate:
            missing.append(currency)
    return found, tuple(missing)
