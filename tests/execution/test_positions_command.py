"""`trading-console positions` (a real subprocess, read-only) and the equity recorder that stores
the marks and equity snapshots it and the window read, on SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services import console_queries as queries
from services.core.typed_numbers import plain
from services.db import Database
from services.db.models import EquitySnapshot, TradeFill
from services.domain import OrderState, Side
from services.execution.equity import EquityRecorder
from tests.fixtures.waiting import wait_until

from .cli_helpers import cli_args, run
from .conftest import build_stack
from .test_actions import _settle

pytestmark = pytest.mark.timeout(120)


def _positions_cli(db_url, *rest):
    return run(cli_args(db_url, 0, "positions", *rest, connection=False))


async def _commissions_in(stack) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while True:
        await stack.writer.flush()
        with stack.db.session() as session:
            if session.scalar(select(func.count()).select_from(TradeFill).where(TradeFill.commission.is_(None))) == 0:
                return
        assert loop.time() < end, "commission reports never arrived"
        await asyncio.sleep(0.01)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_positions_command_and_stored_marks(stack, db_url):
    for ref, project, side, quantity in (("P-1", "alpha", Side.BUY, 10), ("P-2", "beta", Side.BUY, 5), ("P-3", "alpha", Side.SELL, 4)):
        record = await stack.actions.manual_order("AAPL", side, Decimal(quantity), project=project, client_order_id=ref)
        await _settle(stack, record.id, {OrderState.FILLED})
    await _commissions_in(stack)

    before = queries.position_lines(stack.db)  # what the command prints, read in-process
    assert {(r.project, r.quantity) for r in before} == {(None, Decimal(11)), ("alpha", Decimal(6)), ("beta", Decimal(5))}
    with stack.db.session() as session:
        filled = {f.order_ref: f for f in session.scalars(select(TradeFill))}
    # before any equity recorder ran, every row of AAPL is marked by its newest fill, P-3's: beta's
    # row, which P-3 did not move, said P-2's older price beside the account's (one listing at two
    # prices; services.position_marks.newest_marks), and the window's tree starts from the same
    assert {r.project: (r.market_price, r.marked_at) for r in before} == {
        project: (filled["P-3"].price, filled["P-3"].fill_time) for project in (None, "alpha", "beta")}
    assert {p.market_price for p in queries.positions(stack.db) if p.symbol == "AAPL"} == {filled["P-3"].price}
    text = await _positions_cli(db_url)
    assert text.code == 0, text.err
    assert "no mark" not in text.out and "(account)" in text.out and "alpha" in text.out
    # the prices read as the window's positions tree shows them: each column to its most precise
    # price's places, two to four ("229.4500" before)
    alpha = next(line.split() for line in text.out.splitlines() if line.startswith("alpha "))
    line = next(r for r in before if r.project == "alpha")

    def places(prices) -> int:
        return max(2, min(4, max(-p.normalize().as_tuple().exponent for p in prices)))

    cost, mark = places(r.average_cost for r in before), places(r.market_price for r in before)
    assert alpha[3:6] == ["6", f"{line.average_cost:,.{cost}f}", f"{line.market_price:,.{mark}f}"], text.out

    sample = await EquityRecorder(stack.db, stack.provider).sample()
    assert sample is not None and set(sample.marks) == {"AAPL"}
    mark = sample.marks["AAPL"]

    after = await _positions_cli(db_url, "--json")
    assert after.code == 0, after.err
    rows = {r["project"]: r for r in after.json["positions"]}
    with stack.db.session() as session:
        fills = {f.order_ref: f for f in session.scalars(select(TradeFill))}
    alpha, account = rows["alpha"], rows[None]
    assert Decimal(alpha["market_price"]) == mark and alpha["marked_at"] is not None
    assert Decimal(alpha["market_value"]) == 6 * mark
    assert Decimal(alpha["unrealized_pnl"]) == (mark - Decimal(alpha["average_cost"])) * 6
    assert Decimal(alpha["commissions"]) == fills["P-1"].commission + fills["P-3"].commission
    assert Decimal(account["commissions"]) == sum(f.commission for f in fills.values())
    # realized on the 4 sold: net of the sell's commission and of the buy's commission share
    buy, sell = fills["P-1"], fills["P-3"]
    expected = (sell.price - (buy.price + buy.commission / 10)) * 4 - sell.commission
    assert Decimal(alpha["realized_pnl"]).quantize(Decimal("0.01")) == expected.quantize(Decimal("0.01"))
    # beta sold nothing: a zero read back from the database is 0E-8, which str() wrote as such
    assert (rows["beta"]["quantity"], rows["beta"]["realized_pnl"]) == ("5", "0")

    assert [(r.project, r.quantity) for r in queries.position_lines(stack.db, "beta")] == [("beta", Decimal(5))]
    with pytest.raises(LookupError, match="nope"):
        queries.position_lines(stack.db, "nope")


async def test_equity_snapshots_are_stored_and_read_after_a_restart(stack, db_url):
    recorder = EquityRecorder(stack.db, stack.provider)
    first = await recorder.sample()
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(3), project="alpha")
    await _settle(stack, record.id, {OrderState.FILLED})
    await _commissions_in(stack)
    second = await recorder.sample()
    assert first is not None and second is not None
    # a fresh connection to the database, as after a restart of the console
    restarted = Database(db_url)
    try:
        history = queries.equity_history(restarted, stack.provider.account)
        with restarted.session() as session:
            [row] = session.scalars(select(EquitySnapshot).order_by(EquitySnapshot.id.desc()).limit(1)).all()
    finally:
        restarted.dispose()
    assert [equity for _, equity in history] == [first.equity, second.equity]
    assert (row.account, row.equity, row.cash) == (stack.provider.account, second.equity, second.cash)
    # equity = cash + market value of the marked position
    assert row.cash + 3 * second.marks["MSFT"] == row.equity


async def test_net_liquidation_buying_power_and_the_stored_equity_follow_the_account_after_a_fill(stack):
    """The account summary is a subscription IB keeps updating: after a fill the provider's
    NetLiquidation and BuyingPower are the account's new ones (not the first answer kept), and
    the equity recorder stores the moved value (the Equity & P&L chart's)."""
    sim, provider = stack.sim, stack.provider
    sim.set_price("MSFT", "400")
    recorder = EquityRecorder(stack.db, provider)
    first = await recorder.sample()
    assert first is not None and first.equity == await provider.net_liquidation() == sim.account_snapshot().net_liquidation
    assert await provider.buying_power() == sim.account_snapshot().buying_power

    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(60), project="alpha")
    await _settle(stack, record.id, {OrderState.FILLED})
    await _commissions_in(stack)
    snap = sim.account_snapshot()
    assert snap.net_liquidation < first.equity  # the slippage and the commission
    await wait_until(lambda: _is(provider.net_liquidation(), snap.net_liquidation), 5,
                     lambda: f"the provider's NetLiquidation to become {snap.net_liquidation}")
    # 24,000 of MSFT bought: the buying power drops by 4 x its 25 % margin and the costs
    assert await provider.buying_power() == snap.buying_power < first.equity * 4 - 24_000
    second = await recorder.sample()
    assert second is not None and second.equity == snap.net_liquidation != first.equity
    assert [equity for _, equity in queries.equity_history(stack.db, provider.account)] == [first.equity, second.equity]


async def test_callers_at_once_make_one_account_summary_subscription(database, simulator):
    """The account panel, a preview and the equity recorder asking together on a new connection:
    one subscription (IB allows two at once and refuses more, error 322), every caller answered
    with the full summary."""
    stack = await build_stack(database, simulator)
    try:
        answers = await asyncio.gather(stack.provider.net_liquidation(), stack.provider.buying_power(),
                                       stack.provider.net_liquidation(), stack.provider.exchange_rates())
        snap = simulator.account_snapshot()
        assert answers[:3] == [snap.net_liquidation, snap.buying_power, snap.net_liquidation]
        assert [len(s.account_summaries) for s in simulator._sessions.values()] == [1]
    finally:
        await stack.close()


async def _is(value, expected) -> bool:
    return await value == expected


async def test_no_sample_while_disconnected(stack):
    await stack.provider.disconnect()
    assert await EquityRecorder(stack.db, stack.provider).sample() is None
    assert queries.equity_history(stack.db) == ()


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_unknown_project_is_bad_input(database, db_url):
    result = await _positions_cli(db_url, "--project", "nope")
    assert result.code == 2 and "no project named 'nope'" in result.err  # as `assign` says it (wording.unknown_project)


async def test_commissions_are_summed_per_listing_as_positions_are_booked(database):
    # SAP on Xetra (our order, and an external execution there) and SAP in the US: two positions;
    # each row's commissions are its own listing's, not every SAP fill's on the US row
    from datetime import UTC, datetime

    from services.db.repositories import OrderRepository
    from services.execution.events import CommissionEvent, ExecutionEvent
    from services.execution.writer import EventWriter

    with database.unit_of_work() as session:
        OrderRepository(session).create("X-1", "SAP", Side.BUY, Decimal(10), status=OrderState.ACCEPTED, account="DU1",
                                        exchange="IBIS", currency="EUR")
        OrderRepository(session).create("U-1", "SAP", Side.BUY, Decimal(5), status=OrderState.ACCEPTED, account="DU1")

    def execution(exec_id, ref, perm, currency, exchange):
        return ExecutionEvent(exec_id=exec_id, ib_order_id=7, perm_id=perm, client_id=1, order_ref=ref, account="DU1",
                              symbol="SAP", side="BUY", shares=Decimal(5), price=Decimal(200), currency=currency,
                              exchange=exchange, time=datetime(2026, 11, 20, 15, 0, tzinfo=UTC), raw={})

    writer = EventWriter(database)
    writer.start()
    for event in (execution("0001.aa.01.01", "X-1", 1, "EUR", "IBIS"), CommissionEvent("0001.aa.01.01", Decimal(3), "EUR"),
                  execution("0002.bb.01.01", "U-1", 2, "USD", "NYSE"), CommissionEvent("0002.bb.01.01", Decimal(1)),
                  execution("0003.cc.01.01", "TWS-9", 3, "EUR", "IBIS"), CommissionEvent("0003.cc.01.01", Decimal(2), "EUR")):
        writer.submit(event)
    await writer.flush()
    await writer.stop()
    lines = {(line.project, line.symbol): (line.quantity, line.commissions) for line in queries.position_lines(database)}
    assert lines[(None, "SAP")] == (Decimal(5), Decimal(1))
    assert lines[(None, "SAP@IBIS:EUR")] == (Decimal(10), Decimal(5))
    assert lines[("unassigned", "SAP@IBIS:EUR")] == (Decimal(10), Decimal(5))


def _book_row(out: str, project: str) -> tuple[list[str], list[str]]:
    """The books table's row of ``project`` (its cells) and the notes printed under it."""
    lines = out[out.index("\nPROJECT  ") + 1:].splitlines()
    header = lines[0].split()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == [project])
    cells = lines[at].split("  ")
    notes = []
    for line in lines[at + 1:]:
        if not line.startswith("  "):
            break
        notes.append(line.strip())
    assert header[:2] == ["PROJECT", "CAPITAL"], lines[0]
    return [c.strip() for c in cells if c.strip()], notes


@pytest.mark.slow  # fills, a sample and two subprocesses: over ~5 s alone
async def test_a_projects_cash_and_value_in_dollars_and_euros_are_the_windows(stack, db_url):
    """A project holding a US and a Xetra listing: the command's books row is the window's tree
    row (services.console_books, one rule). Before any rates are stored it adds nothing ("mixed",
    "no rates yet": not even the base currency is known); once the equity recorder stored the account's rates (the simulator's EUR 1.10)
    its cash and value are in dollars at that rate, never euros taken as dollars."""
    from services.books import BooksService
    from services.console_books import position_tree

    for symbol in ("AAPL", "SAP@IBIS:EUR"):
        record = await stack.actions.manual_order(symbol, Side.BUY, Decimal(10), project="alpha")
        await _settle(stack, record.id, {OrderState.FILLED})
    await _commissions_in(stack)
    BooksService(stack.db, "tester").set_capitals({"alpha": "20000"})  # the first order created the project

    before = await _positions_cli(db_url)
    assert before.code == 0, before.err
    cells, notes = _book_row(before.out, "alpha")
    assert cells == ["alpha", "20,000.00", "no rates yet", "mixed", "mixed", "mixed"], before.out
    assert "not added up: no base currency or rates from the broker yet" in notes
    assert "exchange rates: none stored yet" in before.out
    said = await _positions_cli(db_url, "--json")  # the same book, in JSON: "mixed" is a null currency
    assert said.code == 0, said.err
    [book] = said.json["books"]
    assert (book["project"], book["capital"], book["cash"], book["currency"], book["market_value"]) == ("alpha", "20000", None, None, None)
    assert (book["base"], book["missing_rates"], book["rates"], said.json["rates"]) == (None, ["EUR", "USD"], {}, None)
    assert [c["currency"] for c in book["by_currency"]] == ["EUR", "USD"]
    assert {p["symbol"] for p in said.json["positions"] if p["project"] == "alpha"} == {"AAPL", "SAP@IBIS:EUR"}

    held = {p.symbol: p for p in queries.positions(stack.db) if p.project_id is not None}
    stack.sim.set_price("AAPL", held["AAPL"].average_cost + Decimal(5))
    stack.sim.set_price("SAP@IBIS:EUR", held["SAP@IBIS:EUR"].average_cost + Decimal(2))
    assert await EquityRecorder(stack.db, stack.provider).sample() is not None  # the marks and the rates

    after = await _positions_cli(db_url)
    assert after.code == 0, after.err
    cells, notes = _book_row(after.out, "alpha")
    # what the window's tree shows for alpha at the rates the broker gives it
    window = next(g for g in position_tree(queries.positions(stack.db), queries.project_names(stack.db), {"alpha": Decimal(20000)},
                                           await stack.provider.exchange_rates()) if g.name == "alpha").figures()
    assert window.currency == "USD" and window.rates == (("EUR", Decimal("1.1")),)
    aapl, sap = held["AAPL"], held["SAP@IBIS:EUR"]
    cost = aapl.quantity * aapl.average_cost + sap.quantity * sap.average_cost * Decimal("1.1")
    assert window.cash == 20000 - cost + aapl.realized_pnl + sap.realized_pnl * Decimal("1.1")
    assert cells == ["alpha", "20,000.00", f"{window.cash:,.2f}", f"{window.market_value:,.2f}",
                     f"{window.unrealized_pnl:,.2f}", f"{window.realized_pnl:,.2f}"], after.out
    # the command converts at stored rates, and says so with their time, never "today's"
    assert any(re.fullmatch(r"sums and cash in USD at the rates stored \d{4}-\d\d-\d\d \d\d:\d\d UTC \(1 EUR = 1\.1 USD\)", n)
               for n in notes), notes
    assert "(base USD) as stored" in after.out and "1 EUR = 1.1 USD" in after.out
    said = await _positions_cli(db_url, "--json", "--project", "alpha")
    assert said.code == 0, said.err
    [book] = said.json["books"]
    assert {key: book[key] for key in ("capital", "cash", "currency", "market_value", "unrealized_pnl", "realized_pnl", "rates")} == {
        "capital": "20000", "cash": plain(window.cash), "currency": "USD", "market_value": plain(window.market_value),
        "unrealized_pnl": plain(window.unrealized_pnl), "realized_pnl": plain(window.realized_pnl), "rates": {"EUR": "1.1"}}
    assert {c["currency"]: c["market_value"] for c in book["by_currency"]} == {s.currency: plain(s.market_value) for s in window.by_currency}
    assert (said.json["rates"]["base"], said.json["rates"]["rates"]["EUR"]) == ("USD", "1.1")  # the account's, every currency


STORED_AT = "2026-12-04 21:00 UTC"


def _two_accounts_of_two_bases(database) -> None:
    """A USD paper account DU1 and a EUR live account U2 in one database, each with a project
    holding Shell in London (pounds), and a project "both" with lines in each account; each
    account's rates stored (U2's last: the rates of whichever account was sampled last are
    every project's no more). No unassigned rest: each account's row is its projects' lines."""
    from datetime import UTC, datetime

    from services.books import BooksService
    from services.db.models import Position
    from services.db.repositories import ProjectRepository
    from services.db.repositories.portfolio import EquityRepository

    when = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
    shell, aapl = ("SHEL@LSE:GBP", "GBP", "LSE"), ("AAPL", "USD", "NYSE")
    with database.unit_of_work() as session:
        ids = {name: ProjectRepository(session).get_or_create(name).id for name in ("usd_book", "eur_book", "both")}
        for project, account, (symbol, currency, exchange), quantity, cost, realized in (
                ("usd_book", "DU1", shell, 10, "20", "0"), ("both", "DU1", shell, 5, "20", "0"), (None, "DU1", shell, 15, "20", "0"),
                ("eur_book", "U2", shell, 20, "21", "5"), (None, "U2", shell, 20, "21", "5"),
                ("both", "U2", aapl, 3, "100", "0"), (None, "U2", aapl, 3, "100", "0")):
            project_id = ids[project] if project else None
            session.add(Position(project_id=project_id, project_key=project_id or 0, account=account, symbol=symbol,
                                 currency=currency, exchange=exchange, quantity=Decimal(quantity), average_cost=Decimal(cost),
                                 realized_pnl=Decimal(realized), market_price=Decimal(22 if currency == "GBP" else 110),
                                 marked_at=when))
        rates = EquityRepository(session)
        rates.store_rates("DU1", "USD", {"GBP": Decimal("1.25"), "EUR": Decimal("1.1")}, when)
        rates.store_rates("U2", "EUR", {"GBP": Decimal("1.15"), "USD": Decimal("0.9")}, when.replace(minute=1))
    BooksService(database, "tester").set_capitals({"usd_book": "10000", "eur_book": "8000", "both": "1000"})


# each project's cash in its own account's base currency at that account's rates
USD_BOOK_CASH = Decimal(10000) - 10 * 20 * Decimal("1.25")  # dollars: 9,750
EUR_BOOK_CASH = Decimal(8000) - 20 * 21 * Decimal("1.15") + 5 * Decimal("1.15")  # euros: 7,522.75


async def test_each_accounts_projects_are_converted_at_that_accounts_stored_rates(database, db_url):
    """Two accounts of different base currencies in one database: the `positions` command gives
    each project its own account's base currency and cash (before, every project took the rates
    of the account sampled last: the dollar account's project had its cash worked out in euros,
    10,000 - 200 x 1.15 = 9,770), the window's tree (services.console_books.position_tree, at each
    account's rates) the same figures, and a project with lines in both accounts is not added up
    and has no cash: no rate turns a dollar account's lines into a euro account's."""
    from services.books import stored_rates_by_account
    from services.console_books import position_tree

    _two_accounts_of_two_bases(database)
    said = await _positions_cli(db_url, "--json")
    assert said.code == 0, said.err
    books = {b["project"]: b for b in said.json["books"]}
    usd, eur, both = books["usd_book"], books["eur_book"], books["both"]
    assert (usd["base"], Decimal(usd["cash"]), usd["currency"], usd["rates"]) == ("USD", USD_BOOK_CASH, "GBP", {"GBP": "1.25"})
    assert usd["rates_by_account"] == {"DU1": {"base": "USD", "rates": {"GBP": "1.25"}}}
    assert (eur["base"], Decimal(eur["cash"]), eur["currency"], eur["rates"]) == ("EUR", EUR_BOOK_CASH, "GBP", {"GBP": "1.15"})
    assert (Decimal(usd["market_value"]), Decimal(eur["market_value"])) == (220, 440)  # pounds, as they are
    assert (both["cash"], both["currency"], both["market_value"], both["base"], both["missing_rates"]) == (None, None, None, None, [])
    assert set(both["rates_by_account"]) == {"DU1", "U2"}
    assert said.json["rates"] is None  # several accounts' rates: each its own
    assert {a: (r["base"], r["rates"]) for a, r in said.json["rates_by_account"].items()} == {
        "DU1": ("USD", {"EUR": "1.1", "GBP": "1.25"}), "U2": ("EUR", {"GBP": "1.15", "USD": "0.9"})}

    text = await _positions_cli(db_url)
    assert text.code == 0, text.err
    cells, notes = _book_row(text.out, "usd_book")
    assert cells == ["usd_book", "10,000.00", "9,750.00", "220.00", "20.00", "0.00"], text.out
    assert f"cash in USD at the rates stored {STORED_AT} of account DU1 (1 GBP = 1.25 USD)" in notes
    cells, notes = _book_row(text.out, "eur_book")
    assert cells[:3] == ["eur_book", "8,000.00", "7,522.75"], text.out
    assert "cash in EUR at the rates stored 2026-12-04 21:01 UTC of account U2 (1 GBP = 1.15 EUR)" in notes
    cells, notes = _book_row(text.out, "both")
    assert cells == ["both", "1,000.00", "several base currencies", "mixed", "mixed", "mixed"], text.out
    assert "not added up: its accounts' base currencies differ (DU1 USD, U2 EUR)" in notes
    assert "cash needs one base currency: its accounts' differ (DU1 USD, U2 EUR)" in notes
    assert "exchange rates of account DU1 (base USD)" in text.out and "exchange rates of account U2 (base EUR)" in text.out

    stored = {account: rates.fx for account, rates in stored_rates_by_account(database).items()}
    tree = {g.name: g.figures() for g in position_tree(queries.positions(database), queries.project_names(database),
                                                          {"usd_book": Decimal(10000), "eur_book": Decimal(8000),
                                                           "both": Decimal(1000)}, stored)}
    assert (tree["usd_book"].base, tree["usd_book"].cash) == ("USD", USD_BOOK_CASH)
    assert (tree["eur_book"].base, tree["eur_book"].cash) == ("EUR", EUR_BOOK_CASH)
    assert (tree["both"].mixed, tree["both"].cash, tree["both"].bases_differ) == (True, None, True)
    assert (tree["DU1"].base, tree["U2"].base) == ("USD", "EUR")  # each account's group at its own
    # the U2 account's row: pounds and dollars in euros at U2's rates, never DU1's
    assert tree["U2"].market_value == 20 * 22 * Decimal("1.15") + 3 * 110 * Decimal("0.9")


async def test_a_projects_unrealized_right_after_a_fill_is_less_its_commission(stack, db_url):
    """Right after a buy, with no equity recorder: the fill marked the position at its price, and
    IB's average cost includes the commission, so the unrealized P&L is minus the commission, as
    IB shows it (it said "no mark" until the window's equity recorder ran)."""
    stack.sim.set_price("AAPL", "200")
    record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), project="alpha", client_order_id="U-1")
    await _settle(stack, record.id, {OrderState.FILLED})
    await _commissions_in(stack)
    with stack.db.session() as session:
        [fill] = session.scalars(select(TradeFill))
    assert fill.commission > 0

    said = await _positions_cli(db_url, "--json")
    assert said.code == 0, said.err
    rows = {r["project"]: r for r in said.json["positions"]}
    assert set(rows) == {None, "alpha"}
    for row in rows.values():  # a tenth of the commission a share: exact at the average cost's scale
        assert Decimal(row["market_price"]) == fill.price, row
        assert Decimal(row["unrealized_pnl"]) == -fill.commission, row
    books = {b["project"]: b for b in said.json["books"]}
    assert Decimal(books["alpha"]["unrealized_pnl"]) == -fill.commission

    text = await _positions_cli(db_url)
    assert text.code == 0, text.err
    assert "no mark" not in text.out
    # unrealized, realized (no capital set: the cash cell is empty)
    assert _book_row(text.out, "alpha")[0][-2:] == [f"-{fill.commission:,.2f}", "0.00"], text.out


async def test_a_projects_unrealized_without_mark_or_fill_is_no_mark_not_zero(database, db_url):
    """A holding with neither a mark nor a fill of ours (shares assigned from what reconciliation
    found, before the first mark was stored): project alpha's holding has no mark, so its book's
    unrealized P&L is not known: null in JSON and "no mark" in the books table, as its line's
    already are. Before, the book said 0 (a flat P&L). Beta's holding has a mark (its sum as
    before) and gamma only closed a position (no unrealized P&L: 0)."""
    from datetime import UTC, datetime

    from services.books import BooksService
    from services.db.models import Position
    from services.db.repositories import ProjectRepository

    when = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    with database.unit_of_work() as session:
        ids = {name: ProjectRepository(session).get_or_create(name).id for name in ("alpha", "beta", "gamma")}
        for project, symbol, quantity, mark, realized in (
                ("alpha", "AAPL", 10, None, 0), (None, "AAPL", 10, None, 0), ("beta", "MSFT", 5, 210, 0),
                (None, "MSFT", 5, 210, 0), ("gamma", "KO", 0, None, 3), (None, "KO", 0, None, 3)):
            project_id = ids[project] if project else None
            session.add(Position(project_id=project_id, project_key=project_id or 0, account="DU1", symbol=symbol,
                                 quantity=Decimal(quantity), average_cost=Decimal(200 if quantity else 0),
                                 realized_pnl=Decimal(realized), market_price=None if mark is None else Decimal(mark),
                                 marked_at=None if mark is None else when))
    BooksService(database, "tester").set_capitals({"alpha": "5000", "beta": "5000", "gamma": "5000"})

    said = await _positions_cli(db_url, "--json")
    assert said.code == 0, said.err
    books = {b["project"]: b for b in said.json["books"]}
    assert (books["alpha"]["unrealized_pnl"], books["alpha"]["market_value"]) == (None, None)
    assert [c["unrealized_pnl"] for c in books["alpha"]["by_currency"]] == [None]
    assert (books["beta"]["unrealized_pnl"], books["gamma"]["unrealized_pnl"]) == ("50", "0")

    text = await _positions_cli(db_url)
    assert text.code == 0, text.err
    assert _book_row(text.out, "alpha")[0][3:] == ["no mark", "no mark", "0.00"], text.out  # market, unrealized, realized
    assert _book_row(text.out, "beta")[0][3:] == ["1,050.00", "50.00", "0.00"], text.out
    assert _book_row(text.out, "gamma")[0][3:] == ["0.00", "0.00", "3.00"], text.out


async def test_each_column_of_prices_reads_to_one_number_of_places_as_the_windows(database, db_url):
    """Walked from a terminal after the demo's run: AVG COST read 221.645 above 229.2927 (each
    price to its own places) where the window's positions tree shows a column of prices to one
    number of places, its most precise price's (two to four), so the decimal points line up."""
    from datetime import UTC, datetime

    from services.db.models import Position

    when = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    with database.unit_of_work() as session:
        for symbol, cost, mark in (("AAPL", "221.645", "228.5"), ("MSFT", "229.2927", "229.125"), ("KO", "60", "61")):
            session.add(Position(project_id=None, project_key=0, account="DU1", symbol=symbol, quantity=Decimal(10),
                                 average_cost=Decimal(cost), realized_pnl=Decimal(0), market_price=Decimal(mark),
                                 marked_at=when))

    text = await _positions_cli(db_url)
    assert text.code == 0, text.err
    rows = {cells[2]: cells[4:6] for cells in (line.split() for line in text.out.splitlines()) if cells[:1] == ["(account)"]}
    assert rows == {"AAPL": ["221.6450", "228.500"], "KO": ["60.0000", "61.000"], "MSFT": ["229.2927", "229.125"]}, text.out


async def test_the_commands_price_column_is_the_windows_stored_mark_under_its_name(stack, db_url):
    """The command's price column is the mark the window's positions tree starts from (the stored
    records: services.console_queries.positions, services.console_books.position_tree), not a
    market price of the moment: right after a fill its position's mark is that fill's price,
    after the console stored a quote that quote's. It was headed MARKET PRICE, which read as the
    market's price now while it held a fill's of hours before; it is headed MARK and the line
    under the table says what a mark is (the window says it in its Price column's tooltips)."""
    from services.console_books import position_tree
    from services.position_marks import STORED_MARK

    stack.sim.set_price("AAPL", "200")
    for ref, project, quantity in (("K-1", "alpha", 10), ("K-2", "beta", 5)):
        record = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(quantity), project=project, client_order_id=ref)
        await _settle(stack, record.id, {OrderState.FILLED})
    await _commissions_in(stack)

    def window_marks() -> dict:
        """Each line's price as the window's tree holds it before any quote of its own."""
        tree = position_tree(queries.positions(stack.db), queries.project_names(stack.db))
        return {(g.name if g.kind != "account" else None, p.symbol): p.market_price for g in tree for p in g.lines}

    async def command_marks() -> dict:
        said = await _positions_cli(db_url, "--json")
        assert said.code == 0, said.err
        return {(r["project"], r["symbol"]): Decimal(r["market_price"]) for r in said.json["positions"]}

    with stack.db.session() as session:
        fills = {f.order_ref: f.price for f in session.scalars(select(TradeFill))}
    assert await command_marks() == window_marks() == {
        (None, "AAPL"): fills["K-2"], ("alpha", "AAPL"): fills["K-1"], ("beta", "AAPL"): fills["K-2"]}

    text = await _positions_cli(db_url)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["PROJECT", "ACCOUNT", "SYMBOL", "QUANTITY", "AVG COST", "MARK", "MARKET VALUE",
                                             "UNREALIZED", "REALIZED", "COMMISSIONS"], text.out
    assert f"MARK: each line's stored mark, {STORED_MARK}" in text.out, text.out

    stack.sim.set_price("AAPL", "210")
    sample = await EquityRecorder(stack.db, stack.provider).sample()
    assert sample is not None
    quote = sample.marks["AAPL"]
    assert await command_marks() == window_marks() == {
        (None, "AAPL"): quote, ("alpha", "AAPL"): quote, ("beta", "AAPL"): quote}
