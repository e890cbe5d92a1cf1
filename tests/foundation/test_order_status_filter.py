"""The order statuses typed on the command line (`orders --status filled,rejected`) are read by
the filters' module (services/core/record_filters.py), not by the command: any case, spaces
around each, a status the console does not know refused naming the ones it knows."""

from __future__ import annotations

import pytest

from services.domain import OrderState

KNOWN = ", ".join(s.value for s in OrderState)


def test_statuses_are_read_in_any_case_and_an_unknown_one_is_refused_with_the_known_ones():
    from services.core.record_filters import BadStatus, order_statuses

    assert order_statuses(" filled, Rejected ,") == (OrderState.FILLED, OrderState.REJECTED)
    with pytest.raises(BadStatus) as refused:
        order_statuses("filled,done")
    assert str(refused.value) == f"unknown status in 'filled,done'; known: {KNOWN}"


def test_the_orders_command_says_the_filters_words(database, db_url, capsys):
    from app.cli import EXIT_BAD_INPUT, main

    capsys.readouterr()
    assert main(["--db-url", db_url, "orders", "--status", "filled,done"]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.strip() == f"trading-console: unknown status in 'filled,done'; known: {KNOWN}"


@pytest.mark.parametrize("typed", [",", " , ,", ""])
def test_a_selection_with_no_status_in_it_is_refused_with_the_known_ones(typed):
    # An empty selection would list nothing and look like "no such orders"; it is a typing slip.
    from services.core.record_filters import BadStatus, order_statuses

    with pytest.raises(BadStatus) as refused:
        order_statuses(typed)
    assert str(refused.value) == f"no status in {typed!r}; known: {KNOWN}"


@pytest.mark.parametrize("typed", [",", ""])
def test_the_orders_command_refuses_an_empty_selection_as_bad_input(database, db_url, capsys, typed):
    from app.cli import EXIT_BAD_INPUT, main

    capsys.readouterr()
    assert main(["--db-url", db_url, "orders", "--status", typed]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.err.strip() == f"trading-console: no status in {typed!r}; known: {KNOWN}"
    assert captured.out == ""
