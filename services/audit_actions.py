"""Every action the audit log records (services.audit): its name, when it is written, who writes
it, what the entry names and its payload's keys. docs/audit-log.md holds the same table for a
reader of the log (``docs_table``; tests/foundation/test_audit_actions.py keeps the two equal and
fails on a writer that names an action in any other way than ``AuditAction``).

A name is stored in every entry and hashed with it: it never changes once written (an entry
verifies only with its own text). A new kind of entry is a new member here, with its row.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class AuditAction(StrEnum):
    # runs and plans (services/execution/runs/, services/execution/manual.py)
    RUN_CREATE = "run.create"
    PLAN_CREATE = "plan.create"
    PLAN_REFUSED = "plan.refused"
    RUN_EXECUTE = "run.execute"
    RUN_RESUME = "run.resume"
    RUN_BLOCKED = "run.blocked"
    RUN_HALTED_REFUSED = "run.halted_refused"
    RUN_MARKET_HEALTH_SKIPPED = "run.market_health_skipped"
    RUN_MARKET_HEALTH_REFUSED = "run.market_health_refused"
    RUN_LEASE_TAKEOVER = "run.lease_takeover"
    RUN_CANCELED_AFTER_CANCEL_ALL = "run.canceled_after_cancel_all"
    RUN_UNSENT_CLOSED_BY_HALT = "run.unsent_closed_by_halt"
    RUN_UNSENT_CLOSED_BY_CANCEL_ALL = "run.unsent_closed_by_cancel_all"
    # the trader's order actions (services/execution/actions.py)
    ORDER_MANUAL = "order.manual"
    ORDER_CANCEL = "order.cancel"
    ORDER_CANCEL_ALL = "order.cancel_all"
    ORDER_REPLACE = "order.replace"
    ORDER_REPLACE_NEW = "order.replace_new"
    ORDER_REPLACE_REFUSED = "order.replace_refused"
    ORDER_MARKET_HEALTH_SKIPPED = "order.market_health_skipped"
    ORDER_MARKET_HEALTH_REFUSED = "order.market_health_refused"
    TRADING_CANCEL_ALL = "trading.cancel_all"
    TRADING_HALT = "trading.halt"
    TRADING_RESUME = "trading.resume"
    # auto-recovery's decisions (services/execution/recovery.py, written by recovery_writes.py)
    ORDER_RECOVERY_CANCEL = "order.recovery_cancel"
    ORDER_RECOVERY_CANCEL_FAILED = "order.recovery_cancel_failed"
    ORDER_RECOVERY_SEND = "order.recovery_send"
    ORDER_RECOVERY_REPLACE = "order.recovery_replace"
    ORDER_RECOVERY_REPLACEMENT = "order.recovery_replacement"
    ORDER_RECOVERY_SKIP = "order.recovery_skip"
    ORDER_RECOVERY_REFUSED = "order.recovery_refused"
    # reconciliation (services/execution/reconcile.py)
    RECONCILE = "reconcile"
    # settings, books and snapshots
    SETTINGS_TRADE = "settings.trade"
    SETTINGS_UPDATE = "settings.update"
    PROJECT_CAPITAL = "project.capital"
    POSITION_ASSIGN = "position.assign"
    SNAPSHOT_IMPORT = "snapshot.import"
    # backtests (services/backtest/runner.py, closing.py)
    BACKTEST_START = "backtest.start"
    BACKTEST_END = "backtest.end"


@dataclass(frozen=True, slots=True)
class ActionDoc:
    """``entity``: the entry's entity_type (what its entity_id names; "-": none); ``payload``:
    its keys, a key in brackets only in some entries (said in ``when``)."""

    when: str
    writer: str
    entity: str
    payload: tuple[str, ...]


_ORDER_SENT = ("client_order_id", "symbol", "side", "quantity", "order_type", "limit_price", "tif", "outside_rth",
               "stop_price", "replaces_order_id")
# the stop: a STP / STP LMT order's, as it becomes; ``was``: the order's own numbers before the replace
_REPLACE = ("client_order_id", "quantity", "limit_price", "[stop_price]", "was")
_RECOVERY = ("client_order_id", "decision", "reason")
_RECOVERY_WRITER = "record_decision (services/execution/recovery_writes.py)"

ACTIONS: Mapping[AuditAction, ActionDoc] = MappingProxyType({
    AuditAction.RUN_CREATE: ActionDoc(
        "a trade run is created (the day's run of a snapshot, a new run, a ticket's run)",
        "RunPlanning._create_run (services/execution/runs/planning.py)", "trade_run",
        ("project_id", "snapshot_id", "mode", "new_run")),
    AuditAction.PLAN_CREATE: ActionDoc(
        "a preview's or an order ticket's plan is stored; `trail_hash` covers its decision records "
        "(`audit verify` checks them); `[ticket]` in a ticket's plan only",
        "RunPlanning._preview (runs/planning.py), ManualOrders._store_plan (services/execution/manual.py)", "order_plan",
        ("run_id", "hash", "trail_hash", "orders", "gross_notional", "verdict", "[ticket]")),
    AuditAction.PLAN_REFUSED: ActionDoc(
        "a preview of a run that has no plan yet is refused (the run's message says why)",
        "RunPlanning._record_refusal (runs/planning.py)", "trade_run", ("code", "message")),
    AuditAction.RUN_EXECUTE: ActionDoc(
        "a plan's orders are stored NEW and its run starts sending them",
        "RunExecution._insert_orders (services/execution/runs/executing.py)", "trade_run",
        ("orders", "mode", "account", "plan_id", "plan_hash", "gross_notional")),
    AuditAction.RUN_RESUME: ActionDoc(
        "an interrupted run is sent again (what the broker never saw)", "RunExecution._mark_running (runs/executing.py)",
        "trade_run", ()),
    AuditAction.RUN_BLOCKED: ActionDoc(
        "a run is not sent: its risk verdict blocks it", "RunExecution._mark_blocked (runs/executing.py)", "trade_run",
        ("reasons",)),
    AuditAction.RUN_HALTED_REFUSED: ActionDoc(
        "an execute is refused because trading is HALTED", "RunExecution._refuse_if_halted (runs/executing.py)",
        "trade_run", ("trading_state",)),
    AuditAction.RUN_MARKET_HEALTH_SKIPPED: ActionDoc(
        "a run is executed without the market-health gate (`--no-market-health`)",
        "RunExecution._check_market_health (runs/executing.py)", "trade_run", ("status",)),
    AuditAction.RUN_MARKET_HEALTH_REFUSED: ActionDoc(
        "a run sends nothing: the market-health gate failed", "RunExecution._check_market_health (runs/executing.py)",
        "trade_run", ("reasons",)),
    AuditAction.RUN_LEASE_TAKEOVER: ActionDoc(
        "a run's stale lease (its holder stopped renewing it) is taken over: `from` describes that holder, `token` "
        "its lease",
        "RunExecution._executing_guard (runs/executing.py)", "trade_run", ("from", "token")),
    AuditAction.RUN_CANCELED_AFTER_CANCEL_ALL: ActionDoc(
        "a run's sender met another process's Cancel All: the orders it canceled, and the ones it could not "
        "(client order id and why)", "RunExecution._send (runs/executing.py)", "trade_run", ("canceled", "not_canceled")),
    AuditAction.RUN_UNSENT_CLOSED_BY_HALT: ActionDoc(
        "a halt stopped a run's sender, or an execute of the run found orders a halt had stopped still NEW: its "
        "orders not sent are canceled, never sent automatically after the resume (the halt closes the others: "
        "`trading.halt`'s `unsent_canceled`)",
        "OrderSender._close_halted (services/execution/sending.py), RunExecution._close_stopped (runs/executing.py)",
        "trade_run", ("orders", "reason")),
    AuditAction.RUN_UNSENT_CLOSED_BY_CANCEL_ALL: ActionDoc(
        "an execute of a run found orders stored before the last Cancel All still NEW (a sender held them then and "
        "died, or gave them back NEW, after the Cancel All listed what to cancel): canceled, never sent "
        "automatically after the trader canceled everything (recovery closes them too: `order.recovery_refused`)",
        "RunExecution._close_stopped (runs/executing.py)", "trade_run", ("orders", "reason")),
    AuditAction.ORDER_MANUAL: ActionDoc(
        "a manual order is sent", "PlaceOrder.place (services/execution/place_order.py)", "trade_order", _ORDER_SENT),
    AuditAction.ORDER_CANCEL: ActionDoc(
        "an order is canceled (at the broker, or before it was sent); `[note]` when its sender claimed it meanwhile; "
        "`[recorded_late]` when the database did not answer the cancel, which went by the order as the window showed it "
        "and was recorded once it answered (`asked_at`, `not_recorded_then`)",
        "CancelOrder.cancel (services/execution/cancel_order.py)", "trade_order", ("client_order_id", "[note]", "[recorded_late]")),
    AuditAction.ORDER_CANCEL_ALL: ActionDoc(
        "Cancel All (or a halt with cancel) has asked every working order's cancel: the order ids canceled and "
        "what was not; `orders`: the connected account's; `accounts`: by account it acted on (the connected one, "
        "or for the global cancel every account of the login; `*`: the account unknown), the ids of every order it "
        "canceled or asked the broker to cancel (`other_accounts` says the same in words)",
        "CancelAll.cancel_all (services/execution/cancel_all.py)", "account",
        ("orders", "global", "not_canceled", "senders_not_stopped", "other_accounts", "accounts")),
    AuditAction.ORDER_REPLACE: ActionDoc(
        "a working order is replaced: `method` is `modify` (in place), `cancel_and_new` (`[new_order_id]`) or "
        "`nothing` (`[reason]`: it filled before the cancel, or more than the new total did)", "ReplaceOrder.replace, ._cancel_and_new (services/execution/replace_order.py)", "trade_order",
        (*_REPLACE, "method", "[reason]", "[new_order_id]")),
    AuditAction.ORDER_REPLACE_NEW: ActionDoc(
        "the new order of a cancel-and-new replace is sent (`replaces_order_id`: the canceled one)",
        "PlaceOrder.place (place_order.py)", "trade_order", _ORDER_SENT),
    AuditAction.ORDER_REPLACE_REFUSED: ActionDoc(
        "a replace is refused (risk, halt, market health, listing, the broker's reject of the change); the original is left as it was, or canceled "
        "without its replacement after a halt or a Cancel All pressed meanwhile, or the broker refused its cancel; a stop order the broker did "
        "not change in place is left working, never canceled and sent anew", "ReplaceOrder.replace, ._cancel_and_new, ._stop_kept (replace_order.py)",
        "trade_order", (*_REPLACE, "reason")),
    AuditAction.ORDER_MARKET_HEALTH_SKIPPED: ActionDoc(
        "a manual order is sent without the market-health gate", "PlaceOrder.check_market_health (place_order.py)",
        "account", ("symbol", "status")),
    AuditAction.ORDER_MARKET_HEALTH_REFUSED: ActionDoc(
        "a manual order (or a replace's new order) is refused: the market is not healthy",
        "PlaceOrder.check_market_health (place_order.py)", "account", ("symbol", "reasons")),
    AuditAction.TRADING_CANCEL_ALL: ActionDoc(
        "the Cancel All marker is set, before any cancel (senders stop; recovery never sends what it canceled); "
        "`account`: the connected account; `accounts`: the accounts it acts on, whose markers it sets "
        "(`cancel_all_marks`): the connected one, or for the global cancel every account of the login (empty: "
        "unknown, every account's); of an account it does not act on, the unsent orders are left to its runs, its senders "
        "go on sending; `recorded_late` (only then): the Cancel All was asked while the database did not answer, its cancel "
        "went to the broker at once and this entry was written when the database answered (`asked_at`, `not_recorded_then`)",
        "CancelAll._mark_cancel_all (cancel_all.py)", "trade_settings",
        ("cancel_all_at", "global", "account", "accounts", "[recorded_late]")),
    AuditAction.TRADING_HALT: ActionDoc(
        "trading is set HALTED; `unsent_canceled`: the runs' orders not sent yet, canceled in the same transaction "
        "(never sent automatically after the resume); `recorded_late` (only then): the halt was asked while the database did not "
        "answer, held by its process at once and written when the database answered (`asked_at`, `not_recorded_then`)",
        "OrderActions._set_state (services/execution/actions.py)", "trade_settings",
        ("from", "to", "cancel_all", "unsent_canceled", "[recorded_late]")),
    AuditAction.TRADING_RESUME: ActionDoc(
        "trading is set ACTIVE again", "OrderActions._set_state (actions.py)", "trade_settings", ("from", "to")),
    AuditAction.ORDER_RECOVERY_CANCEL: ActionDoc(
        "auto-recovery sent the cancel of an order with no acknowledgement in time", _RECOVERY_WRITER, "trade_order",
        _RECOVERY),
    AuditAction.ORDER_RECOVERY_CANCEL_FAILED: ActionDoc(
        "auto-recovery could not send that cancel", _RECOVERY_WRITER, "trade_order", _RECOVERY),
    AuditAction.ORDER_RECOVERY_SEND: ActionDoc(
        "auto-recovery sent an order stored NEW that never reached the broker", _RECOVERY_WRITER, "trade_order",
        _RECOVERY),
    AuditAction.ORDER_RECOVERY_REPLACE: ActionDoc(
        "auto-recovery re-placed an order proven dead with nothing filled", _RECOVERY_WRITER, "trade_order",
        (*_RECOVERY, "replacement", "retry")),
    AuditAction.ORDER_RECOVERY_REPLACEMENT: ActionDoc(
        "auto-recovery stored the replacement of a dead order (entity: the new order)",
        "insert_replacement (recovery_writes.py)", "trade_order",
        ("client_order_id", "replaces", "replaces_order_id", "retry")),
    AuditAction.ORDER_RECOVERY_SKIP: ActionDoc(
        "auto-recovery left a stuck order as it is for now (a skip repeating the order's last one word for word "
        "is not written again)", _RECOVERY_WRITER, "trade_order", _RECOVERY),
    AuditAction.ORDER_RECOVERY_REFUSED: ActionDoc(
        "auto-recovery left a stuck order for good (never considered again)", _RECOVERY_WRITER, "trade_order",
        _RECOVERY),
    AuditAction.RECONCILE: ActionDoc(
        "a reconciliation with the broker changed something (ReconcileReport.to_dict)",
        "Reconciler._reconcile (services/execution/reconcile.py)", "account",
        ("time", "open_orders", "completed_orders", "executions", "missing_fills", "corrected", "external",
         "resolved_unknown", "positions_corrected", "released", "unassigned", "book_mismatches", "orders", "executions_since",
         "completed_asked")),
    AuditAction.SETTINGS_TRADE: ActionDoc(
        "trade settings are changed (`trade-settings set`/`unset`, the Settings dialog): each changed section as "
        "stored, `[unset]` the removed keys with their values", "TradeSettingsService._store (services/trade_settings.py)",
        "trade_settings", ("[risk]", "[auto_recovery]", "[execution]", "[execution_data_source]", "[unset]")),
    AuditAction.SETTINGS_UPDATE: ActionDoc(
        "the Settings dialog is saved (its connection fields; never the database URL)",
        "store_in_database (services/console_settings.py)", "settings", ("ib", "database_changed")),
    AuditAction.PROJECT_CAPITAL: ActionDoc(
        "projects' capital is changed (`capital`: project name -> capital, null: off)",
        "BooksService._store_capitals (services/books.py)", "project", ("capital",)),
    AuditAction.POSITION_ASSIGN: ActionDoc(
        "unassigned shares are moved into a project's book (`assign`)", "BooksService._assign (services/books.py)",
        "position_assignment", ("project", "account", "symbol", "quantity", "cost", "unassigned_before")),
    AuditAction.SNAPSHOT_IMPORT: ActionDoc(
        "a decision snapshot file is stored (`created` false: the same file was stored already)",
        "store_snapshot (services/console_queries.py)", "decision_snapshot", ("source", "project", "items", "created")),
    AuditAction.BACKTEST_START: ActionDoc(
        "a backtest begins: its parameters, its projects and every input snapshot it replays as `[project, day, "
        "snapshot id, content hash, source file]` (one given as a file is stored first, as a `backtest input`)",
        "Backtester._begin (services/backtest/runner.py)", "backtest", ("params", "projects", "snapshots")),
    AuditAction.BACKTEST_END: ActionDoc(
        "a backtest is closed: done, canceled or failed (a dead process's, by the next look: `close_abandoned`), "
        "with its reason and its final equities", "close_backtest (services/backtest/closing.py)", "backtest",
        ("status", "message", "days", "final_equity")),
})

# auto-recovery's decision (the payload's ``decision``, the order event ``recovery_<decision>``)
_RECOVERY_DECISIONS: Mapping[str, AuditAction] = MappingProxyType({
    action.value.removeprefix("order.recovery_"): action for action in AuditAction
    if action.value.startswith("order.recovery_") and action is not AuditAction.ORDER_RECOVERY_REPLACEMENT})


def recovery_action(decision: str) -> AuditAction:
    """The action of an auto-recovery ``decision`` (``"skip"`` -> ``order.recovery_skip``)."""
    try:
        return _RECOVERY_DECISIONS[decision]
    except KeyError:
        raise ValueError(f"no audit action for the recovery decision {decision!r}") from None


def unknown_action_words(name: str) -> str | None:
    """Why ``name`` is no action the console writes, with the names close to it (a typo), or
    None for one it writes. An older version's action may still be in a log: a caller asks this
    only once no entry had ``name``."""
    names = [action.value for action in AuditAction]
    if name in names:
        return None
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.8)
    if not close:  # no guess: nothing after a colon ("writes: (docs/...)")
        return "not an action the console writes (docs/audit-log.md lists every action)"
    return f"not an action the console writes: did you mean {' or '.join(close)}? (docs/audit-log.md lists every action)"


def docs_table() -> str:
    """The table of docs/audit-log.md, one row per action in the order above."""
    rows = ["| action | when it is written | written by | entity | payload keys |", "|---|---|---|---|---|"]
    for action, doc in ACTIONS.items():
        keys = ", ".join(f"`{key}`" for key in doc.payload) or "(none)"
        rows.append(f"| `{action.value}` | {doc.when} | {doc.writer} | `{doc.entity}` | {keys} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m services.audit_actions: the table, to paste into docs/audit-log.md
    print(docs_table())
