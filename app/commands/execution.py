"""Headless execution commands for scripted use and crash tests.

    trading-console execute --snapshot FILE_OR_ID --project NAME --mode paper|live [--live-token WORD]
        [--portfolio-value V] [builder options] [--allow-short] [--ib-host H] [--ib-port P] [--client-id N]
        [--wait-seconds S] [--json]
    trading-console execute --plan ID [--plan-hash HASH] [--live-token WORD] [connection options] [--json]
    trading-console orders [--run ID] [--status S] [--json]
    trading-console fills [--run ID] [--json]
    trading-console cancel ORDER_ID | replace ORDER_ID [--quantity Q] [--limit P] [--stop P] | cancel-all
    trading-console halt [--cancel-all] | resume | reconcile

Exit codes: 0 done, 2 bad input, 3 blocked by risk (HALTED included), 4 refused (live token,
account guard, or the run is being executed by another process: the message names it), 5 broker
or connection error (for ``execute`` also: any order of the run left unsent, or the connection
died during the run, or any order of it rejected by the broker; the unsent and the rejected orders
are listed). Every connection reconciles first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

from app.cli import EXIT_BAD_INPUT, EXIT_BROKER, EXIT_OK, say_failure
from app.commands import arguments
from services.core.typed_numbers import plain
from services.core.wording import grouped, money, price, price_places
from services.execution.reconcile_words import describe_reconcile

log = logging.getLogger(__name__)


def _connection_options(parser: argparse.ArgumentParser, *, mode: bool = True) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--ib-host", dest="ib_host", default=None, metavar="H", help="TWS / IB Gateway host (default from settings)")
    group.add_argument("--ib-port", dest="ib_port", type=arguments.port(), default=None, metavar="P", help="port (TWS paper 7497, Gateway paper 4002)")
    group.add_argument("--client-id", dest="client_id", type=arguments.client_id, default=None, metavar="N", help="API client id")
    group.add_argument("--account", dest="account", default=None, metavar="ID", help="account (needed when the login manages several)")
    if mode:
        group.add_argument("--mode", choices=("paper", "live"), default=None, help="paper (default) or live")
    group.add_argument("--live-token", dest="live_token", default=None, metavar="WORD", help="the word LIVE, required in live mode")
    group.add_argument("--connect-timeout", dest="connect_timeout", type=arguments.seconds(positive=True), default=None, metavar="S",
                       help="seconds to wait for the connection (default from settings, 10)")


def register(subparsers) -> None:
    from app.commands.preview import add_allow_short, add_builder_options

    ex = subparsers.add_parser("execute", help="send a stored plan, or preview a snapshot and send its plan in one step")
    what = ex.add_mutually_exclusive_group(required=True)
    what.add_argument("--plan", type=arguments.record_id, metavar="ID", help="a plan stored by `preview --save`: exactly its orders are sent, "
                      "or nothing when it is too old or prices moved (exit 3); the options a preview reads (builder, "
                      "--portfolio-value, --risk, --project, --new-run) are refused with it (exit 2)")
    what.add_argument("--snapshot", metavar="FILE_OR_ID", help="a stored snapshot id or a CSV/JSON file (imported): "
                      "previewed, stored as a plan and sent (or the day's run resumed as it was built: builder options, "
                      "--risk or --portfolio-value that differ from the run's are refused, exit 2)")
    ex.add_argument("--plan-hash", dest="plan_hash", type=arguments.plan_hash, default=None, metavar="HASH",
                    help="with --plan: the plan's hash as `preview --save` printed it (its first 12 or more hex digits, "
                         "plan_hash in the JSON): nothing is sent unless the stored plan is still that content (exit 3)")
    ex.add_argument("--project", metavar="NAME", help="the project of a snapshot FILE (default for an id: the snapshot's own)")
    ex.add_argument("--portfolio-value", dest="portfolio_value", type=arguments.positive, default=None, metavar="V",
                    help="default: the value the day's run was last previewed with (what the trader reviewed), "
                         "else the project's capital, else the account's NetLiquidation")
    ex.add_argument("--wait-seconds", dest="wait_seconds", type=arguments.seconds(positive=False), default=60.0, metavar="S",
                    help="wait until every order is done or S seconds passed (default 60); auto-recovery runs meanwhile")
    ex.add_argument("--new-run", dest="new_run", action="store_true", help="a new run even if today's run of this snapshot exists (built with the options given)")
    ex.add_argument("--commission-wait", dest="commission_wait", type=arguments.seconds(positive=False), default=10.0, metavar="S",
                    help="then wait up to S seconds for IB's commission reports of the fills (default 10)")
    add_builder_options(ex, defaults=False)
    add_allow_short(ex)
    ex.add_argument("--lease-wait", dest="lease_wait", type=arguments.seconds(positive=False), default=0.0, metavar="S",
                    help="if another process is executing this run, wait up to S seconds for it to finish "
                         "(default: refuse at once, naming it)")
    ex.add_argument("--no-market-health", dest="market_health", action="store_false",
                    help="send without the market-health gate (connection, 1100, data farms, market open); audited")
    ex.add_argument("--outside-rth", dest="outside_rth", action="store_true",
                    help="limit orders may go and fill outside the regular session (market orders never do)")
    ex.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(ex)
    ex.set_defaults(handler=lambda a, s: _run(cmd_execute, a, s))

    orders = subparsers.add_parser("orders", help="list orders", description=(
        "List the orders stored in the database, newest first. Reads the database only; the "
        "connection options are accepted like every order-management command's, and ignored."))
    orders.add_argument("--run", type=arguments.record_id, default=None, metavar="ID", help="only the orders of run ID")
    orders.add_argument("--status", default=None, metavar="S", help="e.g. FILLED, REJECTED (comma separated)")
    orders.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(orders)
    orders.set_defaults(handler=lambda a, s: _run(cmd_orders, a, s))

    fills = subparsers.add_parser("fills", help="list fills", description=(
        "List the fills stored in the database, newest first. Reads the database only; the connection "
        "options are accepted like every order-management command's, and ignored."))
    fills.add_argument("--run", type=arguments.record_id, default=None, metavar="ID", help="only the fills of run ID's orders")
    fills.add_argument("--all-revisions", dest="all_revisions", action="store_true", help="include superseded corrections")
    fills.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(fills)
    fills.set_defaults(handler=lambda a, s: _run(cmd_fills, a, s))

    cancel = subparsers.add_parser("cancel", help="cancel one order")
    cancel.add_argument("order_id", type=arguments.record_id, metavar="ORDER_ID", help="the order's id (first column of `orders`)")
    cancel.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(cancel)
    cancel.set_defaults(handler=lambda a, s: _run(cmd_cancel, a, s))

    replace = subparsers.add_parser("replace", help="change an order's quantity, limit and/or stop")
    replace.add_argument("order_id", type=arguments.record_id, metavar="ORDER_ID", help="the order's id (first column of `orders`)")
    replace.add_argument("--quantity", type=arguments.order_number("quantity"), default=None, metavar="Q", help="the new total quantity")
    replace.add_argument("--limit", type=arguments.order_number("limit price"), default=None, metavar="P", help="the new limit price (LMT, STP LMT orders)")
    replace.add_argument("--stop", type=arguments.order_number("stop price"), default=None, metavar="P",
                         help="the new stop price (STP, STP LMT orders)")
    replace.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(replace)
    replace.set_defaults(handler=lambda a, s: _run(cmd_replace, a, s))

    cancel_all = subparsers.add_parser("cancel-all", help="cancel every working order")
    cancel_all.add_argument("--one-by-one", dest="one_by_one", action="store_true", help="one cancel per order instead of reqGlobalCancel")
    cancel_all.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(cancel_all)
    cancel_all.set_defaults(handler=lambda a, s: _run(cmd_cancel_all, a, s))

    halt = subparsers.add_parser("halt", help="HALTED: block new orders and modifications, cancel the runs' orders not sent yet (persisted)")
    halt.add_argument("--cancel-all", dest="cancel_all", action="store_true", help="also cancel every working order")
    halt.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(halt)
    halt.set_defaults(handler=lambda a, s: _run(cmd_halt, a, s))

    resume = subparsers.add_parser("resume", help="back to ACTIVE")
    resume.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(resume)
    resume.set_defaults(handler=lambda a, s: _run(cmd_resume, a, s))

    rec = subparsers.add_parser("reconcile", help="orders, executions and positions at IB against the database")
    rec.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(rec)
    rec.set_defaults(handler=lambda a, s: _run(cmd_reconcile, a, s))


# ---------------------------------------------------------------------------------------------


def _run(command, args, settings) -> int:
    from services.execution.errors import ExecutionError

    try:
        return asyncio.run(command(args, settings))
    except ExecutionError as exc:
        return _said_refusal(args, exc)
    except KeyboardInterrupt:
        return 130
    except UnwrittenEvents as exc:
        _error(args, "database_unreachable", redact(str(exc)))
        return EXIT_BROKER
    except Exception as exc:  # database unreachable and the like: one line, exit 5
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):  # the one reading of it (a file this user cannot write: exit 2)
            from app.commands.db import database_failure

            code, line, exit_code = database_failure(exc, settings.effective_db_url) or ("database_unreachable", "", EXIT_BROKER)
            _error(args, code, line)
            return exit_code
        raise


def _said_refusal(args, exc, words: str | None = None) -> int:
    """An ``ExecutionError`` said as every command says it (``words``: the service's line for it,
    by default its message); returns its exit code."""
    from services.execution.errors import ConnectionLost

    # what to do after a drop is the command's to say: the window reconnects by itself
    again = "; run the command again once TWS / IB Gateway is reachable" if isinstance(exc, ConnectionLost) else ""
    _error(args, exc.code, f"{exc if words is None else words}{again}")
    return exc.exit_code


def _error(args, code: str, message: str) -> None:
    say_failure(args, code, message, 0)  # the one way a command says it failed; the caller returns its code


def _open_db(settings):
    """The settings' database at the current schema: app.composition.open_database, the one way."""
    from app.composition import open_database

    return open_database(settings)


@asynccontextmanager
async def connected(args, settings, *, connect: bool = True):
    """The stack every command uses (app.composition.build_stack, as the window): database,
    broker connection (guarded and reconciled), the one writer, the services; closed in order
    (queued events written before the connection closes). A command does not wait out a lost
    connection (no automatic reconnect) and prints the writer's health as it changes."""
    from app.composition import build_stack

    stack = await build_stack(settings, demo=False, live_token=getattr(args, "live_token", None), connect=connect,
                              connect_timeout=getattr(args, "connect_timeout", None), auto_reconnect=False,
                              on_health=_print_health, record_equity=False)
    try:
        yield stack
    finally:
        await stack.close()
    unwritten = stack.writer.health
    if unwritten.problem:  # the database never came back (or refused events): the command did not finish its job
        raise UnwrittenEvents(unwritten.describe())


async def _written(engine) -> None:
    """Wait for the writer (``written_or_kept``, the write_timeout setting: a database still away
    is its health's to say, another connection's row locks raise ``DatabaseLockHeld``)."""
    from services.execution.writer import written_or_kept  # not at import: `--help` loads no database library

    await written_or_kept(engine.writer)


class UnwrittenEvents(Exception):
    """Events the database did not take before the command ended (kept in the journal)."""


def _print_health(health) -> None:
    """The writer's health, as it changes, on stderr: reported while it is true, and its end."""
    print(f"trading-console: {health.line()}", file=sys.stderr, flush=True)  # the window's words, masked by the service


def redact(text: str) -> str:
    from services.urls import redact_text

    return redact_text(text)


def snapshot_arg(args, *, allow_short: bool):
    """``(stored snapshot id, parsed file, failure)`` from FILE_OR_ID and ``--project``, for
    ``preview`` and ``execute`` alike, without touching the database: a file is validated here
    and stored only once the run may go ahead. ``failure``: ``(code, message)`` for ``_error``
    (``bad_input``: the id and project do not go together; ``bad_snapshot``: the file's problems),
    or None. ``allow_short``: the caller's own (keyword and required: ``preview --save
    --allow-short`` was parsed as if not given, refusing the negative weights its offline
    preview accepted)."""
    from services.core.snapshots import snapshot_project_problem

    problem = snapshot_project_problem(args.snapshot, args.project)
    if problem is not None:
        return None, None, ("bad_input", problem)
    snapshot_id, parsed, problem = _parse_snapshot_arg(args, allow_short=allow_short)
    return snapshot_id, parsed, ("bad_snapshot", problem) if problem else None


def _parse_snapshot_arg(args, *, allow_short: bool):
    """``(stored snapshot id, parsed file, error)`` from FILE_OR_ID (``snapshot_arg``)."""
    text = args.snapshot.strip()
    path = Path(text)
    if text.isdigit() and not path.exists():
        return int(text), None, None
    from services.console_queries import parse_for_storage
    from services.core.snapshots import SnapshotFormatError

    try:
        parsed = parse_for_storage(path, project=args.project, allow_short=allow_short)
    except SnapshotFormatError as exc:
        return None, None, str(exc)
    except OSError as exc:
        return None, None, f"cannot read {text}: {exc.strerror or exc}"
    if not parsed.ok:
        return None, None, "; ".join(str(p) for p in parsed.errors[:5])
    return None, parsed, None


def _s(value) -> str | None:
    """Decimals without the database's trailing zeros (``4.000000`` -> ``4``): services' one text."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return plain(value)
    return str(value)


def order_dict(o) -> dict:
    return {"id": o.id, "client_order_id": o.client_order_id, "run_id": o.run_id, "symbol": o.symbol, "side": str(o.side),
            "quantity": _s(o.quantity), "order_type": str(o.order_type), "limit_price": _s(o.limit_price),
            "stop_price": _s(o.stop_price), "tif": o.tif,
            "status": str(o.status), "filled_quantity": _s(o.filled_quantity), "avg_fill_price": _s(o.avg_fill_price),
            "ib_order_id": o.ib_order_id, "ib_perm_id": o.ib_perm_id, "account": o.account,
            "rejected_reason": o.rejected_reason, "replaces_order_id": o.replaces_order_id, "external": o.external,
            "updated_at": o.updated_at.isoformat() if o.updated_at else None}


def fill_dict(f) -> dict:
    return {"id": f.id, "exec_id": f.exec_id, "order_id": f.order_id, "symbol": f.symbol, "side": str(f.side),
            "quantity": _s(f.quantity), "price": _s(f.price), "commission": _s(f.commission),
            "time": f.fill_time.isoformat(), "superseded": f.superseded}


# The tables for people word numbers as the window's blotter and fills do (services.core.wording:
# quantities grouped with their significant digits, money to the cent, and each column of prices
# to one number of places, its most precise price's, two to four, as the window's price columns
# (price_places): an average fill of 300.29913043 read "300.2991", a commission "1.00", a limit of
# 212.5 below one of 229.3375 "212.5000" as in the blotter, not "212.50"); --json stays exact.

def _print_orders(orders) -> None:
    orders = list(orders)
    limit_places, stop_places, avg_places = (price_places(getattr(o, name) for o in orders)
                                             for name in ("limit_price", "stop_price", "avg_fill_price"))
    # a stop order's stop beside its limit (--json's stop_price), the type as wide as STP LMT
    print(f"{'id':>6} {'client_order_id':<34} {'symbol':<7} {'side':<4} {'qty':>9} {'type':<7} {'limit':>10} {'stop':>10} "
          f"{'status':<17} {'filled':>9} {'avg':>10}")
    for o in orders:
        print(f"{o.id:>6} {o.client_order_id:<34} {o.symbol:<7} {o.side!s:<4} {grouped(o.quantity):>9} {o.order_type!s:<7} "
              f"{price(o.limit_price, limit_places):>10} {price(o.stop_price, stop_places):>10} {o.status!s:<17} "
              f"{grouped(o.filled_quantity):>9} {price(o.avg_fill_price, avg_places):>10}"
              + (f"  {o.rejected_reason}" if o.rejected_reason else ""))


def _print_fills(fills) -> None:
    fills = list(fills)
    places = price_places(f.price for f in fills)
    print(f"{'exec_id':<28} {'order':>6} {'symbol':<7} {'side':<4} {'qty':>9} {'price':>11} {'commission':>10} time")
    for f in fills:
        print(f"{f.exec_id:<28} {f.order_id:>6} {f.symbol:<7} {f.side!s:<4} {grouped(f.quantity):>9} {price(f.price, places):>11} "
              f"{money(f.commission) or '-':>10} {f.fill_time.isoformat()}" + ("  (superseded)" if f.superseded else ""))


# ---------------------------------------------------------------------------------------------


async def cmd_execute(args, settings) -> int:
    """Parse, hand the run to ``services.execution.headless_run``, print what came of it."""
    from app.commands.preview import builder_values
    from services.domain import TradeMode
    from services.execution.headless_run import (
        RunRequest,
        check_stored_inputs,
        execute_to_end,
        refuse_live_without_word,
    )

    snapshot_id, parsed = None, None
    if args.snapshot is not None:
        # validated, not stored yet; --allow-short as preview's (a stored snapshot or plan has
        # been parsed already: the option is for a FILE)
        snapshot_id, parsed, failure = snapshot_arg(args, allow_short=args.allow_short)
        if failure:
            _error(args, *failure)
            return EXIT_BAD_INPUT
    request = RunRequest(
        mode=TradeMode(settings.mode), live_token=args.live_token, plan_id=args.plan, plan_hash=args.plan_hash,
        project=args.project,
        snapshot_id=snapshot_id, parsed_snapshot=parsed, builder=builder_values(args), risk_overrides=tuple(args.risk),
        new_run=args.new_run, portfolio_value=args.portfolio_value, lease_wait=args.lease_wait,
        require_market_health=args.market_health, outside_rth=args.outside_rth, wait_seconds=args.wait_seconds,
        commission_wait=args.commission_wait)
    refuse_live_without_word(request.mode, request.live_token)  # before anything is written or connected

    def check_stored() -> None:  # a plan that does not exist is said before any connection is tried
        db = _open_db(settings)
        try:
            check_stored_inputs(db, request)
        finally:
            db.dispose()

    await asyncio.to_thread(check_stored)
    async with connected(args, settings) as s:
        outcome = await execute_to_end(s, request)
    view, result = outcome.view, outcome.result
    if args.json:
        print(json.dumps({
            "run": {"id": view.run.id, "project_id": view.run.project_id, "snapshot_id": view.run.snapshot_id,
                    "mode": str(view.run.mode), "status": str(view.run.status), "created": outcome.created,
                    "plan_id": outcome.plan_id,
                    "sent": list(result.sent), "already_known": list(result.already_known),
                    "failed": [list(f) for f in result.failed], "still_working": outcome.still_working,
                    "not_sent": outcome.not_sent, "commissions_missing": outcome.commissions_missing,
                    "stopped": result.stopped, "lease_lost": result.lease_lost,
                    "canceled_after_cancel_all": list(result.canceled_after_cancel_all),
                    "not_canceled_after_cancel_all": [list(f) for f in result.not_canceled_after_cancel_all],
                    "connection_lost": outcome.connection_lost},
            "orders": [order_dict(o) for o in view.orders],
            "fills": [fill_dict(f) for f in view.fills],
        }, indent=2))
    else:
        print(outcome.headline())  # the window's words for the send, and the run's end after them
        _print_orders(view.orders)
        if view.fills:
            print()
            _print_fills(view.fills)
    if outcome.incomplete:  # the service's rule (services.execution.headless_run.RunOutcome)
        print(f"trading-console: run {view.run.id}: " + "; ".join(outcome.problems()), file=sys.stderr)
        return EXIT_BROKER
    return EXIT_OK


async def cmd_orders(args, settings) -> int:
    from services.console_queries import order_list
    from services.core.record_filters import BadStatus, order_statuses

    statuses = None
    if args.status is not None:  # `--status ""` is a selection of nothing, refused as `,` is
        try:
            statuses = order_statuses(args.status)
        except BadStatus as exc:
            _error(args, "bad_status", str(exc))
            return EXIT_BAD_INPUT

    def load():
        db = _open_db(settings)
        try:
            return order_list(db, run_id=args.run, statuses=statuses)
        finally:
            db.dispose()

    try:
        orders = await asyncio.to_thread(load)
    except LookupError as exc:  # a run that does not exist, said as tca and trail say it
        return say_failure(args, "not_found", exc.args[0], EXIT_BAD_INPUT)
    if args.json:
        print(json.dumps([order_dict(o) for o in orders], indent=2))
    else:
        _print_orders(orders)
    return EXIT_OK


async def cmd_fills(args, settings) -> int:
    from services.console_queries import fill_list

    def load():
        db = _open_db(settings)
        try:
            return fill_list(db, run_id=args.run, all_revisions=args.all_revisions)
        finally:
            db.dispose()

    try:
        fills = await asyncio.to_thread(load)
    except LookupError as exc:
        return say_failure(args, "not_found", exc.args[0], EXIT_BAD_INPUT)
    if args.json:
        print(json.dumps([fill_dict(f) for f in fills], indent=2))
    else:
        _print_fills(fills)
    return EXIT_OK


async def cmd_cancel(args, settings) -> int:
    async with connected(args, settings) as s:
        canceled = await s.actions.cancel(args.order_id, args.live_token, wait=True)
    # the window's line (services.execution.action_outcomes.Canceled.headline; --json has the status)
    _print_result(args, {"order": order_dict(canceled.order), "note": canceled.note}, canceled.headline())
    return EXIT_OK


async def cmd_replace(args, settings) -> int:
    if args.quantity is None and args.limit is None and args.stop is None:
        _error(args, "bad_input", "replace needs --quantity, --limit and/or --stop")
        return EXIT_BAD_INPUT
    async with connected(args, settings) as s:
        result = await s.actions.replace(args.order_id, args.quantity, args.limit, args.live_token, stop_price=args.stop)
        await _written(s)
        order = await s.actions.order(args.order_id)
        new = await s.actions.order(result.new_order_id) if result.new_order_id else None
    # the window's line for the same replace (ReplaceResult.headline): what the order becomes, the
    # quantity or prices not given being the order's own, and how the broker took it
    _print_result(args, {"method": result.method, "order": order_dict(order), "new_order": order_dict(new) if new else None,
                         "message": result.message}, result.headline(order.client_order_id))
    return EXIT_OK


async def cmd_cancel_all(args, settings) -> int:
    opened = False
    try:
        async with connected(args, settings) as s:
            opened = True
            _say_recorded_late(s)
            ids = await s.actions.cancel_all(args.live_token, one_by_one=args.one_by_one, wait=True)
            # said before the stack closes: events it could not write end the command after it
            return _said_unrecorded(args, await _unrecorded_at_the_end(s, settings, "cancel-all"), _said_canceled(args, ids))
    except Exception as exc:
        if opened or not _database_away(exc):
            raise
        return await _cancel_all_without_database(args, settings, exc, one_by_one=args.one_by_one, halt=False)


def _say_recorded_late(stack) -> None:
    """What the database did not answer and then took while the command ran, said on stderr
    ("Recorded now: ...", the window's words)."""
    stack.actions.unrecorded.subscribe(lambda words: print(f"trading-console: {words}", file=sys.stderr, flush=True))


async def _unrecorded_at_the_end(stack, settings, again: str) -> str:
    """A command cannot stay to write what the database did not answer (a halt, a Cancel All's
    marker): waited for the write_timeout setting, then what stays unrecorded, said
    (``UnrecordedActions.left_words``); "" when everything was written."""
    waiting = stack.actions.unrecorded
    if not waiting.waiting or await waiting.wait_written(settings.write_timeout):
        return ""
    return waiting.left_words(again)


def _said_unrecorded(args, left: str, code: int) -> int:
    """``code``, or exit 5 when ``left`` says something stayed unrecorded (on stderr)."""
    if not left:
        return code
    print(f"trading-console: {left}", file=sys.stderr)
    return EXIT_BROKER


def _database_away(exc: BaseException) -> bool:
    from services.execution.unrecorded import database_unavailable

    return database_unavailable(exc)


async def _cancel_all_without_database(args, settings, exc: BaseException, *, one_by_one: bool, halt: bool) -> int:
    """The database did not answer as the command opened it: the cancel still goes to the
    broker (services.execution.broker_alone), and the command fails, saying what it did not do
    (the halt not in force, nothing recorded)."""
    from app.cli import EXIT_BROKER
    from app.composition import connect_broker_alone
    from services.execution.broker_alone import cancel_all_without_database

    provider = await connect_broker_alone(settings, live_token=args.live_token,
                                          connect_timeout=getattr(args, "connect_timeout", None))
    try:
        ids = await cancel_all_without_database(provider, exc, one_by_one=one_by_one, live_token=args.live_token,
                                                halt=halt)
    finally:
        await provider.disconnect()
    data = {"error": "database_unreachable", "message": ids.unrecorded, "canceled": [],
            "canceled_at_broker": list(ids.at_broker_alone), "global": ids.everything,
            "not_canceled": list(ids.not_canceled), **({"trading_state": None} if halt else {})}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(ids.headline())
    for line in ids.left_lines():  # the outcome's words: the first says what was not done
        print(f"trading-console: {line}", file=sys.stderr)
    return EXIT_BROKER


def _said_canceled(args, ids, more: dict | None = None, said: str = "") -> int:
    """A Cancel All's outcome (of ``cancel-all`` or ``halt --cancel-all``): printed, and what it
    could not cancel fails the command."""
    _print_result(args, {**(more or {}), "canceled": list(ids), "not_canceled": list(ids.not_canceled),
                         "senders_not_stopped": list(ids.senders_not_stopped), "other_accounts": list(ids.other_accounts),
                         "accounts": ids.accounts_record()},
                  said + ids.headline())  # the window's words, as the notes below
    for line in ids.left_lines():  # the window's words (services.execution.cancel_all_outcome.CanceledOrders)
        print(f"trading-console: {line}", file=sys.stderr)
    # what it could not cancel may still be working at the broker and fails the command: a script
    # must not take it for done (another account's orders are not this session's to cancel, and a
    # sender still at work is its own process's: said, the outcome is the connected account's)
    return EXIT_BROKER if ids.not_canceled else EXIT_OK


async def cmd_halt(args, settings) -> int:
    opened = False
    try:
        async with connected(args, settings, connect=bool(args.cancel_all)) as s:
            opened = True
            _say_recorded_late(s)
            halted = await s.actions.halt(cancel_all=args.cancel_all, live_token=args.live_token, wait=True)
            # said before the stack closes: events it could not write end the command after it
            return _said_unrecorded(args, await _unrecorded_at_the_end(s, settings, "halt"), _said_halted(args, halted))
    except Exception as exc:
        # no database: nothing to halt in, but the orders at the broker can still be canceled
        if opened or not args.cancel_all or not _database_away(exc):
            raise
        return await _cancel_all_without_database(args, settings, exc, one_by_one=False, halt=True)


def _said_halted(args, halted) -> int:
    # a run's orders not sent yet are canceled by the halt: never sent automatically after resume
    unsent = list(halted.unsent_canceled)
    said = halted.headline()  # the window's words (Halted.headline), the orders not sent yet it canceled with them
    if halted.canceled is not None:
        return _said_canceled(args, halted.canceled, {"trading_state": str(halted.state), "unsent_canceled": unsent},
                              f"{said}; ")
    _print_result(args, {"trading_state": str(halted.state), "unsent_canceled": unsent}, said)
    return EXIT_OK


async def cmd_resume(args, settings) -> int:
    from services.execution.action_outcomes import trading_state_line

    async with connected(args, settings, connect=False) as s:
        state = await s.actions.resume()
    _print_result(args, {"trading_state": str(state)}, trading_state_line(state))  # the window's words
    return EXIT_OK


async def cmd_reconcile(args, settings) -> int:
    async with connected(args, settings) as s:
        # connect() already ran one pass through the resync hook; report it (or run one)
        report = s.reconciler.last_report or await s.reconciler.reconcile()
    if report is None:
        _error(args, "reconcile_failed", "reconciliation could not complete")
        return EXIT_BROKER
    _print_result(args, report.to_dict(), describe_reconcile(report))  # the window's words
    return EXIT_OK


def _print_result(args, data: dict, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(text)
