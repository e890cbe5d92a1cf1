"""A project's orders still working from an earlier run count as if they filled when it builds
again (docs/project-books.md, "Previews use the project's book"), against the simulator over a
real socket, on SQLite and MariaDB. The builder took the delta from the filled book alone: a
second snapshot of the same targets the same day, while the first run's limit orders were still
working, built and sent the same orders again and doubled the intent (BUY 44 AAPL twice), and a
second liquidation sold the shares a working sell was already selling (the project short)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services import console_queries as queries
from services.books import BooksService
from services.domain import OrderState, Side, TradeMode
from services.execution.manual import ManualOrders, Ticket
from tests.fixtures.waiting import wait_until

from .cli_helpers import cli_args, run, until_client_gone
from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(90)

# a limit at the reference price (the mid): a buy rests below the ask, a sell above the bid, so
# the simulator leaves them working
RESTING = {"order_type": "LMT", "limit_offset_bps": "0"}


def _orders(result) -> list[tuple[str, Side, Decimal]]:
    return [(d.symbol, d.side, d.quantity) for d in result.drafts]


async def _working(stack, client_order_ids) -> None:
    wanted = set(client_order_ids)
    await wait_until(
        lambda: wanted <= {o.client_order_id for o in queries.recent_orders(stack.db) if o.status is OrderState.ACCEPTED},
        10, lambda: f"the run's orders working: {[(o.client_order_id, o.status) for o in queries.recent_orders(stack.db)]}")


def _booked(stack, key: str) -> Decimal:
    from services.books import project_positions
    from services.db.repositories import ProjectRepository

    with stack.db.session() as session:
        project = ProjectRepository(session).get_or_create("P")
        return project_positions(session, project.id, None).get(key, Decimal(0))


async def _execute(stack, project: str, snapshot: int, builder: dict) -> tuple[int, list[str]]:
    run = await stack.service.prepare_run(project, snapshot, TradeMode.PAPER, builder=builder)
    result = await stack.service.execute(run.id)
    return run.id, list(result.sent)


async def test_a_second_snapshot_of_the_same_targets_builds_nothing_while_the_first_runs_orders_work(stack):
    _, first = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": "100000"})
    run_1, sent = await _execute(stack, "P", first, RESTING)
    [coid] = sent
    await _working(stack, sent)
    assert stack.sim.positions().get("AAPL", Decimal(0)) == 0  # nothing filled: the buy is only in flight
    with stack.db.session() as session:
        from services.db.plan_repository import PlanRepository
        from services.db.repositories import RunRepository

        first_plan = PlanRepository(session).get(RunRepository(session).get(run_1).params["plan_id"])
    [(symbol, side, bought)] = [(o.symbol, o.side, o.quantity) for o in first_plan.orders]
    assert (symbol, side) == ("AAPL", Side.BUY) and bought > 0

    # the same targets imported again the same day: a new run, which must not buy them again
    _, second = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    again = await stack.service.preview_snapshot("P", second, TradeMode.PAPER, builder=RESTING)
    assert again.run_id != run_1
    assert _orders(again) == []
    assert not again.blocked
    # the plan keeps the filled book and, apart, the working orders it counted
    assert again.plan.positions == {}
    assert again.plan.working == {"AAPL": bought}
    assert again.plan.working_orders == (coid,)
    assert again.working_note == f"counted as filled: 1 working order of this project: AAPL +{bought.normalize():f}"
    with stack.db.session() as session:
        from services.db.repositories import RunRepository

        params = RunRepository(session).get(again.run_id).params
    assert params["positions"] == {} and params["working_orders"] == [coid]
    assert {key: Decimal(q) for key, q in params["working"].items()} == {"AAPL": bought}

    # a larger target: only the difference, and execute (the same preview) sends only that
    _, larger = make_snapshot(stack.db, "P", {"AAPL": "0.15"})
    bigger = await stack.service.preview_snapshot("P", larger, TradeMode.PAPER, builder=RESTING)
    assert not bigger.blocked
    [draft] = bigger.drafts
    target = draft.target_quantity
    assert target > bought
    assert (draft.side, draft.quantity, draft.current_quantity) == (Side.BUY, target - bought, bought)
    _, sent_again = await _execute(stack, "P", larger, RESTING)
    assert len(sent_again) == 1
    await _working(stack, sent_again)
    at_broker = sorted(o.quantity for o in stack.sim.orders() if o.symbol == "AAPL")
    assert at_broker == sorted([bought, target - bought])  # together: the larger target, not 44 + 66


async def test_a_sell_already_working_is_not_sold_again(stack):
    """P holds AAPL; a snapshot dropping it sends a resting sell; the same snapshot again the
    same day sells nothing more (the old code sold the whole position a second time: the project
    would go short by it once both filled)."""
    _, buy = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": "100000"})
    run, _sent = await _execute(stack, "P", buy, {"order_type": "MKT"})  # fills at once
    assert await stack.service.wait_done(run, 10) == []
    await stack.writer.flush()
    held = stack.sim.positions()["AAPL"]
    assert held > 0

    _, drop = make_snapshot(stack.db, "P", {"AAPL": "0"})
    _, sells = await _execute(stack, "P", drop, RESTING)
    assert len(sells) == 1
    await _working(stack, sells)
    assert stack.sim.positions()["AAPL"] == held  # the sell rests

    _, drop_again = make_snapshot(stack.db, "P", {"AAPL": "0"})
    again = await stack.service.preview_snapshot("P", drop_again, TradeMode.PAPER, builder=RESTING)
    assert _orders(again) == []
    assert again.plan.positions == {"AAPL": held} and again.plan.working == {"AAPL": -held}
    # half the position asked back while the sell works: bought back from the book as if it filled
    _, half = make_snapshot(stack.db, "P", {"AAPL": "0.05"})
    partial = await stack.service.preview_snapshot("P", half, TradeMode.PAPER, builder=RESTING)
    assert [(s, side) for s, side, _q in _orders(partial)] == [("AAPL", Side.BUY)]
    assert not partial.blocked

    # the order ticket's check measures P's book the same way: selling the shares the working
    # sell already sells goes short (it passed against the filled book)
    manual = ManualOrders(stack.service)
    ticket = await manual.check(Ticket.of("AAPL", "SELL", quantity=str(held), project="P"))
    assert {b.rule for b in ticket.report.all_blocks()} == {"short_sale"}, ticket.reasons()


async def test_a_sell_never_counts_on_a_working_buy_netted_against_a_working_sell(stack):
    """P holds AAPL; a resting sell of it, then (the trader changed their mind) a resting buy of
    it back: net nothing working. Dropping AAPL again builds a sell of the filled shares, which
    counts on the working buy: should both sells fill before the buy, P is short by it. The
    short-sale rule saw only the net (0 working) and passed it; now it blocks it."""
    _, buy = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": "100000"})
    run, _sent = await _execute(stack, "P", buy, {"order_type": "MKT"})
    assert await stack.service.wait_done(run, 10) == []
    await stack.writer.flush()
    held = stack.sim.positions()["AAPL"]
    _, drop = make_snapshot(stack.db, "P", {"AAPL": "0"})
    _, sells = await _execute(stack, "P", drop, RESTING)
    await _working(stack, sells)
    _, back = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    _, buys = await _execute(stack, "P", back, RESTING)
    assert len(buys) == 1
    await _working(stack, buys)

    _, drop_again = make_snapshot(stack.db, "P", {"AAPL": "0"})
    again = await stack.service.preview_snapshot("P", drop_again, TradeMode.PAPER, builder=RESTING)
    assert _orders(again) == [("AAPL", Side.SELL, held)]
    assert again.plan.working == {"AAPL": Decimal(0)}
    assert {b.rule for b in again.report.all_blocks()} == {"short_sale"}
    # the ticket's check the same way
    ticket = await ManualOrders(stack.service).check(Ticket.of("AAPL", "SELL", quantity=str(held), project="P"))
    assert {b.rule for b in ticket.report.all_blocks()} == {"short_sale"}, ticket.reasons()


async def test_a_stored_plan_is_not_sent_once_the_projects_book_moved_since_its_preview(stack):
    """The window's Execute sends the stored plan the trader confirmed (execute_plan), checking
    its age and prices: two snapshots of the same targets previewed before either was sent (two
    plans, nothing working), the first executed, then the second: it sent the same BUY again.
    Now a plan whose traded listings' book (positions plus the project's working orders, counted
    as filled) moved since its preview is refused; an order it counted that filled since moves
    nothing and the plan goes."""
    from services.execution.errors import PlanRefused

    _, s1 = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": "100000"})
    a = await stack.service.preview_snapshot("P", s1, TradeMode.PAPER, builder=RESTING)
    _, s2 = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    b = await stack.service.preview_snapshot("P", s2, TradeMode.PAPER, builder=RESTING)
    [(_, _, bought)] = _orders(a)
    assert _orders(b) == _orders(a)
    sent = (await stack.service.execute_plan(a.plan.id)).sent
    await _working(stack, sent)
    with pytest.raises(PlanRefused, match=r"book moved since the preview.*AAPL 0 -> 44") as refused:
        await stack.service.execute_plan(b.plan.id)
    assert refused.value.code == "plan_book_moved"
    assert [o.quantity for o in stack.sim.orders()] == [bought]  # the BUY once

    # a plan that counted the working BUY as filled: it fills before the plan goes, the book
    # (44 held, nothing working) is the one the plan was built from, and the plan is sent
    _, larger = make_snapshot(stack.db, "P", {"AAPL": "0.15"})
    c = await stack.service.preview_snapshot("P", larger, TradeMode.PAPER, builder=RESTING)
    [(_, side, _more)] = _orders(c)
    assert side is Side.BUY and c.plan.working == {"AAPL": bought}
    [resting] = [o for o in stack.sim.orders() if o.quantity == bought]
    stack.sim.set_price("AAPL", resting.limit_price - Decimal("0.02"))  # the ask under the limit: it fills
    await stack.writer.flush()
    await wait_until(lambda: stack.sim.positions().get("AAPL") == bought, 10, lambda: "the resting buy filled")
    await wait_until(lambda: _booked(stack, "AAPL") == bought, 10, lambda: "its fill booked")
    assert len((await stack.service.execute_plan(c.plan.id)).sent) == 1


@pytest.mark.slow  # two `python -m app` subprocesses
async def test_the_preview_command_says_which_working_orders_it_counted_as_filled(db_url, stack):
    _, first = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": "100000"})
    _, sent = await _execute(stack, "P", first, RESTING)
    await _working(stack, sent)
    _, second = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    saved = await run(cli_args(db_url, stack.sim.port, "preview", "--snapshot", str(second), "--save", "--json", client_id=7))
    assert saved.code == 0, saved.err
    assert saved.json["orders"] == []
    assert saved.json["positions"] == {} and saved.json["working_orders"] == sent and saved.json["unsent_orders"] == []
    assert {k: Decimal(q) for k, q in saved.json["working"].items()} == {"AAPL": Decimal(44)}
    await until_client_gone(stack.sim, 7)
    shown = await run(cli_args(db_url, stack.sim.port, "preview", "--snapshot", str(second), "--save", client_id=7))
    assert shown.code == 0, shown.err
    assert "Counted as filled: 1 working order of this project: AAPL +44\n" in shown.out  # the window's line
    assert saved.json["notes"] == ["Counted as filled: 1 working order of this project: AAPL +44"]
    assert saved.json["portfolio_value_source"] == "capital"


async def test_an_order_reported_filled_before_its_execution_is_booked_is_not_built_again(stack):
    """IB sends an order's orderStatus and its execDetails apart, and the status may come first:
    between the writer's batch that records the status (the order FILLED, its filled quantity
    44) and the one that books the execution into the positions, the old code counted the order
    nowhere (nothing left to fill, no position yet) and a second snapshot of the same targets
    built the BUY 44 again. Written to the writer by hand, as a review found it (the simulator
    sends both together): run 2 now builds nothing, a stored plan that counted the working order
    still goes (the book did not move), the account's exposure keeps the 44; once the execution
    is booked, the 44 are in the positions and counted nowhere else."""
    from services.books import working_orders, working_quantities
    from services.db.repositories import OrderRepository
    from services.execution.events import OrderStatusEvent

    _, first = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": "100000"})
    run_1, sent = await _execute(stack, "P", first, RESTING)
    [coid] = sent
    await _working(stack, sent)
    [resting] = [o for o in stack.sim.orders() if o.symbol == "AAPL"]
    bought = resting.quantity
    # a plan of a larger target built while the BUY works: it counts it as filled
    _, larger = make_snapshot(stack.db, "P", {"AAPL": "0.15"})
    bigger = await stack.service.preview_snapshot("P", larger, TradeMode.PAPER, builder=RESTING)
    assert bigger.plan.working == {"AAPL": bought} and len(bigger.drafts) == 1

    # IB's orderStatus "Filled" reaches the writer, the execution not yet
    with stack.db.session() as session:
        order = OrderRepository(session).get_by_client_id(coid)
        ids = (order.ib_order_id, order.ib_perm_id, order.ib_client_id)
    stack.writer.submit(OrderStatusEvent(ids[0], ids[1], ids[2], "Filled", bought, Decimal(0), resting.limit_price,
                                         resting.limit_price, order_ref=coid))
    await stack.writer.flush()
    with stack.db.session() as session:
        order = OrderRepository(session).get_by_client_id(coid)
        assert (order.status, order.filled_quantity) == (OrderState.FILLED, bought)
    assert _booked(stack, "AAPL") == 0

    _, second = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    again = await stack.service.preview_snapshot("P", second, TradeMode.PAPER, builder=RESTING)
    assert again.run_id != run_1
    assert _orders(again) == []  # the old code: BUY 44 again
    assert (again.plan.positions, again.plan.working, again.plan.working_orders) == ({}, {"AAPL": bought}, (coid,))
    await stack.service.check_plan(bigger.plan)  # its book (44 as if filled) did not move: not plan_book_moved
    with stack.db.session() as session:
        assert working_quantities(session, None) == {"AAPL": bought}  # the account's exposure: every project's
        assert [(o.client_order_id, o.quantity, o.unbooked) for o in working_orders(session, None)] == [(coid, bought, bought)]

    # the execution comes (the simulator fills the resting order): booked, counted nowhere else
    stack.sim.set_price("AAPL", resting.limit_price - Decimal("0.02"))
    await wait_until(lambda: stack.sim.positions().get("AAPL") == bought, 10, lambda: "the resting buy filled")
    await wait_until(lambda: _booked(stack, "AAPL") == bought, 10, lambda: "its fill booked")
    with stack.db.session() as session:
        assert working_orders(session, None) == []
    _, third = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    after = await stack.service.preview_snapshot("P", third, TradeMode.PAPER, builder=RESTING)
    assert _orders(after) == []
    assert (after.plan.positions, after.plan.working) == ({"AAPL": bought}, {})
    await stack.service.check_plan(bigger.plan)
    assert [o.quantity for o in stack.sim.orders() if o.symbol == "AAPL"] == [bought]  # the BUY once
