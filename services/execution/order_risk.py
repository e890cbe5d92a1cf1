"""One order's risk check, the same for every way one order goes out without a run's preview:
the order ticket (services.execution.manual), a trader's replace of a working order
(services.execution.replace_order) and recovery's re-placing of a dead one (services.execution.recovery).

All three read the broker at one moment (``market_inputs``), make the order a draft
(``order_draft``) and meet the rules, limits and facts a run meets (``check_order``: the
pipeline's risk half, ``services.core.pipeline.check_orders``, with the facts from the database),
the account-level rules included (every project's working orders, the account's daily order
count, its buying power), as a run's preview meets them.
Before, a replace had its own copy of the check: it never counted the day's orders and blocked a
missing exchange rate its own way.

A replacement stands for the order it replaces: that order is among the day's orders already
(``replacing``), so the replacement is not counted twice against ``max_daily_orders``, and what
is left of it working is not counted beside the replacement in the account's exposure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.books import (
    WorkingOrder,
    buying_quantities,
    held_in_books,
    held_marks,
    net_quantities,
    other_holders,
    project_positions,
    working_orders,
)
from services.core.account_risk import AccountView
from services.core.books import flatten_order, held_in_other_books, held_unassigned, project_money
from services.core.builder import CENT, ONE, SUB_PENNY, OrderDraft, held_as_if_filled
from services.core.contracts import ContractSpec, MissingRate, rate_to_base
from services.core.pipeline import check_orders
from services.core.plans import PriceRef
from services.core.risk import RiskParamError, RiskReport
from services.core.trading_hours import trading_day_start
from services.db.models import Project
from services.db.repositories import SettingsRepository
from services.db.risk_facts import load_risk_facts
from services.domain import OrderState, OrderType, Side, TradeMode

from .errors import BadInput, ExecutionError

log = logging.getLogger(__name__)


def us_tick(price: Decimal | None) -> Decimal:
    """The US tick grid when the broker gives no minTick: 0.01 from 1 USD, 0.0001 below."""
    return SUB_PENNY if price is not None and price < ONE else CENT


@dataclass(frozen=True, slots=True)
class MarketInputs:
    """What one order's check reads from the broker, at one moment."""

    price: PriceRef | None
    positions: dict[str, Decimal]
    rate: Decimal | None  # base units per unit of the listing's currency (None: unknown)
    base_currency: str
    fx_rates: dict[str, Decimal]
    portfolio_value: Decimal
    tick: Decimal
    buying_power: Decimal | None = None  # the account's, in the base currency (None: not reported)
    # after ``for_project``: ``positions`` and ``portfolio_value`` are the project's book and
    # money; these keep the account's (what the account-level rules read)
    account_positions: dict[str, Decimal] | None = None
    net_liquidation: Decimal | None = None
    project_id: int | None = None  # the project whose book ``positions`` is (None: no project's, or not stored yet)
    # after ``for_project``: the project's own orders still working (or stored and still to be
    # sent), which its rules count as if they filled (services.books.working_orders)
    working: tuple[WorkingOrder, ...] = ()
    project_name: str | None = None  # after ``for_project``: the project's name (stored or not yet)

    def working_in(self, key: str) -> tuple[WorkingOrder, ...]:
        """The project's working orders in the listing ``key``."""
        return tuple(o for o in self.working if o.key == key)

    @property
    def account_view(self) -> tuple[dict[str, Decimal], Decimal]:
        """(the account's positions, its net liquidation value)."""
        if self.account_positions is None:
            return self.positions, self.portfolio_value
        return self.account_positions, self.net_liquidation if self.net_liquidation is not None else self.portfolio_value


@dataclass(frozen=True, slots=True)
class Replacing:
    """The order a replacement stands for: when it was created and its state (the day's count
    holds it unless it was created before the trading day or was BLOCKED), its client order id
    (what is left of it working is what the replacement replaces) and its project."""

    created_at: datetime | None
    status: OrderState
    client_order_id: str | None = None
    project_id: int | None = None  # the replacement's project too

    def counted_today(self, now: datetime | None = None) -> bool:
        if self.created_at is None or self.status is OrderState.BLOCKED:
            return False
        created = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        return created >= trading_day_start(now)


async def market_price(provider, spec: ContractSpec) -> Decimal | None:
    return (await provider.market_prices([spec])).get(spec.key)


async def min_tick_of(provider, spec: ContractSpec) -> Decimal | None:
    """The listing's minimum tick as the broker gives it (its contract details); None when it
    cannot say (the caller's grid: the US one, or IB's own check)."""
    lookup = getattr(provider, "min_tick", None)
    if lookup is None:
        return None
    try:
        return await lookup(spec)
    except ExecutionError as exc:  # no contract details
        log.warning("%s: no minimum tick from the broker (%s)", spec.key, exc)
        return None


async def market_inputs(provider, spec: ContractSpec, *, ask_tick: bool = True, price: Decimal | None = None) -> MarketInputs:
    """The listing's price (with when and how it was seen; ``price``: the one just asked with
    ``market_price``, not asked again), the account's positions, the exchange rate, the net
    liquidation value and (``ask_tick``) the listing's minimum tick."""
    if price is None:
        price = await market_price(provider, spec)
    seen = getattr(provider, "quote_info", {}).get(spec.key, (datetime.now(UTC), "live"))
    positions = {p.key: p.quantity for p in await provider.positions() if p.quantity}
    fx = await provider.exchange_rates()
    try:
        rate: Decimal | None = rate_to_base(spec.currency, fx.rates, fx.base)
    except MissingRate:
        rate = None  # the risk engine blocks an order it cannot value
    portfolio_value = await provider.net_liquidation() or Decimal(0)
    buying_power = await provider.buying_power()
    tick = await min_tick_of(provider, spec) if ask_tick else None
    return MarketInputs(None if price is None else PriceRef(price, *seen), positions, rate, fx.base, dict(fx.rates),
                        Decimal(portfolio_value), tick or us_tick(price), buying_power)


def for_project(session: Session, inputs: MarketInputs, project: int | str | None, account: str | None) -> MarketInputs:
    """``inputs`` as a run's preview of ``project`` reads them (docs/project-books.md): the
    project's rules meet its own book (not another project's shares, nor the account's
    unassigned ones) and its capital (the account's net liquidation when it has none); the
    account-level rules keep the account's positions and value. ``project`` an id or a name (a
    name not stored yet: an empty book); None: the account's view unchanged."""
    if project is None or inputs.account_positions is not None:
        return inputs
    row = _project_row(session, project)
    positions = {} if row is None else {k: q for k, q in project_positions(session, row.id, account).items() if q}
    working = () if row is None else tuple(o for o in working_orders(session, account) if o.project_id == row.id)
    money = project_money(None if row is None else row.capital, inputs.portfolio_value)
    assert money is not None  # the account's value is always given
    return replace(inputs, positions=positions, portfolio_value=money,
                   account_positions=inputs.positions, net_liquidation=inputs.portfolio_value,
                   project_id=None if row is None else row.id, working=working,
                   project_name=row.name if row is not None else project if isinstance(project, str) else None)


def held_once_filled(positions: dict[str, Decimal], working: Iterable[WorkingOrder], key: str) -> Decimal:
    """What a book holds of the listing ``key`` once its ``working`` orders in it fill: the
    position a new order of the ticket starts from (``order_draft(count_working=True)``) and the
    one Flatten takes to zero (``flatten_in``)."""
    own = net_quantities(o for o in working if o.key == key)
    return held_as_if_filled(positions, own).get(key, Decimal(0))


def flatten_in(db, provider, project: int | str, key: str) -> tuple[str, Decimal] | None:
    """The order that takes ``project``'s book in the listing ``key`` to zero once its working
    orders in it fill (side, shares), on the connected ``provider``'s account; None when that
    leaves it flat. What the positions' Flatten puts in the ticket: with 29 held and a SELL 5
    working, SELL 24 (a SELL 29 the ticket's check reads "24 -> -5", and the short-sale rule
    blocks). Blocking: run it as the caller runs its database work."""
    account = provider.account or None
    with db.session() as session:
        row = _project_row(session, project)
        if row is None:
            return None
        working = [o for o in working_orders(session, account) if o.project_id == row.id]
        return flatten_order(held_once_filled(project_positions(session, row.id, account), working, key))


def order_draft(spec: ContractSpec, side: Side, quantity: Decimal, order_type: OrderType, inputs: MarketInputs,
                client_order_id: str, *, limit_price: Decimal | None = None, stop_price: Decimal | None = None,
                tif: str = "DAY", outside_rth: bool = False, count_working: bool = False) -> OrderDraft:
    """One order as the risk engine sees it: valued at the price of the moment, the position
    before and after it. ``count_working``: the position before it counts the project's working
    orders in the listing as if they filled (``inputs.working``, after ``for_project``), as a run's
    preview builds its drafts (services.core.builder.held_as_if_filled): a new order's (the
    ticket's); not a replacement's, which stands for one of those orders itself."""
    reference = None if inputs.price is None else inputs.price.price
    rate = inputs.rate if inputs.rate is not None else ONE
    current = held_once_filled(inputs.positions, inputs.working_in(spec.key) if count_working else (), spec.key)
    return OrderDraft(
        sequence=1, symbol=spec.symbol, side=side, quantity=quantity, order_type=order_type, limit_price=limit_price,
        reference_price=reference, notional=None if reference is None else quantity * reference * rate,
        current_quantity=current, target_quantity=current + side.sign * quantity, target_weight=None,
        client_order_id=client_order_id, sec_type=spec.sec_type, exchange=spec.exchange, currency=spec.currency,
        primary_exchange=spec.primary_exchange, fx_rate=rate, stop_price=stop_price, tif=tif, outside_rth=outside_rth)


def check_order(session: Session, mode: TradeMode | str, draft: OrderDraft, inputs: MarketInputs, *,
                account: str | None = None, replacing: Replacing | None = None) -> RiskReport:
    """The verdict on one order: the risk limits of the settings, the trading state and the
    day's order count from the database, the project's book and money as ``inputs`` hold them
    (``for_project``), the prices as ``inputs`` saw them (delayed prices block
    in live mode unless ``allow_delayed_prices_live``); then the account-level rules with every
    project's orders working on ``account`` (the connected one), or stored by a run and still to
    be sent (``services.books.working_orders``), counted as if they filled. The
    project's rules count its own working orders as if they filled too, as a run's preview does
    (docs/project-books.md): a ticket selling what a working sell already sells goes short."""
    settings = SettingsRepository(session)
    allow_delayed = TradeMode(mode) is TradeMode.PAPER or bool(settings.execution().get("allow_delayed_prices_live"))
    facts = load_risk_facts(session, [draft.client_order_id], settings=settings)
    if replacing is not None and replacing.counted_today() and facts.orders_today:
        facts = replace(facts, orders_today=facts.orders_today - 1)
    account_positions, net_liquidation = inputs.account_view
    exposure = dict(account_positions)
    except_orders = (replacing.client_order_id,) if replacing is not None and replacing.client_order_id else ()
    in_flight = working_orders(session, account, except_orders=except_orders)
    for key, quantity in net_quantities(in_flight).items():
        exposure[key] = exposure.get(key, Decimal(0)) + quantity
    own = [o for o in in_flight if inputs.project_id is not None and o.project_id == inputs.project_id]
    # the holdings at their stored marks, the order's listing at the market: gross exposure
    # counts the whole book and account, as a run's preview (which quotes every listing held)
    marks = held_marks(session, account)
    view = AccountView(net_liquidation, exposure, marks, facts.orders_today, inputs.buying_power)
    price = inputs.price
    try:
        report = check_orders(
            [draft], portfolio_value=inputs.portfolio_value, positions=inputs.positions, working=net_quantities(own),
            working_buys=buying_quantities(own),
            prices={**marks, draft.key: price.price} if price is not None else marks, limits=settings.risk_defaults(), facts=facts,
            price_times={draft.key: price.time} if price is not None else {},
            price_kinds={draft.key: price.kind} if price is not None else {},
            allow_delayed=allow_delayed, unpriced_symbols=(draft.key,) if inputs.rate is None else (),
            base_currency=inputs.base_currency, fx_rates=inputs.fx_rates, account=view)
    except RiskParamError as exc:  # a stored limit no rule of this version checks: its message says how to remove it
        raise BadInput(str(exc)) from None
    # a replacement stays its own project's order: where else the shares are is no way out for it
    return report if replacing is not None else _where_the_shares_are(session, report, draft, inputs, account)


def _where_the_shares_are(session: Session, report: RiskReport, draft: OrderDraft, inputs: MarketInputs,
                          account: str | None) -> RiskReport:
    """A new sale the short-sale rule blocks in its project's book while the account's shares
    are in another project's: its block says where they are and how to sell them
    (services.core.books.held_in_other_books), for the ticket's verdict, the ``order`` command's
    refusal and the plan's stored risk alike. `order --side SELL` without --project (the manual
    project) said "selling 5 of 0 held would go short" of shares project desk held, and nothing
    more. Shares the account holds in no project's book (bought in TWS: unassigned) are said
    too, with the way to assign them (services.core.books.held_unassigned)."""
    blocks = report.order_blocks.get(0, ())
    if draft.side is not Side.SELL or not any(b.rule == "short_sale" for b in blocks):
        return report
    hints = [held_in_other_books(draft.key, other_holders(session, draft.key, account, inputs.project_id))]
    if inputs.project_name is not None:
        # the broker's position less every book's: shares the account holds in none (a fill of
        # another client is in no row of the database until a reconciliation books it)
        held = inputs.account_view[0].get(draft.key, Decimal(0))
        hints.append(held_unassigned(draft.key, inputs.project_name, held - held_in_books(session, draft.key, account)))
    hint = "; ".join(h for h in hints if h)
    if not hint:
        return report
    said = tuple(replace(b, message=f"{b.message}; {hint}") if b.rule == "short_sale" else b for b in blocks)
    return replace(report, order_blocks={**report.order_blocks, 0: said})


class OrderCheck(NamedTuple):
    """One order's check: the draft as the project's book sees it, the verdict, the inputs read."""

    draft: OrderDraft
    report: RiskReport
    inputs: MarketInputs


def check_order_in(db, provider, draft_of: Callable[[MarketInputs], OrderDraft], inputs: MarketInputs, *,
                   project: int | str | None = None, replacing: Replacing | None = None) -> OrderCheck:
    """``check_order`` in a read session of its own, for the connected ``provider``'s mode and
    account, of the order ``draft_of`` makes of the inputs as ``project``'s book sees them
    (``for_project``). Blocking: run it as the caller runs its database work."""
    account = provider.account or None
    with db.session() as session:
        inputs = for_project(session, inputs, project, account)
        draft = draft_of(inputs)
        return OrderCheck(draft, check_order(session, provider.mode, draft, inputs, account=account, replacing=replacing),
                          inputs)


def block_lines(report: RiskReport) -> tuple[str, ...]:
    """A report's blocks, one line each in the risk panel's words (``RuleResult.said``; a verdict
    shown before the click lists them)."""
    return tuple(b.said for b in report.all_blocks())


def block_reasons(report: RiskReport) -> str:
    """A blocked report's reasons in one line, as every refusal says them."""
    return "; ".join(block_lines(report))


def _project_row(session: Session, project: int | str) -> Project | None:
    """The project by its id or its name (None: no such project)."""
    if isinstance(project, int):
        return session.get(Project, project)
    return session.scalars(select(Project).where(Project.name == project)).one_or_none()
