"""The console window's own writes outside the execution layer, each recorded in the audit log.
Synchronous: run them off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from services import console_queries as queries


def import_snapshot_audited(db, audit, actor: str, path: str | Path, project: str) -> queries.ImportOutcome:
    """Validate and store a snapshot file (nothing stored when it has a problem); a stored one
    is audited as ``snapshot.import``. Raises OSError / ValueError for an unreadable file."""
    outcome = queries.import_snapshot(db, path, project)
    if outcome.ok:
        audit.append(actor, "snapshot.import", "decision_snapshot", outcome.snapshot_id,
                     {"source": outcome.parsed.source_name, "project": project,
                      "items": len(outcome.parsed.items), "created": outcome.created})
    return outcome
