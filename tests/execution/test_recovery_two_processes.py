"""Adversarial review of auto-recovery run twice at once by two processes (two `recover`
commands, each its own client id), SQLite and MariaDB: an order lost on its way to the broker by
a sender that has ended is re-placed once, never twice."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.audit import AuditLog
from services.db.models import TradeOrder
from services.db.repositories import SettingsRepository
from services.domain import OrderState

from .cli_helpers import cli_args, run
from .conftest import make_snapshot

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def _ibm_orders(db) -> list[TradeOrder]:
    with db.session() as session:
        return list(session.scalars(select(TradeOrder).where(TradeOrder.symbol == "IBM").order_by(TradeOrder.id)))


def _recovery_timeout(db, seconds: int) -> None:
    with db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": seconds, "max_auto_retries": 1})


async def test_two_recover_commands_at_once_replace_a_lost_order_once(database, db_url, make_simulator):
    sim = await make_simulator(state_file=None, ledger_file=None)
    _recovery_timeout(database, 3600)  # the execute command's own wait recovers nothing
    sim.faults.add_rule(symbols={"IBM"}, lost=1)  # the placeOrder never reaches the gateway
    _, snapshot_id = make_snapshot(database, "twice", {"IBM": "0.01", "AAPL": "0.01"})
    sent = await run(cli_args(db_url, sim.port, "execute", "--snapshot", str(snapshot_id), "--project", "twice",
                              "--mode", "paper", "--portfolio-value", "100000", "--wait-seconds", "0", "--json", "--no-market-health",
                              client_id=1))
    assert len(json.loads(sent.out)["run"]["sent"]) == 2, sent.err[-2000:]
    [lost] = _ibm_orders(database)
    assert [o.symbol for o in sim.orders()] == ["AAPL"]  # the sender (its process ended) lost IBM on the way
    _recovery_timeout(database, 0)

    first, second = await asyncio.gather(*(run(cli_args(db_url, sim.port, "recover", "--json", client_id=client_id))
                                           for client_id in (2, 3)))

    assert (first.code, second.code) == (0, 0), first.err[-2000:] + second.err[-2000:]
    replaced = [r for result in (first, second) for r in json.loads(result.out)["replaced"]]
    assert [r["client_order_id"] for r in replaced] == [lost.client_order_id]
    dead, replacement = _ibm_orders(database)
    assert (dead.status, dead.filled_quantity, replacement.replaces_order_id) == (OrderState.CANCELED, 0, dead.id)
    ibm_at_broker = [o for o in sim.orders() if o.symbol == "IBM"]
    assert [o.order_ref for o in ibm_at_broker] == [replacement.client_order_id]
    assert sim.positions()["IBM"] == replacement.quantity == dead.quantity
    assert sum(e.shares for e in sim.executions() if e.symbol == "IBM") == Decimal(dead.quantity)
    assert len(AuditLog(database).list(action="order.recovery_replace")) == 1
