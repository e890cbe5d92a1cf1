"""A backtest's parameters are stored as the JSON they are (the backtest's row, ``params``, and its
``backtest.start`` audit entry): the builder's values went in through ``str``, so "Sell holdings not
in the snapshot" was stored as the text "True" (and its opposite as "False", which any reader
taking it for a flag would read as yes). Now a flag is a JSON boolean, an amount its exact text, a
whole number a number. The rows written before still read: the list of backtests, ``--show`` and
the panel's stored outcome read the projects and the results, never the builder's values."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from services.audit import AuditLog
from services.audit_actions import AuditAction
from services.backtest.costs import FillAt
from services.backtest.listing import list_backtests, stored_outcome
from services.backtest.prices import PriceBook
from services.backtest.requests import as_json, load_backtest
from services.backtest.runner import Backtester, BacktestSpec
from services.db.models import Backtest
from services.db.session import json_dumps

from .data import generated_bars, monthly_snapshots

SYMBOLS = [f"P{i:02d}" for i in range(12)]
START, END = date(2024, 1, 2), date(2024, 2, 29)
BUILDER = {"rounding": "floor", "lot_size": Decimal("1"), "cash_buffer": Decimal("0.0250"), "liquidate_unlisted": True}
STORED = {"rounding": "floor", "lot_size": "1", "cash_buffer": "0.0250", "liquidate_unlisted": True}


def test_the_builders_values_are_stored_as_json_says_them():
    spec = BacktestSpec(Decimal("20000.50"), FillAt.CLOSE, Decimal("2.5"), "none",
                        {**BUILDER, "liquidate_unlisted": False, "lot_size": 100}, start=START, end=END)
    stored = spec.to_dict()
    assert stored["builder"] == {**STORED, "liquidate_unlisted": False, "lot_size": 100}
    assert stored["initial_cash"] == "20000.50" and stored["slippage_bps"] == "2.5"
    assert json.loads(json_dumps(stored)) == stored  # as the database gives it back


async def test_a_stored_backtest_keeps_its_flag_a_flag_and_the_rows_written_before_still_read(database, db_url, capsys):
    from app.cli import main

    spec = BacktestSpec(Decimal(20_000), FillAt.CLOSE, commission="none", builder=dict(BUILDER), start=START, end=END)
    snapshots = monthly_snapshots(SYMBOLS, START, END, "north", seed=7)
    outcome = await Backtester(database, PriceBook(generated_bars(SYMBOLS, date(2023, 12, 20), END)), snapshots,
                               spec).run()
    new = outcome.backtest_id
    [start] = AuditLog(database).list(action=AuditAction.BACKTEST_START)
    assert start.payload["params"]["builder"] == STORED
    with database.session() as session:
        row = session.get(Backtest, new)
        assert row.params["builder"] == STORED
        # a row as the code before stored it: every builder value its text
        old = Backtest(status=row.status, finished_at=row.finished_at, results=row.results, summary=row.summary,
                       message=row.message, params={**row.params, "builder": {k: str(v) for k, v in BUILDER.items()}})
        session.add(old)
        session.flush()
        written_before = old.id
    with database.session() as session:
        assert session.scalar(select(Backtest.params).where(Backtest.id == written_before))["builder"][
            "liquidate_unlisted"] == "True"

    assert load_backtest(database, new).params["builder"]["liquidate_unlisted"] is True
    listed = {b.id: b for b in list_backtests(database)}
    assert listed[new].projects == listed[written_before].projects == ("north",)
    assert listed[new].final_equity == listed[written_before].final_equity
    shown = {}
    for backtest_id in (new, written_before):
        assert json.loads(json.dumps(as_json(stored_outcome(database, backtest_id)), default=str))["run_id"] == backtest_id
        capsys.readouterr()
        assert main(["--db-url", db_url, "backtests", "--show", str(backtest_id), "--json"]) == 0
        shown[backtest_id] = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in shown[new].items() if k not in ("run_id", "params", "settings")} == \
           {k: v for k, v in shown[written_before].items() if k not in ("run_id", "params", "settings")}
    # the settings said alike: the old row's "True" read as the flag it was
    assert shown[new]["settings"].replace(f"backtest {new} ", "") == \
           shown[written_before]["settings"].replace(f"backtest {written_before} ", "")
    assert "holdings absent from a snapshot sold" in shown[written_before]["settings"]
    assert AuditLog(database).verify(full=True).ok
