"""A book per project, pure (docs/project-books.md): unassigned rests, project cash, book
mismatches, and the account-level rules on top of a project's own through the one pipeline."""

from __future__ import annotations

from decimal import Decimal as D

from services.core.account_risk import AccountView
from services.core.books import (
    UNASSIGNED,
    BookLine,
    book_mismatches,
    flatten_order,
    parse_capital,
    project_cash,
    unassigned_lines,
)
from services.core.builder import BuildParams, Target
from services.core.pipeline import RiskFacts, build_and_check
from services.core.positions_book import PositionState, apply_fill
from services.core.risk import DEFAULT_RISK_LIMITS
from services.domain import Side

RELAXED = {**DEFAULT_RISK_LIMITS, "max_position_ratio": None, "max_order_notional": None}
PRICES = {"AAPL": D(100), "MSFT": D(200)}


def test_unassigned_is_the_account_less_every_project_with_the_rest_of_cost_and_pnl():
    account = [BookLine(None, "DU1", "AAPL", D(33), D(100), D(9)), BookLine(None, "DU1", "MSFT", D(5), D(200))]
    projects = [BookLine("alpha", "DU1", "AAPL", D(10), D(90), D(2)), BookLine("beta", "DU1", "AAPL", D(20), D(105), D(5)),
                BookLine("beta", "DU1", "MSFT", D(5), D(200))]
    [rest] = unassigned_lines(account, projects)
    assert (rest.project, rest.symbol, rest.quantity) == (UNASSIGNED, "AAPL", D(3))
    assert rest.quantity * rest.average_cost == 3300 - 900 - 2100  # the rest of the cost basis
    assert rest.realized_pnl == D(2)
    # a project holding what the account has no row for is a negative rest: shown, never hidden
    [odd] = unassigned_lines([], [BookLine("alpha", "DU1", "IBM", D(4), D(50), D(3))])
    assert (odd.symbol, odd.quantity) == ("IBM", D(-4))
    # measured as from a flat account row: the same rest whether IB's flat row is stored or not
    [flat] = unassigned_lines([BookLine(None, "DU1", "IBM", D(0), D(0))], [BookLine("alpha", "DU1", "IBM", D(4), D(50), D(3))])
    assert (odd.quantity, odd.average_cost, odd.realized_pnl) == (flat.quantity, flat.average_cost, flat.realized_pnl) == (
        D(-4), D(50), D(-3))


def test_project_cash_is_capital_less_net_cost_plus_realized():
    state, _ = apply_fill(PositionState(), D(10), D(100), D(1))  # pays 1001
    assert project_cash(D(5000), [BookLine("a", "DU1", "AAPL", state.quantity, state.average_cost)]) == D(3999)
    state, _ = apply_fill(state, D(-10), D(110), D(1))  # receives 1099: flat, realized 98
    assert state.realized_pnl == D(98)
    assert project_cash(D(5000), [BookLine("a", "DU1", "AAPL", state.quantity, state.average_cost, state.realized_pnl)]) == D(5098)
    short, _ = apply_fill(PositionState(), D(-10), D(100), D(1))  # receives 999
    assert project_cash(D(5000), [BookLine("a", "DU1", "AAPL", short.quantity, short.average_cost)]) == D(5999)
    assert project_cash(None, []) is None


def test_book_mismatches_are_books_holding_what_the_broker_does_not():
    broker = {("DU1", "AAPL"): D(8), ("DU1", "MSFT"): D(2), ("DU1", "IBM"): D(-5)}
    books = {("DU1", "AAPL"): D(8), ("DU1", "MSFT"): D(3), ("DU1", "IBM"): D(-2), ("DU1", "NVDA"): D(1)}
    assert [(m.symbol, m.broker, m.books) for m in book_mismatches(broker, books)] == [
        ("MSFT", D(2), D(3)), ("NVDA", D(0), D(1))]


def _check(targets, capital, positions, account=None, facts=None):
    return build_and_check([Target(s, D(w)) for s, w in targets.items()], BuildParams(portfolio_value=D(capital)),
                           prices=PRICES, positions=positions, limits=RELAXED, facts=facts or RiskFacts(), account=account)


def test_two_projects_each_passing_alone_are_blocked_together_by_the_account_gross_exposure():
    # A holds 5,400 (0.9 of its 6,000); B builds the same from its empty book
    a_alone = _check({"AAPL": "0.9"}, 6000, {})
    b_alone = _check({"AAPL": "0.9"}, 6000, {}, AccountView(D(10000), {}))
    assert not a_alone[1].blocked and not b_alone[1].blocked
    together = AccountView(D(10000), {"AAPL": D(54)})  # the broker's: A's shares
    result, report = _check({"AAPL": "0.9"}, 6000, {}, together)
    assert [d.quantity for d in result.orders] == [D(54)]  # B's own book, not the account's
    assert report.blocked and [b.rule for b in report.all_blocks()] == ["account_gross_exposure"]
    assert "108.00% of the account's NetLiquidation (every project together), above 100.00%" in report.run_blocks[0].message
    assert {"max_gross_exposure", "account_gross_exposure", "account_daily_orders"} <= set(report.rules)


def test_account_daily_orders_and_buying_power():
    facts = RiskFacts(orders_today=0, account_orders_today=500)  # the project sent nothing, the account 500
    _, report = _check({"AAPL": "0.5"}, 6000, {}, AccountView(D(10000), {}), facts)
    assert [b.code for b in report.all_blocks()] == ["account_daily_orders"]
    _, report = _check({"AAPL": "0.5", "MSFT": "0.4"}, 6000, {}, AccountView(D(10000), {}, buying_power=D(5000)))
    [block] = report.all_blocks()
    assert block.rule == "account_buying_power" and "5400.00" in block.message
    _, report = _check({"AAPL": "0.5"}, 6000, {}, AccountView(None, {}))
    assert [b.rule for b in report.run_blocks] == ["account_gross_exposure"]  # unknown NetLiquidation: no guess
    _, report = _check({"AAPL": "0.5"}, 6000, {})  # offline (no account): the project's rules alone
    assert not report.blocked and "account_gross_exposure" not in report.rules


def test_flatten_sells_a_long_holding_and_buys_back_a_short_one():
    assert flatten_order(D(30)) == ("SELL", D(30))
    assert flatten_order(D(-12)) == ("BUY", D(12))
    assert flatten_order(D(0)) is None


def test_a_capital_is_a_positive_amount_below_1e10_or_off():
    assert parse_capital("1,000") == D(1000) and parse_capital("off") is None and parse_capital("") is None
    assert parse_capital("9,999,999,999") == D(9999999999)  # what a plan's portfolio value keeps
    for bad in ("-5", "0", "abc", "1e10", "1e15", "NaN"):
        try:
            parse_capital(bad)
        except ValueError as exc:
            assert repr(bad) in str(exc) or "capital" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_the_projects_rules_measure_its_book_as_if_its_working_orders_filled():
    """The builder and the project's rules take the same book (docs/project-books.md): its
    filled positions plus its own orders still working. A working sell of all 10 AAPL held:
    dropping AAPL again builds nothing (before: a second SELL 10, which the short-sale rule
    passed against the 10 filled, the project short once both filled)."""
    limits = {**RELAXED, "allow_short": False}
    targets = [Target("AAPL", D(0))]
    params = BuildParams(portfolio_value=D(6000))
    result, report = build_and_check(targets, params, prices=PRICES, positions={"AAPL": D(10)}, working={"AAPL": D(-10)},
                                     limits=limits)
    assert result.orders == () and not report.blocked
    # a sell the book makes from shares still being bought: blocked, it would go short should it
    # fill before the buy (the trader cancels the buy instead)
    result, report = build_and_check(targets, params, prices=PRICES, positions={"AAPL": D(4)}, working={"AAPL": D(6)},
                                     limits=limits)
    assert [(d.side, d.quantity, d.current_quantity) for d in result.orders] == [(Side.SELL, D(10), D(10))]
    [block] = report.all_blocks()
    assert block.rule == "short_sale"
    assert "counts on the buy of 6 not yet filled (the book holds 4 without it)" in block.message
    # one that sells no more than is filled passes
    result, report = build_and_check([Target("AAPL", D("0.1"))], params, prices=PRICES, positions={"AAPL": D(4)},
                                     working={"AAPL": D(6)}, limits=limits)
    assert [(d.side, d.quantity) for d in result.orders] == [(Side.SELL, D(4))]  # 6 wanted of 10
    assert not report.blocked, report.all_blocks()
    # a working buy netted against a working sell is still a buy: filled 10, a sell of 10 and a
    # buy of 10 working (net 0); selling 10 more counts on the buy (both sells filling before it
    # leave the project 10 short). Before, the rule saw the net 0 and passed it
    result, report = build_and_check(targets, params, prices=PRICES, positions={"AAPL": D(10)}, working={"AAPL": D(0)},
                                     working_buys={"AAPL": D(10)}, limits=limits)
    assert [(d.side, d.quantity) for d in result.orders] == [(Side.SELL, D(10))]
    [block] = report.all_blocks()
    assert block.rule == "short_sale" and "counts on the buy of 10 not yet filled (the book holds 0 without it)" in block.message
    # the position limit sees the working buy as held: 0.5 of 6,000 is 30 AAPL, 20 are coming
    capped = {**limits, "max_position_ratio": D("0.4")}
    result, report = build_and_check([Target("AAPL", D("0.5"))], params, prices=PRICES, positions={}, working={"AAPL": D(20)},
                                     limits=capped)
    assert [(d.side, d.quantity) for d in result.orders] == [(Side.BUY, D(10))]
    assert [b.rule for b in report.all_blocks()] == ["max_position_ratio"]


def test_a_capital_finer_than_a_plan_keeps_is_refused_not_stored_rounded():
    """A capital is a plan's portfolio value when none is given: its ninth decimal was stored
    rounded without a word."""
    import pytest

    with pytest.raises(ValueError) as refused:
        parse_capital("1,000.123456789")
    assert str(refused.value) == "capital '1,000.123456789' has more than 8 decimal places (it would be stored rounded)"
    assert parse_capital("1,000.12345678") == D("1000.12345678")



def test_unassigned_shares_are_said_with_the_assign_command_quoted_for_the_shell():
    """held_unassigned: the shares no project's book holds, for a sale that goes short in its
    book; nothing when none (or a short rest: nothing a sale could take)."""
    from services.core.books import held_unassigned

    assert held_unassigned("AAPL", "desk", D(0)) == held_unassigned("AAPL", "desk", D(-3)) == ""
    assert held_unassigned("SAP@IBIS:EUR", "my desk", D("1.5")) == (
        "the account's SAP@IBIS:EUR is unassigned, in no project's book (1.5 held): assign it to my desk's "
        "book to sell it there (`assign --symbol SAP@IBIS:EUR --quantity 1.5 --project 'my desk' --cost PRICE`, "
        "PRICE what each share cost; or the Positions panel's Assign to project… on its unassigned line)")
