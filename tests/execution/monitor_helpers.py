"""What the watch and monitor-mode tests share: a paper run with one rejected order, sent by an
`execute` subprocess, and a fingerprint of every table (what "never writes" is checked against)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

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


class LandingRecorder:
    """When each order status first became visible in the database (it "landed": committed),
    seen by a reader of its own that looks every 50 ms, in a thread."""

    def __init__(self, database) -> None:
        self.database = database
        self.first_seen: dict[tuple[int, str], datetime] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, name="landings", daemon=True)
        self._thread.start()

    def _record(self) -> None:
        while not self._stop.wait(0.05):  # the recorder's sampling period
            self._sample()

    def _sample(self) -> None:
        with self.database.session() as session:
            rows = session.execute(select(TradeOrder.id, TradeOrder.status)).all()
        now = datetime.now(UTC)
        for order_id, status in rows:
            self.first_seen.setdefault((order_id, str(status)), now)

    def stop(self) -> None:
        """Stopped once what it records has landed: a last look, for a status that landed in the
        last sampling period (a command that ended within 50 ms of its last write, as a child
        forked ready-imported does, tests/fixtures/forked_app.py)."""
        self._stop.set()
        self._thread.join(10)
        self._sample()
