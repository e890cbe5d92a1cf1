"""The audit panel's refresh after an action, on chains of 1,000 and 100,000 entries: one entry
appended (the action), the entries newer than the panel's newest loaded, the chain verified from
the stored checkpoint. Measured against the full walk of the same chains in the same run.

    python3 dev.py bench audit_refresh [--sizes 1000,100000] [--actions N] [--db-url URL]

Default database: a temporary SQLite file per chain (``--db-url`` measures another, emptied
first: its audit tables are replaced). Goal: the refresh costs the same on both chains (ratio
100,000 / 1,000 within 1.5x) while the full walk grows with the chain.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _fresh_database(url: str | None, folder: str, size: int):
    import logging

    from sqlalchemy import text

    from services.db import Database
    from services.db.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    url = url or f"sqlite:///{folder}/audit_{size}.sqlite3"
    upgrade(url)
    db = Database(url)
    with db.engine.begin() as c:
        for table in ("audit_checkpoint", "audit_chain_head", "audit_logs"):
            c.execute(text(f"DELETE FROM {table}"))
    return db


def _build(db, size: int) -> float:
    from services.audit import AuditEntry, AuditLog

    started = time.perf_counter()
    AuditLog(db).append_many(AuditEntry("bench", "order.submit", "trade_order", k, {"qty": str(k % 9), "n": k}, T0)
                             for k in range(size))
    return time.perf_counter() - started


def _refresh_times(log, actions: int) -> list[float]:
    """What the controller does after each action (app/controllers/audit.py, AuditController.refresh)."""
    shown = log.list(limit=1, newest_first=True)[0].id
    times = []
    for n in range(actions):
        log.append("bench", "trading.halt", "trade_settings", 1, {"n": n})
        started = time.perf_counter()
        new = log.entries_after(shown, limit=5_000)
        result = log.verify()
        times.append(time.perf_counter() - started)
        if not result.ok or result.walked != 1 or len(new) != 1:
            raise RuntimeError(f"unexpected refresh: {result}, {len(new)} new entries")
        shown = new[-1].id
    return times


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench audit_refresh",
                                     description="An action's audit refresh on short and long chains, against the full walk.")
    parser.add_argument("--sizes", default="1000,100000", help="chain lengths, comma separated (first = baseline)")
    parser.add_argument("--actions", type=int, default=30, help="actions (refreshes) measured per chain")
    parser.add_argument("--db-url", default=None, help="default: a temporary SQLite file per chain")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    from services.audit import AuditLog

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            db = _fresh_database(args.db_url, folder, size)
            try:
                built = _build(db, size)
                log = AuditLog(db)
                started = time.perf_counter()
                full = log.verify(full=True)  # also sets the checkpoint, as the first verification does
                walk = time.perf_counter() - started
                if not full.ok or full.checked != size:
                    raise RuntimeError(f"the generated chain does not verify: {full}")
                refresh = statistics.median(_refresh_times(log, args.actions))
            finally:
                db.dispose()
            rows.append((size, built, walk, refresh))
            print(f"{size:>9,} entries: generated in {built:.2f} s; full walk {walk * 1000:,.0f} ms; "
                  f"refresh after an action {refresh * 1000:.2f} ms (median of {args.actions})", flush=True)
    (base, _, base_walk, base_refresh), (top, _, top_walk, top_refresh) = rows[0], rows[-1]
    ratio = top_refresh / base_refresh
    print(f"refresh {top:,} / {base:,} entries: ratio {ratio:.2f} (goal <= 1.5)")
    print(f"full walk {top:,} / {base:,} entries: ratio {top_walk / base_walk:.1f}; "
          f"at {top:,} entries the refresh costs {top_refresh / top_walk * 100:.2f} % of a full walk "
          f"({top_walk / top_refresh:,.0f}x less)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
