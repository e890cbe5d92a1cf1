"""The placeOrder walker against what the real clients put on the wire, conditional blocks
included: a what-if order must be recognised whatever precedes the whatIf field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.ibsim.requests import RequestError, parse_place_order, parse_req_executions


def wire_fields(library: str, server_version: int, contract, order, order_id: int = 17) -> list[str]:
    """The fields ``Client.placeOrder`` sends, captured from the real client code."""
    if library == "ib_async":
        from ib_async.client import Client
    else:
        from ib_insync.client import Client
    client = Client(wrapper=None) if library == "ib_async" else Client(None)
    client._serverVersion = server_version
    client.connState = Client.CONNECTED
    sent: list[bytes] = []
    client.conn.sendMsg = sent.append  # type: ignore[method-assign]
    client.MaxRequests = 0
    client.placeOrder(order_id, contract, order)
    (raw,) = sent
    fields = raw[4:].decode().split("\0")
    assert fields.pop() == ""
    return fields


def make(library):
    if library == "ib_async":
        import ib_async as lib
    else:
        import ib_insync as lib
    return lib


CASES = [("ib_async", 178), ("ib_async", 177), ("ib_async", 176), ("ib_insync", 176)]


@pytest.mark.parametrize("library,sv", CASES)
def test_plain_limit_order(library, sv):
    lib = make(library)
    order = lib.LimitOrder("BUY", 150, 228.25, orderRef="run-1", tif="GTC", account="DU1234567", outsideRth=True)
    req = parse_place_order(wire_fields(library, sv, lib.Stock("AAPL", "SMART", "USD"), order), sv)
    assert (req.order_id, req.contract.symbol, req.contract.exchange, req.action) == (17, "AAPL", "SMART", "BUY")
    assert (req.quantity, req.order_type, req.limit_price, req.tif) == (Decimal("150.0"), "LMT", Decimal("228.25"), "GTC")
    assert (req.account, req.order_ref, req.outside_rth, req.transmit, req.what_if) == ("DU1234567", "run-1", True, True, False)


@pytest.mark.parametrize("library,sv", CASES)
@pytest.mark.parametrize("variant", ["plain", "algo", "delta_neutral", "scale", "hedge", "combo"])
def test_what_if_found_behind_conditional_blocks(library, sv, variant):
    lib = make(library)
    contract = lib.Stock("MSFT", "SMART", "USD")
    order = lib.MarketOrder("SELL", 10)
    order.whatIf = True
    if variant == "algo":
        order.algoStrategy = "Adaptive"
        order.algoParams = [lib.TagValue("adaptivePriority", "Normal"), lib.TagValue("x", "y")]
    elif variant == "delta_neutral":
        order.deltaNeutralOrderType = "LMT"
    elif variant == "scale":
        order.scalePriceIncrement = 0.05
    elif variant == "hedge":
        order.hedgeType = "D"
        order.hedgeParam = "0.5"
    elif variant == "combo":
        contract = lib.Contract(secType="BAG", symbol="MSFT", exchange="SMART", currency="USD",
                                comboLegs=[lib.ComboLeg(conId=272093, ratio=1, action="BUY", exchange="SMART")])
    req = parse_place_order(wire_fields(library, sv, contract, order), sv)
    assert req.what_if is True
    assert req.action == "SELL" and req.quantity == Decimal("10.0")
    assert req.combo is (variant == "combo")
    assert req.algo_strategy == ("Adaptive" if variant == "algo" else "")
    assert req.num_conditions == 0


def test_what_if_index_matches_protocol_notes():
    import ib_async as lib

    order = lib.MarketOrder("BUY", 1)
    order.whatIf = True
    f178 = wire_fields("ib_async", 178, lib.Stock("AAPL", "SMART", "USD"), order)
    f176 = wire_fields("ib_async", 176, lib.Stock("AAPL", "SMART", "USD"), order)
    assert (f178[84], f176[85]) == ("1", "1")
    order.whatIf = False
    assert wire_fields("ib_async", 178, lib.Stock("AAPL", "SMART", "USD"), order)[84] == "0"


def test_truncated_place_order_is_an_error():
    with pytest.raises(RequestError):
        parse_place_order(["3", "5", "0", "AAPL"], 178)


def test_req_executions_filter():
    flt = parse_req_executions(["7", "3", "12", "2", "DU1", "20260121 09:30:00", "aapl", "STK", "SMART", "BUY"])
    assert (flt.req_id, flt.client_id, flt.account, flt.time, flt.symbol, flt.side) == (12, 2, "DU1", "20260121 09:30:00", "AAPL", "BUY")
