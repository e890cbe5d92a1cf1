"""Audit entries for execution: a thin adapter over the foundation's ``services.audit.AuditLog``
(hash-chained). The actor of user actions is the operating-system user."""

from __future__ import annotations

import getpass
import os
from typing import Any

from services.audit import AuditLog
from services.audit_actions import AuditAction


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER") or os.environ.get("USERNAME") or f"uid:{os.getuid()}"


def audit(db, actor: str, action: AuditAction, entity_type: str | None, entity_id: Any, payload: dict | None = None, *, session=None) -> None:
    """Append one audit entry (in ``session``'s transaction when given); ``action`` from the
    registry (services.audit_actions, docs/audit-log.md)."""
    AuditLog(db).append(actor, action, entity_type, None if entity_id is None else str(entity_id), payload or {}, session=session)
