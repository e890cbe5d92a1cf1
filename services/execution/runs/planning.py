"""Planning a run: the day's run of a snapshot (created once), its builder parameters and risk
overrides, and its preview (builder + risk) stored as a frozen plan."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast, overload

from sqlalchemy import Table, bindparam, func, null, select, update

from services.audit_actions import AuditAction
from services.books import WorkingOrder, buying_quantities, net_quantities, project_positions, working_orders
from services.core.account_risk import AccountView
from services.core.books import MONEY_LIMIT, MONEY_WHOLE_DIGITS, project_money
from services.core.builder import BUILDER_KEYS, BuildParams, Target, given_builder, params_from
from services.core.contracts import ContractSpec
from services.core.pipeline import build_and_check
from services.core.plans import Plan, PriceRef
from services.core.risk import RiskParamError
from services.core.snapshots import storage_problem
from services.core.trading_hours import NEW_YORK, trading_date
from services.core.typed_numbers import plain
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import DecisionSnapshot, OrderPlan, Project, TradeOrder, TradeRun
from services.db.plan_repository import PlanNotFound, PlanRepository
from services.db.repositories import (
    EquityRepository,
    NotFound,
    ProjectRepository,
    RunRepository,
    SettingsRepository,
)
from services.db.repositories.base import execute_many, fetch_first
from services.db.repositories.runs import PREVIEW_REFUSED
from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE, snapshot_items
from services.db.repositories.trail import TrailRepository
from services.db.risk_facts import load_backtest_risk_facts, load_risk_facts
from services.db.types import utcnow
from services.domain import OrderType, TradeMode

from ..audit import audit
from ..errors import BadInput, BrokerError, ExecutionError, Missing, UnknownContract
from ..listings import snapshot_specs
from .base import RunServiceBase
from .records import PlanSubject, PreviewResult, RunInfo, run_info
from .resumed_inputs import OPTIONS, RunInputs, Wording, refuse_differences

log = logging.getLogger(__name__)

MARKET_TZ = NEW_YORK


# what a preview reads and writes of its run and project, as plain columns of the tables (built
# once: an ORM object and its flush, even an ORM-enabled select, cost more than the statements
# themselves on SQLite)
_RUNS = cast(Table, TradeRun.__table__)
_PROJECTS = cast(Table, Project.__table__)
_SNAPSHOTS = cast(Table, DecisionSnapshot.__table__)
_SNAPSHOT_PROJECT = select(_SNAPSHOTS.c.project_id, _SNAPSHOTS.c.note).where(_SNAPSHOTS.c.id == bindparam("snapshot_id"))
_PROJECT_EXISTS = select(_PROJECTS.c.id).where(_PROJECTS.c.id == bindparam("project_id"))
_RUN_COLUMNS = (_RUNS.c.id, _RUNS.c.project_id, _RUNS.c.snapshot_id, _RUNS.c.mode, _RUNS.c.status, _RUNS.c.trade_date,
                _RUNS.c.params, _RUNS.c.message)
_RUN = select(*_RUN_COLUMNS).where(_RUNS.c.id == bindparam("run_id"))
# read to be written back in the same transaction (a preview's params): locked until it ends, so
# another process's execute (the plan it sends) or preview cannot write the row in between and
# have its params dropped by this write (MariaDB's READ COMMITTED reads without a lock; SQLite's
# unit of work holds the write lock already and the dialect renders no FOR UPDATE)
_RUN_LOCKED = _RUN.with_for_update()
# with its project's capital (the portfolio value when none is given), and the project's and
# snapshot's names (what the confirmation says is sent)
_RUN_AND_CAPITAL = (select(*_RUN_COLUMNS, _PROJECTS.c.capital, _PROJECTS.c.name.label("project_name"),
                           _SNAPSHOTS.c.source_file)
                    .join(_PROJECTS, _PROJECTS.c.id == _RUNS.c.project_id)
                    .outerjoin(_SNAPSHOTS, _SNAPSHOTS.c.id == _RUNS.c.snapshot_id)
                    .where(_RUNS.c.id == bindparam("run_id")))
# and how many orders the run has (execute: a run with orders is resumed, not previewed), in the
# same statement and transaction
_ORDERS = cast(Table, TradeOrder.__table__)
# how many orders a run has (built once: a backtest counts some runs' orders often)
ORDER_COUNT = select(func.count(_ORDERS.c.id)).where(_ORDERS.c.run_id == bindparam("run_id"))
_RUN_CAPITAL_AND_ORDERS = _RUN_AND_CAPITAL.add_columns(
    select(func.count(_ORDERS.c.id)).where(_ORDERS.c.run_id == _RUNS.c.id).scalar_subquery().label("order_count"))
# the portfolio value of the plan a run sent (what a resumed run's orders were sized with)
_PLANS = cast(Table, OrderPlan.__table__)
_PLAN_VALUE = select(_PLANS.c.portfolio_value).where(_PLANS.c.id == bindparam("plan_id"))
# updated_at given (its onupdate's utcnow): the statement runs through the driver (execute_many),
# which computes no column default
_SET_RUN_PARAMS = (update(_RUNS).where(_RUNS.c.id == bindparam("run_id"))
                   .values(params=bindparam("run_params", type_=_RUNS.c.params.type),
                           updated_at=bindparam("now", type_=_RUNS.c.updated_at.type)))
_SET_RUN_PARAMS_COLUMNS = ("run_id", "run_params", "now")
# the same, the run's refused preview cleared (its first plan says what it decided now)
_SET_RUN_PARAMS_UNREFUSED = _SET_RUN_PARAMS.values(message=null())


def trading_day(now: datetime | None = None) -> date:
    """The US equity session a run belongs to (the exchange calendar's, not the New York
    calendar date): a Saturday, a holiday or an evening after the close gives the next session."""
    return trading_date(now or datetime.now(UTC))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def run_row(session, query, run_id: int) -> Any:
    """The run's columns as a plain row (a named tuple; ``query``: ``_RUN``, ``_RUN_AND_CAPITAL``
    or another select of the run by ``run_id``), or ``NotFound`` as ``RunRepository.get`` says it."""
    row = fetch_first(session, query, {"run_id": run_id})
    if row is None:
        raise NotFound(f"{TradeRun.__tablename__} {run_id} does not exist")
    return row


def _in_snapshot(exc: UnknownContract, snapshot_keys: set[str], snapshot_id: int, project: str,
                 source_file: str | None) -> UnknownContract:
    """IB's "unknown contract: XYZQ" said with where the symbol comes from and what to do: a
    snapshot's row names a listing IB does not know (a typo, or the wrong exchange or currency
    column), and the whole preview is refused until the snapshot is corrected."""
    listed = [key for key in exc.keys if key in snapshot_keys]
    if not listed:
        return exc  # a holding's listing, not the snapshot's: IB's words alone
    name = PlanSubject.of(project, source_file, None).snapshot
    return UnknownContract(
        f"{exc} (in snapshot {snapshot_id}, {name} of project {project}): IB knows no such listing; correct the "
        f"symbol, or its exchange and currency columns, and import the snapshot again", exc.keys)


def plan_params(builder: dict, working: dict[str, Decimal], orders: tuple[WorkingOrder, ...]) -> dict:
    """A plan's parameters: the builder's, and the project's working orders its positions were
    taken with as if filled (only when there were any: a plan built from its book alone keeps
    the content, and the hash, it always had)."""
    if not orders:
        return builder
    params = {**builder, "working": {s: str(q) for s, q in working.items()},
              "working_orders": [o.client_order_id for o in orders]}
    unsent = unsent_orders(orders)
    if unsent:  # only when there were any: a plan of working orders alone hashes as before
        params["unsent_orders"] = unsent
    return params


def unsent_orders(orders) -> list[str]:
    """The client order ids of those of ``orders`` stored and not sent yet."""
    return [o.client_order_id for o in orders if o.unsent]


def check_portfolio_value(value: Decimal, *, typed: bool = True) -> None:
    """``BadInput`` for a portfolio value a plan cannot keep (the database refused the plan
    after its run was stored: "1E+14 is too large for exact storage on SQLite", exit 5); one
    ``typed`` (given, not the account's NetLiquidation or a backtest's equity) also for more
    decimal places than it keeps: the plan's row kept it rounded, its hash the value as typed."""
    digits = MONEY_WHOLE_DIGITS  # the project capital's bound too (services.core.books)
    if not value.is_finite() or abs(value).adjusted() >= digits:
        raise BadInput(f"portfolio value {value} is too large: a plan keeps values below 1e{digits}")
    problem = storage_problem("portfolio value", str(value), value, MONEY_LIMIT) if typed else None
    if problem is not None:
        raise BadInput(problem[1])


def _unused_offset_dropped(builder: dict, given: dict) -> dict:
    """The run's builder values without a limit offset MKT orders would not use, unless the
    caller gave it (``params_from`` refuses that pair: the trader is told)."""
    if "limit_offset_bps" not in given and str(builder.get("order_type", OrderType.MKT)).upper() == OrderType.MKT:
        return {k: v for k, v in builder.items() if k != "limit_offset_bps"}
    return builder


class RunPlanning(RunServiceBase):
    """Creating and previewing runs; loading stored plans."""

    async def create_run(self, project: str | int | None, snapshot: int | None, mode: TradeMode | str, params: dict | None = None,
                         live_token: str | None = None, new_run: bool = False) -> RunInfo:
        mode = TradeMode(mode)
        self._check_live(mode, live_token)
        return await self._db(self._create_run, project, snapshot, mode, dict(params or {}), new_run)

    @retry_lock_conflicts  # one unit of work: two execute processes of one run once deadlocked here
    def _create_run(self, project, snapshot, mode, params, new_run,
                    inputs: RunInputs | tuple[dict | None, list[str]] | None = None, backtest_id: int | None = None) -> RunInfo:
        """The run (see ``create_run``); ``inputs``: its builder parameters and risk overrides set
        in the same transaction, or refused for a run that has orders (``_store_run_inputs``);
        ``backtest_id``: the backtest a new run is a rebalance of."""
        inputs = None if inputs is None else RunInputs(*inputs)
        with self.db.unit_of_work() as session:
            # the snapshot's project, read once (None: no such snapshot)
            found = fetch_first(session, _SNAPSHOT_PROJECT, {"snapshot_id": snapshot}) if snapshot is not None else None
            snapshot_project = found[0] if found is not None else None
            if found is not None and found[1] == BACKTEST_INPUT_NOTE and mode is not TradeMode.BACKTEST:
                # a backtest's input, which `snapshot list` and the window never show: traded by id
                # it sent paper (or, with the word, live) orders for weights nobody imported to trade
                raise BadInput(f"snapshot {snapshot} is a backtest's input, not a snapshot to trade: "
                               "import its file with `trading-console snapshot import` to trade it")
            if project is None:  # the snapshot's own project
                if snapshot_project is None:
                    raise BadInput(f"snapshot {snapshot} does not exist" if snapshot is not None else "a run needs a project")
                project_id = snapshot_project
            elif isinstance(project, int):
                # a snapshot of this project proves the project exists (a foreign key): not read again
                if snapshot_project != project and session.scalar(_PROJECT_EXISTS, {"project_id": project}) is None:
                    raise Missing(f"project {project} does not exist")
                project_id = project
            else:
                project_id = ProjectRepository(session).get_or_create(str(project)).id
            if snapshot is not None and snapshot_project != project_id:
                # whose it is: "does not exist in this project" read wrong beside `snapshot list` showing it
                if snapshot_project is None:
                    raise Missing(f"snapshot {snapshot} does not exist")
                names = ProjectRepository(session)
                raise BadInput(f"snapshot {snapshot} belongs to project {names.get(snapshot_project).name!r}, "
                               f"not to {names.get(project_id).name!r}")
            runs = RunRepository(session)
            day = trading_day(self.clock())

            def audit_created(run_id: int) -> None:
                audit(self.db, self.actor, AuditAction.RUN_CREATE, "trade_run", run_id,
                      {"project_id": project_id, "snapshot_id": snapshot, "mode": self.mode_said(mode), "new_run": new_run}, session=session)

            if new_run:
                if inputs is not None:  # a new run has sent nothing: inserted with its inputs (no UPDATE after)
                    params = self._params_with_inputs(params, inputs.builder, inputs.risk_overrides)
                new = runs.create(project_id, mode=mode, snapshot_id=snapshot, trade_date=day, params=params,
                                  backtest_id=backtest_id)
                audit_created(new.id)
                return run_info(new, True)
            run, created = runs.create_once(project_id, mode=mode, trade_date=day, snapshot_id=snapshot, params=params)
            if created:
                audit_created(run.id)
            if inputs is not None:
                self._store_run_inputs(session, run, inputs, has_orders=False if created else None)
            return run_info(run, created)

    async def preview_snapshot(self, project: str | int | None, snapshot: int, mode: TradeMode | str, *,
                               builder: dict | None = None, risk_overrides: list[str] | tuple[str, ...] = (),
                               portfolio_value: Decimal | None = None, live_token: str | None = None,
                               new_run: bool = False, builder_given: Collection[str] | None = None,
                               wording: Wording = OPTIONS) -> PreviewResult:
        """The use case behind the window's Preview, ``preview --save`` and ``execute``: the
        day's run of the snapshot (created once), its builder parameters and risk overrides
        stored while it has sent nothing, then a preview stored as a frozen plan. A run that has
        orders keeps its own: builder values or risk overrides given that differ are refused
        (``prepare_run``, said in ``wording``: the command line's or the window form's words);
        its preview takes the portfolio value given, so that is not compared."""
        if portfolio_value is not None:  # before the run is created: it was left QUEUED with no plan
            check_portfolio_value(portfolio_value)
        run = await self.prepare_run(project, snapshot, mode, builder=builder, risk_overrides=risk_overrides,
                                     live_token=live_token, new_run=new_run, builder_given=builder_given, wording=wording)
        return await self.preview(run.id, portfolio_value)

    @staticmethod
    def _store_run_inputs(session, run: TradeRun, inputs: RunInputs, has_orders: bool | None = None) -> None:
        """Builder parameters and risk overrides of a run that has sent nothing yet (afterwards
        they are history and stay as they were: the run is resumed as it was built, and a value
        given that differs from its own is refused, ``BadInput``, the transaction rolled back).
        ``has_orders`` False: the run was created in this transaction, so there is nothing to count."""
        if has_orders is None:
            # counted first without a lock: a run with orders is found and left as it is without
            # waiting for the sender's writer that may hold its row (tests/execution/test_lock_conflicts.py)
            if RunPlanning._has_orders(session, run.id):
                RunPlanning._refuse_changed_inputs(session, run, inputs)
                return
            # then read again locked, for the params another process's preview or execute wrote
            # since the plain read (written back from that read, they were dropped), and counted
            # again: an execute that stored its orders meanwhile leaves the run's inputs as they were
            session.refresh(run, ["params"], with_for_update=True)
            has_orders = RunPlanning._has_orders(session, run.id)
        if has_orders:
            RunPlanning._refuse_changed_inputs(session, run, inputs)
            return
        run.params = RunPlanning._params_with_inputs(run.params, inputs.builder, inputs.risk_overrides)

    @staticmethod
    def _refuse_changed_inputs(session, run: TradeRun, inputs: RunInputs) -> None:
        """A run with orders is resumed as it was built: the values given must be its own. Its
        portfolio value is the one of the plan it sent (a preview since may have stored another)."""
        stored = run.params or {}
        sent_value = None
        if inputs.portfolio_value is not None:
            plan_id = stored.get("plan_id")
            sent_value = session.scalar(_PLAN_VALUE, {"plan_id": int(plan_id)}) if plan_id is not None else None
            if sent_value is None:
                sent_value = _dec(stored.get("portfolio_value"))
        refuse_differences(run.id, inputs.differences(stored, sent_value), inputs.wording)

    @staticmethod
    def _has_orders(session, run_id: int) -> bool:
        return bool(session.scalar(ORDER_COUNT, {"run_id": run_id}))

    @staticmethod
    def _params_with_inputs(stored: dict | None, builder: Mapping[str, Any] | None, risk_overrides: Sequence[str]) -> dict:
        params = dict(stored or {})
        if builder is not None:
            # the parameters given over the stored ones: a command's option not given leaves the
            # run's (the window's preview) as it was (app/commands/preview.py says so); replacing
            # them made `execute --snapshot` send MKT orders the trader had previewed as LMT
            given = given_builder(builder)  # the window's and the commands' reading
            merged = {**(params.get("builder") or {}), **given}
            # a stored limit offset under market orders (`execute --order-type MKT` over the
            # window's LMT + offset, or stored before the builder refused the pair): the type
            # given wins and the offset it does not use is dropped; an offset given with MKT is
            # refused below
            merged = _unused_offset_dropped(merged, given)
            # checked by the builder's one reading before anything is stored (raised inside the
            # run's transaction: the run and its params roll back); a value the preview refused
            # was stored and broke every later `execute` of the day's run with a value it was
            # never given
            try:
                params_from(merged, portfolio_value=Decimal(0))
            except (ValueError, ArithmeticError) as exc:
                raise BadInput(str(exc) or f"bad builder parameters: {given}") from None
            params["builder"] = merged
        # risk overrides are replaced, never carried over: a limit loosened for one preview is not
        # silently loosened for the next caller (none given: the settings' limits)
        params["risk_overrides"] = list(risk_overrides)
        return params

    @overload
    async def preview(self, run_id: int, portfolio_value: Decimal | None = None, *,
                      inherit_portfolio_value: bool = False) -> PreviewResult: ...

    @overload
    async def preview(self, run_id: int, portfolio_value: Decimal | None = None, *,
                      unless_it_has_orders: bool, inherit_portfolio_value: bool = False) -> PreviewResult | None: ...

    async def preview(self, run_id: int, portfolio_value: Decimal | None = None, *,
                      unless_it_has_orders: bool = False, inherit_portfolio_value: bool = False) -> PreviewResult | None:
        """Build from the run's project's own book (docs/project-books.md): its positions with its
        orders still working from earlier runs counted as if they filled, and as the portfolio value the one given, else the project's capital, else the account's
        NetLiquidation; then the project's rules and the account-level rules (every project).
        ``unless_it_has_orders``: None, nothing previewed, for a run that has orders (``execute``
        resumes it; its count read with the run, in the preview's first transaction).
        ``inherit_portfolio_value``: none given, the value the run's last preview was given
        (``execute`` sends the plan the trader previewed); a preview itself never inherits, its
        empty value means the capital or NetLiquidation as documented.
        Refused (an ``ExecutionError``: a symbol IB does not know, no prices, no portfolio
        value, a bad parameter), the run is kept as it is, the day's run that the next preview
        reuses, and the refusal with it: audited ``plan.refused``, and in the message of a run
        with no plan yet (``_keep_refusal``)."""
        try:
            return await self._preview_run(run_id, portfolio_value, unless_it_has_orders, inherit_portfolio_value)
        except ExecutionError as exc:
            await self._keep_refusal(run_id, exc)
            raise

    async def _preview_run(self, run_id: int, portfolio_value: Decimal | None, unless_it_has_orders: bool,
                           inherit_portfolio_value: bool) -> PreviewResult | None:
        loaded = await self._db(self._load_for_preview, run_id, unless_it_has_orders)
        if loaded is None:
            return None
        run, items, positions, capital, working, own_working, names = loaded
        specs = snapshot_specs(run.snapshot_id, items)  # refuses what cannot be traded, before asking IB
        held = [p for p in await self.provider.positions() if p.quantity]
        account_positions = {p.key: p.quantity for p in held}  # by listing: a US and an EUR SAP stay apart
        for key, quantity in working.items():  # the account as if every project's working order filled
            account_positions[key] = account_positions.get(key, Decimal(0)) + quantity
        listings = list({**{k: ContractSpec.from_key(k) for k in (*positions, *working)}, **{p.key: p.spec for p in held},
                         **{s.key: s for s in specs}}.values())  # one request per listing
        try:
            prices_raw = await self.provider.market_prices(listings) if listings else {}
        except UnknownContract as exc:
            raise _in_snapshot(exc, {s.key for s in specs}, run.snapshot_id, *names) from None
        prices = {s: p for s, p in prices_raw.items() if p is not None}
        quote_info = getattr(self.provider, "quote_info", {})
        now = self.clock()  # a backtest's prices are seen at its simulated moment
        price_refs = {s: PriceRef(p, *quote_info.get(s, (now, "live"))) for s, p in prices.items()}
        fx = await self.provider.exchange_rates()
        if portfolio_value is None and inherit_portfolio_value and run.params.get("portfolio_value_given"):
            portfolio_value = _dec(run.params.get("portfolio_value"))
        given = portfolio_value is not None
        net_liquidation = await self.provider.net_liquidation()
        if portfolio_value is None:
            portfolio_value = project_money(capital, net_liquidation)
            if portfolio_value is None:
                raise BrokerError("the account reports no NetLiquidation and the project has no capital; give a portfolio value")
        # its places were checked where it was typed (preview_snapshot, the execute command): a
        # backtest's equity, handed in here, has as many as its fills' prices and commissions
        check_portfolio_value(Decimal(portfolio_value), typed=False)
        account = AccountView(net_liquidation, account_positions, {}, 0, await self.provider.buying_power())
        # the broker's rates of an account that reported its NetLiquidation (so its base currency
        # is known) are stored with the preview: a command that never starts the equity recorder
        # leaves the account's portfolio snapshots convertible too (docs/currencies.md)
        reported = fx if net_liquidation is not None and not TradeMode(run.mode).simulated else None
        project_name, source_file = names
        subject = PlanSubject.of(project_name, source_file, None if fx is None else fx.base)
        result = await self._db(self._preview, run_id, items, positions, price_refs, Decimal(portfolio_value), given, fx,
                                account, own_working, reported, subject)
        source = "given" if given else ("capital" if capital is not None else "net_liquidation")
        return dataclasses.replace(result, value_source=source)

    async def _keep_refusal(self, run_id: int, exc: ExecutionError) -> None:
        """The refused preview recorded with its run, which was created in an earlier
        transaction (a preview needs the broker between reading its run and storing its plan, and
        ``execute`` previews under the run's lease): left QUEUED with no plan, it said nothing
        of why. The refusal itself is what the trader is told: not recording it is logged, and
        never said instead of it."""
        try:
            await self._db(self._record_refusal, run_id, exc.code, str(exc))
        except Exception:
            log.exception("run %s: its refused preview (%s) could not be recorded", run_id, exc)

    @retry_lock_conflicts
    def _record_refusal(self, run_id: int, code: str, reason: str) -> None:
        with self.db.unit_of_work() as session:
            # the run's row locked first, then the audit chain's head, as a preview stores its plan
            RunRepository(session).refuse_preview(run_id, code, reason)
            audit(self.db, self.actor, AuditAction.PLAN_REFUSED, "trade_run", run_id, {"code": code, "message": reason}, session=session)

    def _load_for_preview(self, run_id: int, unless_it_has_orders: bool = False):
        """What a preview reads of the run, its snapshot and its project's book; with
        ``unless_it_has_orders``, None for a run that has orders (``execute`` resumes it)."""
        # Core reads on a plain connection, in one transaction: no ORM object is read or written
        with self.db.core() as connection:
            run = run_row(connection, _RUN_CAPITAL_AND_ORDERS if unless_it_has_orders else _RUN_AND_CAPITAL, run_id)
            if unless_it_has_orders and run.order_count:
                return None
            if run.snapshot_id is None:
                raise BadInput(f"run {run_id} has no snapshot to build orders from")
            items = [{**i._asdict(), "primary_exchange": i.primary_exchange or ""}
                     for i in snapshot_items(connection, run.snapshot_id)]
            # the project's own book: never the account's positions (another project's, or unassigned)
            positions = project_positions(connection, run.project_id, self.provider.account or None)
            capital = run.capital
            # a backtest's simulated account is its project's alone, with nothing left working
            in_flight = [] if TradeMode(run.mode).simulated else working_orders(
                connection, self.provider.account or None, except_run=run.id)
            # every project's count in the account's exposure, working or stored and still to be
            # sent (another run halted mid-send: recovery or a resumed execute sends them); the
            # project's own (an earlier run's limit orders, a second snapshot's run of the day while
            # the first's still work or wait to be sent) are
            # also counted as filled by its builder and rules: built again, they would double it
            own = tuple(o for o in in_flight if o.project_id == run.project_id)
            return run_info(run), items, positions, capital, net_quantities(in_flight), own, (run.project_name, run.source_file)

    def _build_params(self, run_id: int, stored: dict, portfolio_value: Decimal, installation: str = "", fx=None) -> BuildParams:
        given = dict(stored.get("builder", {}))
        for key in BUILDER_KEYS:
            if key in stored:
                given.setdefault(key, stored[key])
        # a run stored with MKT and an offset before the builder refused the pair: previewed, not failed
        given = _unused_offset_dropped(given, {})
        return params_from(given, portfolio_value=portfolio_value, run_id=run_id, installation=installation,
                           base_currency=None if fx is None else fx.base, fx_rates=None if fx is None else fx.rates)

    # one unit of work of the database alone (its inputs read and priced before, and never
    # changed here): a deadlock or a lock wait on the audit chain's head ends it whole and it
    # runs again from scratch, so the preview, execute's included, is not failed by it
    @retry_lock_conflicts
    def _preview(self, run_id, items, positions, price_refs: dict[str, PriceRef], portfolio_value, given, fx=None,
                 account: AccountView | None = None, own_working: tuple[WorkingOrder, ...] = (),
                 reported_rates=None, subject: PlanSubject | None = None) -> PreviewResult:
        prices = {s: ref.price for s, ref in price_refs.items()}
        working = net_quantities(own_working)
        with self.db.unit_of_work() as session:
            # read again, locked, in the transaction that writes its params: the run's row first,
            # then the audit chain's head, as every unit of work that writes both
            run = run_row(session, _RUN_LOCKED, run_id)
            run_params = run.params or {}
            settings = SettingsRepository(session, read_once=True)  # one read of the settings row for the whole preview
            params = self._build_params(run.id, run_params, portfolio_value, settings.installation_id(), fx)
            targets = [Target(i["symbol"], Decimal(i["weight"]), _dec(i["price"]), i["sec_type"], i["exchange"], i["currency"],
                              i.get("primary_exchange") or "") for i in items]
            mode = TradeMode(run.mode)
            if mode.simulated:
                sim_account = self.provider.account

                def facts(ids):
                    return load_backtest_risk_facts(session, run.project_id, run.trade_date, sim_account, ids)
            else:
                def facts(ids):
                    return load_risk_facts(session, ids, project_id=run.project_id, settings=settings)
            try:
                result, report = build_and_check(
                    targets, params, prices=prices, positions=positions, working=working,
                    working_buys=buying_quantities(own_working),
                    limits=settings.risk_defaults(), overrides=run_params.get("risk_overrides", []),
                    facts=facts, price_times={s: r.time for s, r in price_refs.items()}, now=self.clock(),
                    price_kinds={s: r.kind for s, r in price_refs.items()},
                    allow_delayed=mode is not TradeMode.LIVE
                    or bool(settings.execution().get("allow_delayed_prices_live")),
                    account=account)
            except RiskParamError as exc:
                # the trader's to fix (a limit another version stored, a bad override), said as
                # bad input with the risk engine's words; nothing of the preview is written
                raise BadInput(str(exc)) from None
            stored = dict(run_params)
            stored.update({
                "prices": {s: str(p) for s, p in prices.items()},
                "builder": {"cash_buffer": str(params.cash_buffer), "lot_size": str(params.lot_size),
                            "rounding": str(params.rounding), "min_order_value": str(params.min_order_value),
                            "order_type": str(params.order_type), "limit_offset_bps": str(params.limit_offset_bps),
                            "liquidate_unlisted": params.liquidate_unlisted},
                "portfolio_value": str(portfolio_value),
                "portfolio_value_given": given,
                "fx": {"base": params.base_currency, "rates": {c: str(r) for c, r in sorted(params.fx_rates.items())}},
                "positions": {s: str(q) for s, q in positions.items()},  # filled: the book
                # the project's orders still working, counted as filled beside the positions
                "working": {s: str(q) for s, q in working.items()},
                "working_orders": [o.client_order_id for o in own_working],
                "unsent_orders": unsent_orders(own_working),  # of those, the ones stored and not sent yet
                "skipped": [{"symbol": s.symbol, "reason": s.reason} for s in result.skipped],
                "risk": report.to_dict(),
                "previewed_at": datetime.now(UTC).isoformat(),
            })
            refused = stored.pop(PREVIEW_REFUSED, None) is not None
            execute_many(session, _SET_RUN_PARAMS_UNREFUSED if refused else _SET_RUN_PARAMS, _SET_RUN_PARAMS_COLUMNS,
                         [(run.id, stored, utcnow())])
            if reported_rates is not None and self.provider.account:
                EquityRepository(session).store_rates(self.provider.account, reported_rates.base, reported_rates.rates)
            traded = {d.key for d in result.orders}
            plan = PlanRepository(session).add(
                run_id=run.id, project_id=run.project_id, snapshot_id=run.snapshot_id, mode=TradeMode(run.mode),
                account=self.provider.account or None, portfolio_value=portfolio_value,
                verdict=str(report.verdict), orders=list(result.orders),
                prices={s: ref for s, ref in price_refs.items() if s in traded}, positions=dict(positions),
                params=plan_params(stored["builder"], working, own_working), skipped=stored["skipped"], risk=stored["risk"])
            trail_hash = TrailRepository(session).record_build(
                plan_id=plan.id, run_id=run.id, items=items, targets=targets, params=params, prices=prices,
                positions=positions, working=working, result=result, report=report)
            audit(self.db, self.actor, AuditAction.PLAN_CREATE, "order_plan", plan.id,
                  {"run_id": run.id, "hash": plan.content_hash, "trail_hash": trail_hash, "orders": plan.order_count,
                   "gross_notional": plain(plan.gross_notional), "verdict": plan.verdict}, session=session)
            executed = run_params.get("plan_id")
            return PreviewResult(run_id, tuple(result.orders), report, prices, portfolio_value, tuple(result.skipped), plan,
                                 own_working, None if executed is None else int(executed), subject,
                                 target_weight=sum((abs(t.weight) for t in targets), Decimal(0)),
                                 cash_buffer=params.cash_buffer)

    async def prepare_run(self, project: str | int | None, snapshot: int, mode: TradeMode | str, *,
                          builder: dict | None = None, risk_overrides: list[str] | tuple[str, ...] = (),
                          live_token: str | None = None, new_run: bool = False, params: dict | None = None,
                          builder_given: Collection[str] | None = None, portfolio_value: Decimal | None = None,
                          wording: Wording = OPTIONS, backtest_id: int | None = None) -> RunInfo:
        """The day's run of a snapshot, created once, with these builder parameters and risk
        overrides while it has sent nothing (``execute`` then previews and sends it); ``params``:
        more of the run's params when it is created; ``backtest_id``: the backtest whose rebalance
        it is (with ``new_run``: a backtest makes a new run every rebalance).
        A run that has orders is resumed as it was built: a builder value or risk overrides given
        (``builder_given``: the keys of ``builder`` the trader gave, None every key) or a
        ``portfolio_value`` to send it with that differ from the run's own are refused
        (``BadInput`` naming each, nothing stored), never silently dropped; equal ones, or none
        given, resume it."""
        mode = TradeMode(mode)
        self._check_live(mode, live_token)
        # created and given its inputs in one transaction
        return await self._db(self._create_run, project, snapshot, mode, dict(params or {}), new_run,
                              RunInputs(builder, list(risk_overrides), builder_given, portfolio_value, wording), backtest_id)

    async def plan(self, plan_id: int) -> Plan:
        return await self._db(self._load_plan, plan_id)

    def _load_plan(self, plan_id: int) -> Plan:
        with self.db.session() as session:
            try:
                return PlanRepository(session).get(plan_id)
            except PlanNotFound as exc:
                raise BadInput(str(exc)) from None
