"""Opening the console window (the default when no subcommand is given)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("gui", help="open the console window (the default)")
    parser.set_defaults(handler=run_gui)


def run_gui(args: argparse.Namespace, settings) -> int:
    from app.main import run_console

    return run_console(args, settings)
