"""The order ticket's service (services.execution.manual) against the simulator over a real
socket (SQLite and MariaDB): a ticket is a one-order frozen plan sent through the same rules as
a run: the risk verdict shown before sending, then risk, the market-health gate and the LIVE
word at the service layer; stop orders rest in the simulator until triggered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.books import BooksService
from services.db.convert import to_order_record
from services.db.models import AuditLog, OrderPlan, TradeRun
from services.db.repositories import OrderRepository, ProjectRepository, SettingsRepository
from services.domain import OrderState, OrderType, RunStatus, Side, TradeMode
from services.execution.errors import BadInput, BrokerError, LiveConfirmRequired, MarketUnhealthy, RiskBlocked
from services.execution.manual import ManualOrders, Ticket, not_sent_line, ticket_not_sent
from services.execution.recovery import AutoRecovery
from tests.fixtures.waiting import wait_until

from .conftest import build_stack

pytestmark = pytest.mark.timeout(60)


def _orders(db):
    with db.session() as session:
        return [to_order_record(o) for o in OrderRepository(session).list()]


def _runs(db):
    with db.session() as session:
        return [(r.id, RunStatus(r.status), r.message) for r in session.scalars(select(TradeRun).order_by(TradeRun.id))]


async def _until_order(stack, status: OrderState, timeout: float = 5.0, client_order_id: str | None = None):
    """The stored orders in ``status`` once there is one (``client_order_id``: that one)."""
    async def reached():
        await stack.writer.flush()
        return [o for o in _orders(stack.db) if o.status is status and client_order_id in (None, o.client_order_id)]

    await wait_until(reached, timeout, lambda: f"an order {status}: {[(o.symbol, o.status) for o in _orders(stack.db)]}")
    return [o for o in _orders(stack.db) if o.status is status]


def _manual(stack) -> ManualOrders:
    return ManualOrders(stack.service)


async def test_a_ticket_shows_its_verdict_then_fills_as_a_one_order_plan(stack):
    stack.sim.set_price("AAPL", "100")
    manual = _manual(stack)
    ticket = Ticket.of("aapl", "buy", quantity="10", order_type="LMT", limit_price="100.50", project="desk")
    check = await manual.check(ticket)
    assert check.may_send and not check.reasons()
    assert (check.draft.quantity, check.draft.limit_price, check.inputs.tick) == (Decimal(10), Decimal("100.50"), Decimal("0.01"))
    assert _orders(stack.db) == [] and stack.sim.orders() == []  # checking sends nothing, stores nothing
    # the LIVE confirmation names the order and whose book it goes to (it said only "1 order, gross ... USD"),
    # and its value as the ticket says it (the gross beside it is at the reference price, 1,000.00)
    assert check.confirm_rows() == (("Project", "desk"), ("Order", "BUY 10 AAPL LMT 100.50 DAY"),
                                    ("Value", "at most 1,005.00 USD at the limit (about 1,000.00 at the market 100.00)"))

    said = []  # told as its placeOrder is written: the window's and the `order` command's "Sent" line
    result = await manual.send(ticket, on_sent=said.append)
    assert len(result.sent) == 1 and result.plan_id is not None
    assert [s.line() for s in said] == [f"Sent BUY 10 AAPL LMT 100.50 DAY: run {result.run_id}, order {result.sent[0]}"]
    [order] = await _until_order(stack, OrderState.FILLED)
    assert (order.symbol, order.side, order.quantity, order.order_type, order.filled_quantity) == (
        "AAPL", Side.BUY, Decimal(10), OrderType.LMT, Decimal(10))
    with stack.db.session() as session:
        plan = session.get(OrderPlan, result.plan_id)
        assert plan.verdict == "ready" and [o["client_order_id"] for o in plan.orders] == [order.client_order_id]
        actions = list(session.scalars(select(AuditLog.action)))
    assert "plan.create" in actions and "run.execute" in actions
    [sim_order] = stack.sim.orders()
    assert sim_order.order_ref == order.client_order_id


async def test_the_position_a_ticket_says_counts_the_projects_working_orders_as_filled(stack):
    """Walked in the demo: 29 AAPL held, a SELL 5 LMT working; a second SELL 5 read "position
    29 → 24", as if nothing were being sold, where the project's rules (and a run's preview)
    count the working order as filled: the trader was shown room to sell that was not there. The
    position now starts from what the book holds once its working orders fill, said so."""
    stack.sim.set_price("AAPL", "100")
    manual = _manual(stack)
    await manual.send(Ticket.of("AAPL", "BUY", quantity="29", project="desk"))
    await _until_order(stack, OrderState.FILLED)
    await manual.send(Ticket.of("AAPL", "SELL", quantity="5", order_type="LMT", limit_price="103", project="desk"))
    [working] = await _until_order(stack, OrderState.ACCEPTED)

    check = await manual.check(Ticket.of("AAPL", "SELL", quantity="5", project="desk"))
    assert (check.draft.current_quantity, check.draft.target_quantity) == (Decimal(24), Decimal(19))
    assert check.summary() == ("5 AAPL MKT DAY · about 500.00 USD · position 24 → 19 in desk's book "
                               "(29 held; counted as filled: 1 working order of this project: AAPL -5)")
    # selling what is left once the working sell fills, and no more
    assert (await manual.check(Ticket.of("AAPL", "SELL", quantity="24", project="desk"))).may_send
    oversold = await manual.check(Ticket.of("AAPL", "SELL", quantity="29", project="desk"))
    assert oversold.blocked and "position 24 → -5 in desk's book" in oversold.summary()
    # another project's book: its own position, no word of desk's working order
    other = await manual.check(Ticket.of("AAPL", "BUY", quantity="1", project="other"))
    assert "position 0 → 1 in other's book" in other.summary() and "working" not in other.summary()
    assert working.side is Side.SELL


async def test_a_stop_the_market_is_past_is_said_with_both_prices_as_the_blotter_writes_them(stack):
    """Seen under Xvfb: "Note: the market (230) is past the stop 230.00", the reference as the
    broker gave it beside the stop as the ticket suggested it."""
    stack.sim.set_price("AAPL", "100")
    check = await _manual(stack).check(Ticket.of("AAPL", "BUY", quantity="1", order_type="STP", stop_price="99.5"))
    assert check.summary().endswith("\nNote: the market (100.00) is past the stop 99.50: it triggers at once")


async def test_a_ticket_by_notional_buys_whole_shares_at_the_price_of_the_moment(stack):
    stack.sim.set_price("MSFT", "300")
    check = await _manual(stack).check(Ticket.of("MSFT", "BUY", notional=Decimal(1000)))
    assert check.draft.quantity == Decimal(3) and check.draft.reference_price == Decimal(300)


async def test_a_limit_ticket_is_valued_at_its_limit_as_the_risk_rule_measures_it(stack):
    """Walked in the demo: BUY 10 AAPL LMT 98 with AAPL at 100 read "about 1,000.00 USD", at the
    market's price; it fills at 98 or lower, and max_order_notional measured it at 980. The ticket
    now says the rules' value (services.core.order_values.order_value) and how it bounds the money."""
    from services.core.risk_measures import risk_decisions

    stack.sim.set_price("AAPL", "100")
    manual = _manual(stack)

    def said_and_measured(check) -> tuple[str, Decimal]:
        [notional] = [d.measured for d in risk_decisions(check.report) if d.rule == "max_order_notional"]
        return check.summary().split(" · position")[0], Decimal(notional)

    below = await manual.check(Ticket.of("AAPL", "BUY", quantity="10", order_type="LMT", limit_price="98"))
    assert said_and_measured(below) == ("10 AAPL LMT 98.00 DAY · at most 980.00 USD at the limit", Decimal(980))
    above = await manual.check(Ticket.of("AAPL", "BUY", quantity="10", order_type="LMT", limit_price="101"))
    # a limit the market is through fills near the market: said beside the bound
    assert said_and_measured(above) == (("10 AAPL LMT 101.00 DAY · at most 1,010.00 USD at the limit "
                                         "(about 1,000.00 at the market 100.00)"), Decimal(1010))
    sell = await manual.check(Ticket.of("AAPL", "SELL", quantity="10", order_type="LMT", limit_price="102"))
    assert said_and_measured(sell) == ("10 AAPL LMT 102.00 DAY · at least 1,020.00 USD at the limit", Decimal(1020))
    market = await manual.check(Ticket.of("AAPL", "BUY", quantity="10"))
    assert said_and_measured(market) == ("10 AAPL MKT DAY · about 1,000.00 USD", Decimal(1000))


async def test_an_amount_is_turned_into_shares_so_that_the_order_is_worth_at_most_that_as_the_rules_measure_it(stack):
    """A BUY LMT for 10,000 USD, AAPL at 100 and a limit of 101, became 100 shares at the market's
    price: the ticket then said "at most 10,100.00 USD at the limit", more than the trader typed,
    and max_order_notional measured 10,100 (a cap of 10,000 blocked it). An amount now buys or
    sells the whole shares whose value as the rules measure it (services.core.order_values.order_size: a
    limit at its limit, a sell limit under the market at the market) is at most the amount, so no
    figure the ticket states is above it."""
    from services.core.risk_measures import risk_decisions

    stack.sim.set_price("AAPL", "100")
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_notional": 10000})
    manual = _manual(stack)

    async def said_and_measured(side, **fields) -> tuple[Decimal, str, Decimal]:
        check = await manual.check(Ticket.of("AAPL", side, notional="10,000", **fields))
        [size] = [d.measured for d in risk_decisions(check.report) if d.rule == "max_order_notional"]
        return check.draft.quantity, check.summary().split(" · position")[0], Decimal(size)

    assert await said_and_measured("BUY", order_type="LMT", limit_price="101") == (
        Decimal(99), "99 AAPL LMT 101.00 DAY · at most 9,999.00 USD at the limit (about 9,900.00 at the market 100.00)",
        Decimal(9999))
    # a buy limit under the market fills at its limit or lower: the amount buys more shares there
    assert await said_and_measured("BUY", order_type="LMT", limit_price="98") == (
        Decimal(102), "102 AAPL LMT 98.00 DAY · at most 9,996.00 USD at the limit",
        Decimal(9996))
    # a sell limit under the market sells at the market: the amount is the market's value
    assert await said_and_measured("SELL", order_type="LMT", limit_price="99") == (
        Decimal(100), "100 AAPL LMT 99.00 DAY · at least 9,900.00 USD at the limit (about 10,000.00 at the market 100.00)",
        Decimal(10000))
    assert await said_and_measured("SELL", order_type="LMT", limit_price="102") == (
        Decimal(98), "98 AAPL LMT 102.00 DAY · at least 9,996.00 USD at the limit", Decimal(9996))
    # a buy stop above the market buys at its stop or higher
    assert await said_and_measured("BUY", order_type="STP", stop_price="105") == (
        Decimal(95), "95 AAPL STP 105.00 DAY · about 9,975.00 USD", Decimal(9975))
    assert await said_and_measured("BUY") == (Decimal(100), "100 AAPL MKT DAY · about 10,000.00 USD", Decimal(10000))
    with pytest.raises(BadInput, match=r"AAPL: 50 USD buys no whole share at 101 USD a share"):
        await manual.check(Ticket.of("AAPL", "BUY", notional="50", order_type="LMT", limit_price="101"))


async def test_a_confirmed_notional_ticket_sends_the_shares_its_check_showed_though_the_price_moved(stack):
    """The window's ticket: the trader confirmed "BUY 3 MSFT" (1,000 at 300); at 240 the same
    notional would be 4 shares. Exactly the 3 confirmed go (risk checked again at 240), or nothing."""
    stack.sim.set_price("MSFT", "300")
    manual = _manual(stack)
    ticket = Ticket.of("MSFT", "BUY", notional=Decimal(1000))
    check = await manual.check(ticket)
    assert (check.draft.quantity, check.action()) == (Decimal(3), "BUY 3 MSFT")
    stack.sim.set_price("MSFT", "240")
    other = await manual.check(Ticket.of("MSFT", "BUY", notional="2000"))
    with pytest.raises(BadInput, match="changed after its check"):
        await manual.send(ticket, confirmed=other)
    assert _orders(stack.db) == [] and stack.sim.orders() == []
    result = await manual.send(ticket, confirmed=check)
    [order] = await _until_order(stack, OrderState.FILLED, client_order_id=result.sent[0])
    assert order.quantity == Decimal(3)
    # the `order` command confirms nothing beforehand: its notional becomes shares at the price of the moment
    result = await manual.send(ticket)
    [order] = [o for o in await _until_order(stack, OrderState.FILLED) if o.client_order_id == result.sent[0]]
    assert order.quantity == Decimal(4)


async def test_a_ticket_refused_by_risk_sends_nothing_and_blocks_its_run(stack):
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_quantity": 50})
    manual = _manual(stack)
    ticket = Ticket.of("AAPL", "BUY", quantity="60")
    check = await manual.check(ticket)
    assert check.blocked and any(r.endswith("(max_order_quantity)") for r in check.reasons())
    with pytest.raises(RiskBlocked, match="max_order_quantity"):
        await manual.send(ticket)
    assert stack.sim.orders() == [] and _orders(stack.db) == []
    [(_, status, message)] = _runs(stack.db)
    assert status is RunStatus.BLOCKED and "max_order_quantity" in message


async def test_a_sale_of_shares_another_projects_book_holds_says_where_they_are_and_how_to_sell_them(stack):
    """`order --symbol AAPL --side SELL --quantity 5` without --project, the 10 AAPL in project
    Demo momentum's book: refused as "short_sale: AAPL: selling 5 of 0 held would go short",
    nothing of where the shares were nor how to sell them. The block names the book that holds
    them and the way to sell them (services.core.books.held_in_other_books), for the ticket's
    verdict, the command's refusal and the run's stored reason alike."""
    stack.sim.set_price("AAPL", "100")
    manual = _manual(stack)
    await manual.send(Ticket.of("AAPL", "BUY", quantity="10", project="Demo momentum"))
    await _until_order(stack, OrderState.FILLED)

    hint = ("AAPL: selling 5 of 0 held would go short; the account's AAPL is in project Demo momentum's book "
            "(10 held): sell it as Demo momentum's order (the ticket's Project, `order --project 'Demo momentum'`) (short_sale)")
    ticket = Ticket.of("AAPL", "SELL", quantity="5")  # the command's default project, manual
    check = await manual.check(ticket)
    assert check.blocked and check.reasons() == [hint]
    with pytest.raises(RiskBlocked) as refused:
        await manual.send(ticket)
    assert not_sent_line(refused.value) == f"Order not sent: run 2 blocked by risk: {hint}"
    assert _runs(stack.db)[-1][1:] == (RunStatus.BLOCKED, hint)  # the run says it too
    # sold from the book that holds them: no block
    assert (await manual.check(Ticket.of("AAPL", "SELL", quantity="5", project="Demo momentum"))).may_send

    await manual.send(Ticket.of("AAPL", "BUY", quantity="4", project="desk"))
    await wait_until(lambda: len([o for o in _orders(stack.db) if o.status is OrderState.FILLED]) == 2, 5, "desk's fill")
    [reason] = (await manual.check(Ticket.of("AAPL", "SELL", quantity="5", project="other"))).reasons()
    assert reason.endswith("; the account's AAPL is in other projects' books (Demo momentum 10, desk 4): sell it as "
                           "the order of the project that holds it (the ticket's Project, `order --project NAME`) (short_sale)"), reason
    # a sale going short in desk's book names the other book only
    [reason] = (await manual.check(Ticket.of("AAPL", "SELL", quantity="5", project="desk"))).reasons()
    assert "in project Demo momentum's book (10 held)" in reason and "desk 4" not in reason, reason


async def test_a_sale_of_shares_no_projects_book_holds_says_they_are_unassigned_and_how_to_assign_them(stack, ib_client):
    """10 AAPL bought by another API client (as in TWS): the account holds them, no project's
    book does. A ticket's SELL 5 was refused as "short_sale: AAPL: selling 5 of 0 held would go
    short", nothing of the unassigned shares nor of `assign`. The block now says them and the
    command that moves them into the ticket's project's book (services.core.books.held_unassigned),
    beside another project's book when one holds some too."""
    stack.sim.set_price("AAPL", "100")
    other = await ib_client(client_id=9)
    from ib_async import MarketOrder, Stock

    [contract] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    trade = other.placeOrder(contract, MarketOrder("BUY", 10, orderRef="by-hand"))
    await wait_until(lambda: trade.orderStatus.status == "Filled", 5, "the order of another client filled")
    manual = _manual(stack)
    ticket = Ticket.of("AAPL", "SELL", quantity="5")  # the command's default project, manual, not stored yet

    seen = []

    async def the_broker_says_it():
        seen.append((await manual.check(ticket)).summary())
        return "the account holds 10)" in seen[-1]

    # before any reconciliation books them: the broker's position less every book's
    await wait_until(the_broker_says_it, 5, lambda: f"the account's 10 AAPL in the ticket's check: {seen[-1:]}")

    hint = ("AAPL: selling 5 of 0 held would go short; the account's AAPL is unassigned, in no project's book "
            "(10 held): assign it to manual's book to sell it there (`assign --symbol AAPL --quantity 10 --project manual "
            "--cost PRICE`, PRICE what each share cost; or the Positions panel's Assign to project… on its "
            "unassigned line) (short_sale)")
    check = await manual.check(ticket)
    assert check.blocked and check.reasons() == [hint]
    with pytest.raises(RiskBlocked) as refused:
        await manual.send(ticket)  # the run's check, the project stored by then
    assert not_sent_line(refused.value) == f"Order not sent: run 1 blocked by risk: {hint}"
    assert _runs(stack.db)[-1][1:] == (RunStatus.BLOCKED, hint)
    # a name with a space quoted for the shell, as the other books' hint does
    [reason] = (await manual.check(Ticket.of("AAPL", "SELL", quantity="5", project="Demo momentum"))).reasons()
    assert reason.endswith("to Demo momentum's book to sell it there (`assign --symbol AAPL --quantity 10 --project "
                           "'Demo momentum' --cost PRICE`, PRICE what each share cost; or the Positions panel's Assign to "
                      "project… on its unassigned line) (short_sale)"), reason

    # 4 of them assigned to desk: both said, another book's first
    assert (await stack.reconciler.reconcile()).unassigned == {"AAPL": "10"}
    with stack.db.unit_of_work() as session:
        ProjectRepository(session).create("desk")
    BooksService(stack.db, "tester").assign("AAPL", Decimal(4), "desk", Decimal(100))
    [reason] = (await manual.check(ticket)).reasons()
    assert reason == ("AAPL: selling 5 of 0 held would go short; the account's AAPL is in project desk's book "
                      "(4 held): sell it as desk's order (the ticket's Project, `order --project desk`); the account's "
                      "AAPL is unassigned, in no project's book (6 held): assign it to manual's book to sell it there "
                      "(`assign --symbol AAPL --quantity 6 --project manual --cost PRICE`, PRICE what each share cost; or the Positions panel's Assign to "
                      "project… on its unassigned line) (short_sale)"), reason
    # the rest assigned to manual: its sale passes
    BooksService(stack.db, "tester").assign("AAPL", Decimal(6), "manual", Decimal(100))
    assert (await manual.check(ticket)).may_send


async def test_a_ticket_refused_by_market_health_sends_nothing(stack):
    await wait_until(lambda: stack.service.health.status().healthy, 5, "the farms' OK at connect")
    stack.sim._sessions[1].error(-1, 2103, "Market data farm connection is broken:usfarm")
    await wait_until(lambda: not stack.service.health.status().healthy, 5, "the 2103 notice")
    manual = _manual(stack)
    ticket = Ticket.of("AAPL", "BUY", quantity="5")
    check = await manual.check(ticket)
    assert not check.may_send and any("2103" in r for r in check.reasons())
    with pytest.raises(MarketUnhealthy, match="2103"):
        await manual.send(ticket)
    assert stack.sim.orders() == [] and _orders(stack.db) == []
    [(_, status, message)] = _runs(stack.db)
    assert status is RunStatus.CANCELED and "2103" in message


async def test_a_live_ticket_without_the_live_word_is_refused_at_the_service(database, make_simulator):
    sim = await make_simulator(accounts=("U7654321",))
    stack = await build_stack(database, sim, mode=TradeMode.LIVE, live_token="LIVE", market_data_type="live")
    try:
        manual = _manual(stack)
        ticket = Ticket.of("AAPL", "BUY", quantity="1")
        for word in (None, "", "yes"):
            with pytest.raises(LiveConfirmRequired):
                await manual.send(ticket, word)
        assert sim.orders() == [] and _runs(database) == []  # refused before anything was stored
        await manual.send(ticket, "live")
        await _until_order(stack, OrderState.FILLED)
    finally:
        await stack.close()


async def test_a_stop_ticket_rests_until_the_simulator_triggers_it(stack):
    stack.sim.set_price("AAPL", "100")
    manual = _manual(stack)
    await manual.send(Ticket.of("AAPL", "BUY", quantity="10"))
    await _until_order(stack, OrderState.FILLED)
    await wait_until(lambda: any(p.quantity == 10 for p in stack.sim._account_book().positions.values()), 5, "the position")
    result = await manual.send(Ticket.of("AAPL", "SELL", quantity="10", order_type="STP", stop_price="95", tif="GTC"))
    [stop] = [o for o in await _until_order(stack, OrderState.ACCEPTED) if o.client_order_id in result.sent]
    assert (stop.order_type, stop.stop_price, stop.tif) == (OrderType.STP, Decimal(95), "GTC")
    [resting] = stack.sim.open_orders()
    assert (resting.order_type, resting.stop_price, resting.tif) == ("STP", Decimal(95), "GTC")
    stack.sim.set_price("AAPL", "94")
    [filled] = [o for o in await _until_order(stack, OrderState.FILLED, client_order_id=stop.client_order_id)
                if o.client_order_id == stop.client_order_id]
    assert filled.avg_fill_price == Decimal("93.98")  # the bid 93.99 less the slippage: a market order once triggered


async def test_prices_off_the_tick_grid_and_incomplete_tickets_are_refused_with_the_field(stack):
    manual = _manual(stack)
    with pytest.raises(BadInput, match=r"limit price 100.005 is not on the 0.01 tick grid \(nearest: 100.00 or 100.01\)"):
        await manual.check(Ticket.of("AAPL", "BUY", quantity="1", order_type="LMT", limit_price="100.005"))
    for kwargs, message in (({"quantity": "1", "order_type": "STP"}, "needs a stop price"),
                            ({"quantity": "1", "notional": "100"}, "not both"),
                            ({"quantity": "1.5"}, r"^quantity: must be a whole number: '1\.5'$"),
                            ({"quantity": "-3"}, r"^quantity: must be a number > 0: '-3'$"),
                            ({"quantity": "1e3"}, r"^quantity: must be a number in digits, without an exponent: '1e3'$"),
                            ({"notional": "5E+3"}, r"^notional: must be a number in digits, without an exponent: '5E\+3'$"),
                            ({"quantity": "1", "order_type": "STP", "stop_price": "2e2"},
                             r"^stop price: must be a number in digits, without an exponent: '2e2'$"),
                            ({"quantity": "1", "order_type": "TRAIL"}, "order type must be one of"),
                            ({"quantity": "1", "outside_rth": True}, "limit order")):
        with pytest.raises(BadInput, match=message):
            Ticket.of("AAPL", "BUY", **kwargs)
    with pytest.raises(BadInput, match="not a symbol"):
        Ticket.of("AA PL", "BUY", quantity="1")


async def test_a_price_the_order_type_does_not_use_is_refused_not_dropped(stack):
    """`order --symbol AAPL --side BUY --quantity 3 --limit 100` (the type left at its default
    MKT) went as a market order, the limit silently dropped; a STP order given a limit went as a
    plain stop, a market order once triggered. Refused now, naming the price and the type, and
    nothing is stored or sent."""
    for kwargs, message in (({"limit_price": "100"}, "a MKT order takes no limit price"),
                            ({"order_type": "STP", "stop_price": "95", "limit_price": "94"}, "a STP order takes no limit price"),
                            ({"order_type": "LMT", "limit_price": "100", "stop_price": "95"}, "a LMT order takes no stop price"),
                            ({"stop_price": "95"}, "a MKT order takes no stop price")):
        with pytest.raises(BadInput, match=message):
            Ticket.of("AAPL", "BUY", quantity="3", **kwargs)
        with pytest.raises(BadInput, match=message):  # the service's own rule, whoever built the ticket
            await _manual(stack).send(Ticket("AAPL", Side.BUY, Decimal(3), order_type=OrderType(kwargs.get("order_type", "MKT")),
                                             limit_price=_price(kwargs, "limit_price"), stop_price=_price(kwargs, "stop_price")))
    assert _orders(stack.db) == [] and stack.sim.orders() == []
    with stack.db.session() as session:
        assert session.scalars(select(TradeRun)).all() == []  # no run either


def _price(kwargs: dict, name: str) -> Decimal | None:
    return Decimal(kwargs[name]) if name in kwargs else None


async def test_a_ticket_the_order_columns_cannot_keep_is_refused_before_a_run_is_stored(stack):
    """A quantity or price at or above what trade_orders keeps (quantity below 1e12, prices below
    1e10) is bad input with the field, before anything is stored: with the risk limits off and
    shorts allowed nothing else stopped it, and the database refused the order after its run was
    created (the command exited 5 with "1E+20 does not fit NUMERIC(20,6)", the run left QUEUED
    with no order)."""
    stack.sim.set_price("AAPL", "100")
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({
            "max_order_notional": None, "max_order_quantity": None, "max_position_ratio": None,
            "max_gross_exposure": None, "price_collar_pct": None, "allow_short": True})
    # as read by the `order` command's options (a typed 1e20 is refused as no number in digits)
    for kwargs, message in (({"quantity": Decimal("1e20")}, r"quantity 1E\+20 is too large: an order's quantity must be below 1e12"),
                            ({"quantity": Decimal("1e400")}, "quantity 1E\\+400 is too large"),
                            ({"quantity": "1", "order_type": "LMT", "limit_price": Decimal("5e14")},
                             r"limit price 5E\+14 is too large: an order's limit price must be below 1e10"),
                            ({"quantity": "1", "order_type": "STP", "stop_price": Decimal("1e10")}, "stop price 1E\\+10 is too large")):
        with pytest.raises(BadInput, match=message):
            Ticket.of("AAPL", "SELL", **kwargs)
    manual = _manual(stack)
    with pytest.raises(BadInput, match=r"AAPL: 1E\+15 USD buys 10000000000000 shares at 100 USD a share: an order's quantity must be below 1e12"):
        await manual.send(Ticket.of("AAPL", "SELL", notional=Decimal("1e15")))
    assert _orders(stack.db) == [] and stack.sim.orders() == []
    assert [status for _id, status, _message in _runs(stack.db) if status is RunStatus.QUEUED] == []


async def test_a_resting_stop_is_replaced_in_place_and_never_by_cancel_and_new(stack, ib_log_guard):
    """A stop order's quantity and stop change in place (one modify); when the broker does not
    confirm the change, it is left working, never canceled and sent anew: the position would be
    without its stop meanwhile (and for good were the new order refused)."""
    stack.sim.set_price("AAPL", "100")
    manual = _manual(stack)
    result = await manual.send(Ticket.of("AAPL", "BUY", quantity="5", order_type="STP LMT", stop_price="105", limit_price="106"))
    [stop] = [o for o in await _until_order(stack, OrderState.ACCEPTED) if o.client_order_id in result.sent]
    replaced = await stack.actions.replace(stop.id, quantity=Decimal(6), stop_price=Decimal("104.50"))
    assert replaced.method == "modify" and replaced.new_order_id is None
    assert replaced.headline(stop.client_order_id) == f"Replace {stop.client_order_id} to 6 stop 104.50 limit 106.00: modified at the broker"
    [resting] = stack.sim.open_orders()
    assert (resting.order_type, resting.stop_price, resting.limit_price, resting.quantity) == ("STP LMT", Decimal("104.50"), Decimal(106), Decimal(6))
    ib_log_guard.allow(r"^Error 105, ")  # IB refuses the next change in place
    stack.sim._modify = lambda session, o, req: session.error(o.order_id, 105, "Order being modified does not match original order")
    with pytest.raises(BrokerError, match="a stop order is never canceled and sent anew"):
        await stack.actions.replace(stop.id, stop_price=Decimal(104))
    assert [(o.order_ref, o.status, o.stop_price) for o in stack.sim.orders()] == [
        (stop.client_order_id, "Submitted", Decimal("104.50"))]  # no cancel, no new order
    [kept] = await _until_order(stack, OrderState.ACCEPTED, client_order_id=stop.client_order_id)
    assert (kept.quantity, kept.stop_price) == (Decimal(6), Decimal("104.50"))


async def _send_losing_the_connection(stack, lost_at: str, monkeypatch) -> BrokerError:
    """Send a ticket for 5 MSFT while the connection drops at ``lost_at``: its placeOrder, or
    the sender's start (its first look finds no connection); the refusal it raised."""
    from services.execution.sending import OrderSender

    stack.sim.set_price("MSFT", "410")
    manual = _manual(stack)
    ticket = Ticket.of("MSFT", "BUY", quantity="5", project="desk")
    check = await manual.check(ticket)
    provider = stack.provider
    owner, name = (provider, "place_order") if lost_at == "placeOrder" else (OrderSender, "send")
    real = getattr(owner, name)

    async def connection_drops_here(*args, **kwargs):
        stack.sim.drop_connections()
        await wait_until(lambda: not provider.is_connected, 5, "the client to see the connection gone")
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, connection_drops_here)
    with pytest.raises(BrokerError, match=r"connection lost|no order could be sent") as refused:
        await manual.send(ticket, confirmed=check)
    monkeypatch.undo()
    return refused.value


@pytest.mark.parametrize("lost_at", ["placeOrder", "the sender's start"])
async def test_a_ticket_not_sent_is_withdrawn_so_recovery_never_sends_it_later(stack, lost_at, monkeypatch, ib_log_guard):
    """The connection drops as the ticket's order goes: the trader reads "Not sent", so nothing may
    go out later. Its order, given back NEW, was taken by recovery for a stuck one once the timeout
    passed and sent (a ticket entered again made two); stopped before its order (the sender's
    first look finds no connection), the window said "Sent ..., order " with no order at all."""
    ib_log_guard.allow(r"Peer closed connection")  # the drop is the point
    provider = stack.provider
    await _send_losing_the_connection(stack, lost_at, monkeypatch)
    await stack.writer.flush()
    [order] = _orders(stack.db)
    assert order.status is OrderState.CANCELED and order.ib_order_id is None
    [(_, status, message)] = _runs(stack.db)
    assert status is RunStatus.CANCELED and "connection" in message
    await wait_until(lambda: provider.is_connected, 15, "the provider to reconnect")
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 5})
    recovery = AutoRecovery(stack.db, provider, stack.writer, stack.reconciler, stack.service.leases, actor="tester",
                            busy_runs=stack.service.executing_runs)
    passed = await recovery.run_once(now=datetime.now(UTC) + timedelta(seconds=60))
    assert passed.considered == () and passed.sent == ()
    assert stack.sim.orders() == []


@pytest.mark.parametrize("lost_at", ["placeOrder", "the sender's start"])
async def test_a_ticket_not_sent_says_why_once_in_one_line(stack, lost_at, monkeypatch, ib_log_guard):
    """A ticket refused at its placeOrder read "Order not sent: no order could be sent (connection
    lost: ...); not sent: <its client order id>": a run's words for its many orders, "not sent"
    three times for the ticket's one. The window's activity log and the ``order`` command
    (not_sent_line), the ticket (ticket_not_sent) and the run's message say why, once, whichever
    step the send stopped at."""
    ib_log_guard.allow(r"Peer closed connection")  # the drop is the point
    refused = await _send_losing_the_connection(stack, lost_at, monkeypatch)
    why = r"connection lost: not connected to IB at 127\.0\.0\.1:\d+: the connection was lost at \d\d:\d\d:\d\d UTC"
    assert re.fullmatch(f"Order not sent: {why}", not_sent_line(refused)), not_sent_line(refused)
    assert re.fullmatch(f"Not sent: {why}", ticket_not_sent(refused)), ticket_not_sent(refused)
    await stack.writer.flush()
    [(_, _, message)] = _runs(stack.db)
    assert re.fullmatch(why, message), message


def _trail_and_its_entry(db, run_id: int):
    """The run's decision trail, and whether its rows still match the trail hash its plan's
    audit entry recorded (the tamper-evident record: None is no problem)."""
    from services.db.repositories.trail import TrailRepository
    from services.trail_queries import decision_trail

    trail = decision_trail(db, run_id=run_id)
    with db.session() as session:
        [payload] = session.scalars(select(AuditLog.payload).where(AuditLog.action == "plan.create",
                                                                   AuditLog.entity_id == str(trail.plan_id)))
        problem = TrailRepository(session).check(trail.plan_id, payload["trail_hash"])
    return trail, problem


async def test_a_tickets_decision_and_every_risk_verdict_are_on_its_runs_trail(stack):
    """A ticket's run showed "0 decisions · 0 verdicts" in the Decisions panel though its order
    had passed every risk rule: the verdicts were in the plan only, not on the decision trail a
    run's preview writes and the audit chain covers."""
    stack.sim.set_price("AAPL", "100")
    result = await _manual(stack).send(Ticket.of("AAPL", "BUY", quantity="10", order_type="LMT", limit_price="100.50",
                                                 project="desk"))
    trail, problem = _trail_and_its_entry(stack.db, result.run_id)
    assert problem is None
    [decision] = trail.order_decisions
    assert (decision["symbol"], decision["action"], decision["reason"], decision["client_order_id"]) == (
        "AAPL", "buy", "ticket", result.sent[0])
    assert (decision["current_quantity"], decision["delta"], decision["target_quantity"]) == ("0", "10", "10")
    verdicts = trail.risk_decisions
    assert verdicts and {v["verdict"] for v in verdicts} == {"pass"}
    assert {v["rule"] for v in verdicts} >= {"max_order_quantity", "max_order_notional", "price_collar"}


async def test_a_ticket_refused_by_risk_has_its_block_on_the_trail(stack):
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_quantity": 50})
    with pytest.raises(RiskBlocked):
        await _manual(stack).send(Ticket.of("AAPL", "BUY", quantity="60"))
    [(run_id, _, _)] = _runs(stack.db)
    trail, problem = _trail_and_its_entry(stack.db, run_id)
    assert problem is None
    [block] = [v for v in trail.risk_decisions if v["verdict"] == "block"]
    assert (block["rule"], block["symbol"]) == ("max_order_quantity", "AAPL")
