"""Encoders for every message the simulator sends: small pure functions returning the wire
fields (strings) of one message at a given server version.

Layouts follow the installed ib_async decoder (``ib_async/decoder.py``) and IB's ``ibapi``;
see docs/tws-protocol.md. Unset numbers go out as ``""`` (the decoders map that to their
default), booleans as ``0``/``1``. Each encoder has a golden-frame test in tests/sim.
Supported server versions: 176 (ib_insync 0.9.86), 177 and 178 (ib_async 2.x).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from services.ibsim.codec import UNSET_DOUBLE_TEXT, fmt
from services.ibsim.model import Instrument, SimExecution, SimOrder

MIN_SERVER_VERSION = 176
MAX_SERVER_VERSION = 178

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
COMPLETED_ORDER = "101"
COMPLETED_ORDERS_END = "102"

# tick types
BID_SIZE, BID, ASK, ASK_SIZE, LAST, LAST_SIZE, HIGH, LOW, VOLUME, CLOSE = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9


def ib_time(moment: datetime) -> str:
    """``YYYYmmdd HH:MM:SS UTC``: a form both ib_async and ib_insync parse with its zone."""
    return moment.astimezone(timezone.utc).strftime("%Y%m%d %H:%M:%S") + " UTC"


def trading_class(instrument: Instrument) -> str:
    return "NMS" if instrument.primary_exchange == "NASDAQ" else instrument.symbol


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
                     exchange: str = "SMART") -> list[str]:
    if server_version < 164:
        raise ValueError("contractDetails layouts below server version 164 are not implemented")
    stock_type = "ETF" if "ETF" in instrument.long_name.upper() or "TRUST" in instrument.long_name.upper() else "COMMON"
    return [
        CONTRACT_DATA,
        str(req_id),
        instrument.symbol,
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
        "",  # multiplier
        "LMT,MKT",
        f"SMART,{instrument.primary_exchange}",
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
        "1",  # aggGroup
        "",  # underSymbol
        "",  # underSecType
        "26",  # marketRuleIds
        "",  # realExpirationDate
        stock_type,
        "1",  # minSize
        "1",  # sizeIncrement
        "100",  # suggestedSizeIncrement
    ]


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


# --- orders --------------------------------------------------------------------------------


def _contract11(instrument: Instrument, exchange: str = "SMART") -> list[str]:
    return [
        str(instrument.con_id),
        instrument.symbol,
        instrument.sec_type,
        "",  # lastTradeDateOrContractMonth
        "0",  # strike
        "",  # right
        "",  # multiplier
        exchange,
        instrument.currency,
        instrument.symbol,  # localSymbol
        trading_class(instrument),
    ]


def order_status(order: SimOrder) -> list[str]:
    return [
        ORDER_STATUS,
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
        "0",  # mktCapPrice
    ]


class WhatIfState:
    """Margin and commission figures of a what-if answer (strings as IB sends them)."""

    __slots__ = ("init_before", "maint_before", "equity_before", "init_change", "maint_change",
                 "equity_change", "init_after", "maint_after", "equity_after", "commission")

    def __init__(self, *, init_before: Decimal, maint_before: Decimal, equity_before: Decimal,
                 init_change: Decimal, maint_change: Decimal, equity_change: Decimal,
                 commission: Decimal) -> None:
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


def open_order(order: SimOrder, instrument: Instrument, server_version: int = MAX_SERVER_VERSION,
               what_if: WhatIfState | None = None) -> list[str]:
    """openOrder (5): 127 fields at server version 178 for a plain STK MKT/LMT order."""
    sv = server_version
    fields = [OPEN_ORDER, str(order.order_id), *_contract11(instrument, exchange=order.exchange)]
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
    if sv < 177:
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
    if what_if is None:
        fields += [""] * 9 + ["", "", "", "", ""]
    else:
        fields += [
            fmt(what_if.init_before), fmt(what_if.maint_before), fmt(what_if.equity_before),
            fmt(what_if.init_change), fmt(what_if.maint_change), fmt(what_if.equity_change),
            fmt(what_if.init_after), fmt(what_if.maint_after), fmt(what_if.equity_after),
            fmt(what_if.commission), "", "", instrument.currency, "",
        ]
    fields += [
        "0",  # randomizeSize
        "0",  # randomizePrice
        "0",  # conditions
        "",  # adjustedOrderType
        "",  # triggerPrice
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        "",  # adjustedStopPrice
        "",  # adjustedStopLimitPrice
        "",  # adjustedTrailingAmount
        "0",  # adjustableTrailingUnit
        "",  # softDollarTier name
        "",  # softDollarTier value
        "",  # softDollarTier displayName
        "",  # cashQty
        "0",  # dontUseAutoPriceForHedge
        "0",  # isOmsContainer
        "0",  # discretionaryUpToLimitPrice
        "0",  # usePriceMgmtAlgo
    ]
    if sv >= 159:
        fields.append("")  # duration
    if sv >= 160:
        fields.append("0")  # postToAts
    if sv >= 162:
        fields.append("0")  # autoCancelParent
    if sv >= 170:
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
    if sv < 177:
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
    if sv >= 170:
        fields += ["", "", "", "", ""]
    return fields


def completed_orders_end() -> list[str]:
    return [COMPLETED_ORDERS_END]


# --- executions ------------------------------------------------------------------------------


def exec_details(req_id: int, execution: SimExecution, instrument: Instrument,
                 server_version: int = MAX_SERVER_VERSION) -> list[str]:
    fields = [
        EXECUTION_DATA,
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
        "",  # modelCode
        "2",  # lastLiquidity: removed liquidity
    ]
    if server_version >= 178:
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
    return [POSITION_DATA, "3", account, *_contract11(instrument, exchange=instrument.primary_exchange),
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
        instrument.symbol,
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
    return [ACCT_UPDATE_TIME, "1", moment.astimezone(timezone.utc).strftime("%H:%M")]


def account_download_end(account: str) -> list[str]:
    return [ACCT_DOWNLOAD_END, "1", account]


def account_update_multi(req_id: int, account: str, model_code: str, key: str, value: str, currency: str) -> list[str]:
    return [ACCOUNT_UPDATE_MULTI, "1", str(req_id), account, model_code, key, value, currency]


def account_update_multi_end(req_id: int) -> list[str]:
    return [ACCOUNT_UPDATE_MULTI_END, "1", str(req_id)]
