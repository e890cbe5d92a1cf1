"""The offline preview (``trading-console preview`` with no broker): the orders a snapshot would
send and the risk verdict, from a snapshot file or a stored snapshot, prices and positions read
from files, a portfolio value given, and the builder's and risk's parameters. The pipeline is
every preview's (``services.core.pipeline.build_and_check``), so this and ``execute`` cannot
disagree on the orders or the verdict.

With a stored snapshot the risk limits, the trading state and the day's order count come from
the database (opened only then: a preview of a file needs none). Every problem of the input is
raised at once (``PreviewInputError``, each with its file, line and column where it has them);
nothing is written anywhere. The command only parses its arguments and prints this result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.core.builder import Target, params_from
from services.core.commissions import FixedCommission, TieredCommission
from services.core.pipeline import RiskFacts, build_and_check
from services.core.wording import place

ZERO = Decimal(0)
COMMISSION_MODELS = ("fixed", "tiered")


class PreviewInputError(ValueError):
    """Every problem of a preview's input: ``errors`` as dicts (source, line, column, code, message)."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class OfflinePreviewRequest:
    snapshot: str  # a snapshot file (CSV/JSON) or a stored snapshot's id
    portfolio_value: Decimal | None
    builder: Mapping[str, Any] = field(default_factory=dict)  # the run's builder parameters (cash_buffer, lot_size, ...)
    prices_file: str | None = None  # CSV symbol,price: wins over the snapshot's own prices
    positions_file: str | None = None  # CSV symbol,quantity: what is held now
    fx_rates: Mapping[str, Decimal] = field(default_factory=dict)  # currency -> USD per unit
    risk_overrides: Sequence[str] = ()
    allow_short: bool = False  # negative weights accepted in a snapshot file
    commission_model: str = "fixed"  # of the estimate: fixed | tiered


def offline_preview(request: OfflinePreviewRequest, open_db: Callable[[], Any]) -> dict:
    """The preview as a JSON-ready dict; ``open_db()`` gives the database (called only for a
    stored snapshot; disposed here). Raises ``PreviewInputError``."""
    from services.core.inputs import read_positions, read_prices
    from services.core.risk_limits import RiskParamError, UnknownStoredLimit, rules_from_params

    errors: list[dict] = []
    stored_limits: dict = {}
    facts: RiskFacts | _FactsReader = RiskFacts()
    items: list = []
    source = request.snapshot
    path = Path(request.snapshot)
    try:
        if path.is_file():
            items, source = _snapshot_file(path, request.allow_short)
        elif request.snapshot.strip().isdigit():
            items, source, stored_limits, facts = _stored_snapshot(int(request.snapshot), open_db)
        else:
            raise PreviewInputError(_error(f"--snapshot {request.snapshot!r} is neither a file nor a snapshot id"))
    except PreviewInputError as exc:
        errors.extend(exc.errors)
    prices: dict = {}
    positions: dict = {}
    for given, reader, target in ((request.prices_file, read_prices, "prices"), (request.positions_file, read_positions, "positions")):
        try:
            values = _column_file(given, reader)
        except PreviewInputError as exc:
            errors.extend(exc.errors)
            continue
        if target == "prices":
            prices = values
        else:
            positions = values
    if request.portfolio_value is None:
        # said after its source: "--portfolio-value: needed offline ...", the option named once
        errors.extend(_error("needed offline (or preview against the broker with --save)", "--portfolio-value"))
    try:
        rules_from_params(stored_limits, list(request.risk_overrides))
    except RiskParamError as exc:  # a limit stored by another version is no --risk typo: it says where it is
        errors.extend(_error(str(exc), None if isinstance(exc, UnknownStoredLimit) else "--risk"))
    try:  # the builder's one reading: refused here with the other problems, not as a traceback later
        params_from(request.builder, portfolio_value=ZERO)
    except (ValueError, ArithmeticError) as exc:
        errors.extend(_error(str(exc) or f"bad builder parameters: {dict(request.builder)}"))
    if request.commission_model not in COMMISSION_MODELS:
        errors.extend(_error(f"commission model {request.commission_model!r}: one of {', '.join(COMMISSION_MODELS)}", "--commission"))
    if errors:
        if isinstance(facts, _FactsReader):
            facts.db.dispose()
        raise PreviewInputError(errors)

    assert request.portfolio_value is not None  # checked above
    try:
        params = params_from(request.builder, portfolio_value=request.portfolio_value, fx_rates=request.fx_rates)
        known_prices = {i.symbol: i.price for i in items if getattr(i, "price", None) is not None}
        known_prices.update(prices)
        result, report = build_and_check(items, params, prices=prices, positions=positions, limits=stored_limits,
                                         overrides=list(request.risk_overrides), facts=facts, valuation_prices=known_prices)
    finally:  # the stored snapshot's database, whether or not the facts were read
        if isinstance(facts, _FactsReader):
            facts.db.dispose()
    read_facts = facts.read if isinstance(facts, _FactsReader) else facts
    return {
        "snapshot": source,
        "portfolio_value": str(params.portfolio_value),
        "budget": str(result.budget),
        "target_value": str(result.target_value),
        **estimated_commissions(result.orders, request.commission_model),
        "orders_sent_today": (read_facts or RiskFacts()).orders_today,
        "prices_source": "offline: " + ("--prices over " if request.prices_file else "") + "the snapshot's price column",
        "skipped": [{"symbol": s.symbol, "reason": s.reason, "message": s.message} for s in result.skipped],
        "risk": report.to_dict(),
    }


def estimated_commissions(drafts, commission_model: str) -> dict:
    """Each order's estimated IB commission (``fixed`` or ``tiered``, at its limit or reference
    price; none without a price) and their total, beside the orders as dicts."""
    model = TieredCommission() if commission_model == "tiered" else FixedCommission()
    orders = []
    total = ZERO
    for draft in drafts:
        row = draft.to_dict()
        price = draft.limit_price or draft.reference_price
        commission = model.commission(draft.quantity, price, side=draft.side) if price is not None else None
        row["commission"] = None if commission is None else str(commission)
        total += commission or ZERO
        orders.append(row)
    return {"orders": orders, "commission_model": commission_model, "commission_total": str(total)}


def _problems(source: str, problems) -> list[dict]:
    return [{"source": source, **p.to_dict()} for p in problems]


def problem_line(error: dict) -> str:
    """One problem of the input as ``preview`` lists it: where (its file or option, line, column)
    then what: "malformed.csv, line 3, column weight: weight 'twenty' is not a finite number",
    "--risk: unknown risk parameter 'nope'"."""
    where = ", ".join(part for part in (error.get("source"), place(error.get("line"), error.get("column"))) if part)
    return f"{where}: {error['message']}" if where else error["message"]


def _error(message: str, source: str | None = None) -> list[dict]:
    return [{"source": source, "line": None, "column": None, "code": "bad_input", "message": message}]


def _snapshot_file(path: Path, allow_short: bool) -> tuple[list, str]:
    from services.console_queries import parse_for_storage
    from services.core.snapshots import SnapshotFormatError

    try:  # the import's own reading (parse_for_storage): what could not be stored is not previewed either
        parsed = parse_for_storage(path, allow_short=allow_short)
    except (SnapshotFormatError, OSError) as exc:
        raise PreviewInputError(_error(str(exc), path.name)) from None
    if not parsed.ok:
        raise PreviewInputError(_problems(parsed.source_name, parsed.errors))
    return list(parsed.items), parsed.source_name


def _trim(value) -> Decimal:
    """A stored Numeric without the column's padding zeros (228.50000000 -> 228.5)."""
    value = Decimal(value).normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


def _stored_snapshot(snapshot_id: int, open_db: Callable[[], Any]):
    from services.db.repositories import NotFound, SettingsRepository, SnapshotRepository

    db = open_db()
    try:  # disposed by offline_preview once the orders are checked (or here, on an error)
        with db.session() as session:
            repo = SnapshotRepository(session)
            try:
                snapshot = repo.get(snapshot_id)
            except NotFound:
                raise PreviewInputError(_error(f"no snapshot with id {snapshot_id}")) from None
            items = [Target(i.symbol, _trim(i.weight), None if i.price is None else _trim(i.price), i.sec_type, i.exchange,
                            i.currency) for i in repo.items(snapshot_id)]
            limits = SettingsRepository(session).risk_defaults()
            # the same facts the trade service reads: whether the built orders exist already is
            # known once they are built
            return items, f"snapshot {snapshot.id} ({snapshot.source_file})", limits, _FactsReader(db)
    except BaseException:
        db.dispose()
        raise


class _FactsReader:
    """Risk facts read once the orders are built (which of them exist already is part of them);
    remembers what it read for the output (``offline_preview`` disposes of the database)."""

    def __init__(self, db) -> None:
        self.db = db
        self.read: RiskFacts | None = None

    def __call__(self, client_order_ids: list[str]) -> RiskFacts:
        from services.db.risk_facts import load_risk_facts

        with self.db.session() as session:
            read = load_risk_facts(session, client_order_ids)
        self.read = read
        return read


def _column_file(path: str | None, reader) -> dict:
    if path is None:
        return {}
    from services.core.inputs import NotText

    try:
        parsed = reader(path)
    except OSError as exc:
        raise PreviewInputError(_error(f"cannot read {path}: {exc.strerror or exc}", Path(path).name)) from None
    except NotText as exc:
        raise PreviewInputError(_error(str(exc), Path(path).name)) from None
    if not parsed.ok:
        raise PreviewInputError(_problems(parsed.source_name, parsed.errors))
    return parsed.values
