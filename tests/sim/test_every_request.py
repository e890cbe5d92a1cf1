"""Every request ib_async's client can send gets an answer from the simulator: data, an empty
end marker, or the error TWS sends with the request's id, within a deadline; requests TWS
does not acknowledge (cancels, switches) get no error. The table must name every request
method of ``ib_async.client.Client``: a client upgrade that adds one fails this test."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from ib_async import ExecutionFilter, LimitOrder, ScannerSubscription, WshEventData
from ib_async.client import Client

ACCOUNT = "DU1234567"
DEADLINE = 5.0


@dataclass(frozen=True)
class Expect:
    """``msg_id`` with the request id at ``index`` (None: the message carries no id), or an error
    ``code`` with the request id; ``nothing``: no answer and no error."""

    msg_id: str = ""
    index: int | None = None
    code: int | None = None
    nothing: bool = False


def reply(msg_id: str, index: int | None = None) -> Expect:
    return Expect(msg_id=msg_id, index=index)


def error(code: int) -> Expect:
    return Expect(code=code)


NOTHING = Expect(nothing=True)

# method -> (arguments given the request id and the qualified stock, expected answer)
TABLE: dict[str, tuple[Callable, Expect]] = {
    "reqMktData": (lambda r, c: (r, c, "", False, False, []), reply("58", 2)),
    "cancelMktData": (lambda r, c: (r,), NOTHING),
    "placeOrder": (lambda r, c: (r, c, LimitOrder("BUY", 1, 1.0)), reply("5", 1)),
    "cancelOrder": (lambda r, c: (r,), error(10147)),  # an id that was never used
    "reqOpenOrders": (lambda r, c: (), reply("53")),
    "reqAccountUpdates": (lambda r, c: (True, ACCOUNT), reply("54")),
    "reqExecutions": (lambda r, c: (r, ExecutionFilter()), reply("55", 2)),
    "reqIds": (lambda r, c: (1,), reply("9")),
    "reqContractDetails": (lambda r, c: (r, c), reply("52", 2)),
    "reqMktDepth": (lambda r, c: (r, c, 5, False, []), reply("13", 2)),
    "cancelMktDepth": (lambda r, c: (r, False), NOTHING),
    "reqNewsBulletins": (lambda r, c: (True,), NOTHING),
    "cancelNewsBulletins": (lambda r, c: (), NOTHING),
    "setServerLogLevel": (lambda r, c: (3,), NOTHING),
    "reqAutoOpenOrders": (lambda r, c: (True,), NOTHING),
    "reqAllOpenOrders": (lambda r, c: (), reply("53")),
    "reqManagedAccts": (lambda r, c: (), reply("15")),
    "requestFA": (lambda r, c: (1,), reply("16")),
    "replaceFA": (lambda r, c: (r, 1, "<ListOfGroups/>"), reply("103", 1)),
    "reqHistoricalData": (lambda r, c: (r, c, "20250103 16:00:00 US/Eastern", "1 D", "1 hour", "TRADES", True, 1, False, []),
                          reply("17", 1)),
    "exerciseOptions": (lambda r, c: (r, c, 1, 1, ACCOUNT, 0), error(200)),
    "reqScannerSubscription": (lambda r, c: (r, ScannerSubscription(instrument="STK", locationCode="STK.US.MAJOR",
                                                                    scanCode="TOP_PERC_GAIN"), [], []), reply("20", 2)),
    "cancelScannerSubscription": (lambda r, c: (r,), NOTHING),
    "reqScannerParameters": (lambda r, c: (), reply("19")),
    "cancelHistoricalData": (lambda r, c: (r,), NOTHING),
    "reqCurrentTime": (lambda r, c: (), reply("49")),
    "reqRealTimeBars": (lambda r, c: (r, c, 5, "TRADES", True, []), reply("50", 2)),
    "cancelRealTimeBars": (lambda r, c: (r,), NOTHING),
    "reqFundamentalData": (lambda r, c: (r, c, "ReportSnapshot", []), error(430)),
    "cancelFundamentalData": (lambda r, c: (r,), NOTHING),
    "calculateImpliedVolatility": (lambda r, c: (r, c, 1.0, 100.0, []), error(200)),
    "calculateOptionPrice": (lambda r, c: (r, c, 0.2, 100.0, []), error(200)),
    "cancelCalculateImpliedVolatility": (lambda r, c: (r,), NOTHING),
    "cancelCalculateOptionPrice": (lambda r, c: (r,), NOTHING),
    "reqGlobalCancel": (lambda r, c: (), NOTHING),
    "reqMarketDataType": (lambda r, c: (1,), NOTHING),
    "reqPositions": (lambda r, c: (), reply("62")),
    "reqAccountSummary": (lambda r, c: (r, "All", "NetLiquidation"), reply("64", 2)),
    "cancelAccountSummary": (lambda r, c: (r,), NOTHING),
    "cancelPositions": (lambda r, c: (), NOTHING),
    "verifyRequest": (lambda r, c: ("app", "1"), reply("66")),
    "verifyMessage": (lambda r, c: ("data",), reply("66")),
    "queryDisplayGroups": (lambda r, c: (r,), reply("67", 2)),
    "subscribeToGroupEvents": (lambda r, c: (r, 1), reply("68", 2)),
    "updateDisplayGroup": (lambda r, c: (r, "265598@SMART"), reply("68", 2)),
    "unsubscribeFromGroupEvents": (lambda r, c: (r,), NOTHING),
    "verifyAndAuthRequest": (lambda r, c: ("app", "1", "key"), reply("70")),
    "verifyAndAuthMessage": (lambda r, c: ("data", "xyz"), reply("70")),
    "reqPositionsMulti": (lambda r, c: (r, ACCOUNT, ""), reply("72", 2)),
    "cancelPositionsMulti": (lambda r, c: (r,), NOTHING),
    "reqAccountUpdatesMulti": (lambda r, c: (r, ACCOUNT, "", False), reply("74", 2)),
    "cancelAccountUpdatesMulti": (lambda r, c: (r,), NOTHING),
    "reqSecDefOptParams": (lambda r, c: (r, "AAPL", "", "STK", c.conId), reply("76", 1)),
    "reqSoftDollarTiers": (lambda r, c: (r,), reply("77", 1)),
    "reqFamilyCodes": (lambda r, c: (), reply("78")),
    "reqMatchingSymbols": (lambda r, c: (r, "AA"), reply("79", 1)),
    "reqMktDepthExchanges": (lambda r, c: (), reply("80")),
    "reqSmartComponents": (lambda r, c: (r, "9c0001"), reply("82", 1)),
    "reqNewsArticle": (lambda r, c: (r, "BRFG", "BRFG$1", []), error(10276)),
    "reqNewsProviders": (lambda r, c: (), reply("85")),
    "reqHistoricalNews": (lambda r, c: (r, c.conId, "BRFG", "", "", 10, []), reply("87", 1)),
    "reqHeadTimeStamp": (lambda r, c: (r, c, "TRADES", True, 1), reply("88", 1)),
    "reqHistogramData": (lambda r, c: (r, c, True, "1 week"), reply("89", 1)),
    "cancelHistogramData": (lambda r, c: (r,), NOTHING),
    "cancelHeadTimeStamp": (lambda r, c: (r,), NOTHING),
    "reqMarketRule": (lambda r, c: (26,), reply("93")),
    "reqPnL": (lambda r, c: (r, ACCOUNT, ""), reply("94", 1)),
    "cancelPnL": (lambda r, c: (r,), NOTHING),
    "reqPnLSingle": (lambda r, c: (r, ACCOUNT, "", c.conId), reply("95", 1)),
    "cancelPnLSingle": (lambda r, c: (r,), NOTHING),
    "reqHistoricalTicks": (lambda r, c: (r, c, "20250102 10:00:00", "", 100, "TRADES", True, False, []), reply("98", 1)),
    "reqTickByTickData": (lambda r, c: (r, c, "BidAsk", 0, False), reply("99", 1)),
    "cancelTickByTickData": (lambda r, c: (r,), NOTHING),
    "reqCompletedOrders": (lambda r, c: (False,), reply("102")),
    "reqWshMetaData": (lambda r, c: (r,), error(10279)),
    "cancelWshMetaData": (lambda r, c: (r,), NOTHING),
    "reqWshEventData": (lambda r, c: (r, WshEventData(conId=c.conId)), error(10282)),
    "cancelWshEventData": (lambda r, c: (r,), NOTHING),
    "reqUserInfo": (lambda r, c: (r,), reply("107", 1)),
}
NOT_REQUESTS = {"send", "sendMsg", "startApi", "connect", "connectAsync", "disconnect"}


def client_requests(client_class=Client) -> set[str]:
    """Every method of the client class that puts a message on the wire."""
    found = set()
    for name, method in inspect.getmembers(client_class, inspect.isfunction):
        if name.startswith("_") or name in NOT_REQUESTS:
            continue
        if re.search(r"self\.send\(", inspect.getsource(method)):
            found.add(name)
    return found


def test_the_table_names_every_request_of_the_client():
    from ib_insync.client import Client as InsyncClient

    assert client_requests() == set(TABLE)
    assert client_requests(InsyncClient) <= set(TABLE)


class Frames:
    """Every message the client decodes, with a wait for the one that answers a request."""

    def __init__(self, ib) -> None:
        self.frames: list[tuple[str, ...]] = []
        self.arrived = asyncio.Event()
        decoder = ib.client.decoder
        original = decoder.interpret

        def interpret(fields):
            self.frames.append(tuple(fields))
            self.arrived.set()
            original(fields)

        decoder.interpret = interpret

    async def wait(self, match: Callable[[tuple[str, ...]], bool], since: int, what: str) -> tuple[str, ...]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while True:
            for fields in self.frames[since:]:
                if match(fields):
                    return fields
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no answer to {what} within {DEADLINE} s; got {self.frames[since:]}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                pass


def is_error(fields: tuple[str, ...]) -> bool:
    return fields[0] == "4"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("library,max_version", [("ib_async", 178), ("ib_async", 176), ("ib_async", 157), ("ib_insync", 176)])
async def test_every_request_is_answered(simulator, ib_log_guard, library, max_version):
    # the errors the table provokes, and the wrapper noticing answers to requests it did not track
    ib_log_guard.allow(r"^Error (200|430|10147|10276|10279|10282), ")
    ib_log_guard.allow(r"Unknown reqId|unknown reqId")
    lib = importlib.import_module(library)
    ib = lib.IB()
    ib.client.MaxClientVersion = max_version  # the server picks the client's maximum
    await ib.connectAsync("127.0.0.1", simulator.port, clientId=1, timeout=5)
    try:
        assert ib.client.serverVersion() == max_version
        await walk_the_table(ib, lib)
    finally:
        ib.disconnect()


async def walk_the_table(ib, lib) -> None:
    [stock] = await ib.qualifyContractsAsync(lib.Stock("AAPL", "SMART", "USD"))
    frames = Frames(ib)
    futures = []
    for name, (arguments, expect) in TABLE.items():
        req_id = ib.client.getReqId()
        # the wrapper state the IB-level calls would set up, so that it can file the answers
        if name == "reqScannerSubscription":
            futures.append(ib.wrapper.startReq(req_id, container=lib.ScanDataList()))
        elif name == "reqCompletedOrders":
            futures.append(ib.wrapper.startReq("completedOrders"))
        else:
            futures.append(ib.wrapper.startReq(req_id, stock))
        ib.wrapper.startTicker(req_id, stock, name)
        since = len(frames.frames)
        getattr(ib.client, name)(*arguments(req_id, stock))
        if expect.nothing:
            # a round trip: whatever the request caused has arrived before the current time
            ib.client.reqCurrentTime()
            await frames.wait(lambda f: f[0] == "49", since, f"{name} (barrier)")
            errors = [f for f in frames.frames[since:] if is_error(f) and f[2] in (str(req_id), "-1")]
            assert errors == [], f"{name} was answered with an error: {errors}"
            continue
        if expect.code is not None:
            fields = await frames.wait(lambda f: is_error(f) and f[2] == str(req_id), since, name)  # noqa: B023 - awaited within this iteration
            assert int(fields[3]) == expect.code, f"{name}: {fields}"
            continue
        key = str(26 if name == "reqMarketRule" else req_id)
        fields = await frames.wait(
            lambda f: (f[0] == expect.msg_id and (expect.index is None or f[expect.index] == key))  # noqa: B023
            or (is_error(f) and f[2] in (key, "-1")), since, name)  # noqa: B023
        assert not is_error(fields), f"{name} was answered with an error: {fields}"
    unsupported = [f for f in frames.frames if is_error(f) and f[3] in ("320", "321", "322")]
    assert unsupported == []
    for future in futures:  # errors that ended requests were delivered; nothing is left unretrieved
        if future.done() and not future.cancelled():
            future.exception()
