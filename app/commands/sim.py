"""`trading-console sim`: run the IB Gateway simulator until Ctrl-C / SIGINT / SIGTERM.

Binds to loopback by default; logs each connection, order and fill; saves the state file (if
any) on every change and on stop. Faults can be switched on globally or per order
(``--fault 'ref=^slow-:ack_delay=2'``, ``--fault 'symbol=TSLA:presubmitted,duplicate_status'``),
and the gateway's own faults put on a timetable (``--fault 'at=30:connectivity_lost=10,data_lost'``,
``--fault 'at=5:farm_broken=3'``, ``--fault 'at=60:nightly_reset=30'``: services/ibsim/fault_schedule.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from decimal import Decimal

from app.cli import EXIT_BAD_INPUT, EXIT_BROKER, EXIT_OK
from app.commands import arguments

log = logging.getLogger("app.commands.sim")


def register(subparsers) -> None:
    """Add this module's subcommands to the top-level parser."""
    parser = subparsers.add_parser(
        "sim",
        help="run the built-in IB Gateway simulator (TWS socket protocol)",
        description="Run an IB Gateway simulator that ib_async / ib_insync clients can connect to.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=arguments.port(free=True), default=7497, help="port (default 7497, TWS paper; 0 picks a free one)")
    parser.add_argument("--universe", metavar="FILE", default=None, help="CSV symbol,conId,primaryExchange,price,longName")
    parser.add_argument("--synthetic-symbols", dest="synthetic_symbols", type=arguments.count(), default=0, metavar="N",
                        help="add N made-up stocks SYN0001... to the universe (large-run tests)")
    parser.add_argument("--seed", type=arguments.count(None), default=1, help="random-walk seed")
    parser.add_argument("--state", metavar="FILE", default=None, help="keep orders, executions, positions and cash here")
    parser.add_argument("--ledger-json", metavar="FILE", default=None, help="JSON list of every execution")
    parser.add_argument("--account", action="append", default=None, help="managed account id (repeatable; default DU1234567)")
    parser.add_argument("--cash", type=arguments.positive, default=Decimal("1000000"), help="starting cash in USD of each account")
    parser.add_argument("--fill-mode", choices=("instant", "partial"), default="instant",
                        help="instant: one fill per order (default); partial: --partial-fills fills")
    parser.add_argument("--partial-fills", type=arguments.count(1), default=3, help="fills per order in partial mode")
    parser.add_argument("--fill-interval", type=arguments.seconds(positive=False), default=0.5, help="seconds between partial fills")
    parser.add_argument("--slippage", type=arguments.number(Decimal(0)), default=Decimal("0.01"), help="MKT slippage per share in USD")
    parser.add_argument("--spread", type=arguments.number(Decimal(0)), default=Decimal("0.02"), help="bid/ask spread in USD")
    parser.add_argument("--walk-interval", type=arguments.seconds(positive=False), default=1.0, help="seconds between price steps (0: prices stay)")
    parser.add_argument("--account-interval", dest="account_interval", type=arguments.seconds(positive=False), default=180.0,
                        help="seconds between the account pushes IB makes on its own: the account summary's changed "
                             "values and the account updates (default 180, IB's 3 minutes; 0: on fills only)")
    parser.add_argument("--margin-check", action="store_true", help="reject orders beyond the account's initial margin (201)")
    parser.add_argument("--market-hours", dest="market_hours", choices=("always", "regular", "closed"), default="always",
                        help="always: open around the clock (default); regular: the exchange calendar's sessions, "
                             "orders outside them held PreSubmitted until the open; closed: never open")
    parser.add_argument("--ack-delay", type=arguments.seconds(positive=False), default=0.0, help="seconds every order stays PendingSubmit")
    parser.add_argument("--presubmitted", action="store_true", help="send PreSubmitted before Submitted")
    parser.add_argument("--duplicate-status", action="store_true", help="send every orderStatus twice")
    parser.add_argument("--exec-correction", action="store_true", help="follow each execution by a .02 revision")
    parser.add_argument("--late-commission", action="store_true", help="send commission reports late")
    parser.add_argument("--info-10349", action="store_true", help="send the informational 10349 on every order")
    parser.add_argument("--reject-symbols", default="", help="reject orders for these symbols with 201 (A,B)")
    parser.add_argument("--reject-min-qty", type=arguments.positive, default=None, help="reject orders of at least this size")
    parser.add_argument("--drop-after", type=arguments.count(1), default=None, help="drop each connection after N messages")
    parser.add_argument("--pacing", type=arguments.count(), default=50, help="messages per second before error 100 (0: off)")
    parser.add_argument("--history-pacing", dest="history_pacing", type=arguments.count(), default=None, metavar="N",
                        help="historical requests of every bar size per 10 minutes before error 162 pacing "
                             "violation, with IB's 15 s identical and 6-per-contract-in-2-s rules (0: off; by "
                             "default IB's 60, for bars of 30 s or less only, as IB is strict for those alone)")
    parser.add_argument("--market-data-lines", dest="market_data_lines", type=arguments.count(), default=100, metavar="N",
                        help="market data lines of the account (streams and unfinished snapshots of every client) "
                             "before error 101 (0: off; a new IB account has 100, the default)")
    parser.add_argument("--fault", action="append", default=[], metavar="RULE",
                        help="per-order faults: 'symbol=A,B;ref=REGEX;min_qty=N:fault[=value],...'; gateway faults "
                             "at a time (seconds after the start): 'at=S[;every=S]:connectivity_lost=S[,data_lost]', "
                             "'at=S:farm_broken=S[,farm=ushmds]', 'at=S:nightly_reset=S'")
    parser.set_defaults(handler=handle)


def build_config(args):
    from services.ibsim import DEFAULT_ACCOUNT, Faults, SimConfig, parse_fault_rule
    from services.ibsim.fault_schedule import is_scheduled_fault, parse_scheduled_fault

    faults = Faults(
        ack_delay=args.ack_delay,
        presubmitted=args.presubmitted,
        duplicate_status=args.duplicate_status,
        exec_correction=args.exec_correction,
        late_commission=args.late_commission,
        info_10349=args.info_10349,
        reject_symbols={s.strip().upper() for s in args.reject_symbols.split(",") if s.strip()},
        reject_min_quantity=args.reject_min_qty,
        drop_after_messages=args.drop_after,
        pacing_limit=args.pacing,
        **({} if args.history_pacing is None else {"history_pacing": args.history_pacing, "history_pacing_bar_seconds": None}),
        market_data_lines=args.market_data_lines,
    )
    for rule in args.fault:
        if is_scheduled_fault(rule):
            faults.schedule.append(parse_scheduled_fault(rule))
            continue
        criteria, overrides = parse_fault_rule(rule)
        faults.add_rule(**criteria, **overrides)
    return SimConfig(
        accounts=tuple(args.account or (DEFAULT_ACCOUNT,)),
        universe_file=args.universe,
        synthetic_symbols=args.synthetic_symbols,
        seed=args.seed,
        initial_cash=args.cash,
        spread=args.spread,
        slippage=args.slippage,
        fill_mode=args.fill_mode,
        partial_fills=args.partial_fills,
        fill_interval=args.fill_interval,
        walk_interval=args.walk_interval or None,
        account_interval=args.account_interval or None,
        margin_check=args.margin_check,
        state_file=args.state,
        ledger_file=args.ledger_json,
        faults=faults,
        market_hours=args.market_hours,
    )


async def serve(sim, host: str, port: int, stop_event: asyncio.Event | None = None) -> None:
    """Run ``sim`` until ``stop_event`` is set (SIGINT / SIGTERM set it); the state is saved on stop."""
    stop_event = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop_event.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt instead
            pass
    await sim.start(host=host, port=port)
    config = sim.config
    print(f"IB Gateway simulator listening on {sim.host}:{sim.port} "
          f"(accounts {','.join(config.accounts)}; Ctrl-C to stop)", flush=True)
    try:
        await stop_event.wait()
    finally:
        await sim.stop()
        print("simulator stopped" + (f"; state saved to {config.state_file}" if config.state_file else ""), flush=True)


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING  # warnings and errors already reach the root handler


def handle(args, settings) -> int:
    from services.ibsim import IBGatewaySimulator

    sim_logger = logging.getLogger("services.ibsim")
    sim_logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_BelowWarning())
    root_shows_info = any(
        isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) and h.level <= logging.INFO
        for h in logging.getLogger().handlers
    )
    if not root_shows_info:
        sim_logger.addHandler(handler)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding the simulator to %s: it is reachable from other machines", args.host)
    try:
        sim = IBGatewaySimulator(build_config(args))
    except (ValueError, OSError, KeyError) as exc:  # bad universe / state file, bad fault rule
        print(f"trading-console: {exc}", file=sys.stderr)  # as every command's failure begins (app.cli.say_failure)
        return EXIT_BAD_INPUT
    try:
        asyncio.run(serve(sim, args.host, args.port))
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as exc:
        print(f"trading-console: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_BROKER
    finally:
        sim_logger.removeHandler(handler)
    return EXIT_OK
