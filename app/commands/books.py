"""`trading-console assign --symbol S --quantity Q --project NAME --cost C [--account A] [--json]`.

Moves shares the account holds that no project owns (unassigned: manual TWS trades, external
orders, what reconciliation found) into a project's book at a stated cost per share, audited.
Refused (exit 2) when fewer shares are unassigned. docs/project-books.md.
"""

from __future__ import annotations

import argparse
import json

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure
from app.commands import arguments
from services.core.typed_numbers import plain


def register(subparsers) -> None:
    parser = subparsers.add_parser("assign", help="move unassigned shares into a project's book at a stated cost (audited)",
                                   description=arguments.described(__doc__))
    parser.add_argument("--symbol", required=True, help="the listing key as `positions` shows it (AAPL, SAP@IBIS:EUR)")
    parser.add_argument("--quantity", required=True, type=arguments.number(), help="shares to assign (negative: part of a short)")
    parser.add_argument("--project", required=True, help="the project whose book takes them")
    parser.add_argument("--cost", required=True, type=arguments.number(), help="cost per share the project books them at")
    parser.add_argument("--account", default=None, help="the account (needed when several hold the symbol unassigned)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=_assign)


def _assign(args: argparse.Namespace, settings) -> int:
    from app.commands.execution import _open_db
    from services.books import BooksError, BooksService
    from services.execution.audit import os_user

    db = _open_db(settings)
    try:
        done = BooksService(db, os_user()).assign(args.symbol, args.quantity, args.project, args.cost, args.account)
    except BooksError as exc:
        return say_failure(args, "bad_input", str(exc), EXIT_BAD_INPUT)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"assignment": done.id, "project": done.project, "account": done.account, "symbol": done.symbol,
                          "quantity": plain(done.quantity), "cost": plain(done.cost), "position": plain(done.position),
                          "unassigned_left": plain(done.unassigned_left)}))
    else:
        print(done.headline())
    return EXIT_OK
