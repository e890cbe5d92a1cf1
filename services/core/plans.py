"""Frozen order plans: what the trader confirmed, as an immutable value with a content hash.

A preview becomes a plan: its orders, the reference price of every symbol (with its time and
type), the builder's parameters, the positions and portfolio value it was built from and the
risk verdict. Executing a plan sends exactly its orders, or nothing: it is refused when the plan
is older than ``plan_max_age_seconds`` or a reference price has moved by more than
``plan_max_price_move_pct`` since (both in trade settings). Pure: no database, no broker.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.domain import Side, TradeMode

from .builder import OrderDraft
from .wording import percent

# How a reference price was obtained; "delayed" and "close" prices age differently from live ones
# (the market-health gate and the stale-price rule read this).
PRICE_KINDS = ("live", "frozen", "delayed", "delayed_frozen", "close", "snapshot_file")


@dataclass(frozen=True, slots=True)
class PriceRef:
    price: Decimal
    time: datetime
    kind: str = "live"

    def to_dict(self) -> dict[str, str]:
        return {"price": str(self.price), "time": self.time.isoformat(), "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceRef:
        return cls(Decimal(str(data["price"])), datetime.fromisoformat(data["time"]), str(data.get("kind", "live")))


@dataclass(frozen=True, slots=True)
class PriceMove:
    symbol: str
    reference: Decimal
    current: Decimal | None
    pct: Decimal | None  # None when there is no current price

    def describe(self) -> str:
        if self.current is None:
            return f"{self.symbol}: no current price (plan {self.reference})"
        return f"{self.symbol}: {self.reference} -> {self.current} ({self.pct:+.2f} %)"


@dataclass(frozen=True, slots=True)
class OrderTotals:
    """What a set of orders adds up to: the one rule for a plan's gross notional, the preview
    panel's totals line and the confirmation's figure (they can never disagree). No target
    weight: the orders' weights summed are only the traded names' share (3 of 12 names read
    "target weight 20.00%" of a snapshot targeting 97 %); the plan's is ``targeted_said``."""

    count: int = 0
    buy_notional: Decimal = Decimal(0)
    sell_notional: Decimal = Decimal(0)

    @property
    def gross_notional(self) -> Decimal:
        return self.buy_notional + self.sell_notional


def order_totals(orders: Iterable[OrderDraft]) -> OrderTotals:
    """Buys and sells by their notional's size (an order without a notional adds nothing)."""
    count, buy, sell = 0, Decimal(0), Decimal(0)
    for order in orders:
        count += 1
        if order.notional is not None:
            if order.side == Side.BUY:
                buy += abs(order.notional)
            elif order.side == Side.SELL:
                sell += abs(order.notional)
    return OrderTotals(count, buy, sell)


def targeted_said(gross_weight: Decimal, cash_buffer: Decimal = Decimal(0)) -> str:
    """What a plan targets, for the preview's totals line: the snapshot's whole gross weight
    (every target, traded or not: its import says "gross weight" of the same sum), and with a
    cash buffer the share of the portfolio that makes (the builder's budget is the value less the
    buffer): "target weight 97.00%", "target weight 97.00%, 92.15% after the 5.00% cash buffer"."""
    said = f"target weight {percent(gross_weight)}"
    if not cash_buffer:
        return said
    return f"{said}, {percent(gross_weight * (1 - cash_buffer))} after the {percent(cash_buffer)} cash buffer"


@dataclass(frozen=True, slots=True)
class Plan:
    """One stored plan. ``orders`` are exactly the orders that executing it sends."""

    id: int
    run_id: int
    project_id: int
    snapshot_id: int | None
    mode: TradeMode
    account: str | None
    created_at: datetime
    portfolio_value: Decimal
    verdict: str
    content_hash: str
    orders: tuple[OrderDraft, ...]
    prices: Mapping[str, PriceRef] = field(default_factory=dict)
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    skipped: tuple[Mapping[str, Any], ...] = ()
    risk: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        return self.verdict == "blocked"

    @property
    def order_count(self) -> int:
        return len(self.orders)

    @property
    def working(self) -> dict[str, Decimal]:
        """The project's orders still working when it was built, counted as if they filled
        beside ``positions`` (its filled book): listing key -> signed quantity left."""
        return {key: Decimal(quantity) for key, quantity in (self.params.get("working") or {}).items()}

    @property
    def working_orders(self) -> tuple[str, ...]:
        """The client order ids of those working orders."""
        return tuple(self.params.get("working_orders") or ())

    @property
    def unsent_orders(self) -> tuple[str, ...]:
        """Those of ``working_orders`` stored and not sent yet when it was built (an earlier
        run's, halted or stopped mid-send: recovery or a resumed execute sends them)."""
        return tuple(self.params.get("unsent_orders") or ())

    @property
    def gross_notional(self) -> Decimal:
        return order_totals(self.orders).gross_notional

    def age_seconds(self, now: datetime) -> float:
        return (now - self.created_at).total_seconds()


def plan_content(*, run_id: int, project_id: int, snapshot_id: int | None, mode: TradeMode | str,
                 account: str | None, portfolio_value: Decimal, verdict: str, orders: list[dict],
                 prices: Mapping[str, PriceRef], positions: Mapping[str, Decimal], params: Mapping[str, Any],
                 skipped: list[dict], risk: Mapping[str, Any]) -> dict[str, Any]:
    """The plan as a JSON document: what the hash covers and what the database stores."""
    return {
        "run_id": run_id, "project_id": project_id, "snapshot_id": snapshot_id, "mode": str(mode),
        "account": account, "portfolio_value": _canonical(portfolio_value), "verdict": verdict,
        "orders": orders, "prices": {s: p.to_dict() for s, p in sorted(prices.items())},
        "positions": {s: str(q) for s, q in sorted(positions.items())}, "params": dict(params),
        "skipped": skipped, "risk": dict(risk),
    }


def _canonical(value: Decimal) -> str:
    """One spelling per number (a NUMERIC column gives back 1000000.00000000 for 1000000)."""
    return format(Decimal(value).normalize(), "f")


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces): written into the audit log, so a
    plan changed in the database no longer matches the hash the chain certified."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# The fewest hex digits of a plan's content hash that say which plan content a trader reviewed:
# what ``preview`` prints of it. Fewer would match the hash of another content too easily to
# confirm anything.
PLAN_HASH_PREFIX = 12
_HEX_DIGITS = frozenset("0123456789abcdef")


def plan_hash_problem(text: str) -> str | None:
    """Why ``text`` cannot name the content a trader confirmed (None: it can): the content hash
    (64 hex digits, SHA-256) or a prefix of at least ``PLAN_HASH_PREFIX`` of them, either case."""
    if not PLAN_HASH_PREFIX <= len(text) <= 64 or not set(text.lower()) <= _HEX_DIGITS:
        return (f"not a plan hash: {text!r} (its first {PLAN_HASH_PREFIX} to 64 hex digits, "
                "as the preview prints it)")
    return None


def hash_confirms(content_hash: str, confirmed: str) -> bool:
    """Is ``confirmed`` (checked by ``plan_hash_problem``) a plan's ``content_hash``, whole or as
    its prefix: what ``execute_plan`` sends only when true."""
    return plan_hash_problem(confirmed) is None and content_hash.startswith(confirmed.lower())


def price_moves(references: Mapping[str, PriceRef], current: Mapping[str, Decimal | None],
                max_move_pct: Decimal) -> list[PriceMove]:
    """The symbols whose current price is missing or differs from the plan's reference by more
    than ``max_move_pct`` percent (either way)."""
    moves: list[PriceMove] = []
    for symbol, ref in sorted(references.items()):
        now = current.get(symbol)
        if now is None or now <= 0:
            moves.append(PriceMove(symbol, ref.price, None, None))
            continue
        if ref.price <= 0:
            continue
        pct = (now - ref.price) / ref.price * 100
        if abs(pct) > max_move_pct:
            moves.append(PriceMove(symbol, ref.price, now, pct))
    return moves
