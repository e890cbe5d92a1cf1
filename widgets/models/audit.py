"""The audit log's entries (append-only, keyed by entry id)."""

from __future__ import annotations

import json

from services.core.wording import audit_entity
from services.domain import AuditRecord

from .base import RIGHT, CoalescingTableModel, Column, fmt_time


def payload_text(record: AuditRecord) -> str:
    return json.dumps(record.payload, sort_keys=True, default=str, separators=(",", ":"))


class AuditModel(CoalescingTableModel[AuditRecord]):
    ID, TIME, ACTOR, ACTION, ENTITY, PAYLOAD, HASH = range(7)

    columns = (
        # widths seen at 1366x768: Qt's default 100 px cut the entity ("trade…") and the longer
        # actions, and gave the id's few digits as much
        Column("#", lambda a: a.id, align=RIGHT, mutable=False, width=60),
        Column("Time", lambda a: a.time, fmt=fmt_time, mutable=False, width=170),
        Column("Actor", lambda a: a.actor, mutable=False, width=90),
        Column("Action", lambda a: a.action, mutable=False, width=220),  # run.unsent_closed_by_cancel_all
        Column("Entity", lambda a: audit_entity(a.entity_type, a.entity_id), mutable=False, width=150),
        Column("Payload", payload_text, mutable=False, tooltip=payload_text, width=420),
        Column("Hash", lambda a: a.hash[:12], mutable=False, tooltip=lambda a: f"{a.hash}\nprev {a.prev_hash}",
               export=lambda a: a.hash),
    )

    #: Newest entry first (entry ids grow with time).
    order_key = staticmethod(lambda a: a.id)

    def actions(self) -> list[str]:
        return sorted({a.action for a in self._rows})
