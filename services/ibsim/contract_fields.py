"""How an instrument is written on the wire: its symbol, trading class and default exchange, the
11 contract fields that order, execution and position messages carry; and IB's time format.
Shared by messages.py and order_messages.py."""

from __future__ import annotations

from datetime import UTC, datetime

from services.ibsim.model import Instrument


def ib_time(moment: datetime) -> str:
    """``YYYYmmdd HH:MM:SS UTC``: a form both ib_async and ib_insync parse with its zone."""
    return moment.astimezone(UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"


def trading_class(instrument: Instrument) -> str:
    if instrument.sec_type == "CASH":
        return instrument.symbol  # EUR.USD
    return "NMS" if instrument.primary_exchange == "NASDAQ" else instrument.symbol


def wire_symbol(instrument: Instrument) -> str:
    """The contract's ``symbol`` on the wire: the base currency of a forex pair (EUR of EUR.USD)."""
    return instrument.symbol.split(".")[0] if instrument.sec_type == "CASH" else instrument.symbol


def default_exchange(instrument: Instrument) -> str:
    return "IDEALPRO" if instrument.sec_type == "CASH" else "SMART"


def contract11(instrument: Instrument, exchange: str | None = None) -> list[str]:
    if instrument.sec_type == "CASH":
        exchange = None  # a forex order's route is its market (IDEALPRO), whatever the default
    return [
        str(instrument.con_id),
        wire_symbol(instrument),
        instrument.sec_type,
        "",  # lastTradeDateOrContractMonth
        "0",  # strike
        "",  # right
        "",  # multiplier
        exchange or default_exchange(instrument),
        instrument.currency,
        instrument.symbol,  # localSymbol
        trading_class(instrument),
    ]
