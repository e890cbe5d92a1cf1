"""Opening the console window (the default when no subcommand is given)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("gui", help="open the console window (the default)", description=(
        "Open the console window. The same options work before the command "
        "(`trading-console --demo`), as without any command."))
    # SUPPRESS: an option not given here keeps the value given before the command.
    parser.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="demo mode: built-in simulator and sample data (the default without --profile)")
    parser.add_argument("--profile", choices=("demo", "paper", "live"), default=argparse.SUPPRESS,
                        help="demo, paper or live (TWS / IB Gateway from the settings)")
    parser.add_argument("--monitor", action="store_true", default=argparse.SUPPRESS,
                        help="a read-only monitor window on the shared database: no broker connection, no trading")
    parser.add_argument("--screenshot", metavar="FILE", default=argparse.SUPPRESS,
                        help="run the demo flow, write a PNG of the window and exit")
    parser.set_defaults(handler=run_gui)


def run_gui(args: argparse.Namespace, settings) -> int:
    from app import qt_deps
    from app.main import run_console

    problem = qt_deps.no_display()
    if problem is not None:  # Qt would abort: said, and nothing started
        from app.cli import EXIT_BAD_INPUT, say_failure

        return say_failure(args, "no_display", problem, EXIT_BAD_INPUT)
    if qt_deps.uses_xcb():  # said before Qt aborts with its own, less helpful message
        missing = qt_deps.packages_for(qt_deps.missing_libraries())
        if missing:
            import sys

            print(f"trading-console: {qt_deps.message(missing)}", file=sys.stderr)

    return run_console(args, settings)
