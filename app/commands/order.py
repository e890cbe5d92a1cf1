"""`trading-console order`: one order from the command line, the window's order ticket
(services.execution.manual) without the window.

The order is checked (risk, market health) and, unless ``--check``, sent as a run of its own with
a one-order frozen plan, through the same rules as ``execute``: the LIVE word in live mode
(``--live-token LIVE``), the trading state, risk (exit 3 when it blocks), the market-health gate.
It says "Sent ..." as the order goes, as the window does, then waits until the order is done or
``--wait-seconds`` passed and prints it (exit 5 when the broker rejected it).
"""

from __future__ import annotations

import sys

from app.cli import EXIT_BLOCKED, EXIT_BROKER, EXIT_OK


def register(subparsers) -> None:
    from app.commands import arguments
    from app.commands.execution import _connection_options, _run

    parser = subparsers.add_parser("order", help="one order (MKT, LMT, STP, STP LMT) through risk, market health and the LIVE word",
                                   description=arguments.described(__doc__))
    parser.add_argument("--symbol", required=True, metavar="SYM", help="a US stock (AAPL) or a listing key (SAP@IBIS:EUR)")
    parser.add_argument("--side", required=True, type=str.upper, choices=("BUY", "SELL"), help="BUY or SELL")
    amount = parser.add_mutually_exclusive_group(required=True)
    # read as every number option (and `replace --quantity`), refused before anything connects,
    # an exponent too, as the ticket refuses it (1e3 was sent as 1,000 shares); the ticket's own
    # rules (whole shares, the notional's shares) follow in the service
    amount.add_argument("--quantity", type=arguments.in_digits(arguments.order_number("quantity")), metavar="N", help="whole shares")
    amount.add_argument("--notional", type=arguments.in_digits(arguments.positive), metavar="V", help="an amount in the base currency: the whole shares worth at most V as the risk rules value them (a limit order at its limit)")
    parser.add_argument("--type", dest="order_type", default="MKT", type=str.upper, choices=("MKT", "LMT", "STP", "STP LMT"),
                        help="order type (default MKT)")
    parser.add_argument("--limit", dest="limit_price", type=arguments.in_digits(arguments.positive), default=None, metavar="P", help="limit price (LMT, STP LMT), on the tick grid")
    parser.add_argument("--stop", dest="stop_price", type=arguments.in_digits(arguments.positive), default=None, metavar="P", help="stop price (STP, STP LMT), on the tick grid")
    parser.add_argument("--tif", default="DAY", type=str.upper, choices=("DAY", "GTC", "IOC"), help="time in force (default DAY)")
    parser.add_argument("--outside-rth", dest="outside_rth", action="store_true", help="a limit order may fill outside the regular session")
    parser.add_argument("--project", metavar="NAME", default=None, help="the project the order belongs to, whose book and capital its risk check meets (default: manual)")
    parser.add_argument("--check", action="store_true", help="only show the verdict: nothing is stored or sent (exit 3 when it may not go)")
    parser.add_argument("--no-market-health", dest="market_health", action="store_false",
                        help="send without the market-health gate (audited)")
    parser.add_argument("--wait-seconds", dest="wait_seconds", type=arguments.seconds(positive=False), default=30.0, metavar="S",
                        help="wait until the order is done or S seconds passed (default 30)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(parser)
    parser.set_defaults(handler=lambda a, s: _run(cmd_order, a, s))


async def cmd_order(args, settings) -> int:
    from app.commands.execution import _print_result, _said_refusal, _written, connected, order_dict
    from services.core.wording import describe_order
    from services.execution.errors import ExecutionError
    from services.execution.headless_run import rejected_orders
    from services.execution.manual import Ticket, not_sent_line

    ticket = Ticket.of(args.symbol, args.side, quantity=args.quantity, notional=args.notional, order_type=args.order_type,
                       limit_price=args.limit_price, stop_price=args.stop_price, tif=args.tif, outside_rth=args.outside_rth,
                       project=args.project)
    async with connected(args, settings) as s:
        manual = s.engine.manual
        if args.check:
            check = await manual.check(ticket)
            data = {"may_send": check.may_send, "summary": check.summary(), "reasons": check.reasons()}
            _print_result(args, data, ("may send: " if check.may_send else "may NOT send: ") + check.summary()
                          + "".join(f"\n  {r}" for r in check.reasons()))
            return EXIT_OK if check.may_send else EXIT_BLOCKED
        # the window's "Sent" line (SentTicket.line) as the order goes, before the wait for it;
        # --json's one object on stdout stays the only one
        try:
            result = await manual.send(ticket, args.live_token, require_market_health=args.market_health,
                                       on_sent=None if args.json else (lambda sent: print(sent.line(), flush=True)))
        except ExecutionError as refusal:  # the window's line for it (not_sent_line), with its code
            return _said_refusal(args, refusal, not_sent_line(refusal))
        await s.service.wait_done(result.run_id, args.wait_seconds, while_connected=True)
        await _written(s)
        orders = (await s.service.view(result.run_id)).orders
    # the order in the window's words (describe_order: its prices, what filled of it, its client
    # order id), then its status, as `cancel` says "Cancel M-...: canceled"; it said the order in
    # words of its own ("STP LMT 89 stop 90", "filled 0")
    _print_result(args, {"run_id": result.run_id, "plan_id": result.plan_id, "orders": [order_dict(o) for o in orders]},
                  "\n".join(f"run {result.run_id}: order {o.id} {describe_order(o)}: {o.status}" for o in orders))
    rejected = rejected_orders(orders)
    if rejected:  # sent and refused by the broker: not done (it exited 0)
        # on stderr, as execute says its problems: --json's one object on stdout stays the only one
        print(f"trading-console: run {result.run_id}: rejected by the broker: {'; '.join(rejected)}", file=sys.stderr)
        return EXIT_BROKER
    return EXIT_OK


