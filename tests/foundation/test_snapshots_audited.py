"""Every stored snapshot is on the audit record, as an import is (services.console_queries.
store_snapshot, the one way a snapshot file is stored): the demo's two sample snapshots were
stored with no actor and so with no entry, and the demo database's audit chain began at
project.capital, its snapshots nowhere in it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.audit import AuditLog
from services.db.models import DecisionSnapshot

pytestmark = pytest.mark.timeout(120)


def test_the_demos_sample_snapshots_are_audited_as_an_import_is(database):
    from app.composition import DEMO_PROJECT, DEMO_SNAPSHOTS, seed_demo_data

    assert seed_demo_data(database) == len(DEMO_SNAPSHOTS)

    with database.session() as session:
        stored = {str(row.id): row.source_file for row in session.scalars(select(DecisionSnapshot))}
    entries = AuditLog(database).list()
    imports = [e for e in entries if e.action == "snapshot.import"]
    assert {e.entity_id: e.payload["source"] for e in imports} == stored
    assert sorted(stored.values()) == sorted(DEMO_SNAPSHOTS)
    assert {(e.actor, e.entity_type, e.payload["project"], e.payload["created"]) for e in imports} == {
        ("demo", "decision_snapshot", DEMO_PROJECT, True)}
    # the chain begins with them, the project's capital after
    assert [e.action for e in entries] == ["snapshot.import"] * len(DEMO_SNAPSHOTS) + ["project.capital"]
