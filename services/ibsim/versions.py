"""Server versions: which one the simulator picks for a client, and the version gates its
message layouts depend on.

The TWS handshake lets the *server* choose any version inside the client's announced range
(``v<min>..<max>``). The simulator speaks every version from 100 (the first length-prefixed
protocol) to 178 and picks ``min(client max, 178)``:

* 178 is what a current IB Gateway answers ib_async with; every current client accepts it,
  IB's official 10.4x/10.5x client included, whose range reaches 2xx (versions from 201 on
  switch most messages to protobuf; the simulator does not speak it, so it caps at 178).
* ib_insync 0.9.86 announces ``v157..176`` and gets 176; IB's official 9.81 client
  (``pip install ibapi``) announces ``v100..157`` and gets 157.

A client whose range lies wholly outside 100..178 gets a handshake (so its reader is in a
known state), then error 506 with the supported range, then the connection closes.

The gate names below are IB's ``MIN_SERVER_VER_*`` constants (from the official client's
``server_versions.py``); each encoder and request parser mirrors the client's branches.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_SERVER_VERSION = 100
MAX_SERVER_VERSION = 178
PROTOBUF_SERVER_VERSION = 201  # not spoken: the simulator caps below it

# MIN_SERVER_VER_* gates the simulator's layouts depend on
FRACTIONAL_POSITIONS = 101
PEGGED_TO_BENCHMARK = 102  # conditions and adjusted-order fields in openOrder
MODELS_SUPPORT = 103  # modelCode in openOrder, execDetails, placeOrder
SOFT_DOLLAR_TIER = 106
MD_SIZE_MULTIPLIER = 110  # contractDetails.mdSizeMultiplier (until 163)
CASH_QTY = 111
REQ_SMART_COMPONENTS = 114  # tickReqParams is sent from here on
SERVICE_DATA_TYPE = 120  # mktDepthExchanges: serviceDataType and aggGroup
AGG_GROUP = 121
UNDERLYING_INFO = 122
SYNT_REALTIME_BARS = 124  # historicalData loses its version field
MARKET_RULES = 126
PNL = 127
UNREALIZED_PNL = 129
MARKET_CAP_PRICE = 131  # orderStatus: no version field, mktCapPrice
REAL_EXPIRATION_DATE = 134
REALIZED_PNL = 135
LAST_LIQUIDITY = 136  # execDetails: no version field, lastLiquidity
AUTO_PRICE_FOR_HEDGE = 141
WHAT_IF_EXT_FIELDS = 142  # openOrder: margin before/change fields
ORDER_CONTAINER = 145  # openOrder and placeOrder lose their version field
D_PEG_ORDERS = 148
COMPLETED_ORDERS = 150
PRICE_MGMT_ALGO = 151
STOCK_TYPE = 152
REPLACE_FA_END = 157
DURATION = 158  # openOrder.duration; ib_async reads it only from 159 and ignores the extra field at 158
POST_TO_ATS = 160
AUTO_CANCEL_PARENT = 162
FRACTIONAL_SIZE_SUPPORT = 163
SIZE_RULES = 164  # contractDetails: no version field, min/size increments
ADVANCED_ORDER_REJECT = 166  # error: advancedOrderRejectJson
USER_INFO = 167
MANUAL_ORDER_TIME = 169
PEGBEST_PEGMID_OFFSETS = 170
BOND_ISSUERID = 176  # symbolSamples: description and issuerId
FA_PROFILE_DESUPPORT = 177  # openOrder, completedOrder and placeOrder lose faProfile
PENDING_PRICE_REVISION = 178


@dataclass(frozen=True, slots=True)
class Negotiation:
    """The outcome of a client's version announcement."""

    server_version: int  # what the handshake says
    refusal: str | None = None  # set when the client must be refused after the handshake

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def negotiate(low: int, high: int) -> Negotiation:
    """Pick the server version for a client announcing ``v<low>..<high>``."""
    if high < low:
        low, high = high, low
    chosen = min(high, MAX_SERVER_VERSION)
    if chosen >= low and chosen >= MIN_SERVER_VERSION:
        return Negotiation(chosen)
    text = (
        f"Unsupported client version range {low}..{high}: the simulator speaks server versions "
        f"{MIN_SERVER_VERSION}..{MAX_SERVER_VERSION} (text protocol; no protobuf versions from "
        f"{PROTOBUF_SERVER_VERSION} on)"
    )
    # The handshake carries a version the client can read errors at: its own maximum when that
    # is below our range, otherwise our maximum (the client then refuses it by itself as well).
    return Negotiation(high if high < MIN_SERVER_VERSION else MAX_SERVER_VERSION, text)
