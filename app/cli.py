"""The ``trading-console`` command (also ``python -m app``).

Each subcommand lives in its own module under ``app.commands`` and exposes
``register(subparsers)``; the module adds a parser and sets ``handler(args, settings) -> int``
as its default. Heavy imports (Qt, ib_async, SQLAlchemy) happen inside the handlers, so that
``trading-console --help`` and the headless commands start fast.

Exit codes shared by every command: 0 done, 2 bad input, 3 blocked (risk, HALTED, market health, a
stale plan), 4 refused (live token or account guard), 5 broker or connection error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_BLOCKED = 3
EXIT_REFUSED = 4
EXIT_BROKER = 5

# Order matters only for --help.
COMMAND_MODULES: tuple[str, ...] = (
    "app.commands.gui",
    "app.commands.db",
    "app.commands.audit",
    "app.commands.snapshot",
    "app.commands.bars",
    "app.commands.preview",
    "app.commands.sim",
    "app.commands.execution",
    "app.commands.order",
    "app.commands.recover",
    "app.commands.trade_settings",
    "app.commands.positions",
    "app.commands.trail",
    "app.commands.books",
    "app.commands.serve",
    "app.commands.watch",
    "app.commands.backtest",
    "app.commands.backtests",
    "app.commands.tca",
)


class CommandParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors (a value of the wrong type, a required option
    missing, an option the command does not have) also print the one error object on stdout when
    the arguments asked for ``--json``, as every other failure does (``say_failure``); argparse
    still prints the usage and the error on stderr and exits 2. Each subcommand's parser is one
    too (``add_subparsers`` makes its parsers of the parent's class) and sees its own arguments."""

    _json_asked = False

    def parse_known_args(self, args=None, namespace=None):
        arguments = list(sys.argv[1:] if args is None else args)
        self._json_asked = "--json" in arguments
        return super().parse_known_args(arguments, namespace)

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an option the chosen command does not have is said by that command's
        parser, with its usage and the option it has that is nearest ("did you mean --type?"):
        the top-level parser said it with the top-level usage, which lists no command's options."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            parser = _chosen_parser(self, parsed)
            parser.error(f"unrecognized arguments: {' '.join(unknown)}{_nearest_option(parser, unknown)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        if self._json_asked:
            import json

            print(json.dumps({"error": "bad_input", "message": f"{self.prog}: {message}"}), flush=True)
        super().error(message)


def _chosen_parser(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command (and its action: `audit verify`) ``parsed`` chose."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = getattr(parsed, action.dest, None) if action.dest else None
            if chosen in action.choices:
                return _chosen_parser(action.choices[chosen], parsed)
    return parser


def _nearest_option(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    """" (did you mean --type?)" for the first unknown option near one ``parser`` has; "" else."""
    import difflib

    options = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    for word in unknown:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            # a name spelled out longer ("--order-type" for --type), else one a letter or two off
            near = [o for o in options if len(o) > 5 and name.endswith("-" + o[2:])] or \
                difflib.get_close_matches(name, options, n=1, cutoff=0.7)
            if near:
                return f" (did you mean {near[0]}?)"
    return ""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="trading-console",
        description="Desktop trading console for Interactive Brokers. Without a command it opens the window.",
    )
    parser.add_argument("--db-url", dest="db_url", default=None, help="database URL (env TC_DB_URL); default: SQLite in the user data folder")
    parser.add_argument("--config", dest="config_file", default=None, help="settings TOML file (default: the user config folder)")
    parser.add_argument("--log-level", dest="log_level", default=None, type=str.upper,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="DEBUG, INFO, WARNING, ERROR")
    # Window options on the top-level parser so that plain `trading-console --demo --screenshot F` works.
    parser.add_argument("--demo", action="store_true", help="open the console in demo mode (the default without --profile); before a "
                        "command: it reads the demo window's database (demo.sqlite3) and sends nothing")
    parser.add_argument("--profile", choices=("demo", "paper", "live"), default=None, help="demo (built-in simulator), paper or live (TWS / IB Gateway)")
    parser.add_argument("--monitor", action="store_true", help="open a read-only monitor window on the shared database (no broker)")
    parser.add_argument("--screenshot", metavar="FILE", default=None, help="run the demo flow, write a PNG of the window and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    _describe_by_help(subparsers)
    return parser


def _describe_by_help(subparsers: argparse._SubParsersAction) -> None:
    """A command registered without a description says its one-line help at the top of its own
    ``--help`` (`reconcile --help`, `cancel --help` said nothing of what the command does), and so
    do the actions of a command with actions (`trade-settings set`)."""
    for listed in subparsers._choices_actions:
        command = subparsers.choices.get(listed.dest)
        if command is None:
            continue
        if not command.description and listed.help:
            command.description = listed.help[:1].upper() + listed.help[1:] + "."
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _describe_by_help(action)


_BUILT = threading.local()


def command_parser() -> argparse.ArgumentParser:
    """``build_parser()``'s parser, built once a thread and reused: building it (every command's
    options) cost some 20 ms of each command's start and of each ``main`` call in one process
    (five hundred in a test run). Once a thread: ``CommandParser`` keeps a flag per parse (was
    ``--json`` asked), which another thread's parse would change under it."""
    parser = getattr(_BUILT, "parser", None)
    if parser is None:
        parser = _BUILT.parser = build_parser()
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from app.logs import configure_logging
    from app.malloc_arenas import limit_malloc_arenas
    from app.settings import SettingsError, load_settings

    limit_malloc_arenas()  # before any thread starts: the window, serve and every command
    argv = list(sys.argv[1:] if argv is None else argv)
    not_utf8 = undecodable_argument(argv)
    if not_utf8 is not None:
        return say_failure(argparse.Namespace(json="--json" in argv), "bad_input", not_utf8, EXIT_BAD_INPUT)
    args = command_parser().parse_args(argv)
    try:
        settings = load_settings(args)
    except SettingsError as exc:
        return say_failure(args, "bad_settings", str(exc), EXIT_BAD_INPUT)
    configure_logging(settings)
    handler = getattr(args, "handler", None)
    if handler is None:
        from app.commands.gui import run_gui

        handler = run_gui
    try:
        code = int(handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `trading-console orders | head`: the reader has gone, as `watch` says
        return reader_gone()
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one clear line, details in the log file
        return report_failure(exc, settings, args)
    try:
        sys.stdout.flush()  # here, not in the interpreter's exit, where a gone reader is a traceback
    except BrokenPipeError:
        reader_gone()
    return code


def undecodable_argument(argv: Sequence[str]) -> str | None:
    """What is wrong with the first argument that is not UTF-8 text, or None. Python hands such
    bytes on as lone surrogates ('p\\udcff.csv' for the bytes p, 0xff, .csv): a file named so was
    read and stored under a name no message or database could write as it is, and a missing
    one was said as 'q\\udcff.csv'. Named as its bytes, with the first that does not decode."""
    import os

    for number, argument in enumerate(argv, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            try:
                raw = os.fsencode(argument)  # the bytes as given (surrogateescape)
            except UnicodeError:
                raw = argument.encode("utf-8", "backslashreplace")
            try:
                raw.decode("utf-8")
                where = ""
            except UnicodeDecodeError as exc:
                where = f" (byte 0x{raw[exc.start]:02x} at position {exc.start})"
            return (f"argument {number}, {raw!r}, is not valid UTF-8{where}: the console reads its arguments as "
                    "UTF-8 text; rename the file, or give the name in UTF-8")
    return None


def reader_gone() -> int:
    """The reader of stdout has gone (a pipe into ``head``): what was left unsaid is dropped, and
    stdout points at /dev/null so that the interpreter's last flush does not fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_OK


def say_failure(args: argparse.Namespace | None, code: str, message: str, exit_code: int,
                problems: Sequence[str] = ()) -> int:
    """How every command says it failed: ``trading-console: MESSAGE`` on stderr and, when it was
    asked for ``--json``, one object ``{"error": CODE, "message": MESSAGE}`` on stdout (a script
    reads that instead of an empty output), with the same exit code either way; returns it. A
    message of several lines (one per problem) is said line by line on stderr. ``problems``: the
    input's problems, each a line of its own on stderr after the message (unless the message
    says it already) and the JSON's ``problems`` list."""
    if getattr(args, "json", False):
        import json

        print(json.dumps({"error": code, "message": message, **({"problems": list(problems)} if problems else {})}))
    lines = (message.splitlines() or [""]) + [problem for problem in problems if problem not in message]
    for line in lines:
        print(f"trading-console: {line}", file=sys.stderr)
    return exit_code


def report_failure(exc: BaseException, settings, args: argparse.Namespace | None = None) -> int:
    """An error a command did not handle itself, said by ``say_failure``: a bad database URL or
    bad input 2, an unreachable database 5, anything else 1."""
    import logging

    from services.urls import redact_text

    logging.getLogger("app").error("command failed", exc_info=exc, extra={"tc_file_only": True})
    from app.commands.db import database_failure

    failure = database_failure(exc, getattr(settings, "effective_db_url", None))
    if failure is not None:
        return say_failure(args, *failure)
    if isinstance(exc, (ValueError, ArithmeticError)):
        return say_failure(args, "bad_input", f"bad input: {redact_text(str(exc)) or type(exc).__name__}", EXIT_BAD_INPUT)
    return say_failure(args, "internal_error", f"{type(exc).__name__}: {redact_text(str(exc))} (details in the log file)", 1)
