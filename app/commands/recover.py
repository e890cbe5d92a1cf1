"""`trading-console recover [--json]`: one auto-recovery pass, the manual trigger of
services.execution.recovery (the window's Trading -> Recover now does the same).

Orders older than the trade settings' ``auto_recovery.new_timeout_seconds``: NEW ones never sent
are looked up and sent; unacknowledged ones are canceled, looked up, and re-placed once when the
settings allow. Prints what it considered, canceled, sent, re-placed and skipped (with reasons);
every decision is in the audit log.
"""

from __future__ import annotations

from app.cli import EXIT_OK


def register(subparsers) -> None:
    from app.commands import arguments
    from app.commands.execution import _connection_options, _run

    parser = subparsers.add_parser("recover", help="auto-recovery now: send, cancel or re-place stuck orders",
                                   description=arguments.described(__doc__))
    parser.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(parser)
    parser.set_defaults(handler=lambda a, s: _run(cmd_recover, a, s))


async def cmd_recover(args, settings) -> int:
    from app.commands.execution import _print_result, _written, connected

    async with connected(args, settings) as s:
        result = await s.engine.recovery.run_once()
        await _written(s)
    lines = [result.headline()]  # the window's words
    lines += [f"  canceled {c}" for c in result.canceled]
    lines += [f"  sent {c}" for c in result.sent]
    lines += [f"  re-placed {r.client_order_id} as {r.replacement} (retry {r.retry})" for r in result.replaced]
    lines += [f"  skipped {k.client_order_id}: {k.reason}" for k in result.skipped]
    _print_result(args, result.to_dict(), "\n".join(lines))
    return EXIT_OK
