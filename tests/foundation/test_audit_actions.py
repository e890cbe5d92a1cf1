"""The audit log's actions (services/audit_actions.py, docs/audit-log.md): one registry that every
writer names its action from, each action documented row for row, and a name from the registry
stored and hashed as the text it replaced (an old log verifies as before)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.audit import AuditLog, entry_hash
from services.audit_actions import ACTIONS, AuditAction, docs_table, recovery_action
from services.db.models import GENESIS_HASH

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "audit-log.md"
TABLE_START = "<!-- generated: python -m services.audit_actions -->\n"
TABLE_END = "<!-- end of generated table -->"
# a writer of entries, and where its action is among its arguments (``audit(db, actor, action, ...)``,
# ``self._audit(action, ...)``); a writer handed to another call (``self._db(self._audit, action,
# ...)``, ``asyncio.to_thread(audit, db, actor, action, ...)``) has it that far after itself
WRITERS = {"audit": 2, "_audit": 0, "_audit_sync": 0, "AuditEntry": 1}
APPEND_ACTION = 1  # AuditLog.append(actor, action, ...)
NAMED_ELSEWHERE = "recovery_action"  # auto-recovery's decision -> its action, in the registry


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _action_arguments(tree: ast.AST) -> list[ast.expr]:
    """The expression naming the action in every writer's call of ``tree``."""
    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        callee = call.func
        at = WRITERS.get(_name(callee) or "")
        if at is None and isinstance(callee, ast.Attribute) and callee.attr == "append" and (
                "audit" in ast.unparse(callee.value).lower()):
            at = APPEND_ACTION
        if at is not None:
            found += [call.args[at]] if len(call.args) > at else [k.value for k in call.keywords if k.arg == "action"]
        for index, argument in enumerate(call.args):
            at = index + 1 + WRITERS.get(_name(argument) or "", len(call.args))
            if _name(argument) in WRITERS and at < len(call.args):
                found.append(call.args[at])
    return found


def _problem(action: ast.expr) -> str | None:
    """Why ``action`` does not name a registered action (None: it does, or it is a variable the
    type checker holds to ``AuditAction``)."""
    if isinstance(action, ast.Attribute) and _name(action.value) == "AuditAction":
        return None if action.attr in AuditAction.__members__ else f"AuditAction has no {action.attr}"
    if isinstance(action, ast.Name):
        return None
    if isinstance(action, ast.IfExp):
        return _problem(action.body) or _problem(action.orelse)
    if isinstance(action, ast.Call) and _name(action.func) == NAMED_ELSEWHERE:
        return None
    return f"the action spelled out instead of taken from AuditAction: {ast.unparse(action)}"


def _writers_in(package: str) -> list[tuple[str, ast.expr]]:
    return [(f"{path.relative_to(ROOT)}:{action.lineno}", action)
            for path in sorted((ROOT / package).rglob("*.py"))
            for action in _action_arguments(ast.parse(path.read_text(encoding="utf-8")))]


def test_every_writer_names_its_action_from_the_registry():
    writers = _writers_in("services") + _writers_in("app")
    problems = [f"{where}: {problem}" for where, action in writers if (problem := _problem(action))]
    assert problems == []
    named = {AuditAction[node.attr] for _, action in writers for node in ast.walk(action)
             if isinstance(node, ast.Attribute) and _name(node.value) == "AuditAction"}
    by_recovery = {action for action in AuditAction if action.value.startswith("order.recovery_")} - named
    # every name the registry holds is written somewhere (auto-recovery's through its decision)
    assert named | by_recovery == set(AuditAction)
    assert {recovery_action(action.value.removeprefix("order.recovery_")) for action in by_recovery} == by_recovery


@pytest.mark.parametrize("source", [
    'audit(self.db, self.actor, "plan.create", "order_plan", plan.id, {})',
    'audit(self.db, self.actor, f"order.recovery_{decision}", "trade_order", row.id, payload)',
    'await self._db(self._audit, "order.cancel", order_id, {})',
    'await asyncio.to_thread(audit, self.db, self.actor, "reconcile", "account", account, {})',
    'AuditLog(db).append(actor, "snapshot.import", "decision_snapshot", 1, {})',
    'audit(self.db, self.actor, AuditAction.TRADING_HALT if halted else "trading.resume", "trade_settings", 1)',
    'audit(self.db, self.actor, AuditAction.NO_SUCH_ACTION, "trade_settings", 1)',
])
def test_the_scan_finds_an_action_spelled_out(source):
    """The check above fails on a writer that spells its action, in each way a writer calls."""
    [action] = _action_arguments(ast.parse(source))
    assert _problem(action) is not None


def test_every_action_has_its_row_in_the_docs():
    assert set(ACTIONS) == set(AuditAction)
    assert all(doc.when and doc.writer and doc.entity for doc in ACTIONS.values())
    text = DOC.read_text(encoding="utf-8")
    start = text.index(TABLE_START) + len(TABLE_START)
    assert text[start:text.index(TABLE_END, start)].strip() == docs_table()
    rows = [line for line in docs_table().splitlines()[2:]]
    assert [row.split("|")[1].strip(" `") for row in rows] == [action.value for action in ACTIONS]
    assert "docs/audit-log.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_recovery_decision_has_its_action():
    assert recovery_action("skip") is AuditAction.ORDER_RECOVERY_SKIP
    assert recovery_action("cancel_failed") is AuditAction.ORDER_RECOVERY_CANCEL_FAILED
    with pytest.raises(ValueError, match="'replacement'"):
        recovery_action("replacement")  # its own entry, of the new order: not a decision


T0 = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
PAYLOAD = {"run_id": 3, "gross_notional": Decimal("1000.50"), "verdict": "pass"}


def test_a_registered_name_hashes_as_the_text_it_replaced():
    # the hash of this entry as the code wrote it with the literal "plan.create" (before the registry)
    assert entry_hash(GENESIS_HASH, id=1, time=T0, actor="alice", action=AuditAction.PLAN_CREATE, entity_type="order_plan",
                      entity_id="7", payload=PAYLOAD) == "1fff3e37282c4f8111a084cfc4c39219d13fd988ad918c81aa03714fb918eecf"
    for action in AuditAction:
        assert entry_hash(GENESIS_HASH, id=9, time=T0, actor="a", action=action, entity_type=None, entity_id=None,
                          payload={}) == entry_hash(GENESIS_HASH, id=9, time=T0, actor="a", action=action.value,
                                                    entity_type=None, entity_id=None, payload={})


@pytest.mark.parametrize("db_backend", ["sqlite", "mysql"], indirect=True)
def test_an_entry_named_from_the_registry_is_stored_as_plain_text_beside_older_ones(database):
    log = AuditLog(database)
    older = log.append("alice", "plan.create", "order_plan", 7, PAYLOAD, time=T0)  # as written before the registry
    newer = log.append("alice", AuditAction.PLAN_CREATE, "order_plan", 7, PAYLOAD, time=T0)
    assert type(newer.action) is str and newer.action == older.action == "plan.create"
    assert newer.hash == entry_hash(older.hash, id=2, time=T0, actor="alice", action="plan.create", entity_type="order_plan",
                                    entity_id="7", payload={"run_id": 3, "gross_notional": "1000.50", "verdict": "pass"})
    assert [r.action for r in log.list(action=AuditAction.PLAN_CREATE)] == ["plan.create", "plan.create"]
    assert log.verify(full=True).ok
