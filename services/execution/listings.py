"""The listing each snapshot row and each stored order names, on its way to the broker.

Preview refuses a snapshot row the console cannot trade (another security type, an unknown
exchange or one that does not trade in the row's currency) with the row it is, before anything
is asked from the broker; orders carry their ``ContractSpec`` to ``placeOrder`` whether they are
sent now or resumed after a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from services.core.contracts import ContractSpec, contract_problem
from services.core.wording import counted
from services.domain import OrderType, Side

from .errors import BadInput
from .provider import OrderRequest


def snapshot_specs(snapshot_id: int | None, items: Iterable[Mapping[str, Any]]) -> list[ContractSpec]:
    """The specs of a stored snapshot's rows (in file order), or BadInput naming every row refused."""
    specs: list[ContractSpec] = []
    problems: list[str] = []
    for row, item in enumerate(items, start=1):
        spec = ContractSpec.of(item["symbol"], item.get("sec_type"), item.get("exchange"), item.get("primary_exchange"),
                               item.get("currency"))
        problem = contract_problem(spec)
        if problem is not None:
            column, message = problem
            problems.append(f"row {row} ({spec.symbol}), column {column}: {message}")
        specs.append(spec)
    if problems:
        raise BadInput(f"snapshot {snapshot_id}: {counted(len(problems), 'row')} cannot be traded, nothing was sent: " + "; ".join(problems))
    return specs


def order_spec(order: Any) -> ContractSpec:
    """The spec of a stored order row (``trade_orders``)."""
    return ContractSpec.of(order.symbol, order.sec_type, order.exchange, order.primary_exchange, order.currency)


def request_for_draft(draft) -> OrderRequest:
    return OrderRequest(draft.client_order_id, draft.symbol, draft.side, draft.quantity, draft.order_type, draft.limit_price,
                        draft.tif, contract=draft.spec, outside_rth=draft.outside_rth, stop_price=draft.stop_price)


def request_for_order(order, *, client_order_id: str | None = None, quantity: Decimal | None = None,
                      limit_price: Decimal | None = None) -> OrderRequest:
    """A stored order as it goes (again) to the broker; a stop price and outside-RTH travel in the
    order's draft (``params``), the columns hold the rest. Recovery re-places it as it is; a
    replace's new order (cancel-and-new) is the same order under its own ``client_order_id`` with
    only ``quantity`` and ``limit_price`` changed (None: the stored one), so that it keeps the TIF,
    outside-RTH and stop price the trader confirmed for the original."""
    draft = (order.params or {}).get("draft") or {}
    stop = draft.get("stop_price")
    return OrderRequest(client_order_id or order.client_order_id, order.symbol, Side(order.side),
                        order.quantity if quantity is None else quantity, OrderType(order.order_type),
                        order.limit_price if limit_price is None else limit_price, order.tif, contract=order_spec(order),
                        outside_rth=bool(draft.get("outside_rth", False)), stop_price=None if stop is None else Decimal(str(stop)))


def draft_params(request: OrderRequest) -> dict[str, Any]:
    """What ``request_for_order`` reads back from ``params``, for an order stored from a request
    without a plan's draft (a replace's new order): its outside-RTH and stop price, only when set."""
    draft: dict[str, Any] = {}
    if request.outside_rth:
        draft["outside_rth"] = True
    if request.stop_price is not None:
        draft["stop_price"] = str(request.stop_price)
    return {"draft": draft} if draft else {}


def position_key(order: Any, execution: Any = None) -> str:
    """The listing key a fill books its position under: our order's contract; for an order we
    did not send (external), the listing the execution reports (its currency and market)."""
    if getattr(order, "is_external", False) and execution is not None:
        venue = (execution.exchange or "SMART") if execution.currency != "USD" else "SMART"
        return ContractSpec.of(execution.symbol, None, venue, None, execution.currency or "USD").key
    return order_spec(order).key
