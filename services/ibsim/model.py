"""Records the simulator keeps: instruments, orders, executions, positions.

Money and quantities are ``Decimal``; times are timezone-aware UTC.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ZERO = Decimal(0)
NEW_YORK = ZoneInfo("America/New_York")  # the exchange's clock: the trading day, filter times

DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    con_id: int
    primary_exchange: str
    price: Decimal  # reference price the random walk starts from
    long_name: str
    currency: str = "USD"
    sec_type: str = "STK"
    min_tick: Decimal = Decimal("0.01")

    @property
    def key(self) -> str:
        """How the simulator names the listing: the symbol of a US (USD) stock, else
        ``SYMBOL@PRIMARY:CUR`` (SAP@IBIS:EUR beside the US SAP), as the console keys listings."""
        if self.currency == "USD" or self.sec_type == "CASH":  # a forex pair is named by itself (EUR.USD)
            return self.symbol
        return f"{self.symbol}@{self.primary_exchange}:{self.currency}"


def default_universe_path() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "universe.csv"


def load_universe(path: str | Path | None = None) -> dict[str, Instrument]:
    """Read ``symbol,conId,primaryExchange,price,longName[,currency]`` rows (currency USD when
    blank); symbols are upper-cased. Keyed by :attr:`Instrument.key`, so a symbol may have a
    US listing and others in other currencies."""
    source = Path(path) if path else default_universe_path()
    instruments: dict[str, Instrument] = {}
    with source.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            symbol = row["symbol"].strip().upper()
            if not symbol:
                continue
            instrument = Instrument(
                symbol=symbol,
                con_id=int(row["conId"]),
                primary_exchange=row.get("primaryExchange", "NASDAQ").strip() or "NASDAQ",
                price=Decimal(row["price"].strip()),
                long_name=(row.get("longName") or symbol).strip(),
                currency=(row.get("currency") or "").strip().upper() or "USD",
            )
            instruments[instrument.key] = instrument
    if not instruments:
        raise ValueError(f"universe file {source} has no instruments")
    return instruments


SYNTHETIC_PREFIX = "SYN"
SYNTHETIC_FIRST_CON_ID = 900_000_001


def synthetic_universe(count: int) -> dict[str, Instrument]:
    """``count`` made-up stocks ``SYN0001``, ``SYN0002``, ... (conIds from 900000001, prices
    between 10 and 109.99), so that runs of hundreds or thousands of symbols can be tested."""
    if count < 0:
        raise ValueError("the number of synthetic symbols must be >= 0")
    width = max(4, len(str(count)))
    instruments = {}
    for i in range(1, count + 1):
        symbol = f"{SYNTHETIC_PREFIX}{i:0{width}d}"
        instruments[symbol] = Instrument(
            symbol=symbol,
            con_id=SYNTHETIC_FIRST_CON_ID + i - 1,
            primary_exchange="NASDAQ" if i % 2 else "NYSE",
            price=Decimal(10 + (i * 37) % 100) + Decimal(i % 100) / 100,
            long_name=f"SYNTHETIC STOCK {i}",
        )
    return instruments


@dataclass(slots=True)
class SimOrder:
    order_id: int
    client_id: int
    perm_id: int
    account: str
    symbol: str
    con_id: int
    action: str  # BUY / SELL
    quantity: Decimal
    order_type: str  # MKT / LMT / STP / STP LMT
    limit_price: Decimal | None
    tif: str  # DAY / GTC / IOC
    order_ref: str = ""
    outside_rth: bool = False
    exchange: str = "SMART"  # the route the client asked for (SMART or the listing's exchange)
    status: str = "PendingSubmit"
    filled: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    commission_paid: Decimal = ZERO
    created_at: datetime = field(default_factory=utcnow)
    completed_at: datetime | None = None
    completed_status: str = ""
    stop_price: Decimal | None = None  # STP / STP LMT: IB's auxPrice
    triggered: bool = False  # a stop order whose stop price was touched: it now works as MKT / LMT

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    def to_json(self) -> dict:
        return {
            "order_id": self.order_id,
            "client_id": self.client_id,
            "perm_id": self.perm_id,
            "account": self.account,
            "symbol": self.symbol,
            "con_id": self.con_id,
            "action": self.action,
            "quantity": str(self.quantity),
            "order_type": self.order_type,
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "tif": self.tif,
            "order_ref": self.order_ref,
            "outside_rth": self.outside_rth,
            "exchange": self.exchange,
            "status": self.status,
            "filled": str(self.filled),
            "avg_fill_price": str(self.avg_fill_price),
            "last_fill_price": str(self.last_fill_price),
            "commission_paid": str(self.commission_paid),
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "completed_status": self.completed_status,
            "stop_price": None if self.stop_price is None else str(self.stop_price),
            "triggered": self.triggered,
        }

    @classmethod
    def from_json(cls, data: dict) -> SimOrder:
        return cls(
            order_id=int(data["order_id"]),
            client_id=int(data["client_id"]),
            perm_id=int(data["perm_id"]),
            account=data["account"],
            symbol=data["symbol"],
            con_id=int(data["con_id"]),
            action=data["action"],
            quantity=Decimal(data["quantity"]),
            order_type=data["order_type"],
            limit_price=None if data.get("limit_price") is None else Decimal(data["limit_price"]),
            tif=data["tif"],
            order_ref=data.get("order_ref", ""),
            outside_rth=bool(data.get("outside_rth", False)),
            exchange=data.get("exchange", "SMART"),
            stop_price=None if data.get("stop_price") is None else Decimal(data["stop_price"]),
            triggered=bool(data.get("triggered", False)),
            status=data["status"],
            filled=Decimal(data["filled"]),
            avg_fill_price=Decimal(data["avg_fill_price"]),
            last_fill_price=Decimal(data["last_fill_price"]),
            commission_paid=Decimal(data.get("commission_paid", "0")),
            created_at=datetime.fromisoformat(data["created_at"]),
            completed_at=datetime.fromisoformat(data["completed_at"]) if data.get("completed_at") else None,
            completed_status=data.get("completed_status", ""),
        )


@dataclass(slots=True)
class SimExecution:
    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    account: str
    symbol: str
    con_id: int
    side: str  # BOT / SLD
    shares: Decimal
    price: Decimal
    time: datetime
    cum_qty: Decimal
    avg_price: Decimal
    order_ref: str
    exchange: str
    commission: Decimal = ZERO
    realized_pnl: Decimal | None = None  # None: an opening fill (IB sends UNSET)
    currency: str = "USD"  # of the price and the commission

    @property
    def base_id(self) -> str:
        return self.exec_id.rsplit(".", 1)[0]

    def to_json(self) -> dict:
        return {
            "execId": self.exec_id,
            "orderRef": self.order_ref,
            "permId": self.perm_id,
            "orderId": self.order_id,
            "clientId": self.client_id,
            "account": self.account,
            "symbol": self.symbol,
            "conId": self.con_id,
            "side": self.side,
            "shares": str(self.shares),
            "price": str(self.price),
            "commission": str(self.commission),
            "realizedPnl": None if self.realized_pnl is None else str(self.realized_pnl),
            "cumQty": str(self.cum_qty),
            "avgPrice": str(self.avg_price),
            "exchange": self.exchange,
            "currency": self.currency,
            "time": self.time.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict) -> SimExecution:
        return cls(
            exec_id=data["execId"],
            order_id=int(data["orderId"]),
            client_id=int(data["clientId"]),
            perm_id=int(data["permId"]),
            account=data["account"],
            symbol=data["symbol"],
            con_id=int(data["conId"]),
            side=data["side"],
            shares=Decimal(data["shares"]),
            price=Decimal(data["price"]),
            time=datetime.fromisoformat(data["time"]),
            cum_qty=Decimal(data["cumQty"]),
            avg_price=Decimal(data["avgPrice"]),
            order_ref=data.get("orderRef", ""),
            exchange=data.get("exchange", "SMART"),
            commission=Decimal(data.get("commission", "0")),
            realized_pnl=None if data.get("realizedPnl") is None else Decimal(data["realizedPnl"]),
            currency=data.get("currency", "USD"),
        )


@dataclass(slots=True)
class SimPosition:
    symbol: str
    con_id: int
    quantity: Decimal = ZERO
    avg_cost: Decimal = ZERO  # per share, commissions included (as IB reports it)
    realized_pnl: Decimal = ZERO

    def to_json(self) -> dict:
        return {
            "symbol": self.symbol,
            "con_id": self.con_id,
            "quantity": str(self.quantity),
            "avg_cost": str(self.avg_cost),
            "realized_pnl": str(self.realized_pnl),
        }

    @classmethod
    def from_json(cls, data: dict) -> SimPosition:
        return cls(
            symbol=data["symbol"],
            con_id=int(data["con_id"]),
            quantity=Decimal(data["quantity"]),
            avg_cost=Decimal(data["avg_cost"]),
            realized_pnl=Decimal(data.get("realized_pnl", "0")),
        )


@dataclass(slots=True)
class AccountSummarySubscription:
    """One reqAccountSummary: the tags asked (None: all), the $LEDGER currencies asked, and the
    values last sent, (account, tag, currency) -> value (an update sends those that changed)."""

    tags: frozenset[str] | None
    ledger: frozenset[str]
    sent: dict[tuple[str, str, str], str] = field(default_factory=dict)
