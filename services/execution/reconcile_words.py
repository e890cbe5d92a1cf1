"""A reconciliation said to the trader: the window's status bar and activity log showed the
report's raw dict ("Reconciled: {'time': '2026-...', 'open_orders': 0, ...}"). One line, what
matters first (the broker's open orders, the fills checked), then only what the pass found:
fills taken in, statuses corrected, orders placed elsewhere, positions set to the broker's, the
books that do not add up. The audit log keeps the whole report (``ReconcileReport.to_dict``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.core.wording import counted

if TYPE_CHECKING:
    from .reconcile import ReconcileReport

NAMED = 3  # listings named in a finding before "and N more": the line stays one line


def describe_reconcile(report: ReconcileReport) -> str:
    """"Reconciled at 10:32:05 UTC: 3 open orders at IB, 12 fills checked; 2 missing fills taken
    in" (or "...; nothing missing, nothing to correct"), and the shares held in no project's book."""
    head = (f"Reconciled at {report.time:%H:%M:%S} UTC: {counted(report.open_orders, 'open order')} at IB, "
            f"{counted(report.executions, 'fill')} checked")
    found = _findings(report) or ["nothing missing, nothing to correct"]
    if report.unassigned:  # not a fault: shares no project has claimed yet (docs/project-books.md)
        found.append(f"held in no project's book: {_named([f'{key} {rest}' for key, rest in report.unassigned.items()])}")
    return f"{head}; {'; '.join(found)}"


def found_something(report: ReconcileReport) -> bool:
    """Whether the pass found the console's record or the books wrong (a fill taken in, a status
    corrected, the books off the broker's): said as a warning, for the trader to look. Shares
    held in no project's book are not a fault."""
    return bool(_findings(report))


def _findings(report: ReconcileReport) -> list[str]:
    found = []
    if report.missing_fills:
        found.append(f"{counted(len(report.missing_fills), 'missing fill')} taken in")
    if report.corrected:
        found.append(f"{counted(len(report.corrected), 'order status', 'order statuses')} corrected from IB")
    if report.external:
        found.append(f"{counted(len(report.external), 'order')} placed outside the console recorded")
    if report.resolved_unknown:
        found.append(f"{counted(len(report.resolved_unknown), 'order')} IB does not know closed as never received "
                     f"({_orders(report, report.resolved_unknown)})")
    if report.released:
        found.append(f"{counted(len(report.released), 'order')} of a sender that is gone given back to be sent "
                     f"({_orders(report, report.released)})")
    if report.positions_corrected:
        found.append(f"positions set to the broker's: {_named(report.positions_corrected)}")
    if report.book_mismatches:
        found.append("the projects' books hold what the broker does not: " + _named(
            [f"{m['symbol']} (broker {m['broker']}, books {m['books']})" for m in report.book_mismatches]))
    return found


def _orders(report: ReconcileReport, client_order_ids: Sequence[str]) -> str:
    """"BUY 5 AAPL LMT 225.00, C-1; ...": what each order is and which, as the auto-recovery's
    line names the orders it acted on (services.execution.recovery_outcomes); the first NAMED."""
    names = [f"{what}, {coid}" if (what := report.named.get(coid)) else coid for coid in client_order_ids]
    shown = "; ".join(names[:NAMED])
    return shown if len(names) <= NAMED else f"{shown} and {len(names) - NAMED} more"


def _named(items: Sequence[str]) -> str:
    shown = ", ".join(items[:NAMED])
    return shown if len(items) <= NAMED else f"{shown} and {len(items) - NAMED} more"


#: An automatic reconciliation (at a connect, a reconnect, IB's 1101/1102) that left no report.
RESYNC_INCOMPLETE = "reconciliation did not complete (retried at the next connect)"


class ResyncSaid:
    """The automatic reconciliations said once each, the window's activity log's and `serve`'s
    words alike: after each (re)connect, the reconciler's newest report, or that none came (it gave
    up, or the line dropped again first). The window's log said nothing of them: a reconnect's
    fills taken in and statuses corrected were in the audit log alone."""

    def __init__(self) -> None:
        self._said: ReconcileReport | None = None

    def say(self, report: ReconcileReport | None) -> tuple[str, bool]:
        """``report``: the reconciler's ``last_report`` after the pass; (the line, whether it is a
        warning: the pass found something, or did not complete)."""
        if report is None or report is self._said:
            return RESYNC_INCOMPLETE, True
        self._said = report
        return describe_reconcile(report), found_something(report)
