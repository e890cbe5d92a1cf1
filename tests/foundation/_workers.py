"""Functions run in child processes (multiprocessing, spawn) by the concurrency tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def insert_fills(url: str, order_id: int, exec_ids: list[str], barrier, results) -> None:
    """Wait for every racer, then insert the same executions; report (exec_id, created, id)."""
    from services.db import Database
    from services.db.repositories import FillRepository

    database = Database(url)
    try:
        barrier.wait(timeout=60)
        out = []
        for exec_id in exec_ids:
            with database.unit_of_work() as session:
                fill, created = FillRepository(session).insert_once(
                    exec_id, order_id, "AAPL", "BUY", Decimal(1), Decimal("100.5"), T0
                )
                out.append((exec_id, created, fill.id))
        results.put(("ok", out))
    except BaseException as exc:  # report, do not hang the parent
        results.put(("error", repr(exc)))
    finally:
        database.dispose()


def insert_one_fill(url: str, order_id: int, exec_id: str, started, results) -> None:
    from services.db import Database
    from services.db.repositories import FillRepository

    database = Database(url)
    try:
        started.set()
        with database.unit_of_work() as session:
            fill, created = FillRepository(session).insert_once(exec_id, order_id, "AAPL", "BUY", 1, "100.5", T0)
            results.put(("ok", (created, fill.id)))
    except BaseException as exc:
        results.put(("error", repr(exc)))
    finally:
        database.dispose()


def append_audit(url: str, actor: str, count: int, barrier, results) -> None:
    from services.audit import AuditLog
    from services.db import Database

    database = Database(url)
    try:
        log = AuditLog(database)
        barrier.wait(timeout=60)
        ids = [log.append(actor, "test.append", "worker", actor, {"n": n, "amount": Decimal("1.25")}).id for n in range(count)]
        results.put(("ok", ids))
    except BaseException as exc:
        results.put(("error", repr(exc)))
    finally:
        database.dispose()
