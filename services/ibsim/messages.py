"""Encoders for every message the simulator sends: small pure functions returning the wire
fields (strings) of one message at a given server version.

Layouts follow the installed ib_async decoder (``ib_async/decoder.py``) and IB's ``ibapi``;
see docs/simulator.md. Unset numbers go out as ``""`` (the decoders map that to their
default), booleans as ``0``/``1``. Each encoder has a golden-frame test in tests/sim.
Every encoder takes the session's server version (100..178, see ``versions.py``) and mirrors
the client decoders' ``serverVersion`` branches: ib_async's for 157 and up, IB's official
``ibapi`` (9.81 and 10.x) for the older layouts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.ibsim import versions as v
from services.ibsim.codec import UNSET_DOUBLE_TEXT, fmt
from services.ibsim.contract_fields import contract11, default_exchange, ib_time, trading_class, wire_symbol
from services.ibsim.model import Instrument, SimExecution
from services.ibsim.order_messages import (
    COMPLETED_ORDER,
    COMPLETED_ORDERS_END,
    OPEN_ORDER,
    OPEN_ORDER_END,
    ORDER_STATUS,
    WhatIfState,
    completed_order,
    completed_orders_end,
    open_order,
    open_order_end,
    order_status,
)
from services.ibsim.versions import MAX_SERVER_VERSION, MIN_SERVER_VERSION

# re-exported: callers write m.open_order(...), m.wire_symbol(...) for every message alike
__all__ = [
    "COMPLETED_ORDER",
    "COMPLETED_ORDERS_END",
    "MAX_SERVER_VERSION",
    "MIN_SERVER_VERSION",
    "OPEN_ORDER",
    "OPEN_ORDER_END",
    "ORDER_STATUS",
    "WhatIfState",
    "completed_order",
    "completed_orders_end",
    "contract11",
    "default_exchange",
    "ib_time",
    "open_order",
    "open_order_end",
    "order_status",
    "trading_class",
    "wire_symbol",
]

# message ids (server -> client); the order messages' ids are in order_messages.py
TICK_PRICE = "1"
TICK_SIZE = "2"
ERR_MSG = "4"
ACCT_VALUE = "6"
PORTFOLIO_VALUE = "7"
ACCT_UPDATE_TIME = "8"
NEXT_VALID_ID = "9"
CONTRACT_DATA = "10"
EXECUTION_DATA = "11"
MANAGED_ACCTS = "15"
CURRENT_TIME = "49"
CONTRACT_DATA_END = "52"
ACCT_DOWNLOAD_END = "54"
EXECUTION_DATA_END = "55"
TICK_SNAPSHOT_END = "57"
MARKET_DATA_TYPE = "58"
COMMISSION_REPORT = "59"
POSITION_DATA = "61"
POSITION_END = "62"
ACCOUNT_SUMMARY = "63"
ACCOUNT_SUMMARY_END = "64"
ACCOUNT_UPDATE_MULTI = "73"
ACCOUNT_UPDATE_MULTI_END = "74"
TICK_REQ_PARAMS = "81"
PNL = "94"
PNL_SINGLE = "95"

# tick types
BID_SIZE, BID, ASK, ASK_SIZE, LAST, LAST_SIZE, HIGH, LOW, VOLUME, CLOSE = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
OPEN = 14
# what TWS sends instead when the data is delayed (market data types 3 and 4)
DELAYED_BID, DELAYED_ASK, DELAYED_LAST = 66, 67, 68
DELAYED_BID_SIZE, DELAYED_ASK_SIZE, DELAYED_LAST_SIZE = 69, 70, 71
DELAYED_HIGH, DELAYED_LOW, DELAYED_VOLUME, DELAYED_CLOSE, DELAYED_OPEN = 72, 73, 74, 75, 76
DELAYED_TICK = {
    BID: DELAYED_BID, ASK: DELAYED_ASK, LAST: DELAYED_LAST, BID_SIZE: DELAYED_BID_SIZE, ASK_SIZE: DELAYED_ASK_SIZE,
    LAST_SIZE: DELAYED_LAST_SIZE, HIGH: DELAYED_HIGH, LOW: DELAYED_LOW, VOLUME: DELAYED_VOLUME, CLOSE: DELAYED_CLOSE,
    OPEN: DELAYED_OPEN,
}


# --- connection ------------------------------------------------------------------------


def handshake(server_version: int, connection_time: datetime) -> list[str]:
    return [str(server_version), ib_time(connection_time)]


def managed_accounts(accounts: list[str] | tuple[str, ...]) -> list[str]:
    return [MANAGED_ACCTS, "1", ",".join(accounts)]


def next_valid_id(order_id: int) -> list[str]:
    return [NEXT_VALID_ID, "1", str(order_id)]


def error(req_id: int, code: int, message: str, server_version: int = MAX_SERVER_VERSION) -> list[str]:
    fields = [ERR_MSG, "2", str(req_id), str(code), message]
    if server_version >= 166:
        fields.append("")  # advancedOrderRejectJson
    return fields


def current_time(epoch_seconds: int) -> list[str]:
    return [CURRENT_TIME, "1", str(epoch_seconds)]


# --- contracts and market data -----------------------------------------------------------


def contract_details(req_id: int, instrument: Instrument, server_version: int = MAX_SERVER_VERSION,
                     exchange: str | None = None, trading_hours: str = "", liquid_hours: str = "",
                     time_zone: str | None = None) -> list[str]:
    sv = server_version
    cash = instrument.sec_type == "CASH"
    if cash:
        stock_type = ""
    elif "ETF" in instrument.long_name.upper() or "TRUST" in instrument.long_name.upper():
        stock_type = "ETF"
    else:
        stock_type = "COMMON"
    exchange = exchange or default_exchange(instrument)
    fields = [CONTRACT_DATA]
    if sv < v.SIZE_RULES:
        fields.append("8")  # message version
    fields += [
        str(req_id),
        wire_symbol(instrument),
        instrument.sec_type,
        "",  # lastTradeDate
        "0",  # strike
        "",  # right
        exchange,
        instrument.currency,
        instrument.symbol,  # localSymbol
        trading_class(instrument),  # marketName
        trading_class(instrument),
        str(instrument.con_id),
        fmt(instrument.min_tick),
    ]
    if v.MD_SIZE_MULTIPLIER <= sv < v.SIZE_RULES:
        fields.append("1")  # mdSizeMultiplier
    fields += [
        "",  # multiplier
        "LMT,MKT",
        exchange if cash else f"SMART,{instrument.primary_exchange}",
        "1",  # priceMagnifier
        "0",  # underConId
        instrument.long_name,
        instrument.primary_exchange,
        "",  # contractMonth
        "",  # industry
        "",  # category
        "",  # subcategory
        time_zone or ("US/Eastern" if instrument.currency == "USD" else "MET" if instrument.currency == "EUR" else "GB"),
        trading_hours,
        liquid_hours,
        "",  # evRule
        "",  # evMultiplier
        "0",  # numSecIds
    ]
    if sv >= v.AGG_GROUP:
        fields.append("1")  # aggGroup
    if sv >= v.UNDERLYING_INFO:
        fields += ["", ""]  # underSymbol, underSecType
    if sv >= v.MARKET_RULES:
        fields.append("239" if cash else "26")  # marketRuleIds
    if sv >= v.REAL_EXPIRATION_DATE:
        fields.append("")  # realExpirationDate
    if sv >= v.STOCK_TYPE:
        fields.append(stock_type)
    if v.FRACTIONAL_SIZE_SUPPORT <= sv < v.SIZE_RULES:
        fields.append("1")  # sizeMinTick (ib_async reads it as suggestedSizeIncrement)
    if sv >= v.SIZE_RULES:
        fields += ["1", "1", "1" if cash else "100"]  # minSize, sizeIncrement, suggestedSizeIncrement
    return fields


def contract_details_end(req_id: int) -> list[str]:
    return [CONTRACT_DATA_END, "1", str(req_id)]


def tick_price(req_id: int, tick_type: int, price: Decimal, size: Decimal | None, attr_mask: int = 0) -> list[str]:
    return [TICK_PRICE, "6", str(req_id), str(tick_type), fmt(price), fmt(size) if size is not None else "", str(attr_mask)]


def tick_size(req_id: int, tick_type: int, size: Decimal) -> list[str]:
    return [TICK_SIZE, "6", str(req_id), str(tick_type), fmt(size)]


def tick_snapshot_end(req_id: int) -> list[str]:
    return [TICK_SNAPSHOT_END, "1", str(req_id)]


def market_data_type(req_id: int, data_type: int) -> list[str]:
    return [MARKET_DATA_TYPE, "1", str(req_id), str(data_type)]


def tick_req_params(req_id: int, min_tick: Decimal, bbo_exchange: str, snapshot_permissions: int) -> list[str]:
    """tickReqParams (81, no version field): sent first for every market data request."""
    return [TICK_REQ_PARAMS, str(req_id), fmt(min_tick), bbo_exchange, str(snapshot_permissions)]


# --- P&L subscriptions ---------------------------------------------------------------------


def pnl(req_id: int, daily: Decimal, unrealized: Decimal, realized: Decimal,
        server_version: int = MAX_SERVER_VERSION) -> list[str]:
    fields = [PNL, str(req_id), fmt(daily)]
    if server_version >= v.UNREALIZED_PNL:
        fields.append(fmt(unrealized))
    if server_version >= v.REALIZED_PNL:
        fields.append(fmt(realized))
    return fields


def pnl_single(req_id: int, position: Decimal, daily: Decimal, unrealized: Decimal, realized: Decimal,
               value: Decimal, server_version: int = MAX_SERVER_VERSION) -> list[str]:
    fields = [PNL_SINGLE, str(req_id), fmt(position), fmt(daily)]
    if server_version >= v.UNREALIZED_PNL:
        fields.append(fmt(unrealized))
    if server_version >= v.REALIZED_PNL:
        fields.append(fmt(realized))
    fields.append(fmt(value))
    return fields




# --- orders: order_messages.py ---------------------------------------------------------------


# --- executions ------------------------------------------------------------------------------


def exec_details(req_id: int, execution: SimExecution, instrument: Instrument,
                 server_version: int = MAX_SERVER_VERSION) -> list[str]:
    sv = server_version
    fields = [EXECUTION_DATA]
    if sv < v.LAST_LIQUIDITY:
        fields.append("10")  # message version
    fields += [
        str(req_id),
        str(execution.order_id),
        *contract11(instrument, exchange=execution.exchange),
        execution.exec_id,
        ib_time(execution.time),
        execution.account,
        execution.exchange,
        execution.side,
        fmt(execution.shares),
        fmt(execution.price),
        str(execution.perm_id),
        str(execution.client_id),
        "0",  # liquidation
        fmt(execution.cum_qty),
        fmt(execution.avg_price),
        execution.order_ref,
        "",  # evRule
        "",  # evMultiplier
    ]
    if sv >= v.MODELS_SUPPORT:
        fields.append("")  # modelCode
    if sv >= v.LAST_LIQUIDITY:
        fields.append("2")  # lastLiquidity: removed liquidity
    if sv >= v.PENDING_PRICE_REVISION:
        fields.append("0")  # pendingPriceRevision
    return fields


def exec_details_end(req_id: int) -> list[str]:
    return [EXECUTION_DATA_END, "1", str(req_id)]


def commission_report(exec_id: str, commission: Decimal, currency: str, realized_pnl: Decimal | None) -> list[str]:
    return [
        COMMISSION_REPORT,
        "1",
        exec_id,
        fmt(commission),
        currency,
        UNSET_DOUBLE_TEXT if realized_pnl is None else fmt(realized_pnl),
        UNSET_DOUBLE_TEXT,  # yield
        "",  # yieldRedemptionDate
    ]


# --- portfolio and account ---------------------------------------------------------------------


def position(account: str, instrument: Instrument, quantity: Decimal, avg_cost: Decimal) -> list[str]:
    exchange = instrument.primary_exchange if instrument.sec_type == "STK" else default_exchange(instrument)
    return [POSITION_DATA, "3", account, *contract11(instrument, exchange=exchange),
            fmt(quantity), fmt(avg_cost)]


def position_end() -> list[str]:
    return [POSITION_END, "1"]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> list[str]:
    return [ACCOUNT_SUMMARY, "1", str(req_id), account, tag, value, currency]


def account_summary_end(req_id: int) -> list[str]:
    return [ACCOUNT_SUMMARY_END, "1", str(req_id)]


def update_account_value(key: str, value: str, currency: str, account: str) -> list[str]:
    return [ACCT_VALUE, "2", key, value, currency, account]


def update_portfolio(instrument: Instrument, quantity: Decimal, market_price: Decimal, market_value: Decimal,
                     avg_cost: Decimal, unrealized_pnl: Decimal, realized_pnl: Decimal, account: str) -> list[str]:
    return [
        PORTFOLIO_VALUE,
        "8",
        str(instrument.con_id),
        wire_symbol(instrument),
        instrument.sec_type,
        "",  # lastTradeDateOrContractMonth
        "0",  # strike
        "",  # right
        "",  # multiplier
        instrument.primary_exchange,
        instrument.currency,
        instrument.symbol,
        trading_class(instrument),
        fmt(quantity),
        fmt(market_price),
        fmt(market_value),
        fmt(avg_cost),
        fmt(unrealized_pnl),
        fmt(realized_pnl),
        account,
    ]


def update_account_time(moment: datetime) -> list[str]:
    return [ACCT_UPDATE_TIME, "1", moment.astimezone(UTC).strftime("%H:%M")]


def account_download_end(account: str) -> list[str]:
    return [ACCT_DOWNLOAD_END, "1", account]


def account_update_multi(req_id: int, account: str, model_code: str, key: str, value: str, currency: str) -> list[str]:
    return [ACCOUNT_UPDATE_MULTI, "1", str(req_id), account, model_code, key, value, currency]


def account_update_multi_end(req_id: int) -> list[str]:
    return [ACCOUNT_UPDATE_MULTI_END, "1", str(req_id)]
