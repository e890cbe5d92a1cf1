"""The risk results' headline for a preview (Qt-free): the window's risk panel shows it. It says
READY exactly when the Execute gate (``services.preview_session``) lets the preview through;
otherwise the risk result comes first (a blocked run says BLOCKED even while trading is halted,
where the gate names the halt)."""

from __future__ import annotations

from typing import Any, NamedTuple

from services.core.risk_rules import TRADING_HALTED
from services.core.wording import counted


class RiskVerdict(NamedTuple):
    """The risk panel's headline for a preview's report: its text, its look (``blocked``,
    ``ready`` or plain) and whether the report blocks the run."""

    text: str
    look: str
    blocked: bool


# a preview blocked by the halt alone, shown once trading resumed: its BLOCKED says nothing of the
# rules any more (a trader's walk under Xvfb: Resume, and the panel still said "trading is HALTED")
RESUMED_SINCE = "previewed while trading was HALTED; trading resumed since: Preview again"
RESUMED_SINCE_SHORT = "BLOCKED while trading was HALTED, Preview again"  # the run-progress bar's share of it


def blocked_by_the_halt_alone(report: Any) -> bool:
    """Whether every block of ``report`` (its orders' and the run's) is the halt's: a preview made
    while trading was HALTED, which passed every other rule."""
    if report is None:
        return False
    blocks = [*(b for o in report.orders for b in getattr(o, "blocks", ())), *(getattr(report, "run_blocks", ()) or ())]
    return bool(blocks) and all(getattr(b, "code", None) == TRADING_HALTED for b in blocks)


def risk_verdict(report: Any, halted: bool, sent_run: int | None = None) -> RiskVerdict:
    """What the risk results say above their table: blocked by a rule, nothing to trade, sent
    (``sent_run``: the preview's run went; it said READY over orders already filled, where the
    gate had turned Execute off), halted (a preview that passed is never shown as ready while
    trading is halted), ready."""
    orders = list(report.orders)
    blocked = str(getattr(report.verdict, "value", report.verdict)).lower() != "ready"
    if blocked:
        n_blocked = sum(1 for o in orders if getattr(o, "blocks", ()))
        n_run = len(getattr(report, "run_blocks", ()) or ())
        detail = f"{counted(n_blocked, 'order')} blocked" + (f", {counted(n_run, 'run-level block')}" if n_run else "")
        if not halted and blocked_by_the_halt_alone(report):
            detail += f": {RESUMED_SINCE}"
        return RiskVerdict(f"BLOCKED — {detail}", "blocked", True)
    if not orders:  # nothing to send is not a green light for anything
        return RiskVerdict("NOTHING TO TRADE — the book already holds the targets", "", False)
    if sent_run is not None:  # sent: no longer ready for anything, as the Execute gate says
        return RiskVerdict(f"SENT — run {sent_run}: {counted(len(orders), 'order')} passed every rule at preview", "", False)
    if halted:  # the preview passed, but the halt stops it at execute
        return RiskVerdict(f"HALTED — {counted(len(orders), 'order')} passed every rule at preview; "
                           "nothing is sent until trading resumes", "blocked", False)
    return RiskVerdict(f"READY — {counted(len(orders), 'order')} pass{'es' if len(orders) == 1 else ''} every rule",
                       "ready", False)
