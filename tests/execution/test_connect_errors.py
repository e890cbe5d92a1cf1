"""Every connection error says why (the message used to end in an empty reason): refused port,
client id in use, a server that accepts and never answers, one that closes at once, one that
answers with something that is not the IB API. Local servers only."""

from __future__ import annotations

import asyncio
import socket

import pytest

from services.execution.errors import NotConnected
from services.execution.ib_provider import IbExecutionProvider

from .cli_helpers import cli_args, run

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _expected_ib_errors(ib_log_guard):
    ib_log_guard.allow(r"API connection failed")
    ib_log_guard.allow(r"Peer closed connection")
    ib_log_guard.allow(r"Make sure API port")
    ib_log_guard.allow(r"^Error 326, ")


async def _connect(port: int, client_id: int = 7, timeout: float = 1.0) -> str:
    provider = IbExecutionProvider(host="127.0.0.1", port=port, client_id=client_id, connect_timeout=timeout, auto_reconnect=False)
    try:
        with pytest.raises(NotConnected) as failed:
            await provider.connect()
    finally:
        await provider.disconnect()
    text = str(failed.value)
    assert text.startswith(f"cannot connect to IB at 127.0.0.1:{port}: ") and not text.endswith(": "), text
    return text


async def _server(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_refused_port():
    assert "connection refused" in await _connect(_free_port())


async def test_client_id_in_use_fails_at_once_naming_it(simulator):
    holder = IbExecutionProvider(host="127.0.0.1", port=simulator.port, client_id=7, connect_timeout=5, auto_reconnect=False)
    await holder.connect()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        text = await _connect(simulator.port, client_id=7, timeout=30)
        # said with what to do: the reason alone left the trader guessing which connection and how out
        assert text.endswith("client id 7 already in use (IB error 326): another connection (a window, `serve`, "
                             "another command) holds it; connect with another client id, or stop that one"), text
        assert loop.time() - started < 30  # the server's refusal ends it, not the timeout
    finally:
        await holder.disconnect()


async def test_silent_server_that_accepts_and_never_answers():
    release = asyncio.Event()

    async def silent(reader, writer):
        await release.wait()
        writer.close()

    server, port = await _server(silent)
    try:
        assert "timed out after 1 s: the server accepted the connection but never answered the API handshake" in await _connect(port)
    finally:
        release.set()
        server.close()


async def test_server_closing_during_the_handshake():
    async def closing(reader, writer):
        await reader.read(16)
        writer.close()

    server, port = await _server(closing)
    try:
        assert "the server closed the connection during the handshake" in await _connect(port, timeout=10)
    finally:
        server.close()


async def test_server_answering_garbage():
    release = asyncio.Event()

    async def garbage(reader, writer):
        await reader.read(16)
        writer.write(b"\x00\x00\x00\x05hello\x00\x00\x00\x03a\x00b")
        await writer.drain()
        await release.wait()
        writer.close()

    server, port = await _server(garbage)
    try:
        assert "the server answered, but not with the IB API handshake" in await _connect(port)
    finally:
        release.set()
        server.close()


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_execute_command_says_why(db_url, tmp_path):
    # a snapshot file (a stored id that does not exist is said before connecting, exit 2)
    snapshot = tmp_path / "snap.csv"
    snapshot.write_text("symbol,weight\nAAPL,0.10\n")
    result = await run(cli_args(db_url, _free_port(), "execute", "--snapshot", str(snapshot), "--project", "x", "--mode", "paper"))
    assert result.code == 5 and "connection refused" in result.err, result.err
