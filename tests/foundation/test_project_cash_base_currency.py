"""A project's cash needs the account's base currency (services.books.project_books, what the
``positions`` command prints): an account whose base is the euro, a project with a capital of
5,000 (euros) holding 10 AAPL bought at 100 dollars. With no rates stored the base is not known
and the cash is "no rates yet"; once the account's rates are stored (EUR, USD at 0.90) it is
5,000 - 1,000 x 0.90. Before, with none stored the base was taken to be USD and the command
printed 4,000.00: euros of capital less dollars of cost, one for one.

The command runs through ``app.cli.main`` in this process (tests/foundation/test_trade_settings_cli.py
says why)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.cli import main
from services.books import project_books
from services.db.repositories import PositionRepository, ProjectRepository
from services.db.repositories.portfolio import EquityRepository

pytestmark = pytest.mark.timeout(60)
ACCOUNT = "DU222"


def _eur_account_with_dollars(database) -> None:
    with database.unit_of_work() as session:
        project = ProjectRepository(session).create("alpha")
        project.capital = Decimal(5000)
        for project_id in (None, project.id):  # the account's row and the project's, the same 10 shares
            PositionRepository(session).upsert(ACCOUNT, "AAPL", Decimal(10), Decimal(100), project_id=project_id)


def _books_said(db_url: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["--db-url", db_url, "--log-level", "WARNING", "positions", "--json"]) == 0
    [book] = json.loads(capsys.readouterr().out)["books"]
    return book


def test_without_the_base_currency_a_projects_cash_is_unknown_and_with_it_right(database, db_url, capsys):
    _eur_account_with_dollars(database)
    [before] = project_books(database)
    assert (before.capital, before.cash, before.figures.base, before.figures.no_cash_because) == (
        Decimal(5000), None, None, "no rates yet")
    assert (before.figures.currency, before.figures.market_value) == ("USD", None)  # its dollars as they are (no mark)
    said = _books_said(db_url, capsys)
    assert (said["cash"], said["base"], said["missing_rates"]) == (None, None, ["USD"])

    with database.unit_of_work() as session:
        EquityRepository(session).store_rates(ACCOUNT, "EUR", {"USD": Decimal("0.90")})
    [after] = project_books(database)
    assert (after.cash, after.figures.base, after.figures.rates) == (Decimal(4100), "EUR", (("USD", Decimal("0.90")),))
    said = _books_said(db_url, capsys)
    assert (Decimal(said["cash"]), said["base"], said["missing_rates"]) == (Decimal(4100), "EUR", [])
