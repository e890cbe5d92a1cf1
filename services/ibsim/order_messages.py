"""Encoders of the order messages: orderStatus, openOrder (with the what-if state),
completedOrder and their end markers, at a given server version (see messages.py for the
conventions; messages.py re-exports everything here)."""

from __future__ import annotations

from decimal import Decimal

from services.ibsim import versions as v
from services.ibsim.codec import fmt
from services.ibsim.contract_fields import contract11, ib_time
from services.ibsim.model import Instrument, SimOrder
from services.ibsim.versions import MAX_SERVER_VERSION

# message ids (server -> client) of the order messages; messages.py lists the rest
ORDER_STATUS = "3"
OPEN_ORDER = "5"
OPEN_ORDER_END = "53"
COMPLETED_ORDER = "101"
COMPLETED_ORDERS_END = "102"


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
    fields += [str(order.order_id), *contract11(instrument, exchange=order.exchange)]
    fields += [
        order.action,
        fmt(order.quantity),
        order.order_type,
        fmt(order.limit_price),
        fmt(order.stop_price),  # auxPrice
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
    fields = [COMPLETED_ORDER, *contract11(instrument, exchange=order.exchange)]
    fields += [
        order.action,
        fmt(order.quantity),
        order.order_type,
        fmt(order.limit_price),
        fmt(order.stop_price),  # auxPrice
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
