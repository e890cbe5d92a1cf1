"""What an auto-recovery pass comes to (services.execution.recovery.AutoRecovery.run_once).

``RecoveryResult``, with its ``Replaced`` and ``Skipped`` orders, is the frozen value the
window's Recover now, the ``recover`` command and the waiting commands report; ``Tally`` is the
same record while the pass is still running, and ``Stuck`` an order as the pass found it, before
it did anything. ``replacement_id`` is how a re-placed order is named: the risk check of a
replacement and its insert both derive it from the dead order's id, so that they name one order.
Values only: the pass, its reads and its reasons live in recovery.py, recovery_finding.py and
recovery_refusals.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.domain import OrderState

NAMED_EACH = 5  # orders named per kind in the pass's line; more are counted ("and 3 more")


def replacement_id(client_order_id: str, retry: int) -> str:
    """The client order id of a dead order's replacement: derived from the dead one's, so that a
    second process racing to re-place it finds it taken."""
    return f"{client_order_id[:58]}-A{retry}"


@dataclass(frozen=True, slots=True)
class Skipped:
    client_order_id: str
    reason: str

    def to_dict(self) -> dict:
        return {"client_order_id": self.client_order_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Replaced:
    client_order_id: str  # the dead order
    replacement: str  # the new order's client order id
    retry: int  # its retry count
    order: str = ""  # what was re-placed: "BUY 35 IBM MKT" (services.core.wording.describe_request)

    def to_dict(self) -> dict:
        return {"client_order_id": self.client_order_id, "replacement": self.replacement, "retry": self.retry,
                "order": self.order}

    def describe(self) -> str:
        """"BUY 35 IBM MKT, C-1 as C-1-A1": which order, what it is, and its new name."""
        what = f"{self.order}, " if self.order else ""
        return f"{what}{self.client_order_id} as {self.replacement}"


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """What one pass did. ``considered``: every order older than the timeout it looked at;
    ``canceled``: cancel sent to the broker; ``sent``: NEW orders sent as they were;
    ``replaced``: dead orders re-placed; ``skipped``: left as they are, with the reason;
    ``named``: what each order considered is, by client order id ("BUY 35 IBM MKT", as
    ``Replaced.order`` names a re-placed one)."""

    time: datetime
    considered: tuple[str, ...] = ()
    canceled: tuple[str, ...] = ()
    sent: tuple[str, ...] = ()
    replaced: tuple[Replaced, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    named: tuple[tuple[str, str], ...] = ()

    @property
    def acted(self) -> bool:
        return bool(self.canceled or self.sent or self.replaced)

    def to_dict(self) -> dict:
        return {"time": self.time.isoformat(), "considered": list(self.considered), "canceled": list(self.canceled),
                "sent": list(self.sent), "replaced": [r.to_dict() for r in self.replaced],
                "skipped": [s.to_dict() for s in self.skipped], "orders": dict(self.named)}

    def describe(self) -> str:
        """The counts, and the orders canceled, sent, re-placed and skipped named: what each is
        and which ("canceled 1 (BUY 35 IBM MKT, C-1)", "re-placed 1 (BUY 35 IBM MKT, C-1 as
        C-1-A1)"); a bare count left the trader to find them in the audit log. The first
        NAMED_EACH of a kind, the others counted."""
        names = dict(self.named)

        def name(client_order_id: str) -> str:
            what = names.get(client_order_id)
            return f"{what}, {client_order_id}" if what else client_order_id

        return (f"considered {len(self.considered)}, canceled {_listed([name(c) for c in self.canceled])}, "
                f"sent {_listed([name(c) for c in self.sent])}, re-placed {_listed([r.describe() for r in self.replaced])}, "
                f"skipped {_listed([name(s.client_order_id) for s in self.skipped])}")

    def headline(self) -> str:
        """The pass said in one line, the window's activity log's, ``recover``'s and ``serve``'s
        alike: "Auto-recovery: considered 2, canceled 0, ..." (the window said "Auto-recovery:",
        ``recover`` "auto-recovery:" and ``serve`` "recovery:")."""
        return f"Auto-recovery: {self.describe()}"


def _listed(names: Sequence[str]) -> str:
    """"2 (A; B)": how many, and the first NAMED_EACH named; "0" bare."""
    if not names:
        return "0"
    more = f" and {len(names) - NAMED_EACH} more" if len(names) > NAMED_EACH else ""
    return f"{len(names)} ({'; '.join(names[:NAMED_EACH])}{more})"


@dataclass(frozen=True, slots=True)
class Stuck:
    """An order as recovery found it (before it did anything)."""

    id: int
    client_order_id: str
    run_id: int | None
    status: OrderState
    retry_count: int
    # who placed it (a sent order): the broker client id (only that client may cancel it at IB)
    # and the placing process's key (services.execution.order_claims.placed_by); None when not known
    placer_client: int | None = None
    placer_process: str | None = None
    order: str = ""  # what it is: "BUY 35 IBM MKT" (services.core.wording.describe_request)


@dataclass
class Tally:
    """What the pass running now has done so far: its ``RecoveryResult`` once it ends."""

    considered: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    replaced: list[Replaced] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    named: dict[str, str] = field(default_factory=dict)  # what each order considered is
