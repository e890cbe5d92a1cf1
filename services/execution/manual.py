"""The order ticket: one order typed by the trader, through the same rules as a run.

A ticket becomes a run of its own with a one-order frozen plan (services.core.plans): its draft
is checked by the pipeline's risk half (``services.core.pipeline.check_orders``, the limits and
facts a run meets), the plan is stored and audited, and it is sent by the run executor
(``TradeService._send_plan``) under the run's lease, after the LIVE word, the trading state and
the market-health gate. ``check`` shows the verdict before sending (nothing stored);
``send`` checks again with the prices of that moment: the verdict the plan records is the one
that decided.

Prices: a listing on the watchlist is priced from its stream (services.execution.quotes), the
others from a snapshot: the ticket, the watchlist and the preview see the same price. Limit and
stop prices must lie on the listing's tick grid (its contract details' minTick; without one the
US grid: 0.01 from 1 USD, 0.0001 below).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.audit_actions import AuditAction
from services.books import net_quantities
from services.core.builder import OrderDraft, client_order_id
from services.core.contracts import ContractSpec, contract_problem, spec_of
from services.core.order_state import EventKind
from services.core.order_values import order_size, shares_for_amount, value_words
from services.core.plans import Plan
from services.core.replace_rules import (
    off_grid_problem,
    order_digits,
    suggested_stop,
    suggested_stop_limit,
    too_large_problem,
)
from services.core.risk import RiskReport
from services.core.risk_measures import risk_decisions
from services.core.snapshots import MAX_SYMBOL_LENGTH, SYMBOL_RE
from services.core.trail import ticket_decision
from services.core.typed_numbers import (
    NotANumber,
    exponent_said,
    must_be_said,
    not_a_number_said,
    plain,
    typed_decimal,
)
from services.core.wording import order_kind, price, price_places, working_note
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.plan_repository import PlanRepository
from services.db.repositories import OrderRepository, RunRepository, SettingsRepository
from services.db.repositories.trail import TrailRepository
from services.domain import EventSource, OrderState, OrderType, Quote, RunStatus, Side, TimeInForce, TradeMode

from .audit import audit
from .errors import (
    BadInput,
    BrokerError,
    ExecutionError,
    MarketUnhealthy,
    NothingSent,
    PlanRefused,
    TradingHalted,
)
from .market_health import HealthReport, TradeIntent
from .order_risk import (
    MarketInputs,
    check_order,
    check_order_in,
    flatten_in,
    for_project,
    market_inputs,
    market_price,
    order_draft,
    us_tick,
)
from .runs import ExecuteResult, TradeService
from .writer import LocalOrderEvent

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "manual"  # the project of a ticket that names none


def _decimal(name: str, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = typed_decimal(value if isinstance(value, Decimal | int | float) else str(value))
    except NotANumber as exc:
        raise BadInput(not_a_number_said(value, exc.hint, name=name)) from None
    exponent = exponent_said(value, name=name)  # read as 1000, but no trader means 1e3
    if exponent is not None:
        raise BadInput(exponent)
    if number <= 0:  # typed_decimal refuses NaN and infinities
        # as `order --quantity 0` says it (app.commands.arguments.order_number): the ticket said
        # "quantity must be a positive number, got '0'"
        raise BadInput(must_be_said(value, "a number > 0", name=name))
    return number


def _check_storable(name: str, value: Decimal | None) -> None:
    """``BadInput`` for a quantity or price the order's columns cannot keep (checked before
    anything is stored: the database refused it only after the run was created, which stayed
    QUEUED with no order)."""
    problem = too_large_problem(name, value)
    if problem is not None:
        raise BadInput(problem)


def _storable_digits(name: str) -> int:
    return order_digits(name)  # services.core.replace_rules: the one bound of each order column


@dataclass(frozen=True, slots=True)
class Ticket:
    """What the trader typed. Exactly one of ``quantity`` (shares) and ``notional`` (base currency,
    turned into the whole shares whose value as the risk rules measure it is at most that, at the
    prices of the moment: a limit order at its limit, services.core.order_values.shares_for_amount)."""

    symbol: str
    side: Side
    quantity: Decimal | None = None
    notional: Decimal | None = None
    order_type: OrderType = OrderType.MKT
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    outside_rth: bool = False
    project: str | None = None

    @classmethod
    def of(cls, symbol: str, side: str | Side, *, quantity: Any = None, notional: Any = None, order_type: str | OrderType = "MKT",
           limit_price: Any = None, stop_price: Any = None, tif: str | TimeInForce = "DAY", outside_rth: bool = False,
           project: str | None = None) -> Ticket:
        """From typed text, or ``BadInput`` naming the field that is wrong."""
        try:
            side = Side(str(side).strip().upper())
        except ValueError:
            raise BadInput(f"side must be BUY or SELL, got {side!r}") from None
        kind = str(order_type).strip().upper().replace("_", " ")
        try:
            order_type = OrderType(kind)
        except ValueError:
            raise BadInput(f"order type must be one of {', '.join(t.value for t in OrderType)}, got {order_type!r}") from None
        try:
            tif = TimeInForce(str(tif).strip().upper())
        except ValueError:
            raise BadInput(f"time in force must be one of {', '.join(t.value for t in TimeInForce)}, got {tif!r}") from None
        ticket = cls(str(symbol or "").strip().upper(), side, _decimal("quantity", quantity), _decimal("notional", notional),
                     order_type, _decimal("limit price", limit_price), _decimal("stop price", stop_price), tif,
                     bool(outside_rth), (project or "").strip() or None)
        ticket.spec  # noqa: B018 - refuses a symbol the console cannot trade, now
        ticket.check_fields()
        return ticket

    @property
    def spec(self) -> ContractSpec:
        if not self.symbol or any(c.isspace() for c in self.symbol):
            raise BadInput(f"{self.symbol!r} is not a symbol: type a ticker such as AAPL, or SAP@IBIS:EUR")
        spec = spec_of(self.symbol)
        # the snapshot import's rule: a symbol IB cannot have is said so here, not asked of IB
        # and answered "unknown contract" as if it were only a ticker IB does not list
        if len(spec.symbol) > MAX_SYMBOL_LENGTH or not SYMBOL_RE.match(spec.symbol):
            raise BadInput(f"malformed symbol {spec.symbol!r}: a symbol is letters and digits, parts joined by "
                           "'.', '/' or '-' (AAPL, BRK.B, or SAP@IBIS:EUR)")
        problem = contract_problem(spec)
        if problem is not None:
            raise BadInput(f"{spec.key}: {problem[1]}")
        return spec

    def check_fields(self) -> None:
        if (self.quantity is None) == (self.notional is None):
            raise BadInput("give a quantity (shares) or a notional amount, not both")
        if self.quantity is not None and self.quantity != self.quantity.to_integral_value():
            raise BadInput(must_be_said(self.quantity, "a whole number", name="quantity"))
        for name, value in (("quantity", self.quantity), ("limit price", self.limit_price), ("stop price", self.stop_price)):
            _check_storable(name, value)
        if self.order_type.has_limit and self.limit_price is None:
            raise BadInput(f"a {self.order_type} order needs a limit price")
        if self.order_type.has_stop and self.stop_price is None:
            raise BadInput(f"a {self.order_type} order needs a stop price")
        # a price typed for a type that does not use it is refused, never dropped: a limit given
        # with the default MKT went as a market order, one given to a STP as a plain stop
        if self.limit_price is not None and not self.order_type.has_limit:
            raise BadInput(f"a {self.order_type} order takes no limit price (got {self.limit_price}): "
                           "make it a LMT or STP LMT order, or leave the limit out")
        if self.stop_price is not None and not self.order_type.has_stop:
            raise BadInput(f"a {self.order_type} order takes no stop price (got {self.stop_price}): "
                           "make it a STP or STP LMT order, or leave the stop out")
        if self.outside_rth and not self.order_type.has_limit:
            raise BadInput("outside regular trading hours takes a limit order (LMT or STP LMT): IB holds a market order until the open")

    def sent_fields(self) -> Ticket:
        """Without the prices its order type does not use (a MKT order carries no limit)."""
        return replace(self, limit_price=self.limit_price if self.order_type.has_limit else None,
                       stop_price=self.stop_price if self.order_type.has_stop else None)

    def to_dict(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {"symbol": self.symbol, "side": str(self.side), "quantity": text(self.quantity), "notional": text(self.notional),
                "order_type": str(self.order_type), "limit_price": text(self.limit_price), "stop_price": text(self.stop_price),
                "tif": str(self.tif), "outside_rth": self.outside_rth, "project": self.project}


@dataclass(frozen=True, slots=True)
class TicketQuote:
    key: str
    price: Decimal | None  # what the check values the order at
    kind: str  # live | delayed | frozen | delayed_frozen | close
    quote: Quote | None  # the streamed quote when the listing is on the watchlist
    tick: Decimal
    # why the prices shown no longer move: the listing's stream was refused or ended by IB
    not_following: str | None = None

    def with_quote(self, quote: Quote) -> TicketQuote:
        """The same listing after a new tick (the ticket follows the stream); a quote saying its
        stream was refused or ended keeps the last prices, said to be no longer followed."""
        if quote.refused is not None:
            return self.not_followed(quote.refused)
        return TicketQuote(self.key, quote.price if quote.price is not None else self.price, quote.kind, quote, self.tick)

    def suggested_stops(self) -> dict[str, Decimal | None]:
        """The stop price a new ticket starts at, by side (services.core.replace_rules.suggested_stop):
        below the market for a SELL, above it for a BUY. It started at the market price, so a STP
        sent as suggested triggered at once (the ticket's own note said so)."""
        return {side: suggested_stop(side, self.price, self.tick) for side in ("BUY", "SELL")}

    def suggested_stop_limits(self) -> dict[str, Decimal | None]:
        """The limit price a new STP LMT ticket starts at, by side: beyond the side's suggested
        stop (services.core.replace_rules.suggested_stop_limit), a SELL's below it, a BUY's above.
        It started at the market price, the near side of the stop: once a SELL's stop triggered,
        its limit above the market waited for a climb back and the order probably never filled."""
        stops = self.suggested_stops()
        return {side: suggested_stop_limit(side, stops[side], self.tick) for side in ("BUY", "SELL")}

    def not_followed(self, why: str) -> TicketQuote:
        """The prices as they are, no longer following the market (``why``: the broker's word)."""
        return replace(self, not_following=why)

    def describe(self) -> str:
        """Two lines: the prices, then how they were obtained and the tick grid; a third says why
        they do not follow the market, when they do not."""
        text = self._prices()
        return text if self.not_following is None else f"{text}\nnot following the market: {self.not_following}"

    def _prices(self) -> str:
        q = self.quote
        source = f"{self.kind.replace('_', ' ')} data · tick {self.tick}"

        def price(value: Decimal | None) -> str:  # on the tick's places: 415.50, not 415.5
            return "—" if value is None else str(value.quantize(self.tick) if value % self.tick == 0 else value)

        if q is not None and (q.bid or q.ask or q.last):
            change = "" if q.change is None else f"change {q.change:+.2f} · "
            return f"{self.key}: Bid {price(q.bid)} × Ask {price(q.ask)} · Last {price(q.last)}\n{change}{source}"
        if self.price is None:
            return f"{self.key}: no price from the broker"
        return f"{self.key}: {price(self.price)}\n{source}"


def _order_words(d: OrderDraft) -> str:
    # its type and prices as every other line names an order (order_kind: "LMT 405.00", a price as
    # the blotter writes it, 405 typed reads 405.00); it said "LMT limit 405.00"
    return f"{d.quantity.normalize():f} {d.key} {order_kind(str(d.order_type), d.stop_price, d.limit_price)} {d.tif}"


@dataclass(frozen=True, slots=True)
class SentTicket:
    """A ticket's order as it went (``ManualOrders.send``'s ``on_sent``): the order as its plan
    froze it, its run and its client order id."""

    run_id: int
    draft: OrderDraft
    client_order_ids: tuple[str, ...]

    def line(self) -> str:
        """``Sent BUY 7 AAPL LMT 100.25 DAY: run 12, order M-...``: the window's ticket and
        activity log and the ``order`` command say it alike (the window said "Sent BUY AAPL",
        neither the shares nor the limit, the command nothing until the order was done)."""
        return (f"Sent {self.draft.side} {_order_words(self.draft)}: run {self.run_id}, "
                f"order {', '.join(self.client_order_ids)}")


def _why_not_sent(refusal: Exception) -> str:
    """Why a ticket's order did not go: a run's "no order could be sent (why); not sent: <ids>"
    (``NothingSent``) is said by its why alone, a ticket having one order, which is not sent."""
    return refusal.why if isinstance(refusal, NothingSent) else str(refusal)


def not_sent_line(refusal: Exception) -> str:
    """A ticket's send refused, in one line: "Order not sent: blocked by risk (...)". The window's
    activity log and the ``order`` command say it alike (the command said the refusal bare,
    the window composed this line itself; a refusal at placeOrder read "Order not sent: no order
    could be sent (connection lost: ...); not sent: <its client order id>")."""
    return f"Order not sent: {_why_not_sent(refusal)}"


def ticket_not_sent(refusal: Exception) -> str:
    """The same refusal on the ticket itself, the order it shows being the one not sent:
    "Not sent: blocked by risk (...)"."""
    return f"Not sent: {_why_not_sent(refusal)}"


def ticket_not_checked() -> str:
    """A ticket's Send before any verdict was shown (what the trader confirmed is what goes, so
    nothing goes unchecked): the ticket says why nothing went."""
    return "Not sent: check the ticket first."


def ticket_live_not_typed() -> str:
    """A LIVE ticket whose confirmation was closed without the word: nothing went (the service
    would refuse it too, in its own words: ``LiveConfirmRequired``)."""
    return "Not sent: LIVE was not typed."


@dataclass(frozen=True, slots=True)
class TicketCheck:
    """The verdict shown before sending: the order as it would go, risk and market health."""

    ticket: Ticket
    draft: OrderDraft
    report: RiskReport
    health: HealthReport
    inputs: MarketInputs

    @property
    def blocked(self) -> bool:
        return self.report.blocked

    @property
    def may_send(self) -> bool:
        return not self.report.blocked and self.health.healthy

    def is_for(self, ticket: Ticket) -> bool:
        """Whether this is the verdict on ``ticket`` (what the trader confirmed is what goes)."""
        return self.ticket == ticket

    def action(self) -> str:
        """What sending does, in three words: ``BUY 45 AAPL`` (the Send button's label)."""
        return f"{self.draft.side} {self.draft.quantity.normalize():f} {self.draft.key}"

    def order_words(self) -> str:
        """The order itself: ``7 AAPL LMT 100.25 DAY`` (the verdict's and the sent line's)."""
        return _order_words(self.draft)

    def confirm_rows(self) -> tuple[tuple[str, str], ...]:
        """(label, text) rows of the LIVE confirmation naming the order the word is typed for,
        whose book it goes to and its value as the ticket said it and the risk rules measured it
        (beside them, the count and the gross notional at the reference price, as a plan's: a
        limit ticket's value is its limit's, and the word was typed under a figure the ticket
        did not show)."""
        rows = [("Project", self.ticket.project or DEFAULT_PROJECT), ("Order", f"{self.draft.side} {self.order_words()}")]
        value = value_words((self.draft,), self.inputs.base_currency)
        if value:
            rows.append(("Value", value))
        return tuple(rows)

    def summary(self) -> str:
        """The order as it would go, in one line: quantity, symbol, type, prices, value."""
        d = self.draft
        value = self._value_words()
        notes = "; ".join(note for note in (self._working_note(), self._new_project_note(), self._account_note()) if note)
        after = (f" · position {d.current_quantity.normalize():f} → {d.target_quantity.normalize():f}"
                 f" in {self.ticket.project or DEFAULT_PROJECT}'s book{f' ({notes})' if notes else ''}")
        return f"{self.order_words()}{value}{after}{self._stop_note()}"

    def _held(self) -> Decimal:
        """What the project's book holds of the listing now, its working orders left out."""
        return self.inputs.positions.get(self.draft.key, Decimal(0))

    def _working_note(self) -> str:
        """The project's working orders in the listing, which the position before the order
        counts as filled (services.execution.order_risk.order_draft, as a run's preview): the
        position said ignored them, so a SELL 5 with a SELL 5 of 29 shares working read
        "position 29 → 24", and a trader sold what was already being sold. Said in the preview's
        words (services.core.wording.working_note)."""
        working = self.inputs.working_in(self.draft.key)
        if not working:
            return ""
        note = working_note(len(working), net_quantities(working), sum(1 for o in working if o.unsent))
        return f"{self._held().normalize():f} held; {note}"

    def _value_words(self) -> str:
        """`` · about 1,000.00 USD``: the value the risk rules measured and how it bounds the money
        (services.core.order_values.value_words: the one wording of it, a plan's LIVE confirmation's too)."""
        words = value_words((self.draft,), self.inputs.base_currency)
        return f" · {words}" if words else ""

    def _new_project_note(self) -> str:
        """A project no one has stored yet (a name typed in the ticket's project field): sending
        creates it. Said before the send: a name mistyped ("Demo momentun") made a new project
        with an empty book and its own capital rules, and nothing said so."""
        read_as_a_project = self.inputs.account_positions is not None  # for_project read the ticket's project
        return "a new project" if read_as_a_project and self.inputs.project_id is None else ""

    def _account_note(self) -> str:
        """The account's position when the project's book holds another (the project's rules
        read its book: a sale of shares another project holds goes short here)."""
        held, _ = self.inputs.account_view
        account = held.get(self.draft.key, Decimal(0))
        return "" if account == self._held() else f"the account holds {account.normalize():f}"

    def _stop_note(self) -> str:
        """A stop the market is already past triggers the moment it arrives: said, not refused
        (a trader may mean it), so that it is never a surprise."""
        d = self.draft
        if d.stop_price is None or d.reference_price is None:
            return ""
        past = d.reference_price >= d.stop_price if d.side is Side.BUY else d.reference_price <= d.stop_price
        if not past:
            return ""
        # both as the blotter writes prices, to one number of places: it read "the market (230) is
        # past the stop 230.00", the reference as the broker gave it beside the stop as suggested
        places = price_places((d.reference_price, d.stop_price))
        return (f"\nNote: the market ({price(d.reference_price, places)}) is past the stop "
                f"{price(d.stop_price, places)}: it triggers at once")

    def reasons(self) -> list[str]:
        """Why it may not go: risk's blocks, then the market's problems."""
        lines = [b.said for b in self.report.all_blocks()]  # the risk panel's words
        return lines + [f"market: {r}" for r in self.health.reasons]


class ManualOrders:
    """``check(ticket)`` and ``send(ticket, live_token)``; the quote book prices watched listings."""

    def __init__(self, service: TradeService, quotes=None) -> None:
        self.service = service
        self.provider = service.provider
        self.db = service.db
        self.quotes = quotes

    # ------------------------------------------------------------------ the broker's side
    async def market_inputs(self, spec: ContractSpec) -> MarketInputs:
        return await market_inputs(self.provider, spec)

    async def quote_for(self, symbol: str) -> TicketQuote:
        """What the ticket shows beside the symbol: the streamed quote when the listing is
        watched, the price the check will use, and the tick grid (``BadInput`` for a symbol the
        console cannot trade, ``BrokerError`` for one the broker does not know)."""
        spec = Ticket(symbol.strip().upper(), Side.BUY).spec
        price = await market_price(self.provider, spec)
        kind = getattr(self.provider, "quote_info", {}).get(spec.key, (None, "live"))[1]
        quote = self.quotes.latest(spec.key) if self.quotes is not None else None
        tick = None
        lookup = getattr(self.provider, "min_tick", None)
        if lookup is not None:
            try:
                tick = await lookup(spec)
            except ExecutionError as exc:
                log.warning("%s: no minimum tick from the broker (%s)", spec.key, exc)
        return TicketQuote(spec.key, price, kind, quote, tick or us_tick(price))

    async def health(self, ticket: Ticket, spec: ContractSpec) -> HealthReport:
        gate = self.service.health
        if gate is None:
            return HealthReport()
        return await gate.check([TradeIntent(spec, ticket.order_type)], outside_rth=ticket.outside_rth)

    async def flatten(self, symbol: str, project: str) -> tuple[str, Decimal] | None:
        """Flatten's order for ``project``'s book in ``symbol`` (side, shares): what it holds once
        its working orders in the listing fill, as the ticket's check counts them
        (services.execution.order_risk.flatten_in); None when that is flat."""
        spec = Ticket(symbol.strip().upper(), Side.BUY).spec
        return await self.service._db(flatten_in, self.db, self.provider, project, spec.key)

    # ------------------------------------------------------------------ the order
    def draft(self, ticket: Ticket, spec: ContractSpec, inputs: MarketInputs, coid: str) -> OrderDraft:
        """The ticket as the one order of a plan (``BadInput`` for prices off the tick grid, or
        a notional that buys no share)."""
        ticket = ticket.sent_fields()
        for name, value in (("limit", ticket.limit_price), ("stop", ticket.stop_price)):
            problem = off_grid_problem(spec.key, name, value, inputs.tick)  # the one grid rule (replace's too)
            if problem is not None:
                raise BadInput(problem)

        def drafted(quantity: Decimal) -> OrderDraft:
            return order_draft(spec, ticket.side, quantity, ticket.order_type, inputs, coid, limit_price=ticket.limit_price,
                               stop_price=ticket.stop_price, tif=str(ticket.tif), outside_rth=ticket.outside_rth,
                               count_working=True)

        quantity = ticket.quantity
        if quantity is None:
            assert ticket.notional is not None  # check_fields: one of the two
            base = inputs.base_currency
            if inputs.price is None or inputs.rate is None:
                raise BadInput(f"{spec.key}: no price (or exchange rate) to turn {ticket.notional} {base} into shares")
            # the shares whose value as the rules measure it (a limit at its limit) is at most the
            # amount: the ticket's stated value and the order-size cap's then never exceed it
            one_share = drafted(Decimal(1))
            shares = shares_for_amount(ticket.notional, one_share)
            at = f"at {(order_size(one_share) or Decimal(0)).normalize():f} {base} a share"
            if shares is None or shares <= 0:
                raise BadInput(f"{spec.key}: {ticket.notional} {base} buys no whole share {at}")
            if shares.adjusted() >= _storable_digits("quantity"):
                raise BadInput(f"{spec.key}: {ticket.notional} {base} buys {shares:f} shares {at}: "
                               f"an order's quantity must be below 1e{_storable_digits('quantity')}")
            quantity = shares
        return drafted(quantity)

    async def check(self, ticket: Ticket) -> TicketCheck:
        """The verdict before sending, against the ticket's project's book as a run's preview
        meets it (services.execution.order_risk.for_project): nothing is stored, nothing sent."""
        ticket.check_fields()
        spec = ticket.spec
        draft, report, inputs = await self.service._db(
            check_order_in, self.db, self.provider, lambda seen: self.draft(ticket, spec, seen, "TICKET-CHECK"),
            await self.market_inputs(spec), project=ticket.project or DEFAULT_PROJECT)
        return TicketCheck(ticket, draft, report, await self.health(ticket, spec), inputs)

    # ------------------------------------------------------------------ sending
    async def send(self, ticket: Ticket, live_token: str | None = None, *, require_market_health: bool = True,
                   confirmed: TicketCheck | None = None,
                   on_sent: Callable[[SentTicket], None] | None = None) -> ExecuteResult:
        """Check again and send: a run of its own, a one-order plan, the run executor. Refused
        like a run: ``LiveConfirmRequired`` (live mode without the word), ``TradingHalted``,
        ``RiskBlocked`` (the run is BLOCKED), ``MarketUnhealthy`` (the run is CANCELED).
        ``confirmed``: the check the trader saw and confirmed (the window's ticket): exactly its
        shares go, or nothing (a notional ticket is not turned into shares again at a price that
        moved since; ``BadInput`` when the ticket is not the one checked). Without it (the
        ``order`` command) a notional becomes shares at the price of the moment. ``on_sent``:
        told the order as it went (``SentTicket``) as its placeOrder is written, before any
        answer of the broker is taken in (the "Sent" line comes before its fill's); an order the
        broker had already (nothing written now) is told once that is known."""
        if confirmed is not None:
            if not confirmed.is_for(ticket):
                raise BadInput("the ticket changed after its check: check it again")
            ticket = replace(ticket, quantity=confirmed.draft.quantity, notional=None)
        service = self.service
        mode = TradeMode(self.provider.mode)
        service._check_live(mode, live_token)  # first: nothing is stored for a live ticket without the word
        ticket.check_fields()
        spec = ticket.spec
        run = await service.create_run(ticket.project or DEFAULT_PROJECT, None, mode, {"ticket": ticket.to_dict()},
                                       live_token=live_token, new_run=True)
        try:
            inputs = await self.market_inputs(spec)
            plan = await service._db(self._store_plan, run.id, ticket, spec, inputs)
            [draft] = plan.orders  # the order as it goes: a notional ticket's shares fixed now
            async with service._executing_guard(run.id):
                await service._refuse_if_halted(run.id)
                result = await service._send_plan(
                    plan, check_drift=False, require_market_health=require_market_health, outside_rth=ticket.outside_rth,
                    on_sent=None if on_sent is None else (lambda coid: on_sent(SentTicket(run.id, draft, (coid,)))))
            if not result.sent and not result.already_known:
                # stopped before its one order went (the connection, a halt seen at the sender's
                # check, the lease): not sent, said as a refusal, never as "Sent"
                raise BrokerError(result.stopped or "stopped before it went out")  # said "Order not sent: ..." (not_sent_line)
            if result.already_known and not result.sent and on_sent is not None:
                on_sent(SentTicket(run.id, draft, result.already_known))
            return result
        except (BadInput, MarketUnhealthy, TradingHalted, PlanRefused) as exc:
            await service._db(self._cancel_run, run.id, str(exc))  # nothing was sent: the run ends here
            raise
        except BrokerError as exc:
            # "no order could be sent": the trader is told the ticket was not sent, so it is not;
            # its order, given back NEW, would otherwise be taken by recovery for a stuck one and
            # sent later, and a ticket entered again would make two. (An order whose placeOrder
            # may have left stays SENDING, for reconciliation, and is not touched.)
            # the order's "not sent: <why>" and the run's message: a run's "no order could be sent
            # (...); not sent: <id>" there read "not sent: no order could be sent (...); not sent: <id>"
            why = _why_not_sent(exc)
            await self._withdraw_unsent(run.id, why)
            await service._db(self._cancel_run, run.id, why)
            raise

    @retry_lock_conflicts  # one unit of work of the database alone, before anything is sent: runs again from scratch
    def _store_plan(self, run_id: int, ticket: Ticket, spec: ContractSpec, inputs: MarketInputs) -> Plan:
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            account = self.provider.account or None
            inputs = for_project(session, inputs, run.project_id, account)  # the plan holds the project's book, as a run's
            coid = client_order_id(run.id, spec.symbol, ticket.side, 1, SettingsRepository(session).installation_id())
            draft = self.draft(ticket, spec, inputs, coid)
            report = check_order(session, self.provider.mode, draft, inputs, account=account)
            prices = {draft.key: inputs.price} if inputs.price is not None else {}
            plan = PlanRepository(session).add(
                run_id=run.id, project_id=run.project_id, snapshot_id=None, mode=TradeMode(run.mode),
                account=self.provider.account or None, portfolio_value=inputs.portfolio_value, verdict=str(report.verdict),
                orders=[draft], prices=prices, positions=dict(inputs.positions), params={"ticket": ticket.to_dict()},
                skipped=[], risk=report.to_dict())
            # its base currency and rates as a plan's run keeps them: what its TCA's totals are in
            run.params = {**(run.params or {}), "risk": report.to_dict(), "portfolio_value": str(inputs.portfolio_value),
                          "fx": {"base": inputs.base_currency, "rates": {c: str(r) for c, r in sorted(inputs.fx_rates.items())}},
                          "previewed_at": datetime.now(UTC).isoformat()}
            # its decision and every risk rule's verdict on the run's trail, as a preview's are,
            # covered by the plan's audit entry (the Decisions panel, ``trail``, ``audit verify``)
            trail_hash = TrailRepository(session).record_preview(
                plan_id=plan.id, run_id=run.id, signals=(), order_decisions=[ticket_decision(draft)],
                risk_decisions=risk_decisions(report))
            audit(self.db, self.service.actor, AuditAction.PLAN_CREATE, "order_plan", plan.id,
                  {"run_id": run.id, "hash": plan.content_hash, "trail_hash": trail_hash, "orders": 1,
                   "gross_notional": plain(plan.gross_notional), "verdict": plan.verdict, "ticket": ticket.to_dict()},
                  session=session)
            return plan

    async def _withdraw_unsent(self, run_id: int, reason: str) -> None:
        """Cancel the run's orders that never reached the broker (the writer ends the run)."""
        writer = self.service.writer
        for never_sent in await self.service._db(self._never_sent, run_id):
            writer.submit(LocalOrderEvent(never_sent, EventKind.CANCEL_REQUESTED, EventSource.SYSTEM,
                                          message=f"not sent: {reason}"[:2000]))
        await writer.flush()

    def _never_sent(self, run_id: int) -> list[str]:
        with self.db.session() as session:
            return [o.client_order_id for o in OrderRepository(session).list(run_id=run_id, status=[OrderState.NEW])
                    if not o.ib_order_id and not o.ib_perm_id]

    def _cancel_run(self, run_id: int, reason: str) -> None:
        with self.db.unit_of_work() as session:
            runs = RunRepository(session)
            run = runs.get(run_id)
            if run.status is RunStatus.QUEUED or (run.status is RunStatus.CANCELED and not run.message):
                runs.update_status(run_id, RunStatus.CANCELED, message=reason[:2000])  # why, on the run too
