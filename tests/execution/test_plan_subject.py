"""Several projects (strategies) trade one account, yet the window's confirmation said only
"Send plan 7: 12 orders, gross notional 96,941.70, to the paper account DU1234567?": nothing
said whose snapshot was about to go, and the LIVE dialog called every plan's notional USD
whatever the account's base currency. A preview now says which project and snapshot it was
built from, and the base currency its notionals are in; the confirmation is worded once here
(``PreviewResult.confirm_question``), the window only shows it."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository
from services.domain import TradeMode
from services.execution.runs.records import PlanSubject

pytestmark = pytest.mark.timeout(90)


def _snapshot_from(db, project: str, source_file: str, weights: dict[str, str]) -> int:
    with db.unit_of_work() as session:
        project_row = ProjectRepository(session).get_or_create(project)
        items = [SnapshotItemInput(symbol, Decimal(w)) for symbol, w in weights.items()]
        digest = hashlib.sha256(f"{project}:{source_file}".encode()).hexdigest()
        return SnapshotRepository(session).create_with_items(project_row.id, source_file, digest, items).id


async def test_a_preview_says_whose_plan_it_is_and_the_confirmation_names_them(stack):
    momentum = _snapshot_from(stack.db, "Momentum", "/home/trader/snapshots/momentum_2026-11-21.json", {"AAPL": "0.1"})
    value = _snapshot_from(stack.db, "Value", "value_2026-11-21.csv", {"MSFT": "0.1"})
    first = await stack.service.preview_snapshot("Momentum", momentum, TradeMode.PAPER, portfolio_value=Decimal(100000))
    second = await stack.service.preview_snapshot("Value", value, TradeMode.PAPER, portfolio_value=Decimal(100000))

    # the file's name, not the folder it was imported from; the account's base currency
    assert first.subject == PlanSubject("Momentum", "momentum_2026-11-21.json", "USD")
    assert second.subject == PlanSubject("Value", "value_2026-11-21.csv", "USD")
    plan = first.plan
    assert plan is not None and plan.order_count == 1
    # named by the confirmation's rows, the LIVE dialog's (PreviewResult.confirm_rows)
    assert first.confirm_question("paper", "DU1234567") == (
        f"Send plan {plan.id}: 1 order, gross notional {plan.gross_notional:,.2f} USD, to the paper account DU1234567?\n\n"
        f"Project: Momentum\nSnapshot: momentum_2026-11-21.json\nBuys: 1 order: about {plan.gross_notional:,.2f} USD")
    assert "\nProject: Value\nSnapshot: value_2026-11-21.csv\n" in second.confirm_question("paper", "DU1234567")


def test_a_snapshot_path_written_on_windows_is_named_by_its_file():
    assert PlanSubject.of("P", r"C:\Users\trader\momentum.csv", "EUR") == PlanSubject("P", "momentum.csv", "EUR")
    assert PlanSubject.of("P", None, "") == PlanSubject("P", "", None)
