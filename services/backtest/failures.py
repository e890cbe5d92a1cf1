"""The rebalances of a backtest that failed for a reason other than a risk block (a refused
preview, an engine error): what the results list (``failed_rebalances``, per project and in
total) and the line the backtest's message and the front ends say. Risk blocks are not
failures: they are listed under ``risk_blocked``.

A rebalance that failed did not trade; the rest of the backtest ran on. Said once here so that
the command, ``backtests --show`` and the window's Backtest panel say the same."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.core.wording import counted

FAILED = "failed: "  # a rebalance's outcome text starts with it (``ProjectResult.rebalances``)
NAMED_IN_MESSAGE = 3  # the backtest's message names the first few; the results list them all


def failed_rebalance(day: str, run_id: int | None, code: str, message: str) -> dict:
    return {"day": day, "run_id": run_id, "code": code, "message": message}


def failed_rebalances_of(project: Mapping[str, Any]) -> list[dict]:
    """A project's failed rebalances from its results; a backtest stored before they were listed
    has them only in its rebalances' outcomes (``failed: REASON``), read from there (no code)."""
    listed = project.get("failed_rebalances")
    if listed is not None:
        return [dict(f) for f in listed]
    return [failed_rebalance(day, run_id, "", outcome[len(FAILED):])
            for day, run_id, outcome in project.get("rebalances") or () if str(outcome).startswith(FAILED)]


def all_failed(projects: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """Every project's failed rebalances, each naming its project, by day."""
    return sorted((dict(f, project=name) for name, p in projects.items() for f in failed_rebalances_of(p)),
                  key=lambda f: (f["day"], f["project"]))


def failures_line(failed: Iterable[Mapping[str, Any]]) -> str | None:
    """``2 rebalances failed: alpha 2024-02-06: REASON; beta ...`` (None: none failed)."""
    failed = list(failed)
    if not failed:
        return None
    named = "; ".join(f"{f['project']} {f['day']}: {f['message']}" for f in failed[:NAMED_IN_MESSAGE])
    more = f"; and {len(failed) - NAMED_IN_MESSAGE} more" if len(failed) > NAMED_IN_MESSAGE else ""
    return f"{counted(len(failed), 'rebalance')} failed: {named}{more}"
