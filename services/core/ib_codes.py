"""The one table of IB message codes (errorCode of IB's ``error`` message) and what they mean for
the console. The adapter, the writer, the order state machine and the order actions all look
codes up here; the meaning of each code is in docs/ib-message-codes.md.

A code not in the table is an ``ERROR``: it never ends an order by itself (IB's orderStatus or
reconciliation decides) but it does answer a pending modification as refused, so nothing waits
out a timeout for an answer that already came.
"""

from __future__ import annotations

from enum import StrEnum


class CodeClass(StrEnum):
    INFORMATION = "information"  # a notice; never touches an order (10349 falsely cancels in ib_async)
    WARNING = "warning"  # about an order that keeps working (held for a locate, ...)
    CONNECTIVITY_LOST = "connectivity_lost"  # TWS/Gateway lost IB's servers
    CONNECTIVITY_RESTORED = "connectivity_restored"  # back (1101: subscriptions lost, 1102: kept)
    DATA_FARM = "data_farm"  # market-data / HMDS / sec-def farm status
    ORDER_REJECTED = "order_rejected"  # a new (or modified) order refused; IB's Cancelled/Inactive follows
    MODIFY_REFUSED = "modify_refused"  # a modification refused; the order stays as it was
    CANCEL_REFUSED = "cancel_refused"  # a cancel refused: unknown order, or already filled / not cancellable
    CANCEL_CONFIRMED = "cancel_confirmed"  # 202
    PACING = "pacing"  # more than ~50 messages per second; the message was dropped
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    REQUEST_ERROR = "request_error"  # a request IB could not read or validate
    ERROR = "error"  # any other code


C = CodeClass

IB_CODES: dict[int, CodeClass] = {
    100: C.PACING,  # Max rate of messages per second has been exceeded
    103: C.DUPLICATE_ORDER_ID,  # Duplicate order id
    104: C.MODIFY_REFUSED,  # Can't modify a filled order
    105: C.MODIFY_REFUSED,  # Order being modified does not match original order
    110: C.ORDER_REJECTED,  # The price does not conform to the minimum price variation
    135: C.MODIFY_REFUSED,  # Can't find order with id = (modify of an order IB does not know)
    161: C.CANCEL_REFUSED,  # Cancel attempted when order is not in a cancellable state
    165: C.INFORMATION,  # Historical market data service query message
    200: C.ORDER_REJECTED,  # No security definition has been found for the request
    201: C.ORDER_REJECTED,  # Order rejected - reason: ...
    202: C.CANCEL_CONFIRMED,  # Order Canceled - reason: ...
    203: C.ORDER_REJECTED,  # The security is not available or allowed for this account
    320: C.REQUEST_ERROR,  # Error reading request
    321: C.REQUEST_ERROR,  # Error validating request
    322: C.REQUEST_ERROR,  # Error processing request
    326: C.DUPLICATE_CLIENT_ID,  # Unable to connect as the client id is already in use
    382: C.ORDER_REJECTED,  # The size value cannot be more than ...
    383: C.ORDER_REJECTED,  # The size value cannot be more than ... (total)
    387: C.ORDER_REJECTED,  # Unsupported order type for this exchange and security type
    388: C.ORDER_REJECTED,  # Order size is smaller than the minimum requirement
    399: C.INFORMATION,  # Order message: warning, e.g. held until the market opens
    404: C.WARNING,  # Shares not available for short sale: held while IB locates them
    434: C.WARNING,  # The order size cannot be zero (ib_async treats it as a warning too)
    492: C.WARNING,  # Order not fillable outside regular trading hours (kept working)
    1100: C.CONNECTIVITY_LOST,  # Connectivity between IB and TWS has been lost
    1101: C.CONNECTIVITY_RESTORED,  # restored, data lost: resubscribe
    1102: C.CONNECTIVITY_RESTORED,  # restored, data maintained
    2103: C.DATA_FARM,  # Market data farm connection is broken
    2104: C.DATA_FARM,  # Market data farm connection is OK
    2105: C.DATA_FARM,  # HMDS data farm connection is broken
    2106: C.DATA_FARM,  # HMDS data farm connection is OK
    2107: C.DATA_FARM,  # HMDS data farm connection is inactive but available
    2108: C.DATA_FARM,  # Market data farm connection is inactive but available
    2110: C.WARNING,  # TWS to server connectivity broken, restored automatically (state follows 1100-1102)
    2119: C.DATA_FARM,  # Market data farm is connecting
    2157: C.DATA_FARM,  # Sec-def data farm connection is broken
    2158: C.DATA_FARM,  # Sec-def data farm connection is OK
    10147: C.CANCEL_REFUSED,  # OrderId that needs to be cancelled is not found
    10148: C.CANCEL_REFUSED,  # OrderId that needs to be cancelled cannot be cancelled (e.g. filled)
    10090: C.INFORMATION,  # Part of requested market data is not subscribed: the rest streams
    10167: C.INFORMATION,  # Requested market data is not subscribed: delayed data shown
    10349: C.INFORMATION,  # Order TIF was set to DAY based on order preset
}

_NEVER_ENDS_AN_ORDER = frozenset({C.INFORMATION, C.WARNING, C.CONNECTIVITY_LOST, C.CONNECTIVITY_RESTORED, C.DATA_FARM})
_REJECTS = frozenset({C.ORDER_REJECTED, C.DUPLICATE_ORDER_ID})
_REFUSES_MODIFY = frozenset({C.MODIFY_REFUSED, C.ORDER_REJECTED, C.DUPLICATE_ORDER_ID, C.REQUEST_ERROR, C.ERROR})


def classify(code: int | None) -> CodeClass:
    if code is None:
        return C.ERROR
    found = IB_CODES.get(code)
    if found is not None:
        return found
    if 2100 <= code < 2200:  # IB's 21xx range is notices (farm status, account data unsubscribed, ...)
        return C.INFORMATION
    return C.ERROR


def is_warning(code: int | None) -> bool:
    """Information, warnings, connectivity and data-farm notices: never change an order."""
    return classify(code) in _NEVER_ENDS_AN_ORDER


def is_informational(code: int | None) -> bool:
    """Codes that keep an order working although ib_async may have marked it Cancelled locally."""
    return classify(code) in (C.INFORMATION, C.WARNING)


def rejects_order(code: int | None) -> bool:
    """The order was refused: its reason is kept, so IB's Cancelled/Inactive that follows is REJECTED."""
    return classify(code) in _REJECTS


def refuses_modify(code: int | None) -> bool:
    """An answer to a pending modification that refuses it (resolves the modify at once)."""
    return classify(code) in _REFUSES_MODIFY


def confirms_cancel(code: int | None) -> bool:
    return classify(code) is C.CANCEL_CONFIRMED


# -- market data streams (reqMktData) --------------------------------------------------------------

# IB ends a stream with an error about it; the word its watchlist row shows. A notice (10167:
# delayed data follows instead, 10090: part of the data does) leaves it streaming; 101, no market
# data line left, is the quote streams' own case (services.execution.ib_quotes).
STREAM_ENDED_WORDS: dict[int, str] = {
    200: "no such listing",  # No security definition has been found for the request
    354: "not subscribed",  # Requested market data is not subscribed
    10089: "not subscribed",  # Requested market data requires additional subscription for API
    10168: "not subscribed",  # ... not subscribed. Delayed market data is not enabled
    10186: "not subscribed",  # ... not subscribed. Delayed market data is not available
    10197: "competing session",  # No market data during competing live session
}


def stream_ended_word(code: int | None) -> str | None:
    """The word for a stream IB answered with ``code``: None while it still streams (a notice),
    else why it ended ("refused" for an error this table does not name)."""
    if code is not None and code in STREAM_ENDED_WORDS:
        return STREAM_ENDED_WORDS[code]
    return None if is_warning(code) else "refused"


# -- historical data (reqHistoricalData): one code, 162, for three different answers ---------------

HISTORICAL_DATA_ERROR = 162  # "Historical Market Data Service error message:<what>"


class HistoryAnswer(StrEnum):
    NO_DATA = "no_data"  # "HMDS query returned no data": no bars in the span, not a failure
    PACING = "pacing"  # "... pacing violation": nothing wrong with the request, ask again later
    REFUSED = "refused"  # any other 162 (no permissions, a bad request, ...) or any other code


def history_answer(code: int | None, message: str) -> HistoryAnswer:
    """What an error answering a historical-data request means (docs/ib-message-codes.md)."""
    text = (message or "").lower()
    if code == HISTORICAL_DATA_ERROR and "hmds query returned no data" in text:
        return HistoryAnswer.NO_DATA
    if code == HISTORICAL_DATA_ERROR and "pacing violation" in text:
        return HistoryAnswer.PACING
    return HistoryAnswer.REFUSED
