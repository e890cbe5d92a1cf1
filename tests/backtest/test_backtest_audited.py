"""A backtest is on the audit record as the trader's other actions are: when it begins, with its
parameters and every snapshot it replays (the input files it stored among them: stored as a
``backtest input``, they had no entry of their own), and when it is closed, by its own process
or by the look that found its process gone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.audit import AuditLog
from services.audit_actions import AuditAction
from services.backtest.closing import close_abandoned
from services.backtest.costs import FillAt
from services.backtest.prices import PriceBook
from services.backtest.runner import Backtester, BacktestSpec
from services.core.typed_numbers import plain
from services.db.models import DecisionSnapshot
from services.execution.audit import os_user

from .abandoned import HOST, dead_key, running_backtest
from .data import generated_bars, monthly_snapshots

pytestmark = pytest.mark.timeout(120)

SYMBOLS = [f"T{i:02d}" for i in range(15)]
START, END = date(2024, 1, 1), date(2024, 3, 28)


def _spec() -> BacktestSpec:
    return BacktestSpec(Decimal(100_000), FillAt.CLOSE, Decimal(0), "ib-fixed",
                        {"rounding": "floor", "lot_size": Decimal(1)}, start=START, end=END)


def _entries(database, action: AuditAction):
    return AuditLog(database).list(action=action)


async def test_a_backtest_is_audited_with_every_snapshot_it_replays_and_how_it_ended(database):
    prices = PriceBook(generated_bars(SYMBOLS, date(2023, 12, 20), END, seed=3))
    snapshots = monthly_snapshots(SYMBOLS, START, END, "alpha", seed=5)

    outcome = await Backtester(database, prices, snapshots, _spec(), actor="trader").run()

    [start] = _entries(database, AuditAction.BACKTEST_START)
    assert (start.actor, start.entity_type, start.entity_id) == ("trader", "backtest", str(outcome.backtest_id))
    assert start.payload["projects"] == ["alpha"]
    assert start.payload["params"]["commission"] == "ib-fixed" and start.payload["params"]["from"] == "2024-01-01"
    with database.session() as session:
        stored = {row.id: (row.content_hash, row.source_file) for row in session.scalars(select(DecisionSnapshot))}
    # each input file: stored, and named with its day, its stored id and the content hash it was stored with
    assert [[p, d, h, f] for p, d, _id, h, f in start.payload["snapshots"]] == \
           [["alpha", s.day.isoformat(), s.content_hash, s.source_name] for s in snapshots]
    assert {snapshot_id: (h, f) for _p, _d, snapshot_id, h, f in start.payload["snapshots"]} == stored
    [end] = _entries(database, AuditAction.BACKTEST_END)
    assert (end.actor, end.entity_id) == ("trader", str(outcome.backtest_id))
    assert end.payload == {"status": "done", "message": outcome.message, "days": outcome.days,
                           "final_equity": [["alpha", plain(Decimal(outcome.projects["alpha"]["final_equity"]))]]}
    assert not end.payload["final_equity"][0][1].endswith("0")  # as every amount on the record: no trailing zeros
    assert end.id > start.id and AuditLog(database).verify(full=True).ok


async def test_a_canceled_backtest_is_audited_as_canceled_with_its_reason(database):
    prices = PriceBook(generated_bars(SYMBOLS, date(2023, 12, 20), END, seed=3))
    snapshots = monthly_snapshots(SYMBOLS, START, END, "alpha", seed=5)

    outcome = await Backtester(database, prices, snapshots, _spec(), cancel=lambda: "enough").run()

    [end] = _entries(database, AuditAction.BACKTEST_END)
    assert outcome.status == "canceled"
    assert (end.actor, end.payload["status"], end.payload["message"]) == ("backtest", "canceled", outcome.message)
    assert "enough" in end.payload["message"]


def test_a_backtest_closed_as_abandoned_is_audited_by_the_look_that_closed_it(database):
    dead, _runs, _coids = running_backtest(database, host=HOST, key=dead_key(), pid=4242)

    [closed] = close_abandoned(database)

    [end] = _entries(database, AuditAction.BACKTEST_END)
    assert (end.actor, end.entity_id) == (os_user(), str(dead))
    assert (end.payload["status"], end.payload["message"]) == ("failed", closed.message)
    assert close_abandoned(database) == [] and len(_entries(database, AuditAction.BACKTEST_END)) == 1  # closed, said once
    assert AuditLog(database).verify(full=True).ok
