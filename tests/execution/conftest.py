"""Execution harness: the real simulator over a real socket, a real ib_async client, the real
database (SQLite and MariaDB via the foundation's ``database`` fixture), the one writer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

import pytest

import services.execution.cancel_all  # noqa: F401  (see below)
from services.domain import TradeMode

# services.execution.cancel_all computes Cancel All's wait for other senders (SENDERS_TIMEOUT) from
# sending.SEND_WATCH_INTERVAL when it is first imported: loaded here, before any test patches that
# interval to 60 s (tests/execution/test_cancel_all_*), so that a patch never leaks into it and
# makes every later Cancel All of the worker wait a minute


@dataclass
class Stack:
    db: object
    sim: object
    provider: object
    writer: object
    reconciler: object
    service: object
    actions: object | None = None

    async def close(self) -> None:
        await self.writer.stop(drain=True, timeout=10)
        await self.provider.disconnect()


def make_snapshot(db, project: str, weights: dict[str, str]) -> tuple[int, int]:
    from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository

    with db.unit_of_work() as session:
        project_row = ProjectRepository(session).get_or_create(project)
        items = [SnapshotItemInput(symbol, Decimal(w)) for symbol, w in weights.items()]
        digest = hashlib.sha256(f"{project}:{sorted(weights.items())}".encode()).hexdigest()
        snap = SnapshotRepository(session).create_with_items(project_row.id, "test.csv", digest, items)
        return project_row.id, snap.id


# a deadline, not a wait: the simulator answers in milliseconds, but a fresh-clone CI on two
# loaded cores once took over 5 s to open the socket (a teardown error of an unrelated test)
CONNECT_TIMEOUT = 15


async def build_stack(db, sim, *, client_id: int = 1, mode: TradeMode = TradeMode.PAPER, live_token=None,
                      account: str = "", connect: bool = True, grace: float = 0.3, port: int | None = None,
                      clock=None, **provider_kwargs) -> Stack:
    """The composition the console uses (``ExecutionEngine``) on the simulator's port (or on
    ``port``: a proxy in front of it)."""
    from app.composition import ensure_settings_row
    from services.execution.engine import ExecutionEngine
    from services.execution.ib_provider import IbExecutionProvider

    # as every command and the window open their database (app.composition.open_database): the
    # settings row made before anything reads it, so that no read has to upgrade to a write, which
    # SQLite refuses at once while the writer writes ("database is locked": once in a fresh-clone
    # run, test_reconnect.py's manual_order reading the trading state)
    ensure_settings_row(db)
    provider = IbExecutionProvider(host="127.0.0.1", port=port or sim.port, client_id=client_id, mode=mode, live_token=live_token,
                                   account=account, connect_timeout=CONNECT_TIMEOUT, request_timeout=5, **provider_kwargs)
    engine = ExecutionEngine(db, provider, actor="tester", ack_timeout=3, reconcile_grace=grace, clock=clock)
    stack = Stack(db, sim, provider, engine.writer, engine.reconciler, engine.service, engine.actions)
    try:
        await engine.start(connect=connect)
    except BaseException:
        await engine.stop()
        raise
    return stack


@pytest.fixture
async def stack(database, simulator):
    built = await build_stack(database, simulator)
    try:
        yield built
    finally:
        await built.close()


def ledger_by_exec(sim) -> dict[str, tuple]:
    """The simulator's executions as exec_id -> (orderRef, symbol, side, qty, price)."""
    out = {}
    for e in sim.executions():
        out[e.exec_id] = e
    return out
