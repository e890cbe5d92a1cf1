"""The headless commands as real subprocesses against the simulator (SQLite and MariaDB)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from services.domain import OrderType, Side

from .cli_helpers import cli_args, run, until_client_gone
from .conftest import build_stack

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # every step a `python -m app` subprocess


@pytest.fixture
def snapshot_file(tmp_path):
    path = tmp_path / "snap.csv"
    path.write_text("symbol,weight\nAAPL,0.01\nMSFT,0.005\n")
    return path


async def test_execute_orders_fills_and_rerun(db_url, simulator, snapshot_file):
    port = simulator.port
    first = await run(cli_args(db_url, port, "execute", "--snapshot", str(snapshot_file), "--project", "cli", "--mode", "paper",
                               "--portfolio-value", "100000", "--wait-seconds", "10", "--json"))
    assert first.code == 0, first.err
    data = first.json
    assert data["run"]["status"] == "done" and data["run"]["created"] is True and len(data["run"]["sent"]) == 2
    assert {(o["symbol"], o["quantity"], o["status"]) for o in data["orders"]} == {("AAPL", "4", "FILLED"), ("MSFT", "1", "FILLED")}
    assert {f["exec_id"] for f in data["fills"]} == {e.exec_id for e in simulator.executions()}
    assert all(set(f) >= {"exec_id", "order_id", "symbol", "side", "quantity", "price", "commission", "time"} for f in data["fills"])
    await until_client_gone(simulator, 1)

    again = await run(cli_args(db_url, port, "execute", "--snapshot", str(snapshot_file), "--project", "cli", "--mode", "paper", "--json"))
    assert again.code == 0, again.err
    assert again.json["run"]["id"] == data["run"]["id"] and again.json["run"]["sent"] == [] and again.json["run"]["created"] is False
    assert len(simulator.orders()) == 2
    await until_client_gone(simulator, 1)
    # for people, the send in the window's words (services.preview_session.describe_execute) and the run's end
    # after them; it said "sent 0, already at the broker 2, still working 0, not sent 0"
    said = await run(cli_args(db_url, port, "execute", "--snapshot", str(snapshot_file), "--project", "cli", "--mode", "paper"))
    assert said.code == 0, said.err
    assert re.match(rf"run {data['run']['id']} \(paper, snapshot \d+, plan \d+\): done; "
                    r"0 sent, 2 already at the broker, 0 failed, 0 not sent; 0 still working$", said.out.splitlines()[0]), said.out

    orders = await run(cli_args(db_url, port, "orders", "--run", str(data["run"]["id"]), "--status", "filled", "--json", connection=False))
    assert orders.code == 0 and sorted(o["symbol"] for o in orders.json) == ["AAPL", "MSFT"]
    fills = await run(cli_args(db_url, port, "fills", "--run", str(data["run"]["id"]), "--json", connection=False))
    assert fills.code == 0
    by_exec = {e.exec_id: e for e in simulator.executions()}
    for f in fills.json:
        e = by_exec[f["exec_id"]]
        assert (f["symbol"], Decimal(f["quantity"]), Decimal(f["price"]), Decimal(f["commission"])) == (e.symbol, e.shares, e.price, e.commission)
    text = await run(cli_args(db_url, port, "fills", connection=False))
    assert text.code == 0 and all(e in text.out for e in by_exec)
    # for people, the numbers read as the window's fills show them: a commission to the cent ("1" before)
    rows = {line.split()[0]: line.split() for line in text.out.splitlines()[1:]}
    for exec_id, e in by_exec.items():
        assert rows[exec_id][4:7] == [f"{e.shares.normalize():,f}", f"{e.price:,.2f}", f"{e.commission:,.2f}"], rows[exec_id]
    listed = await run(cli_args(db_url, port, "orders", "--run", str(data["run"]["id"]), connection=False))
    averages = {o["symbol"]: Decimal(o["avg_fill_price"]) for o in orders.json}
    for line in listed.out.splitlines()[1:]:
        cells = line.split()
        places = max(2, min(4, -averages[cells[2]].normalize().as_tuple().exponent))
        assert cells[-1] == f"{averages[cells[2]]:,.{places}f}", line  # the average fill at two to four places


async def test_exit_codes(db_url, simulator, snapshot_file, tmp_path):
    port = simulator.port
    base = ["--snapshot", str(snapshot_file), "--project", "codes", "--portfolio-value", "100000", "--wait-seconds", "0"]
    live = await run(cli_args(db_url, port, "execute", *base, "--mode", "live"))
    assert live.code == 4 and "LIVE" in live.err
    live_on_paper = await run(cli_args(db_url, port, "execute", *base, "--mode", "live", "--live-token", "LIVE"))
    assert live_on_paper.code == 4 and "paper account" in live_on_paper.err
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,weight\nAAPL,abc\n")
    bad_input = await run(cli_args(db_url, port, "execute", "--snapshot", str(bad), "--project", "codes", "--mode", "paper"))
    assert bad_input.code == 2
    nobody = await run(cli_args(db_url, 1, "execute", *base, "--mode", "paper"))
    assert nobody.code == 5 and "cannot connect" in nobody.err
    halted = await run(cli_args(db_url, port, "halt", "--json"))
    assert halted.code == 0 and halted.json == {"trading_state": "HALTED", "unsent_canceled": []}
    blocked = await run(cli_args(db_url, port, "execute", *base, "--mode", "paper"))
    assert blocked.code == 3 and "HALTED" in blocked.err
    assert simulator.orders() == []
    resumed = await run(cli_args(db_url, port, "resume"))
    # the window's activity-log line (services.execution.action_outcomes.trading_state_line): it
    # said "trading state: ACTIVE"
    assert resumed.code == 0 and resumed.out == "Trading ACTIVE: new orders and replaces go out\n", resumed.out
    halted_again = await run(cli_args(db_url, port, "halt"))
    assert halted_again.code == 0 and halted_again.out == "Trading HALTED: only cancels go out\n", halted_again.out
    assert (await run(cli_args(db_url, port, "resume"))).code == 0
    risky = await run(cli_args(db_url, port, "execute", "--snapshot", str(snapshot_file), "--project", "risky", "--mode", "paper",
                               "--portfolio-value", "10000000", "--wait-seconds", "0"))
    assert risky.code == 3 and "max_order_notional" in risky.err
    assert simulator.orders() == []


async def test_a_refused_live_run_stores_neither_project_nor_snapshot(database, db_url, simulator, snapshot_file):
    from sqlalchemy import func, select

    from services.db.models import DecisionSnapshot, Project

    port = simulator.port
    base = ["--snapshot", str(snapshot_file), "--project", "refused", "--portfolio-value", "100000", "--wait-seconds", "0"]
    no_word = await run(cli_args(db_url, port, "execute", *base, "--mode", "live"))
    assert no_word.code == 4, no_word.err
    on_paper = await run(cli_args(db_url, port, "execute", *base, "--mode", "live", "--live-token", "LIVE"))
    assert on_paper.code == 4 and "paper account" in on_paper.err
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 0
        assert session.scalar(select(func.count()).select_from(DecisionSnapshot)) == 0
    assert simulator.orders() == []


async def test_a_portfolio_value_no_plan_keeps_is_refused_before_anything_is_stored(database, db_url, simulator,
                                                                                     snapshot_file):
    """--portfolio-value 1e14 (the option takes up to 1e15) reached the plan: "database error: 1E+14
    is too large for exact storage on SQLite", exit 5, its run left QUEUED with no plan."""
    from sqlalchemy import func, select

    from services.db.models import DecisionSnapshot, TradeRun

    base = ["--snapshot", str(snapshot_file), "--project", "big", "--portfolio-value", "1e14"]
    for command in (["execute", *base, "--wait-seconds", "0"], ["preview", *base, "--save"]):
        result = await run(cli_args(db_url, simulator.port, *command))
        assert result.code == 2, result.err
        assert "portfolio value 1E+14 is too large: a plan keeps values below 1e10" in result.err, result.err
        await until_client_gone(simulator, 1)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(TradeRun)) == 0
        assert session.scalar(select(func.count()).select_from(DecisionSnapshot)) == 0
    assert simulator.orders() == []


async def test_a_limit_offset_with_market_orders_is_refused_before_anything_is_stored(database, db_url, simulator,
                                                                                      snapshot_file):
    """`execute --limit-bps 20` with MKT orders sent market orders and said nothing of the offset."""
    from sqlalchemy import func, select

    from services.db.models import TradeRun

    base = ["--snapshot", str(snapshot_file), "--project", "offset", "--portfolio-value", "100000", "--limit-bps", "20"]
    for command in (["execute", *base, "--order-type", "MKT", "--wait-seconds", "0"], ["preview", *base, "--save"]):
        result = await run(cli_args(db_url, simulator.port, *command))
        assert result.code == 2, result.err
        assert "a limit offset (20 bps) is for LMT orders" in result.err, result.err
        await until_client_gone(simulator, 1)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(TradeRun)) == 0
    assert simulator.orders() == []


async def test_an_unknown_symbol_is_bad_input_for_order_preview_and_execute(db_url, simulator, tmp_path, ib_log_guard):
    """A symbol IB knows no listing of is bad input, exit 2 with the broker's word, the same for
    every command (services.execution.errors.UnknownContract): `order --symbol ZZZZNOPE` exited 5,
    as if the broker had failed."""
    ib_log_guard.allow(r"Error 200, .*ZZZZNOPE")
    snapshot = tmp_path / "nope.csv"
    snapshot.write_text("symbol,weight\nZZZZNOPE,0.01\n")
    base = ["--snapshot", str(snapshot), "--project", "nope", "--portfolio-value", "100000"]
    for command in (["order", "--symbol", "ZZZZNOPE", "--side", "BUY", "--quantity", "1"],
                    ["preview", *base], ["execute", *base, "--wait-seconds", "0"]):
        result = await run(cli_args(db_url, simulator.port, *command))
        assert result.code == 2, (command, result.err)
        assert "unknown contract: ZZZZNOPE" in result.err, (command, result.err)
        if command[0] != "order":  # a snapshot's row: where it comes from and what to do
            assert "(in snapshot 1, nope.csv of project nope): IB knows no such listing; correct the symbol" in result.err, result.err
        await until_client_gone(simulator, 1)
    assert simulator.orders() == []
    # the runs left say why they have no plan: the ticket's (canceled), and the day's run the
    # preview created and execute reused (QUEUED, for the day's next preview)
    for run_id, said in ((1, "unknown contract: ZZZZNOPE"), (2, "preview refused: unknown contract: ZZZZNOPE (in snapshot 1,")):
        trail = await run(cli_args(db_url, simulator.port, "trail", "--run", str(run_id), connection=False))
        assert trail.code == 0, trail.err
        assert trail.out.splitlines()[0].startswith(f"Run {run_id}, no plan: {said}"), trail.out


async def test_a_plan_or_snapshot_that_does_not_exist_is_said_before_connecting(db_url):
    """`execute --plan 999` with no gateway running said the connection error (exit 5), not that
    there is no plan 999: what the database alone answers is checked first."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for option, said in ((["--plan", "999"], "plan 999 does not exist"), (["--snapshot", "999"], "snapshot 999 does not exist")):
        result = await run(cli_args(db_url, port, "execute", *option, "--wait-seconds", "0"))
        assert result.code == 2, result.err
        assert said in result.err and "connect" not in result.err.lower(), result.err
        # the code `tca`, `trail`, `positions` and `backtests` give a missing id (it was bad_input)
        as_json = await run(cli_args(db_url, port, "execute", *option, "--wait-seconds", "0", "--json"))
        assert (as_json.code, as_json.json) == (2, {"error": "not_found", "message": said}), as_json.err


async def test_preview_and_execute_refuse_a_snapshot_file_alike_before_connecting(db_url, tmp_path):
    """`preview --save` and `execute` read FILE_OR_ID and --project by one function
    (app.commands.execution.snapshot_arg): a FILE without --project, and a malformed FILE, are
    refused by both with the same code and words, before any connection (nothing listens)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broken = tmp_path / "broken.csv"
    broken.write_text("symbol,weight\nAAPL,abc\n")
    cases = (([str(broken)], "bad_input", "--project NAME is needed with a snapshot FILE"),
             ([str(broken), "--project", "alpha"], "bad_snapshot", "line 2"))
    for given, code, said in cases:
        answers = [await run(cli_args(db_url, port, command, "--snapshot", *given, *extra, "--json"))
                   for command, extra in (("preview", ["--save"]), ("execute", ["--wait-seconds", "0"]))]
        for answer in answers:
            assert answer.code == 2 and answer.json["error"] == code and said in answer.json["message"], answer.err
        assert answers[0].json == answers[1].json


async def test_a_snapshot_file_executed_is_stored_as_an_import_is(database, db_url, simulator, tmp_path):
    """``execute --snapshot FILE`` stores the file as ``snapshot import`` and the window do
    (services.console_queries.store_snapshot): every column kept (the primary exchange too), a
    snapshot a backtest stored becomes the trader's, and the import is on the audit record."""
    from sqlalchemy import select

    from services.audit import AuditLog
    from services.console_queries import parse_for_storage, projects_and_snapshots
    from services.db.models import DecisionSnapshotItem
    from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository
    from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE, NewSnapshot

    path = tmp_path / "listed.csv"
    path.write_text("symbol,weight,primary_exchange\nAAPL,0.01,NASDAQ\nMSFT,0.005,NASDAQ\n")
    parsed = parse_for_storage(path)
    with database.unit_of_work() as session:  # as a backtest stores its input files (Backtester._begin): no audit entry
        project_id = ProjectRepository(session).get_or_create("listed").id
        [backtest_only_id] = SnapshotRepository(session).store_once([NewSnapshot(
            project_id, parsed.source_name, parsed.content_hash,
            [SnapshotItemInput(i.symbol, i.weight, i.score, i.rank, i.price, i.sec_type, i.exchange, i.currency,
                               i.primary_exchange or None) for i in parsed.items])], note=BACKTEST_INPUT_NOTE)
    assert "listed" not in {p.name for p in projects_and_snapshots(database)[0]}  # a backtest's input only
    done = await run(cli_args(db_url, simulator.port, "execute", "--snapshot", str(path), "--project", "listed", "--mode",
                              "paper", "--portfolio-value", "100000", "--wait-seconds", "10", "--json"))
    assert done.code == 0, done.err
    assert {(o["symbol"], o["status"]) for o in done.json["orders"]} == {("AAPL", "FILLED"), ("MSFT", "FILLED")}
    with database.session() as session:
        items = session.scalars(select(DecisionSnapshotItem).where(DecisionSnapshotItem.snapshot_id == backtest_only_id))
        assert {(i.symbol, i.primary_exchange) for i in items} == {("AAPL", "NASDAQ"), ("MSFT", "NASDAQ")}
    projects, snapshots = projects_and_snapshots(database)
    assert "listed" in {p.name for p in projects} and backtest_only_id in {s.id for s in snapshots}
    [entry] = AuditLog(database).list(action="snapshot.import")
    assert entry.entity_id == str(backtest_only_id)
    assert entry.payload["project"] == "listed" and entry.payload["created"] is False

    fresh = tmp_path / "fresh.csv"  # a file stored by the execute itself
    fresh.write_text("symbol,weight,primary_exchange\nAAPL,0.02,NASDAQ\n")
    await until_client_gone(simulator, 1)
    again = await run(cli_args(db_url, simulator.port, "execute", "--snapshot", str(fresh), "--project", "listed", "--mode",
                               "paper", "--portfolio-value", "100000", "--wait-seconds", "10", "--json"))
    assert again.code == 0, again.err
    imports = AuditLog(database).list(action="snapshot.import")
    assert len(imports) == 2 and imports[-1].payload["created"] is True and imports[-1].payload["source"] == "fresh.csv"
    with database.session() as session:
        items = session.scalars(select(DecisionSnapshotItem).where(DecisionSnapshotItem.snapshot_id == int(imports[-1].entity_id)))
        assert [(i.symbol, i.primary_exchange) for i in items] == [("AAPL", "NASDAQ")]


async def test_cancel_and_replace_say_what_came_of_them_in_the_windows_words(database, db_url, simulator):
    """``cancel`` printed "order 5: CANCELED" and ``replace`` "order 6: modify" (its method's
    name) while the window said "canceled" and "modified at the broker": the commands print the
    results' own words now (Canceled.outcome, ReplaceResult.outcome), the window's."""
    stack = await build_stack(database, simulator)
    a = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405"))
    b = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.LMT, Decimal("222"))
    await stack.close()
    await until_client_gone(simulator, 1)
    cancel = await run(cli_args(db_url, simulator.port, "cancel", str(a.id)))
    assert cancel.code == 0, cancel.err
    # the window's activity log's line (OrdersController._cancel_done): it said "order 5 (M-...): canceled"
    assert cancel.out.strip() == f"Cancel {a.client_order_id}: canceled"
    await until_client_gone(simulator, 1)
    replace = await run(cli_args(db_url, simulator.port, "replace", str(b.id), "--quantity", "8"))
    assert replace.code == 0, replace.err
    # the window's line for the same replace (OrdersController._replace_done): what the order
    # becomes, its limit unchanged included ("to quantity 8" before, in words of its own)
    assert replace.out == f"Replace {b.client_order_id} to 8 @ 222.00: modified at the broker\n", replace.out
    assert {o.symbol: o.quantity for o in simulator.open_orders()} == {"AAPL": Decimal(8)}


async def test_replace_stop_moves_a_working_stop_limit_orders_trigger_and_a_limit_order_has_none(database, db_url, simulator):
    """``replace --stop P`` changes a working STP LMT order's stop in place (IB's auxPrice): the
    broker's order, the database and the words say the new stop, and the order triggers at it (a
    price between the old and the new stop). A LMT order has no stop to replace: exit 2, saying
    why. Replace handled quantity and limit only (a stop order was refused whole)."""
    from services.db.convert import to_order_record
    from services.db.repositories import OrderRepository
    from services.domain import OrderState
    from services.execution.manual import ManualOrders, Ticket
    from tests.fixtures.waiting import wait_until

    simulator.set_price("AAPL", "100")
    stack = await build_stack(database, simulator)
    sent = await ManualOrders(stack.service).send(
        Ticket.of("AAPL", "BUY", quantity="5", order_type="STP LMT", stop_price="105", limit_price="106"))
    lmt = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405"))

    def stored(coid=None, order_id=None):
        with database.session() as session:
            repo = OrderRepository(session)
            return to_order_record(repo.get(order_id) if order_id else repo.get_by_client_id(coid))

    async def both_working():
        await stack.writer.flush()
        return all(stored(coid).status is OrderState.ACCEPTED for coid in (*sent.sent, lmt.client_order_id))

    await wait_until(both_working, 5, "both orders ACCEPTED")
    stop = stored(sent.sent[0])
    await stack.close()
    await until_client_gone(simulator, 1)
    moved = await run(cli_args(db_url, simulator.port, "replace", str(stop.id), "--stop", "103"))
    assert moved.code == 0, moved.err
    assert moved.out == f"Replace {stop.client_order_id} to 5 stop 103.00 limit 106.00: modified at the broker\n", moved.out
    [at_broker] = [o for o in simulator.open_orders() if o.symbol == "AAPL"]
    assert (at_broker.order_type, at_broker.stop_price, at_broker.limit_price, at_broker.quantity) == (
        "STP LMT", Decimal(103), Decimal(106), Decimal(5))
    after = stored(order_id=stop.id)
    assert (after.status, after.stop_price, after.limit_price, after.quantity) == (
        OrderState.ACCEPTED, Decimal(103), Decimal(106), Decimal(5))
    # above the new stop, below the old one: it triggers (the old stop 105 would have rested)
    simulator.set_price("AAPL", "104")
    assert at_broker.triggered and at_broker.status == "Filled"
    await until_client_gone(simulator, 1)
    refused = await run(cli_args(db_url, simulator.port, "replace", str(lmt.id), "--stop", "400", "--json"))
    assert refused.code == 2, refused.err
    assert refused.json["message"] == (f"order {lmt.id}: a LMT order has no stop price to replace; cancel it and enter "
                                       "a STP or STP LMT order in the order ticket"), refused.json
    assert [o.stop_price for o in simulator.open_orders() if o.symbol == "MSFT"] == [None]


async def test_cancel_replace_cancel_all_reconcile(database, db_url, simulator):
    stack = await build_stack(database, simulator)
    a = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405"))
    b = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.LMT, Decimal("222"))
    c = await stack.actions.manual_order("META", Side.BUY, Decimal(5), OrderType.LMT, Decimal("555"))
    await stack.close()
    await until_client_gone(simulator, 1)
    port = simulator.port
    rec = await run(cli_args(db_url, port, "reconcile", "--json"))
    assert rec.code == 0, rec.err
    assert rec.json["open_orders"] == 3 and rec.json["missing_fills"] == []
    await until_client_gone(simulator, 1)
    cancel = await run(cli_args(db_url, port, "cancel", str(a.id), "--json"))
    assert cancel.code == 0, cancel.err
    assert cancel.json["order"]["status"] == "CANCELED"
    await until_client_gone(simulator, 1)
    replace = await run(cli_args(db_url, port, "replace", str(b.id), "--quantity", "8", "--limit", "223", "--json"))
    assert replace.code == 0, replace.err
    assert replace.json["method"] == "modify" and replace.json["order"]["quantity"] == "8"
    assert {o.symbol: o.quantity for o in simulator.open_orders()} == {"AAPL": Decimal(8), "META": Decimal(5)}
    await until_client_gone(simulator, 1)
    bad = await run(cli_args(db_url, port, "replace", str(b.id)))
    assert bad.code == 2
    await until_client_gone(simulator, 1)
    missing = await run(cli_args(db_url, port, "cancel", "999", "--json"))
    assert (missing.code, missing.json) == (2, {"error": "not_found", "message": "order 999 does not exist"}), missing.err
    await until_client_gone(simulator, 1)
    # what the order became and how, in the window's words: its quantity unchanged, said ("to limit 556" before)
    said = await run(cli_args(db_url, port, "replace", str(c.id), "--limit", "556"))
    assert said.code == 0, said.err
    assert said.out == f"Replace {c.client_order_id} to 5 @ 556.00: modified at the broker\n", said.out
    await until_client_gone(simulator, 1)
    all_ = await run(cli_args(db_url, port, "cancel-all", "--json"))
    assert all_.code == 0 and sorted(all_.json["canceled"]) == sorted([b.id, c.id])
    assert simulator.open_orders() == []
    orders = await run(cli_args(db_url, port, "orders", "--json", connection=False))
    assert sorted(o["status"] for o in orders.json) == ["CANCELED"] * 3
    # every action is audited with the operating-system user as actor
    from services.audit import AuditLog
    from services.execution.audit import os_user

    actions = [(e.actor, e.action) for e in AuditLog(database).list() if e.action.startswith("order.")]
    assert actions[-4:] == [(os_user(), "order.cancel"), (os_user(), "order.replace"), (os_user(), "order.replace"),
                            (os_user(), "order.cancel_all")]


async def test_cancel_all_and_halt_wait_for_the_brokers_confirmations_before_they_disconnect(database, db_url, simulator):
    """IB confirms a cancel once the exchange has (PendingCancel first, Cancelled later): the
    commands wait for each order's final status and write it before they disconnect, as
    ``cancel`` does; they used to leave the orders CANCEL_REQUESTED in the database."""
    simulator.faults.cancel_delay = 1.0
    stack = await build_stack(database, simulator)
    a = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405"))
    b = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.LMT, Decimal("222"))
    await stack.close()
    await until_client_gone(simulator, 1)
    all_ = await run(cli_args(db_url, simulator.port, "cancel-all", "--json"))
    assert all_.code == 0, all_.err
    assert sorted(all_.json["canceled"]) == sorted([a.id, b.id]) and simulator.open_orders() == []
    orders = await run(cli_args(db_url, simulator.port, "orders", "--json", connection=False))
    assert sorted(o["status"] for o in orders.json) == ["CANCELED"] * 2
    await until_client_gone(simulator, 1)
    stack = await build_stack(database, simulator)
    c = await stack.actions.manual_order("META", Side.BUY, Decimal(5), OrderType.LMT, Decimal("555"))
    await stack.close()
    await until_client_gone(simulator, 1)
    halted = await run(cli_args(db_url, simulator.port, "halt", "--cancel-all", "--json"))
    assert halted.code == 0, halted.err
    # the Cancel All's outcome is said too (it was dropped: what it could not cancel went unsaid)
    assert halted.json == {"trading_state": "HALTED", "unsent_canceled": [], "canceled": [c.id], "not_canceled": [],
                           "senders_not_stopped": [], "other_accounts": [],
                           "accounts": {simulator.config.accounts[0]: [c.id]}}
    orders = await run(cli_args(db_url, simulator.port, "orders", "--json", connection=False))
    assert {o["id"]: o["status"] for o in orders.json}[c.id] == "CANCELED" and simulator.open_orders() == []


async def test_execute_waits_for_late_commission_reports_before_it_disconnects(db_url, simulator, snapshot_file):
    """IB's commission report may follow the last fill by seconds: the command waits for it
    (bounded) instead of leaving the fills without commissions until the next reconciliation."""
    simulator.faults.late_commission = True
    simulator.faults.late_commission_delay = 1.5  # after the fills: the run is done before the reports come
    result = await run(cli_args(db_url, simulator.port, "execute", "--snapshot", str(snapshot_file), "--project", "late",
                                "--mode", "paper", "--portfolio-value", "100000", "--wait-seconds", "10", "--json"))
    assert result.code == 0, result.err
    data = result.json
    assert data["run"]["status"] == "done" and data["run"]["commissions_missing"] == []
    assert data["fills"] and all(f["commission"] == "1" for f in data["fills"])


async def test_a_stored_limit_of_another_version_refuses_the_preview_until_trade_settings_unset_removes_it(
        database, db_url, simulator, snapshot_file):
    """A risk limit this version has no rule for (a newer version stored it, or a hand in the
    database): `preview` said only "bad input: unknown risk parameter 'some_future_rule'; known:
    ...", as if --risk had a typo, and no command could remove it (`trade-settings set` refused
    the key it did not know). Now the preview is still refused (exit 2: a limit nobody checks is
    never skipped), naming the setting, that another version stored it and the command that
    removes it; `trade-settings unset` removes it and the preview goes through."""
    from services.db.repositories.settings import SettingsRepository

    with database.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_notional": "25000", "some_future_rule": "3"})
    preview = ["preview", "--snapshot", str(snapshot_file), "--project", "future", "--portfolio-value", "100000", "--save"]
    refused = await run(cli_args(db_url, simulator.port, *preview))
    assert refused.code == 2, refused.err
    assert "Traceback" not in refused.err, refused.err
    assert "risk.some_future_rule = 3" in refused.err and "another version" in refused.err, refused.err
    assert "trading-console trade-settings unset risk.some_future_rule" in refused.err, refused.err
    await until_client_gone(simulator, 1)

    removed = await run(cli_args(db_url, simulator.port, "trade-settings", "unset", "risk.some_future_rule", "--json",
                                 connection=False))
    assert removed.code == 0, removed.err
    assert "some_future_rule" not in removed.json["risk"] and removed.json["stored_problems"] == {}
    assert removed.json["risk"]["max_order_notional"] == "25000"  # the other limits as they were stored

    previewed = await run(cli_args(db_url, simulator.port, *preview))
    assert previewed.code == 0, previewed.err
    assert simulator.orders() == []


async def test_execute_plan_refuses_the_options_a_preview_reads(db_url, simulator, snapshot_file):
    """`execute --plan 3 --portfolio-value 1000 --risk max_order_notional=100` sent plan 3 as it
    was previewed, both options silently ignored: the trader who typed a smaller value or a
    tighter limit saw the plan's whole orders go. Now refused (exit 2) before anything is sent,
    naming what would not change the plan; the plan alone is then sent as before."""
    saved = await run(cli_args(db_url, simulator.port, "preview", "--snapshot", str(snapshot_file), "--project", "frozen",
                               "--portfolio-value", "100000", "--save", "--json"))
    assert saved.code == 0, saved.err
    plan = str(saved.json["plan_id"])
    await until_client_gone(simulator, 1)
    for options, said in ((["--portfolio-value", "1000"], "a portfolio value"),
                          (["--risk", "max_order_notional=100"], "risk overrides (max_order_notional=100)"),
                          (["--lot-size", "100", "--order-type", "LMT"], "builder parameters (lot_size, order_type)"),
                          (["--project", "other"], "a project"), (["--new-run"], "a new run")):
        refused = await run(cli_args(db_url, simulator.port, "execute", "--plan", plan, *options, "--wait-seconds", "0"))
        assert refused.code == 2, (options, refused.err)
        assert f"plan {plan} is sent exactly as it was previewed; {said} would not change it" in refused.err, refused.err
    assert simulator.orders() == []

    sent = await run(cli_args(db_url, simulator.port, "execute", "--plan", plan, "--wait-seconds", "10", "--json"))
    assert sent.code == 0, sent.err
    assert len(simulator.orders()) == 2


async def test_a_rejected_order_is_said_and_exits_5(db_url, simulator, snapshot_file):
    """`execute` of a run whose order the broker rejected printed "failed" and exited 0, nothing on
    stderr, as `order` did for a rejected ticket: a script reading the exit code took the run for
    done. Both now name the rejected order with its reason on stderr and exit 5."""
    simulator.faults.reject_symbols.add("MSFT")
    executed = await run(cli_args(db_url, simulator.port, "execute", "--snapshot", str(snapshot_file), "--project", "rej",
                                  "--portfolio-value", "100000", "--wait-seconds", "10", "--json"))
    assert executed.code == 5, executed.err
    assert executed.json["run"]["status"] == "failed"  # stdout stays one JSON object
    assert "1 order rejected by the broker: " in executed.err and "BUY 1 MSFT: 201" in executed.err, executed.err
    await until_client_gone(simulator, 1)

    ticket = await run(cli_args(db_url, simulator.port, "order", "--symbol", "MSFT", "--side", "BUY", "--quantity", "2",
                                "--wait-seconds", "10", "--json"))
    assert ticket.code == 5, ticket.err
    assert [o["status"] for o in ticket.json["orders"]] == ["REJECTED"]
    assert "rejected by the broker: " in ticket.err and "BUY 2 MSFT: 201" in ticket.err, ticket.err
    await until_client_gone(simulator, 1)

    accepted = await run(cli_args(db_url, simulator.port, "order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "1",
                                  "--wait-seconds", "10"))
    assert accepted.code == 0 and "rejected" not in accepted.err, accepted.err


async def test_execute_plan_sends_only_the_content_its_plan_hash_names(database, db_url, simulator, snapshot_file):
    """The window sends a plan only if it still hashes to the one its dialog confirmed;
    `execute --plan N` had no way to say which content the trader reviewed, and sent plan N as
    its rows read by then (4 shares rewritten to 400, the hash rewritten to match, went out).
    `--plan-hash`, the hash `preview --save` prints (its first 12 hex digits, or more), refuses
    (exit 3, plan_changed) a plan that is no longer that content; the plan as reviewed then goes."""
    from sqlalchemy import update

    from services.core.plans import content_hash
    from services.db.models import OrderPlan
    from services.db.plan_repository import PlanRepository, _content_of

    saved = await run(cli_args(db_url, simulator.port, "preview", "--snapshot", str(snapshot_file), "--project", "hashed",
                               "--portfolio-value", "100000", "--save"))
    assert saved.code == 0, saved.err
    # the command it prints names the hash of the content shown
    command = saved.out.splitlines()[-1].split(": ", 1)[1].split()
    assert command[:3] == ["trading-console", "execute", "--plan"] and command[4] == "--plan-hash", saved.out
    plan_id, printed = int(command[3]), command[5]
    with database.session() as session:
        reviewed = PlanRepository(session).get(plan_id)
    assert len(printed) == 12 and reviewed.content_hash.startswith(printed)
    await until_client_gone(simulator, 1)

    for options, said in ((["--plan", str(plan_id), "--plan-hash", printed[:11]], "not a plan hash"),
                          (["--plan", str(plan_id), "--plan-hash", "z" * 12], "not a plan hash"),
                          (["--snapshot", str(snapshot_file), "--project", "hashed", "--plan-hash", printed],
                           "give it with the plan's id")):
        refused = await run(cli_args(db_url, simulator.port, "execute", *options, "--wait-seconds", "0"))
        assert refused.code == 2 and said in refused.err, (options, refused.err)

    # the plan's rows changed after the preview, and its stored hash written to match them
    orders = [o.to_dict() for o in reviewed.orders]
    orders[0]["quantity"] = str(Decimal(orders[0]["quantity"]) * 100)
    with database.unit_of_work() as session:
        session.execute(update(OrderPlan).where(OrderPlan.id == plan_id).values(orders=orders))
        row = session.get(OrderPlan, plan_id)
        row.content_hash = content_hash(_content_of(row, PlanRepository(session).get(plan_id)))
    changed = await run(cli_args(db_url, simulator.port, "execute", "--plan", str(plan_id), "--plan-hash", printed.upper(),
                                 "--wait-seconds", "0", "--json"))
    assert changed.code == 3, changed.err
    assert changed.json["error"] == "plan_changed" and "is not the plan you confirmed" in changed.json["message"]
    assert simulator.orders() == []

    # as it was reviewed again: sent, by the whole hash as the JSON gives it too
    with database.unit_of_work() as session:
        session.execute(update(OrderPlan).where(OrderPlan.id == plan_id).values(
            orders=[o.to_dict() for o in reviewed.orders], content_hash=reviewed.content_hash))
    sent = await run(cli_args(db_url, simulator.port, "execute", "--plan", str(plan_id), "--plan-hash", reviewed.content_hash,
                              "--wait-seconds", "10", "--json"))
    assert sent.code == 0, sent.err
    assert sorted((o.symbol, o.quantity) for o in simulator.orders()) == sorted((o.symbol, o.quantity) for o in reviewed.orders)


async def test_a_reconciliation_that_found_something_is_said_in_words_not_as_a_dict(db_url, simulator, ib_client):
    """The first command on a database that lacked the account's fills logged, on stderr,
    "services.execution.reconcile: reconciliation: {'time': '2026-...', 'open_orders': 0,
    'missing_fills': [...], ...}": the report's raw dict, hundreds of characters. The window's
    words say it (services.execution.reconcile_words); the audit log keeps the whole report."""
    from ib_async import MarketOrder, Stock

    from tests.fixtures.waiting import wait_until

    other = await ib_client(client_id=9)
    [contract] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    trade = other.placeOrder(contract, MarketOrder("BUY", 3, orderRef="by-hand"))
    await wait_until(lambda: trade.orderStatus.status == "Filled", 5, "the manual order filled")
    result = await run(cli_args(db_url, simulator.port, "--log-level", "INFO", "reconcile"))
    assert result.code == 0, result.err
    assert "{'time'" not in result.err and "'missing_fills'" not in result.err, result.err
    assert "Reconciled at " in result.err and "1 order placed outside the console recorded" in result.err, result.err
