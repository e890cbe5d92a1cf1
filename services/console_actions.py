"""The console window's own writes outside the execution layer, each recorded in the audit log.
Synchronous: run them off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from services import console_queries as queries


def import_snapshot_audited(db, actor: str, path: str | Path, project: str) -> queries.ImportOutcome:
    """Validate and store a snapshot file (nothing stored when it has a problem); a stored one
    is audited as ``snapshot.import`` in the same transaction. Raises OSError / ValueError for
    an unreadable file."""
    return queries.import_snapshot(db, path, project, actor=actor)
