"""`trading-console audit verify [--full] | list [--action A] [--limit N] [--json]`.

``verify`` exits 0 when the hash chain is intact and 1 naming the first broken entry otherwise;
also 1 when a plan's decision records (the trail: signals, order and risk decisions) no longer
match the trail hash its ``plan.create`` entry holds, naming the entry and the record.
It walks the entries after the stored checkpoint (the last entry a walk found intact);
``--full`` walks the whole chain from the first entry (an altered old entry is found only so).
"""

from __future__ import annotations

import argparse
import json
import sys

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure
from app.commands import arguments
from app.commands.db import run_guarded
from services.core.wording import audit_entity  # pure: no database at start-up

EXIT_CHAIN_BROKEN = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="the audit log: verify the hash chain, list entries")
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)

    verify = actions.add_parser("verify", help="check the chain (and the decision records of the plans in it) since the verified "
                                    "checkpoint; exit 1 naming the first broken entry or altered record")
    verify.add_argument("--full", action="store_true", help="walk the whole chain from the first entry")
    verify.set_defaults(handler=_verify)

    listing = actions.add_parser("list", help="print audit entries, oldest first")
    listing.add_argument("--action", default=None, help="only entries with this action")
    listing.add_argument("--entity-type", default=None, help="only entries about this kind of entity (e.g. trade_order)")
    listing.add_argument("--entity-id", default=None, help="only entries about this entity id")
    listing.add_argument("--limit", type=arguments.count(1), default=None, metavar="N", help="only the newest N entries")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of text")
    listing.set_defaults(handler=_list)


def _open(settings):
    from app.composition import open_existing_database
    from services.audit import AuditLog

    database = open_existing_database(settings.effective_db_url)
    return database, AuditLog(database)


def _verify(args: argparse.Namespace, settings) -> int:
    def action() -> int:
        database, log = _open(settings)
        try:
            result = log.verify(full=args.full)
        finally:
            database.dispose()
        if result.ok:
            print(result.describe())
            return EXIT_OK
        print(result.describe(), file=sys.stderr)
        return EXIT_CHAIN_BROKEN

    return run_guarded(settings.effective_db_url, action, args)


def _record_dict(record) -> dict:
    return {
        "id": record.id,
        "time": record.time.isoformat(),
        "actor": record.actor,
        "action": record.action,
        "entity_type": record.entity_type,
        "entity_id": record.entity_id,
        "payload": record.payload,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def _list(args: argparse.Namespace, settings) -> int:
    def action() -> int:
        database, log = _open(settings)
        try:
            records = log.list(
                action=args.action,
                entity_type=args.entity_type,
                entity_id=args.entity_id,
                limit=args.limit,
                newest_first=args.limit is not None,
            )
        finally:
            database.dispose()
        if not records and args.action is not None:
            from services.audit_actions import unknown_action_words

            unknown = unknown_action_words(args.action)
            if unknown is not None:  # a typo read as "never happened"
                return say_failure(args, "bad_input", f"no audit entry has the action {args.action!r}, which is {unknown}",
                                   EXIT_BAD_INPUT)
        records.sort(key=lambda r: r.id)
        if args.json:
            print(json.dumps([_record_dict(r) for r in records], ensure_ascii=False, indent=2, sort_keys=True))
            return EXIT_OK
        for r in records:
            entity = audit_entity(r.entity_type, r.entity_id)
            payload = json.dumps(r.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            print(f"{r.id:>6}  {r.time.strftime('%Y-%m-%d %H:%M:%S.%f')}Z  {r.actor:<12} {r.action:<20} {entity:<16} {payload}")
        if not records:
            print("(no audit entries)", file=sys.stderr)
        return EXIT_OK

    return run_guarded(settings.effective_db_url, action, args)
