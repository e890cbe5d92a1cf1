"""Older protocol versions, spoken by a minimal raw-socket client the way IB's official client
9.81 (``pip install ibapi``, range v100..157) speaks them. The requests below were captured
from that client's own encoder at each server version; the replies are checked for the
layout its decoder reads (message version fields, fields added by version)."""

from __future__ import annotations

import asyncio

import pytest

from services.ibsim.codec import FrameBuffer, frame, frame_raw

# placeOrder 17: BUY 150 AAPL LMT 228.25 GTC, orderRef run-1, account DU1234567, outsideRth (captured)
PLACE_ORDER = {
    130: "3|45|17|0|AAPL|STK||0.0|||SMART||USD|||||BUY|150|LMT|228.25||GTC||DU1234567||0|run-1|1|0|0|0|0|0|1|0||0||||||||0||-1|0|||0|||1|1||0||||||0|||||0|||||||||||0|||0|0|||0||0|0|0|0||1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|0||||1.7976931348623157e+308",
    151: "3|17|0|AAPL|STK||0.0|||SMART||USD|||||BUY|150|LMT|228.25||GTC||DU1234567||0|run-1|1|0|0|0|0|0|1|0||0||||||||0||-1|0|||0|||1|1||0||||||0|||||0|||||||||||0|||0|0|||0||0|0|0|0||1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|0||||1.7976931348623157e+308|||||0|0|0|",
    157: "3|17|0|AAPL|STK||0.0|||SMART||USD|||||BUY|150|LMT|228.25||GTC||DU1234567||0|run-1|1|0|0|0|0|0|1|0||0||||||||0||-1|0|||0|||1|1||0||||||0|||||0|||||||||||0|||0|0|||0||0|0|0|0||1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|1.7976931348623157e+308|0||||1.7976931348623157e+308|||||0|0|0|",
}
# the same order with whatIf=1 behind an algo block (Adaptive, one parameter)
WHAT_IF = {sv: text.replace("|0|0|||0||0|0|0|0||", "|0|0|Adaptive|1|adaptivePriority|Normal||1||0|0|0|0||") for sv, text in PLACE_ORDER.items()}
# reqContractDetails as the official client sends it below 176 (no issuerId)
CONTRACT_DETAILS = "9|8|5|0|AAPL|STK||0.0|||SMART||USD|||0||"
# contractDetails field counts the official decoder reads: +mdSizeMultiplier (110), +aggGroup (121),
# +underSymbol/underSecType (122), +marketRuleIds (126), +realExpirationDate (134), +stockType (152)
CONTRACT_DETAILS_FIELDS = {100: 32, 130: 37, 151: 38, 157: 39}


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = FrameBuffer()
        self.frames: list[list[str]] = []

    @classmethod
    async def connect(cls, port: int, announcement: str) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"API\0" + frame_raw(announcement))
        await writer.drain()
        return cls(reader, writer)

    def send(self, text: str) -> None:
        self.writer.write(frame(text.split("|")))

    async def until(self, predicate, what: str) -> list[str]:
        """The first frame (received so far or later) matching ``predicate``; fail after 5 s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        seen = 0
        while True:
            for fields in self.frames[seen:]:
                if predicate(fields):
                    return fields
            seen = len(self.frames)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {what} within 5 s; got {self.frames}")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError(f"connection closed before {what}; got {self.frames}")
            self.frames += self.buffer.feed(data)

    def close(self) -> None:
        self.writer.close()


@pytest.mark.parametrize("server_version", [100, 130, 151, 157])
async def test_official_client_layouts(simulator, server_version):
    client = await RawClient.connect(simulator.port, f"v100..{server_version}")
    try:
        handshake = await client.until(lambda f: len(f) == 2, "handshake")
        assert int(handshake[0]) == server_version
        client.send("71|2|7|")
        assert await client.until(lambda f: f[0] == "15", "managedAccounts") == ["15", "1", "DU1234567"]
        assert await client.until(lambda f: f[0] == "9", "nextValidId") == ["9", "1", "1"]

        client.send(CONTRACT_DETAILS)
        details = await client.until(lambda f: f[0] == "10", "contractDetails")
        assert details[1:3] == ["8", "5"]  # message version, then the request id (below 164)
        assert len(details) == CONTRACT_DETAILS_FIELDS[server_version]
        assert (details[3], details[13]) == ("AAPL", "265598")
        assert await client.until(lambda f: f[0] == "52", "contractDetailsEnd") == ["52", "1", "5"]

        if server_version not in PLACE_ORDER:
            return  # below 111 the official client refuses to send orders by itself
        client.send(PLACE_ORDER[server_version])
        opened = await client.until(lambda f: f[0] == "5", "openOrder")
        if server_version < 145:
            assert opened[1:3] == ["34", "17"]  # message version, orderId
        else:
            assert opened[1] == "17"
        assert "run-1" in opened and opened[opened.index("run-1") + 1] == "7"  # orderRef, then clientId
        status = await client.until(lambda f: f[0] == "3", "orderStatus")
        expected = ["3", "6", "17"] if server_version < 131 else ["3", "17"]  # message version below 131
        assert status[:len(expected)] == expected and "Submitted" in status and len(status) == 12

        client.send(WHAT_IF[server_version].replace("|17|", "|18|", 1))
        what_if = await client.until(lambda f: f[0] == "5" and "18" in f[1:3], "what-if openOrder")
        assert "PreSubmitted" in what_if
        assert simulator.open_orders()[0].order_id == 17 and len(simulator.orders()) == 1  # what-if not executed
    finally:
        client.close()
