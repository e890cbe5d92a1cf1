"""The whole product's schema as SQLAlchemy 2 typed models.

Conventions: ids are BIGINT (INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements);
quantities Numeric(20,6), prices Numeric(20,8), money Numeric(24,8), all read back as
``Decimal``; times are ``UTCDateTime`` (aware UTC in Python, naive UTC in the database);
enumerations are strings checked against the enums of ``services.domain``. MySQL tables are
InnoDB, utf8mb4 with a binary collation so that uniqueness (client_order_id, exec_id) is
case-sensitive exactly as on SQLite. Constraint names follow one naming convention so that
Alembic can address them on both databases.

The ORM objects never leave ``services``: the GUI receives the frozen records of
``services.domain`` (see ``services.db.convert``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

from services.db.types import (
    EnumText,
    JSONDoc,
    Money,
    Price,
    Quantity,
    UTCDateTime,
    Weight,
    utcnow,
)
from services.domain import EventSource, OrderState, RunStatus, TradeMode, TradingState

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MYSQL_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

# BIGINT everywhere except SQLite, whose rowid alias must be exactly INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")

GENESIS_HASH = "0" * 64
SETTINGS_ROW_ID = 1
# ``cancel_all_marks.account`` of a Cancel All whose account is unknown: it concerns every account
EVERY_ACCOUNT = "*"
CHAIN_HEAD_ROW_ID = 1


def _table_args(*items: Any) -> tuple:
    return (*items, dict(MYSQL_TABLE_OPTIONS))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class Project(TimestampMixin, Base):
    """A strategy or book: snapshots, runs, orders and positions belong to one."""

    __tablename__ = "projects"
    __table_args__ = _table_args()

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # the money the project trades with (its book's cash starts here; docs/project-books.md);
    # None: its previews default to the account's NetLiquidation
    capital: Mapped[Decimal | None] = mapped_column(Money())


class DecisionSnapshot(Base):
    """One imported decision file (target weights); immutable once stored."""

    __tablename__ = "decision_snapshots"
    __table_args__ = _table_args(Index("ix_decision_snapshots_project_hash", "project_id", "content_hash"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False, index=True)
    source_file: Mapped[str] = mapped_column(String(512), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    item_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)


class DecisionSnapshotItem(Base):
    __tablename__ = "decision_snapshot_items"
    __table_args__ = _table_args(UniqueConstraint("snapshot_id", "symbol"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("decision_snapshots.id", ondelete="CASCADE"), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    weight: Mapped[Decimal] = mapped_column(Weight(), nullable=False)
    score: Mapped[Decimal | None] = mapped_column(Price())
    rank: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[Decimal | None] = mapped_column(Price())
    sec_type: Mapped[str] = mapped_column(String(16), nullable=False, default="STK")
    exchange: Mapped[str] = mapped_column(String(32), nullable=False, default="SMART")
    currency: Mapped[str] = mapped_column(String(8), nullable=False, default="USD")
    primary_exchange: Mapped[str | None] = mapped_column(String(32))


class TradeRun(TimestampMixin, Base):
    """One execution of a snapshot (or a batch of manual orders).

    Idempotency (docs/plans.md, plan 000): the same project + snapshot + mode on the same trading day is the
    same run. ``idempotency_key`` is UNIQUE so that two racing creators get one row; callers that
    deliberately want a second run pass ``None``.
    """

    __tablename__ = "trade_runs"
    __table_args__ = _table_args(
        Index("ix_trade_runs_lookup", "project_id", "snapshot_id", "mode", "trade_date"),
        # runs by status (its prefix), and the open runs of one mode (services.backtest.closing: a
        # closed backtest's runs still queued or running) among them alone, not every mode's
        Index("ix_trade_runs_status_mode", "status", "mode"),
        # a backtest's runs (services.backtest.closing: the last rebalance of a dead one), in id
        # order within it: read newest first without reading another backtest's
        Index("ix_trade_runs_backtest", "backtest_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("decision_snapshots.id"))
    mode: Mapped[TradeMode] = mapped_column(EnumText(TradeMode, 16), nullable=False, default=TradeMode.PAPER)
    status: Mapped[RunStatus] = mapped_column(EnumText(RunStatus, 32), nullable=False, default=RunStatus.QUEUED)
    trade_date: Mapped[date] = mapped_column(Date, nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(191), unique=True)
    params: Mapped[dict | None] = mapped_column(JSONDoc())
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the backtest a rebalance run belongs to (``backtests.id``; NULL for every other run). No
    # foreign key: a backtest's rows are never deleted, and the check would cost every rebalance
    backtest_id: Mapped[int | None] = mapped_column(BigId)


class OrderPlan(Base):
    """A preview frozen: exactly the orders that executing it sends, with the reference price
    (time and type) of every symbol, the builder's parameters, the positions and portfolio value
    it was built from, the risk verdict, and a SHA-256 of all of it. Never updated: a run that
    executes a plan records its id (``trade_runs.params['plan_id']``); a new preview is a new
    plan."""

    __tablename__ = "order_plans"
    __table_args__ = _table_args(
        Index("ix_order_plans_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("trade_runs.id"), nullable=False)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("decision_snapshots.id"))
    mode: Mapped[TradeMode] = mapped_column(EnumText(TradeMode, 16), nullable=False)
    account: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    portfolio_value: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[dict | None] = mapped_column(JSONDoc())
    prices: Mapped[dict | None] = mapped_column(JSONDoc())
    positions: Mapped[dict | None] = mapped_column(JSONDoc())
    orders: Mapped[list | None] = mapped_column(JSONDoc())
    skipped: Mapped[list | None] = mapped_column(JSONDoc())
    risk: Mapped[dict | None] = mapped_column(JSONDoc())


class TradeOrder(TimestampMixin, Base):
    """One order, keyed by our ``client_order_id`` (sent to IB as ``Order.orderRef``)."""

    __tablename__ = "trade_orders"
    __table_args__ = _table_args(
        Index("ix_trade_orders_run_status", "run_id", "status"),
        Index("ix_trade_orders_perm_id", "ib_perm_id"),
        # auto-recovery: was this order re-placed, how many retries has its chain used (0008)
        Index("ix_trade_orders_replaces", "replaces_order_id", "retry_count"),
        # the change feed's watermark (services.change_feed, 0013)
        Index("ix_trade_orders_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("trade_runs.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    sec_type: Mapped[str] = mapped_column(String(16), nullable=False, default="STK")
    exchange: Mapped[str] = mapped_column(String(32), nullable=False, default="SMART")
    currency: Mapped[str] = mapped_column(String(8), nullable=False, default="USD")
    primary_exchange: Mapped[str | None] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    order_type: Mapped[str] = mapped_column(String(16), nullable=False, default="MKT")
    limit_price: Mapped[Decimal | None] = mapped_column(Price())
    tif: Mapped[str] = mapped_column(String(8), nullable=False, default="DAY")
    status: Mapped[OrderState] = mapped_column(EnumText(OrderState, 32), nullable=False, default=OrderState.NEW, index=True)
    filled_quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False, default=Decimal(0))
    avg_fill_price: Mapped[Decimal | None] = mapped_column(Price())
    ib_order_id: Mapped[int | None] = mapped_column(BigInteger)
    ib_perm_id: Mapped[int | None] = mapped_column(BigInteger)
    ib_client_id: Mapped[int | None] = mapped_column(Integer)
    account: Mapped[str | None] = mapped_column(String(32))
    last_status_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    replaces_order_id: Mapped[int | None] = mapped_column(ForeignKey("trade_orders.id"))
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_external: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    params: Mapped[dict | None] = mapped_column(JSONDoc())
    # the sender that claimed the order (NEW -> SENDING, one conditional update) and when: the
    # token of its run lease, so that reconciliation can tell a live sender from a dead one
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)


class RunLease(Base):
    """Who sends a run: one row per run, taken atomically (INSERT, or a conditional UPDATE of a
    stale row), kept alive by a heartbeat, deleted at the end (services.execution.lease)."""

    __tablename__ = "run_leases"
    __table_args__ = _table_args()

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("trade_runs.id"), primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    client_id: Mapped[int | None] = mapped_column(Integer)
    # boot id, pid namespace and start time of the holder's process: lets a process on the same
    # machine tell that the holder died (a SIGKILL) without waiting for the expiry
    process_key: Mapped[str | None] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # while the holder's sender sends the run's orders: when it started (else NULL) and the
    # Cancel All marker (``trade_settings.cancel_all_at``) it started under; a Cancel All of
    # another process waits for the senders that started before it (services.execution.cancel_all)
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sending_mark: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the account the sender sends for (its connection's; NULL: unknown): a Cancel All of another
    # account neither stops it nor waits for it (``cancel_all_marks``)
    sending_account: Mapped[str | None] = mapped_column(String(32))


class TradeFill(TimestampMixin, Base):
    """One execution. ``exec_id`` is UNIQUE (exactly-once); IB corrections share
    ``exec_base_id`` with a higher ``exec_revision`` and mark the older row ``superseded``."""

    __tablename__ = "trade_fills"
    __table_args__ = _table_args(
        Index("ix_trade_fills_base", "exec_base_id", "exec_revision"),
        Index("ix_trade_fills_updated_at", "updated_at"),  # the change feed's watermark (0013)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("trade_orders.id"), nullable=False, index=True)
    exec_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    exec_base_id: Mapped[str] = mapped_column(String(64), nullable=False)
    exec_revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    superseded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    price: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    commission: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(8), nullable=False, default="USD")
    exchange: Mapped[str | None] = mapped_column(String(32))
    account: Mapped[str | None] = mapped_column(String(32))
    perm_id: Mapped[int | None] = mapped_column(BigInteger)
    order_ref: Mapped[str | None] = mapped_column(String(64))
    fill_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    raw_payload: Mapped[dict | None] = mapped_column(JSONDoc())
    # its order's id (the run is in it), read with every fill (no column: the order holds it): a
    # fill shown without it could not be told to be of which order or run. ``order_ref`` is the
    # broker's word, empty for some external orders' executions
    client_order_id: Mapped[str] = column_property(
        select(TradeOrder.client_order_id).where(TradeOrder.id == order_id).correlate_except(TradeOrder).scalar_subquery())


class OrderEvent(Base):
    """Append-only history of an order: every state change and every notable broker message."""

    __tablename__ = "order_events"
    __table_args__ = _table_args(Index("ix_order_events_order_time", "order_id", "time"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("trade_orders.id"), nullable=False)
    from_state: Mapped[OrderState | None] = mapped_column(EnumText(OrderState, 32))
    to_state: Mapped[OrderState | None] = mapped_column(EnumText(OrderState, 32))
    source: Mapped[EventSource] = mapped_column(EnumText(EventSource, 16), nullable=False)
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    flagged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    message: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict | None] = mapped_column(JSONDoc())
    time: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Position(Base):
    """Net position per (project, account, symbol). ``project_key`` is ``project_id or 0``:
    SQL treats NULLs as distinct, so the unique key (and the upsert) needs a non-null column.
    ``symbol`` holds the listing key (``services.core.contracts.ContractSpec.key``): the bare
    symbol of a US stock, ``SAP@IBIS:EUR`` for another listing, so that same-named listings
    never merge; ``currency`` and ``exchange`` (the listing's venue) say which it is (NULL in
    rows written before they existed: a US stock)."""

    __tablename__ = "positions"
    __table_args__ = _table_args(
        UniqueConstraint("project_key", "account", "symbol"),
        Index("ix_positions_updated_at", "updated_at"),  # the change feed's watermark (0013)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    project_key: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    account: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    currency: Mapped[str | None] = mapped_column(String(8))
    exchange: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False, default=Decimal(0))
    average_cost: Mapped[Decimal] = mapped_column(Price(), nullable=False, default=Decimal(0))
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), nullable=False, default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)
    # the last market price known: the equity recorder's or the latest fill's, whichever is newer
    # (None: never marked nor filled by us, e.g. shares IB reported before the console ran)
    market_price: Mapped[Decimal | None] = mapped_column(Price())
    marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PositionAssignment(Base):
    """Shares the account held that no project owned (unassigned), moved into a project's book
    at a stated cost by ``trading-console assign`` (docs/project-books.md). Append-only: the
    project's position replays each as an opening fill at its cost, in time order with its
    fills; the account's row is not touched (the shares were in it already)."""

    __tablename__ = "position_assignments"
    __table_args__ = _table_args(Index("ix_position_assignments_book", "project_id", "account", "symbol"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False)
    account: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)  # the listing key, as in positions
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)  # signed: < 0 assigns a short
    cost: Mapped[Decimal] = mapped_column(Price(), nullable=False)  # per share, the opening price
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class AppliedPositionTruth(Base):
    """An account position reconciliation set to IB's figures (quantity and average cost), where
    it differed from ours. Append-only: when the account's row is rebuilt from its fills (a late
    commission of an older fill, a correction), the last truth is booked at its place, after the
    fills stored before it (``after_fill_id``; 0: before every fill), so that shares IB reported
    and no fill of ours explains (held before the console ran) are not lost."""

    __tablename__ = "position_truths"
    __table_args__ = _table_args(Index("ix_position_truths_position", "account", "symbol"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)  # the listing key, as in positions
    quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    average_cost: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    after_fill_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class EquitySnapshot(Base):
    """Account (or project) equity over time, for the charts."""

    __tablename__ = "equity_snapshots"
    __table_args__ = _table_args(
        Index("ix_equity_snapshots_account_time", "account", "time"),
        Index("ix_equity_snapshots_project_time", "project_id", "time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    account: Mapped[str] = mapped_column(String(32), nullable=False)
    cash: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    equity: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), nullable=False, default=Decimal(0))
    unrealized_pnl: Mapped[Decimal] = mapped_column(Money(), nullable=False, default=Decimal(0))


class AccountRates(Base):
    """The exchange rates an account last reported: its base currency and, per other currency,
    base units per unit (decimal text), stored by the equity recorder with each sample. The
    ``positions`` command has no broker to ask; the window has them from the broker itself."""

    __tablename__ = "account_rates"
    __table_args__ = _table_args()

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    base: Mapped[str] = mapped_column(String(8), nullable=False)
    rates: Mapped[dict | None] = mapped_column(JSONDoc())
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ContractCache(Base):
    """Qualified IB contracts (conId and primary exchange), so a restart need not re-qualify."""

    __tablename__ = "contracts"
    __table_args__ = _table_args(UniqueConstraint("symbol", "sec_type", "exchange", "currency"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    sec_type: Mapped[str] = mapped_column(String(16), nullable=False, default="STK")
    exchange: Mapped[str] = mapped_column(String(32), nullable=False, default="SMART")
    currency: Mapped[str] = mapped_column(String(8), nullable=False, default="USD")
    con_id: Mapped[int | None] = mapped_column(BigInteger)
    primary_exchange: Mapped[str | None] = mapped_column(String(32))
    min_tick: Mapped[Decimal | None] = mapped_column(Price())
    details: Mapped[dict | None] = mapped_column(JSONDoc())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class TradeSettings(Base):
    """The single row (id 1) of trading settings that live with the data, not the user."""

    __tablename__ = "trade_settings"
    __table_args__ = _table_args()

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    risk_defaults: Mapped[dict | None] = mapped_column(JSONDoc())
    execution_data_source: Mapped[str] = mapped_column(String(16), nullable=False, default="ib")
    auto_recovery: Mapped[dict | None] = mapped_column(JSONDoc())
    execution: Mapped[dict | None] = mapped_column(JSONDoc())
    trading_state: Mapped[TradingState] = mapped_column(EnumText(TradingState, 16), nullable=False, default=TradingState.ACTIVE)
    # Generated once per database and part of every new client order id: a fresh database
    # trading the same account must not reuse an earlier database's ids (IB refuses them).
    installation_id: Mapped[str | None] = mapped_column(String(16))
    # the last Cancel All of any process and any account (strictly increasing: each Cancel All's
    # marker is later than the one before); NULL before the first one. Which senders and orders
    # a Cancel All concerns is told by ``cancel_all_marks``, its account's marker
    cancel_all_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class CancelAllMark(Base):
    """The last Cancel All per account it acted on (``account``; ``EVERY_ACCOUNT``: one whose
    account is unknown, made with none connected or recorded before the account was, which
    concerns every account): its marker (``trade_settings.cancel_all_at`` as it set it). A
    sender, the Cancel All's wait for senders and recovery look at the markers that concern
    their account (services.db.repositories.settings.last_cancel_all_concerning): a Cancel All
    of account A leaves account B's senders and orders as they are, as it tells the trader,
    unless it is IB's global cancel and B an account of A's login (it marks each of them)."""

    __tablename__ = "cancel_all_marks"
    __table_args__ = _table_args()

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class AuditLog(Base):
    """Hash-chained audit entries: ``hash = sha256(prev_hash + canonical_json(entry))``."""

    __tablename__ = "audit_logs"
    __table_args__ = _table_args(
        Index("ix_audit_logs_entity", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict | None] = mapped_column(JSONDoc())
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class AuditChainHead(Base):
    """One row (id 1) that every audit append locks first, so appends form one chain."""

    __tablename__ = "audit_chain_head"
    __table_args__ = _table_args()

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    last_id: Mapped[int | None] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class AuditCheckpoint(Base):
    """One row (id 1): the newest audit entry a verification walked up to and found intact, so
    the next verification walks only the entries after it. ``broken_id`` keeps the last full
    walk's finding (a checkpoint cannot vouch for entries before it)."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = _table_args()

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entries: Mapped[int] = mapped_column(BigInteger, nullable=False)  # entries verified up to last_id
    broken_id: Mapped[int | None] = mapped_column(BigInteger)
    broken_reason: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class PriceBar(Base):
    """One daily bar of one listing: the historical-price cache (bars downloaded from the broker)
    and imported bar files. ``symbol`` is the listing key (``ContractSpec.key``); one bar per
    listing, data type (IB's whatToShow: TRADES, ADJUSTED_LAST, MIDPOINT) and day."""

    __tablename__ = "price_bars"
    __table_args__ = _table_args(UniqueConstraint("symbol", "what_to_show", "day"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    what_to_show: Mapped[str] = mapped_column(String(16), nullable=False, default="TRADES")
    day: Mapped[date] = mapped_column(Date, nullable=False)
    open: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    high: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    low: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    close: Mapped[Decimal] = mapped_column(Price(), nullable=False)
    volume: Mapped[Decimal] = mapped_column(Quantity(), nullable=False, default=Decimal(0))
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # "broker" or "file"
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class HistoryGateway(Base):
    """One row per IB gateway (``host:port``) that historical requests were sent to: locked by the
    process about to send one, so that two processes never both take the last place in IB's
    window (services.execution.history_log)."""

    __tablename__ = "history_gateways"
    __table_args__ = _table_args(UniqueConstraint("gateway"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    gateway: Mapped[str] = mapped_column(String(128), nullable=False)


class HistoryRequestSent(Base):
    """A historical-data request sent to a gateway, by any process of the console: IB counts its
    pacing (60 in 10 minutes, ...; docs/ib-pacing.md) per gateway session, not per process.
    ``sent_at`` is wall-clock epoch seconds; rows older than the longest window are pruned."""

    __tablename__ = "history_requests"
    __table_args__ = _table_args(Index("ix_history_requests_gateway_sent_at", "gateway", "sent_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    gateway: Mapped[str] = mapped_column(String(128), nullable=False)
    sent_at: Mapped[float] = mapped_column(Double(), nullable=False)
    contract: Mapped[str] = mapped_column(String(128), nullable=False)  # conId and data type
    request: Mapped[str] = mapped_column(String(255), nullable=False)  # what makes two requests identical


# ---------------------------------------------------------------------------------------------
# The decision trail (services.core.trail, services.db.repositories.trail): append-only records of
# every preview, each linked to its plan and run. ``row_hash`` is the sha256 of the row's content;
# the plan's audit entry ("plan.create") carries the hash over its rows' hashes, so `audit verify`
# names a record that was altered, added or removed afterwards.


class TrailSignal(Base):
    """A snapshot row as one preview saw it."""

    __tablename__ = "trail_signals"
    __table_args__ = _table_args(Index("ix_trail_signals_plan", "plan_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("order_plans.id"), nullable=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("trade_runs.id"), nullable=False)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)  # the listing key
    weight: Mapped[Decimal] = mapped_column(Weight(), nullable=False)
    score: Mapped[Decimal | None] = mapped_column(Price())
    rank: Mapped[int | None] = mapped_column(Integer)
    snapshot_price: Mapped[Decimal | None] = mapped_column(Price())
    price: Mapped[Decimal | None] = mapped_column(Price())  # the reference price the preview used
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class TrailOrderDecision(Base):
    """Why a symbol got an order, or none: target, current, delta, the rounding applied."""

    __tablename__ = "trail_order_decisions"
    __table_args__ = _table_args(Index("ix_trail_order_decisions_plan", "plan_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("order_plans.id"), nullable=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("trade_runs.id"), nullable=False)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # buy | sell | skip | hold
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    target_weight: Mapped[Decimal | None] = mapped_column(Weight())
    raw_quantity: Mapped[Decimal | None] = mapped_column(Quantity())
    target_quantity: Mapped[Decimal | None] = mapped_column(Quantity())
    current_quantity: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    delta: Mapped[Decimal | None] = mapped_column(Quantity())
    rounding: Mapped[Decimal | None] = mapped_column(Quantity())
    rounding_mode: Mapped[str | None] = mapped_column(String(16))
    price: Mapped[Decimal | None] = mapped_column(Price())
    fx_rate: Mapped[Decimal | None] = mapped_column(Price())
    sequence: Mapped[int | None] = mapped_column(Integer)
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class TrailRiskDecision(Base):
    """One risk rule's answer for one order (scope ``order``) or the account: measured, limit,
    verdict. Measured values and limits are exact decimal text (ratios, counts, money, ages)."""

    __tablename__ = "trail_risk_decisions"
    __table_args__ = _table_args(Index("ix_trail_risk_decisions_plan", "plan_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("order_plans.id"), nullable=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("trade_runs.id"), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)  # order | account
    rule: Mapped[str] = mapped_column(String(64), nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)  # pass | block
    measured: Mapped[str | None] = mapped_column(String(64))
    limit_value: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    sequence: Mapped[int | None] = mapped_column(Integer)
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class TrailPortfolioSnapshot(Base):
    """A project's positions at a fill batch of a run, or at the run's end (one row per run,
    project and account per writer batch). ``cash`` is the book's cash (services.core.books:
    capital - net cost of the holdings + realized P&L, assignments included; a backtest's
    account: the net cash its fills moved); ``equity`` is cash plus the positions' value at
    their last mark (their average cost when never marked nor filled).

    A real account's money columns are in its base currency at the rates the console stored for
    it (``rates``: which, and when; docs/currencies.md, "Decision trail"); NULL, with the
    currencies ``rates.missing`` names, when a rate was missing: never a face-value sum. A
    backtest's (one currency) have ``rates`` NULL."""

    __tablename__ = "trail_portfolio_snapshots"
    __table_args__ = _table_args(Index("ix_trail_portfolio_snapshots_run", "run_id", "time"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("trade_runs.id"), nullable=False)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("order_plans.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    account: Mapped[str] = mapped_column(String(32), nullable=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)  # fills | run_end
    positions: Mapped[list | None] = mapped_column(JSONDoc())
    market_value: Mapped[Decimal | None] = mapped_column(Money())
    cash: Mapped[Decimal | None] = mapped_column(Money())
    equity: Mapped[Decimal | None] = mapped_column(Money())
    realized_pnl: Mapped[Decimal | None] = mapped_column(Money())
    rates: Mapped[dict | None] = mapped_column(JSONDoc())


class Backtest(Base):
    """One backtest (services.backtest): its inputs (``params``: prices source, snapshots, fill,
    costs, builder), its state, and its results per project and in total (``results``: metrics,
    the daily equity, the rebalances with their run ids, the orders risk blocked). The rebalances
    themselves are ordinary runs of mode ``backtest`` naming it (``trade_runs.backtest_id``) whose
    orders and positions carry the account ``BACKTEST-<id>-<project id>``; their plans and events
    are the decision trail."""

    __tablename__ = "backtests"
    __table_args__ = _table_args()

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")  # running, done, canceled, failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    params: Mapped[dict | None] = mapped_column(JSONDoc())
    results: Mapped[dict | None] = mapped_column(JSONDoc())
    # what the list of backtests shows (services.backtest.summary: days, final equities), written
    # with ``results`` when it closes: the list never reads the results (every project's daily
    # equity, megabytes for a long backtest); NULL while running and on rows closed before 0020
    summary: Mapped[dict | None] = mapped_column(JSONDoc())
    message: Mapped[str | None] = mapped_column(Text)
    # the process running it (a run lease's holder fields, services.execution.lease): a backtest
    # left ``running`` by a process that is gone (kill -9, a reboot) is closed as failed by whoever
    # looks at backtests (services.backtest.closing); NULL on rows older than migration 0017
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_key: Mapped[str | None] = mapped_column(String(255))
    # when that process last said it lived (services.backtest.heartbeat): a backtest of another
    # machine, whose process cannot be seen from here, is closed as failed once this is too old;
    # NULL on rows older than migration 0018
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
