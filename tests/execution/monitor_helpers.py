"""What the watch and monitor-mode tests share: a paper run with one rejected order, sent by an
`execute` subprocess, and a fingerprint of every table (what "never writes" is checked against)."""

from __future__ import annotations

from sqlalchemy import select

from services.db.models import TradeOrder

from .cli_helpers import cli_args
from .conftest import make_snapshot

SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA")
REJECTED = "NVDA"  # the simulator rejects it: a final status other than FILLED


def stored_orders(database) -> dict[int, TradeOrder]:
    with database.session() as session:
        return {o.id: o for o in session.scalars(select(TradeOrder))}


def table_fingerprint(database) -> dict[str, list]:
    """Every row of every table: what "never writes" is checked against."""
    from services.db.models import Base

    with database.session() as session:
        return {table.name: [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key.columns))]
                for table in Base.metadata.sorted_tables}


def paper_run_args(db_url: str, port: int, snapshot_id: int, project: str, client_id: int = 1) -> list[str]:
    return cli_args(db_url, port, "execute", "--snapshot", str(snapshot_id), "--project", project, "--mode", "paper",
                    "--portfolio-value", "200000", "--wait-seconds", "20", "--json", client_id=client_id)


def prepare_run(database, simulator, project: str) -> int:
    simulator.faults.reject_symbols.add(REJECTED)
    _, snapshot_id = make_snapshot(database, project, {symbol: "0.02" for symbol in SYMBOLS})
    return snapshot_id
