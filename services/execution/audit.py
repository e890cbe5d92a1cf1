"""Audit entries for execution: a thin adapter over the foundation's ``services.audit.AuditLog``
(hash-chained). The actor of user actions is the operating-system user."""

from __future__ import annotations

import getpass
import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return os.environ.get("USER") or os.environ.get("USERNAME") or f"uid:{os.getuid()}"


def audit(db, actor: str, action: str, entity_type: str | None, entity_id: Any, payload: dict | None = None, *, session=None) -> None:
    """Append one audit entry (in ``session``'s transaction when given)."""
    try:
        from services.audit import AuditLog
    except ImportError:  # the foundation's audit module not there yet: log only
        log.info("audit %s %s %s/%s %s", actor, action, entity_type, entity_id, payload)
        return
    AuditLog(db).append(actor, action, entity_type, None if entity_id is None else str(entity_id), payload or {}, session=session)
