"""What an account holds: positions (one row per project + account + listing) and the equity curve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, or_, select, update
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Session

from services.db.convert import position_record
from services.db.models import AccountRates, EquitySnapshot, Position
from services.db.repositories.base import (
    RepositoryError,
    cursor_result,
    execute_many,
    fetch_all,
    normalize_values,
)
from services.db.types import ExactDecimal, UTCDateTime, as_decimal, utcnow
from services.domain import PositionRecord


@dataclass(frozen=True, slots=True)
class PositionWrite:
    """One position to set (``PositionRepository.upsert_many``); ``realized_pnl=None`` keeps the stored value."""

    project_id: int | None
    account: str
    symbol: str
    quantity: Decimal | int | str
    average_cost: Decimal | int | str
    realized_pnl: Decimal | int | str | None = None
    # a fill's price and time (the writer): the row's mark, unless it holds a newer one; None keeps the stored mark
    market_price: Decimal | None = None
    marked_at: datetime | None = None


# built once: building a statement costs more than running it on SQLite (the writer reads
# positions in every batch). The rows of one account for several projects at once (a superset:
# every project key with every symbol, filtered to the wanted keys in Python): the writer's
# project and account rows in one statement, where a query per project was two.
_POSITIONS_OF_ACCOUNT = select(Position).where(
    Position.account == bindparam("account"), Position.project_key.in_(bindparam("project_keys", expanding=True)),
    Position.symbol.in_(bindparam("symbols", expanding=True))).execution_options(populate_existing=True)
_POSITION_TABLE = cast(Table, Position.__table__)
_OF_ACCOUNT = (_POSITION_TABLE.c.account == bindparam("account"),
               _POSITION_TABLE.c.project_key.in_(bindparam("project_keys", expanding=True)),
               _POSITION_TABLE.c.symbol.in_(bindparam("symbols", expanding=True)))
_AMOUNTS_OF_ACCOUNT = select(_POSITION_TABLE.c.project_key, _POSITION_TABLE.c.symbol, _POSITION_TABLE.c.quantity,
                             _POSITION_TABLE.c.average_cost, _POSITION_TABLE.c.realized_pnl).where(*_OF_ACCOUNT)
# after an upsert, what it did not write or may not have: the stored mark (the written fill's or a
# newer one), the row's project, currency and venue as first inserted, and the realized P&L for a
# write that keeps it
_KEPT_OF_ACCOUNT = select(_POSITION_TABLE.c.project_key, _POSITION_TABLE.c.symbol, _POSITION_TABLE.c.project_id,
                          _POSITION_TABLE.c.currency, _POSITION_TABLE.c.exchange, _POSITION_TABLE.c.market_price,
                          _POSITION_TABLE.c.marked_at).where(*_OF_ACCOUNT)
_KEPT_WITH_REALIZED = _KEPT_OF_ACCOUNT.add_columns(_POSITION_TABLE.c.realized_pnl)
_UPSERTS: dict[tuple[str, bool], Any] = {}
# what an upsert's rows hold, in this order
_UPSERT_COLUMNS = ("project_id", "project_key", "account", "symbol", "currency", "exchange", "quantity", "average_cost",
                   "realized_pnl", "updated_at", "market_price", "marked_at")
ZERO = Decimal(0)


class PositionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(
        self,
        account: str,
        symbol: str,
        quantity: Decimal | int | str,
        average_cost: Decimal | int | str,
        *,
        realized_pnl: Decimal | int | str | None = None,
        project_id: int | None = None,
        updated_at: datetime | None = None,
    ) -> Position:
        """Set the position of (project, account, symbol), creating it if needed, in one
        statement (safe against a concurrent writer). ``realized_pnl=None`` keeps the stored value.
        ``symbol`` is the listing key (``ContractSpec.key``); its currency and venue are stored
        beside it."""
        stored = self.upsert_many([PositionWrite(project_id, account, symbol, quantity, average_cost, realized_pnl)],
                                  updated_at=updated_at)
        return stored[(project_id or 0, account, symbol)]

    def upsert_many(self, writes: list[PositionWrite], *, updated_at: datetime | None = None) -> dict[tuple[int, str, str], Position]:
        """``upsert`` for many positions: one executemany per kind of write (with or without a
        realized P&L) and one SELECT reading them back; keyed by (project key, account, symbol)."""
        self._upsert(writes, updated_at)
        return self._read_back(writes, self.get_many)

    def upsert_records(self, writes: list[PositionWrite], *, updated_at: datetime | None = None) -> dict[tuple[int, str, str], PositionRecord]:
        """``upsert_many`` as records (what the writer hands on: loading ORM objects cost more
        than the statements), keyed alike, as the upserts left the rows (the stored mark, the
        amounts at their column's scale). What the upserts wrote is not read back but taken as the
        column types store it (``stored``: the same values, without converting every column of
        every row again); what they did not write (the mark, which a write's fill sets only when the
        row holds none as new, the row's project, currency and venue as first inserted, a
        realized P&L kept) is read back after them, as before (a mark stored meanwhile by another
        transaction is seen)."""
        now = updated_at or utcnow()
        self._upsert(writes, now)
        keep_realized = any(w.realized_pnl is None for w in writes)
        kept = self._many(_KEPT_WITH_REALIZED if keep_realized else _KEPT_OF_ACCOUNT,
                          [(w.project_id, w.account, w.symbol) for w in writes], self._fetch)
        columns = _POSITION_TABLE.c
        quantity, cost, money = (cast(ExactDecimal, c.type) for c in (columns.quantity, columns.average_cost, columns.realized_pnl))
        written_at = cast(UTCDateTime, columns.updated_at.type).stored(now)
        out: dict[tuple[int, str, str], PositionRecord] = {}
        for w in writes:
            key = (w.project_id or 0, w.account, w.symbol)
            row = kept[key]
            realized = row.realized_pnl if w.realized_pnl is None else money.stored(w.realized_pnl)
            out[key] = position_record(row.project_id, w.account, w.symbol, quantity.stored(w.quantity),
                                       cost.stored(w.average_cost), realized, written_at, row.market_price, row.currency,
                                       row.exchange, row.marked_at)
        if len(out) != len(writes):  # which of two writes of one row won is the database's to say
            raise ValueError("two writes of one position in one upsert_records")
        return out

    def write_many(self, writes: list[PositionWrite], *, updated_at: datetime | None = None) -> None:
        """``upsert_many`` without reading the rows back (nobody wants their records)."""
        self._upsert(writes, updated_at)

    @staticmethod
    def _read_back(writes: list[PositionWrite], read) -> dict[tuple[int, str, str], Any]:
        """The written rows as ``read`` (``get_many``) returns them, in the writes' order."""
        found = read([(w.project_id, w.account, w.symbol) for w in writes])
        return {key: found[key] for key in ((w.project_id or 0, w.account, w.symbol) for w in writes)}

    def _upsert(self, writes: list[PositionWrite], updated_at: datetime | None) -> None:
        """Run the upserts: one executemany through the driver (``execute_many``) per kind of
        write; the column types check and convert the amounts (exact decimals at their scale)."""
        from services.core.contracts import ContractSpec

        now = updated_at or utcnow()
        listings: dict[str, tuple[str, str]] = {}  # symbol -> (currency, venue): a fill's project and account rows share it
        for keep_realized in (False, True):
            rows = []
            for w in writes:
                if (w.realized_pnl is None) is not keep_realized:
                    continue
                listed = listings.get(w.symbol)
                if listed is None:
                    listing = ContractSpec.from_key(w.symbol)
                    listed = listings[w.symbol] = (listing.currency, listing.venue)
                rows.append((w.project_id, w.project_id or 0, w.account, w.symbol, *listed,
                             w.quantity, w.average_cost, ZERO if w.realized_pnl is None else w.realized_pnl, now,
                             w.market_price, w.marked_at))
            if rows:
                execute_many(self.session, self._upsert_statement(keep_realized), _UPSERT_COLUMNS, rows)

    def _upsert_statement(self, keep_realized: bool):
        dialect = self.session.get_bind().dialect.name
        statement = _UPSERTS.get((dialect, keep_realized))
        if statement is None:
            statement = _UPSERTS[(dialect, keep_realized)] = self._build_upsert(dialect, keep_realized)
        return statement

    @staticmethod
    def _build_upsert(dialect: str, keep_realized: bool):
        changing = ["quantity", "average_cost", "updated_at"] + ([] if keep_realized else ["realized_pnl"])
        table = cast(Table, Position.__table__)
        if dialect == "sqlite":
            sqlite_insert = sqlite_dialect.insert(table)
            return sqlite_insert.on_conflict_do_update(
                index_elements=["project_key", "account", "symbol"],
                set_={**{name: sqlite_insert.excluded[name] for name in changing},
                      **_marking(table, sqlite_insert.excluded)},
            )
        if dialect in ("mysql", "mariadb"):
            mysql_insert = mysql_dialect.insert(table)
            # a list: MySQL runs the assignments in this order (_marking's market_price first)
            return mysql_insert.on_duplicate_key_update(
                [(name, mysql_insert.inserted[name]) for name in changing] + list(_marking(table, mysql_insert.inserted).items()))
        raise RepositoryError(f"upsert not implemented for {dialect}")  # pragma: no cover

    def get(self, account: str, symbol: str, *, project_id: int | None = None) -> Position | None:
        query = select(Position).where(
            Position.project_key == (project_id or 0), Position.account == account, Position.symbol == symbol
        )
        return self.session.scalars(query.execution_options(populate_existing=True)).one_or_none()

    def get_many(self, keys: list[tuple[int | None, str, str]]) -> dict[tuple[int, str, str], Position]:
        """The stored rows of these (project id or None, account, symbol) keys, keyed by (project
        key, account, symbol); a key without a row is absent. One SELECT per account."""
        return self._many(_POSITIONS_OF_ACCOUNT, keys, self.session.scalars)

    def amounts_many(self, keys: list[tuple[int | None, str, str]]) -> dict[tuple[int, str, str], Any]:
        """``get_many`` as plain rows with the amounts alone (``quantity``, ``average_cost``, ``realized_pnl``;
        ``project_key`` and ``symbol``): what the writer books a batch's fills on."""
        return self._many(_AMOUNTS_OF_ACCOUNT, keys, self._fetch)

    def _fetch(self, query, params):
        return fetch_all(self.session, query, params)

    @staticmethod
    def _many(query, keys: list[tuple[int | None, str, str]], run) -> dict[tuple[int, str, str], Any]:
        wanted: dict[str, set[tuple[int, str]]] = {}
        for project_id, account, symbol in keys:
            wanted.setdefault(account, set()).add((project_id or 0, symbol))
        out: dict[tuple[int, str, str], Any] = {}
        for account, pairs in sorted(wanted.items()):
            project_keys = sorted({p for p, _ in pairs})
            ordered = sorted({s for _, s in pairs})
            for i in range(0, len(ordered), 500):
                chunk = {"account": account, "project_keys": project_keys, "symbols": ordered[i:i + 500]}
                for row in run(query, chunk):
                    if (row.project_key, row.symbol) in pairs:
                        out[(row.project_key, account, row.symbol)] = row
        return out

    def list(self, *, account: str | None = None, project_id: int | None = None, nonzero_only: bool = False) -> list[Position]:
        query = select(Position).execution_options(populate_existing=True)
        if account is not None:
            query = query.where(Position.account == account)
        if project_id is not None:
            query = query.where(Position.project_key == project_id)
        if nonzero_only:
            query = query.where(Position.quantity != 0)
        return list(self.session.scalars(query.order_by(Position.account, Position.symbol, Position.project_key)))

    def mark(self, account: str, prices: Mapping[str, Decimal], when: datetime | None = None,
             seen: Mapping[str, datetime] | None = None) -> int:
        """Store the last market price of each symbol on every row of the account (project rows
        included). ``seen``: when each price was seen (a stream's last tick may be older than
        ``when``): it is stored only on the rows without a newer mark (a fill since), at that
        time. Returns how many rows were marked."""
        when = when or utcnow()
        marked = 0
        for symbol, price in sorted(prices.items()):
            query = update(Position).where(Position.account == account, Position.symbol == symbol)
            at = when
            if seen is not None:
                at = seen.get(symbol, when)
                query = query.where(or_(Position.marked_at.is_(None), Position.marked_at <= at))
            result = cursor_result(self.session.execute(
                query.values(market_price=as_decimal(price), marked_at=at).execution_options(synchronize_session=False)))
            marked += result.rowcount or 0
        return marked


def _marking(table: Table, written) -> dict[str, Any]:
    """The upsert's assignments of the mark: the written one (a fill's price and time) where
    there is one and the row holds none as new, else the stored one. ``market_price`` first and
    both compared with the stored ``marked_at``: MySQL's ON DUPLICATE KEY UPDATE runs its
    assignments left to right, each seeing the ones before it (SQLite's all see the old row)."""
    newer = and_(written.marked_at.is_not(None), or_(table.c.marked_at.is_(None), table.c.marked_at <= written.marked_at))
    return {"market_price": case((newer, written.market_price), else_=table.c.market_price),
            "marked_at": case((newer, written.marked_at), else_=table.c.marked_at)}


class EquityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        account: str,
        cash: Decimal | int | str,
        equity: Decimal | int | str,
        *,
        realized_pnl: Decimal | int | str = 0,
        unrealized_pnl: Decimal | int | str = 0,
        project_id: int | None = None,
        time: datetime | None = None,
    ) -> EquitySnapshot:
        row = EquitySnapshot(
            **normalize_values(
                EquitySnapshot,
                {
                    "account": account,
                    "cash": cash,
                    "equity": equity,
                    "realized_pnl": realized_pnl,
                    "unrealized_pnl": unrealized_pnl,
                    "project_id": project_id,
                    "time": time or utcnow(),
                },
            )
        )
        self.session.add(row)
        self.session.flush()
        return row

    def store_rates(self, account: str, base: str, rates: Mapping[str, Decimal], when: datetime | None = None) -> None:
        """The account's rates as it reports them now, in place of the ones stored before: one
        upsert, not a read then an insert. Two writers of an account's first rates (a preview
        and the equity recorder, two processes) each read no row on MariaDB, and the second
        insert failed on the key, and with it the preview or the sample that wrote it."""
        dialect = self.session.get_bind().dialect.name
        statement = _RATES_UPSERTS.get(dialect)
        if statement is None:
            statement = _RATES_UPSERTS[dialect] = _rates_upsert(dialect)
        execute_many(self.session, statement, _RATES_COLUMNS,
                     [(account, base, {c: str(r) for c, r in sorted(rates.items())}, when or utcnow())])

    def every_accounts_rates(self) -> list[tuple[str, str, dict[str, Decimal], datetime]]:
        """(account, base, rates, when) of the rates stored for each account, by account: each
        account's lines convert at its own (services.console_books)."""
        return [_rates_of_row(row) for row in self.session.scalars(select(AccountRates).order_by(AccountRates.account))]

    def rates_of(self, account: str) -> tuple[str, str, dict[str, Decimal], datetime] | None:
        """(account, base, rates, when) of the rates stored for ``account``, None when none were
        (another account's are never this one's)."""
        row = self.session.get(AccountRates, account)
        return _rates_of_row(row) if row is not None else None

    def list(
        self,
        *,
        account: str | None = None,
        project_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[EquitySnapshot]:
        query = select(EquitySnapshot)
        if account is not None:
            query = query.where(EquitySnapshot.account == account)
        if project_id is not None:
            query = query.where(EquitySnapshot.project_id == project_id)
        if since is not None:
            query = query.where(EquitySnapshot.time >= since)
        if until is not None:
            query = query.where(EquitySnapshot.time <= until)
        return list(self.session.scalars(query.order_by(EquitySnapshot.time, EquitySnapshot.id)))

    def latest(self, account: str) -> EquitySnapshot | None:
        query = select(EquitySnapshot).where(EquitySnapshot.account == account)
        return self.session.scalars(query.order_by(EquitySnapshot.time.desc(), EquitySnapshot.id.desc()).limit(1)).first()


_RATES_COLUMNS = ("account", "base", "rates", "rated_at")
_RATES_UPSERTS: dict[str, Any] = {}


def _rates_upsert(dialect: str):
    table = cast(Table, AccountRates.__table__)
    changing = _RATES_COLUMNS[1:]
    if dialect == "sqlite":
        sqlite_insert = sqlite_dialect.insert(table)
        return sqlite_insert.on_conflict_do_update(index_elements=["account"],
                                                   set_={name: sqlite_insert.excluded[name] for name in changing})
    if dialect in ("mysql", "mariadb"):
        mysql_insert = mysql_dialect.insert(table)
        return mysql_insert.on_duplicate_key_update({name: mysql_insert.inserted[name] for name in changing})
    raise RepositoryError(f"upsert not implemented for {dialect}")  # pragma: no cover


def _rates_of_row(row: AccountRates) -> tuple[str, str, dict[str, Decimal], datetime]:
    return row.account, row.base, {c: Decimal(r) for c, r in (row.rates or {}).items()}, row.rated_at
