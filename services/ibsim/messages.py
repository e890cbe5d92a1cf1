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
from services.ibsim.model import Instrument, SimExecution, SimOrder
from services.ibsim.versions import MAX_SERVER_VERSION, MIN_SERVER_VERSION

__all__ = ["MAX_SERVER_VERSION", "MIN_SERVER_VERSION"]

# message ids (server -> client)
TICK_PRICE = "1"
TICK_SIZE = "2"
ORDER_STATUS = "3"
ERR_MSG = "4"
OPEN_ORDER = "5"
ACCT_VALUE = "6"
PORTFOLIO_VALUE = "7"
ACCT_UPDATE_TIME = "8"
NEXT_VALID_ID = "9"
CONTRACT_DATA = "10"
EXECUTION_DATA = "11"
MANAGED_ACCTS = "15"
CURRENT_TIME = "49"
CONTRACT_DATA_END = "52"
OPEN_ORDER_END = "53"
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
COMPLETED_ORDER = "101"
COMPLETED_ORDERS_END = "102"

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
                     exchange: str | None = None) -> list[str]:
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
        "US/Eastern" if instrument.currency == "USD" else "MET" if instrument.currency == "EUR" else "GB",
        "",  # tradingHours
        "",  # liquidHours
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


# --- orders --------------------------------------------------------------------------------


def _contract11(instrument: Instrument, exchange: str | None = None) -> list[str]:
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


def order_status(order: SimOrder, server_version: int = MAX_SERVER_VERSION) -> list[str]:
    fields = [ORDER_STATUS]
    if server_version < v.MARKET_CAP_PRICE:
        fields.append("6")  # message version
    fields += [
        str(order.order_id),
        order.status,
        fmt(order.filled),
        fmt(order.remaining),
        fmt(order.avg_fill_price),
        str(order.perm_id),
        "0",  # parentId
        fmt(order.last_fill_price),
        str(order.client_id),
        "",  # whyHeld
    ]
    if server_version >= v.MARKET_CAP_PRICE:
        fields.append("0")  # mktCapPrice
    return fields


class WhatIfState:
    """Margin and commission figures of a what-if answer (strings as IB sends them)."""

    __slots__ = (
        "commission",
        "currency",
        "equity_after",
        "equity_before",
        "equity_change",
        "init_after",
        "init_before",
        "init_change",
        "maint_after",
        "maint_before",
        "maint_change",
    )

    def __init__(self, *, init_before: Decimal, maint_before: Decimal, equity_before: Decimal,
                 init_change: Decimal, maint_change: Decimal, equity_change: Decimal,
                 commission: Decimal, currency: str = "USD") -> None:
        self.init_before = init_before
        self.maint_before = maint_before
        self.equity_before = equity_before
        self.init_change = init_change
        self.maint_change = maint_change
        self.equity_change = equity_change
        self.init_after = init_before + init_change
        self.maint_after = maint_before + maint_change
        self.equity_after = equity_before + equity_change
        self.commission = commission
        self.currency = currency


def open_order(order: SimOrder, instrument: Instrument, server_version: int = MAX_SERVER_VERSION,
               what_if: WhatIfState | None = None) -> list[str]:
    """openOrder (5): 127 fields at server version 178 for a plain STK MKT/LMT order."""
    sv = server_version
    fields = [OPEN_ORDER]
    if sv < v.ORDER_CONTAINER:
        fields.append("34")  # message version (the decoders gate on 20..34)
    fields += [str(order.order_id), *_contract11(instrument, exchange=order.exchange)]
    fields += [
        order.action,
        fmt(order.quantity),
        order.order_type,
        fmt(order.limit_price),
        "",  # auxPrice
        order.tif,
        "",  # ocaGroup
        order.account,
        "O",  # openClose
        "0",  # origin (customer)
        order.order_ref,
        str(order.client_id),
        str(order.perm_id),
        fmt(order.outside_rth),
        "0",  # hidden
        "",  # discretionaryAmt
        "",  # goodAfterTime
        "",  # sharesAllocation (deprecated)
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if sv < v.FA_PROFILE_DESUPPORT:
        fields.append("")  # faProfile
    if sv >= v.MODELS_SUPPORT:
        fields.append("")  # modelCode
    fields += [
        "",  # goodTillDate
        "",  # rule80A
        "",  # percentOffset
        "",  # settlingFirm
        "0",  # shortSaleSlot
        "",  # designatedLocation
        "-1",  # exemptCode
        "0",  # auctionStrategy
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        "0",  # blockOrder
        "0",  # sweepToFill
        "0",  # allOrNone
        "",  # minQty
        "3",  # ocaType
        "0",  # eTradeOnly
        "0",  # firmQuoteOnly
        "",  # nbboPriceCap
        "0",  # parentId
        "0",  # triggerMethod
        "",  # volatility
        "0",  # volatilityType
        "",  # deltaNeutralOrderType (empty: no delta-neutral block follows)
        "",  # deltaNeutralAuxPrice
    ]
    fields += [
        "0",  # continuousUpdate
        "0",  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # basisPoints
        "",  # basisPointsType
        "",  # comboLegsDescrip
        "0",  # combo legs
        "0",  # order combo legs
        "0",  # smart combo routing params
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement (empty: no scale block)
        "",  # hedgeType (empty: no hedgeParam)
        "0",  # optOutSmartRouting
        "",  # clearingAccount
        "",  # clearingIntent
        "0",  # notHeld
        "0",  # deltaNeutralContract present
        "",  # algoStrategy (empty: no algo params)
        "0",  # solicited
        fmt(what_if is not None),
        order.status if what_if is None else "PreSubmitted",
    ]
    margin_fields = 9 if sv >= v.WHAT_IF_EXT_FIELDS else 3  # before, change, after / after only
    if what_if is None:
        fields += [""] * margin_fields + ["", "", "", "", ""]
    else:
        margins = [
            fmt(what_if.init_before), fmt(what_if.maint_before), fmt(what_if.equity_before),
            fmt(what_if.init_change), fmt(what_if.maint_change), fmt(what_if.equity_change),
            fmt(what_if.init_after), fmt(what_if.maint_after), fmt(what_if.equity_after),
        ]
        fields += [*margins[-margin_fields:], fmt(what_if.commission), "", "", what_if.currency, ""]
    fields += ["0", "0"]  # randomizeSize, randomizePrice
    if sv >= v.PEGGED_TO_BENCHMARK:
        fields += [
            "0",  # conditions
            "",  # adjustedOrderType
            "",  # triggerPrice
            "",  # trailStopPrice
            "",  # lmtPriceOffset
            "",  # adjustedStopPrice
            "",  # adjustedStopLimitPrice
            "",  # adjustedTrailingAmount
            "0",  # adjustableTrailingUnit
        ]
    if sv >= v.SOFT_DOLLAR_TIER:
        fields += ["", "", ""]  # softDollarTier name, value, displayName
    if sv >= v.CASH_QTY:
        fields.append("")  # cashQty
    if sv >= v.AUTO_PRICE_FOR_HEDGE:
        fields.append("0")  # dontUseAutoPriceForHedge
    if sv >= v.ORDER_CONTAINER:
        fields.append("0")  # isOmsContainer
    if sv >= v.D_PEG_ORDERS:
        fields.append("0")  # discretionaryUpToLimitPrice
    if sv >= v.PRICE_MGMT_ALGO:
        fields.append("0")  # usePriceMgmtAlgo
    if sv >= v.DURATION:
        fields.append("")  # duration
    if sv >= v.POST_TO_ATS:
        fields.append("0")  # postToAts
    if sv >= v.AUTO_CANCEL_PARENT:
        fields.append("0")  # autoCancelParent
    if sv >= v.PEGBEST_PEGMID_OFFSETS:
        fields += ["", "", "", "", ""]  # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsets
    return fields


def open_order_end() -> list[str]:
    return [OPEN_ORDER_END, "1"]


def completed_order(order: SimOrder, instrument: Instrument, server_version: int = MAX_SERVER_VERSION) -> list[str]:
    """completedOrder (101): no orderId on the wire; the client keys it by permId."""
    sv = server_version
    fields = [COMPLETED_ORDER, *_contract11(instrument, exchange=order.exchange)]
    fields += [
        order.action,
        fmt(order.quantity),
        order.order_type,
        fmt(order.limit_price),
        "",  # auxPrice
        order.tif,
        "",  # ocaGroup
        order.account,
        "O",  # openClose
        "0",  # origin
        order.order_ref,
        str(order.perm_id),
        fmt(order.outside_rth),
        "0",  # hidden
        "",  # discretionaryAmt
        "",  # goodAfterTime
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if sv < v.FA_PROFILE_DESUPPORT:
        fields.append("")  # faProfile
    fields += [
        "",  # modelCode
        "",  # goodTillDate
        "",  # rule80A
        "",  # percentOffset
        "",  # settlingFirm
        "0",  # shortSaleSlot
        "",  # designatedLocation
        "-1",  # exemptCode
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        "0",  # sweepToFill
        "0",  # allOrNone
        "",  # minQty
        "3",  # ocaType
        "0",  # triggerMethod
        "",  # volatility
        "0",  # volatilityType
        "",  # deltaNeutralOrderType
        "",  # deltaNeutralAuxPrice
        "0",  # continuousUpdate
        "0",  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # comboLegsDescrip
        "0",  # combo legs
        "0",  # order combo legs
        "0",  # smart combo routing params
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement
        "",  # hedgeType
        "",  # clearingAccount
        "",  # clearingIntent
        "0",  # notHeld
        "0",  # deltaNeutralContract present
        "",  # algoStrategy
        "0",  # solicited
        order.status,
        "0",  # randomizeSize
        "0",  # randomizePrice
        "0",  # conditions
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        "",  # cashQty
        "0",  # dontUseAutoPriceForHedge
        "0",  # isOmsContainer
        "",  # autoCancelDate
        fmt(order.filled),  # filledQuantity
        "0",  # refFuturesConId
        "0",  # autoCancelParent
        "",  # shareholder
        "0",  # imbalanceOnly
        "0",  # routeMarketableToBbo
        "0",  # parentPermId
        ib_time(order.completed_at) if order.completed_at else "",
        order.completed_status,
    ]
    if sv >= v.PEGBEST_PEGMID_OFFSETS:
        fields += ["", "", "", "", ""]
    return fields


def completed_orders_end() -> list[str]:
    return [COMPLETED_ORDERS_END]


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
        *_contract11(instrument, exchange=execution.exchange),
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
    return [POSITION_DATA, "3", account, *_contract11(instrument, exchange=exchange),
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
