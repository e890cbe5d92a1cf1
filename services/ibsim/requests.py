"""Parsers for the client requests the simulator understands (pure functions over fields).

``parse_place_order`` walks placeOrder's conditional blocks the way ``ib_async.client.placeOrder``
(and IB's official client, for the versions below 157) writes them, so that ``whatIf`` (index 84
at server version 178, 85 at 176) is found and a what-if order is never executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from services.ibsim import versions


class RequestError(ValueError):
    """A request the simulator cannot read; answered with an error, never silently dropped."""


@dataclass(frozen=True, slots=True)
class ContractRef:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str


def parse_contract12(fields: list[str], start: int) -> ContractRef:
    """The 12 contract fields clients send: conId ... tradingClass."""
    try:
        con_id = int(fields[start] or 0)
    except ValueError as exc:
        raise RequestError(f"bad conId {fields[start]!r}") from exc
    return ContractRef(
        con_id=con_id,
        symbol=fields[start + 1].upper(),
        sec_type=fields[start + 2].upper(),
        exchange=fields[start + 7].upper(),
        primary_exchange=fields[start + 8].upper(),
        currency=fields[start + 9].upper(),
        local_symbol=fields[start + 10].upper(),
    )


def to_decimal(text: str) -> Decimal | None:
    """Wire number -> Decimal; empty or IB's UNSET double -> None."""
    if text in ("", None):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise RequestError(f"bad number {text!r}") from exc
    if value >= Decimal("1E300"):
        return None
    return value


def _is_true(text: str) -> bool:
    return text not in ("", "0", "false", "False")


@dataclass(frozen=True, slots=True)
class PlaceOrderRequest:
    order_id: int
    contract: ContractRef
    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    what_if: bool
    combo: bool
    delta_neutral: bool
    algo_strategy: str
    num_conditions: int


def parse_place_order(fields: list[str], server_version: int) -> PlaceOrderRequest:
    """placeOrder (3), no version field. ``fields[0]`` is the message id."""
    try:
        return _parse_place_order(fields, server_version)
    except IndexError as exc:
        raise RequestError(f"placeOrder too short ({len(fields)} fields)") from exc
    except ValueError as exc:
        if isinstance(exc, RequestError):
            raise
        raise RequestError(f"placeOrder unreadable: {exc}") from exc


def _parse_place_order(f: list[str], sv: int) -> PlaceOrderRequest:
    o = 1 if sv < versions.ORDER_CONTAINER else 0  # a message version field follows the id below 145
    order_id = int(f[1 + o])
    contract = parse_contract12(f, 2 + o)
    # 14 secIdType, 15 secId
    action = f[16 + o].upper()
    quantity = to_decimal(f[17 + o])
    order_type = f[18 + o].upper()
    limit_price = to_decimal(f[19 + o])
    aux_price = to_decimal(f[20 + o])
    tif = f[21 + o].upper() or "DAY"
    account = f[23 + o]
    order_ref = f[26 + o]
    transmit = _is_true(f[27 + o])
    parent_id = int(f[28 + o] or 0)
    outside_rth = _is_true(f[33 + o])
    i = 35 + o
    combo = contract.sec_type == "BAG"
    if combo:
        legs = int(f[i])
        i += 1 + 8 * legs
        order_legs = int(f[i])
        i += 1 + order_legs
        params = int(f[i])
        i += 1 + 2 * params
    i += 7  # "", discretionaryAmt, goodAfterTime, goodTillDate, faGroup, faMethod, faPercentage
    if sv < versions.FA_PROFILE_DESUPPORT:
        i += 1  # faProfile
    if sv >= versions.MODELS_SUPPORT:
        i += 1  # modelCode
    # shortSaleSlot ... deltaNeutralAuxPrice: 23 fields, deltaNeutralOrderType is the 22nd
    delta_neutral_type = f[i + 21]
    i += 23
    if delta_neutral_type:
        i += 8
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, scaleInit, scaleSubs, scalePriceIncrement
    increment = to_decimal(f[i + 6])
    i += 7
    if increment is not None and increment > 0:
        i += 7
    # scaleTable, activeStartTime, activeStopTime, hedgeType
    hedge_type = f[i + 3]
    i += 4
    if hedge_type:
        i += 1
    i += 4  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    dnc = _is_true(f[i])
    i += 1
    if dnc:
        i += 3
    algo = f[i]
    i += 1
    if algo:
        n = int(f[i] or 0)
        i += 1 + 2 * n
    i += 1  # algoId
    what_if = _is_true(f[i])
    i += 1
    i += 4  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type in ("PEG BENCH", "PEGBENCH"):
        i += 5
    num_conditions = int(f[i] or 0) if i < len(f) else 0
    if quantity is None:
        quantity = Decimal(0)
    return PlaceOrderRequest(
        order_id=order_id,
        contract=contract,
        action=action,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price,
        aux_price=aux_price,
        tif=tif,
        account=account,
        order_ref=order_ref,
        transmit=transmit,
        parent_id=parent_id,
        outside_rth=outside_rth,
        what_if=what_if,
        combo=combo,
        delta_neutral=bool(delta_neutral_type) or dnc,
        algo_strategy=algo,
        num_conditions=num_conditions,
    )


@dataclass(frozen=True, slots=True)
class ExecutionFilterRequest:
    req_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


def parse_req_executions(f: list[str]) -> ExecutionFilterRequest:
    """reqExecutions: ``7,3,reqId,clientId,acct,time,symbol,secType,exchange,side``."""
    padded = f + [""] * (10 - len(f))
    return ExecutionFilterRequest(
        req_id=int(padded[2] or 0),
        client_id=int(padded[3] or 0),
        account=padded[4],
        time=padded[5],
        symbol=padded[6].upper(),
        sec_type=padded[7].upper(),
        exchange=padded[8].upper(),
        side=padded[9].upper(),
    )
