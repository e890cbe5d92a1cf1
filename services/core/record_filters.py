"""The blotter's and the fills table's filters as one rule, for both places they apply.

The window holds a page or a few of a long history; the rest is in the database. A filter is
applied twice: by the table's proxy to the rows it holds and, in SQL, by the history pager to
the rows it reads next (``services/history_queries.py``). Both read this module: the Python
predicate here (``accepts``) and the SQL one there are built from the same fields
(``ORDER_SEARCH_FIELDS``) and the same needle (``search_needle``), each field matched on its
own, so a search shows the same orders whether they were loaded or paged in. And the order
statuses typed on the command line (``orders --status``: ``order_statuses``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from services.domain import FillRecord, OrderRecord, OrderState

#: What the blotter's search matches, each field on its own (a substring of any one of them):
#: the listing key, the client order id, the status, the order id and IB's order id.
ORDER_SEARCH_FIELDS = ("symbol", "client_order_id", "status", "id", "ib_order_id")


def search_needle(text: str | None) -> str:
    """The search as typed, without the spaces around it, case folded as SQL's ``lower`` does."""
    return (text or "").strip().lower()


def field_text(value: object) -> str:
    """A field as the SQL side casts it to text: nothing for None, an enum's stored value."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """The blotter's filters: working orders only, one run, and a case-insensitive substring
    of one of ``ORDER_SEARCH_FIELDS``."""

    working_only: bool = False
    run_id: int | None = None
    text: str = ""

    @property
    def needle(self) -> str:
        return search_needle(self.text)

    def accepts(self, order: OrderRecord) -> bool:
        if self.working_only and not order.status.is_working:
            return False
        if self.run_id is not None and order.run_id != self.run_id:
            return False
        needle = self.needle
        return not needle or any(needle in field_text(getattr(order, name)).lower() for name in ORDER_SEARCH_FIELDS)


@dataclass(frozen=True, slots=True)
class FillFilter:
    """The fills table's filter: a case-insensitive substring of the listing key."""

    symbol: str = ""

    @property
    def needle(self) -> str:
        return search_needle(self.symbol)

    def accepts(self, fill: FillRecord) -> bool:
        needle = self.needle
        return not needle or needle in fill.symbol.lower()


class BadStatus(ValueError):
    """A status typed that the console does not know, or none at all; the words name the ones
    it knows."""

    def __init__(self, typed: str, *, problem: str = "unknown status") -> None:
        super().__init__(f"{problem} in {typed!r}; known: {', '.join(s.value for s in OrderState)}")


def order_statuses(typed: str) -> tuple[OrderState, ...]:
    """``filled, Rejected`` as the states it names: any case, spaces around each, empty ones
    skipped; ``BadStatus`` when one is not a status or none is left (``,``): an empty selection
    would match no order and read as "there are none"."""
    try:
        statuses = tuple(OrderState(name.strip().upper()) for name in typed.split(",") if name.strip())
    except ValueError:
        raise BadStatus(typed) from None
    if not statuses:
        raise BadStatus(typed, problem="no status")
    return statuses
