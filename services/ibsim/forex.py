"""Forex pairs on IDEALPRO: contracts, quotes, what-if answers and conversions.

A pair is an ``Instrument`` with ``sec_type="CASH"``, keyed in the simulator's universe by its
local symbol (``EUR.USD``); on the wire its ``symbol`` is the base currency (``EUR``), its
``currency`` the quote currency, its exchange ``IDEALPRO`` (as TWS describes it). Quantities
are in the base currency: a fill of BUY 20000 EUR.USD at 1.0851 credits EUR 20000 and debits
USD 21702 (plus the commission, in USD). The balances per currency are the holding (IB's
account values CashBalance per currency, valued in USD for NetLiquidation); the pair's position
is reported as IB does (quantity in the base currency, average cost in the quote currency) and
margined at FOREX_MARGIN_RATIO, but not counted again in the position value. IB's forex commission is 0.2 basis points of the trade value,
at least USD 2 per order; forex margin is a few percent of the USD value.
"""

from __future__ import annotations

from decimal import Decimal

from services.ibsim.model import Instrument

FOREX_EXCHANGE = "IDEALPRO"
FOREX_MARGIN_RATIO = Decimal("0.03")
COMMISSION_RATE = Decimal("0.00002")  # 0.2 basis points
MIN_COMMISSION_USD = Decimal("2")
COMMISSION_CURRENCY = "USD"

# local symbol, conId (IB's), mid price, min tick, long name
_PAIRS = (
    ("EUR.USD", 12087792, "1.0850", "0.00005", "European Monetary Union Euro"),
    ("GBP.USD", 12087797, "1.2700", "0.00005", "British pound"),
    ("EUR.GBP", 12087807, "0.8545", "0.00005", "European Monetary Union Euro"),
    ("USD.JPY", 15016059, "150.25", "0.005", "US Dollar"),
    ("USD.CHF", 12087820, "0.8800", "0.00005", "US Dollar"),
    ("USD.CAD", 15016062, "1.3600", "0.00005", "US Dollar"),
    ("AUD.USD", 14433401, "0.6550", "0.00005", "Australian dollar"),
)


def forex_instruments() -> dict[str, Instrument]:
    return {
        pair: Instrument(
            symbol=pair,
            con_id=con_id,
            primary_exchange=FOREX_EXCHANGE,
            price=Decimal(price),
            long_name=name,
            currency=pair.split(".")[1],
            sec_type="CASH",
            min_tick=Decimal(tick),
        )
        for pair, con_id, price, tick, name in _PAIRS
    }


def pair_key(symbol: str, currency: str, local_symbol: str = "") -> str:
    """``EUR`` + ``USD`` (or the local symbol ``EUR.USD``) -> the universe key ``EUR.USD``."""
    if local_symbol and "." in local_symbol:
        return local_symbol.upper()
    return f"{symbol.upper()}.{currency.upper()}"


def usd_value(pair: str, quantity: Decimal, prices: dict[str, Decimal]) -> Decimal:
    """The USD value of ``quantity`` units of the pair's base currency."""
    base, quote = pair.split(".")
    if base == "USD":
        return abs(quantity)
    if quote == "USD":
        return abs(quantity) * prices[pair]
    cross = prices.get(f"{base}.USD")  # EUR.GBP: value the euros at EUR.USD
    if cross is None:
        raise KeyError(f"no USD rate for {base}")
    return abs(quantity) * cross


def commission_usd(value_usd: Decimal) -> Decimal:
    return max(value_usd * COMMISSION_RATE, MIN_COMMISSION_USD).quantize(Decimal("0.01"))
