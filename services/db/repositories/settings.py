"""The single ``trade_settings`` row and the installation id it carries."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from services.db.models import EVERY_ACCOUNT, SETTINGS_ROW_ID, CancelAllMark, TradeSettings
from services.db.repositories.base import RepositoryError, insert_once
from services.domain import TradingState
from services.trade_settings_keys import AUTO_RECOVERY_DEFAULTS, EXECUTION_DEFAULTS


def cancel_all_concerns(canceled_all_account: str | None, account: str | None) -> bool:
    """Whether a Cancel All that acted on ``canceled_all_account`` concerns what works for
    ``account`` (a sender, an order): a Cancel All acts on the account it was connected to (IB's
    global cancel on each account of the login, each marked: ``mark_cancel_all``) and
    leaves another account's orders and senders as they are, as it tells the trader; one whose
    account is unknown (None: none connected, or made before it was recorded) concerns every
    account, and one of any account concerns what has no known account (the safe side)."""
    return not canceled_all_account or not account or account == canceled_all_account


def last_cancel_all_concerning(marks: Mapping[str, datetime], account: str | None) -> datetime | None:
    """Of the last Cancel All of each account (``cancel_all_marks``: account -> marker,
    ``EVERY_ACCOUNT`` for an unknown one), the latest marker that concerns ``account``
    (``cancel_all_concerns``); None: none does. The one answer to "did a Cancel All since my
    start concern me?" for a run's sender and its lease (the Cancel All's wait for senders), a
    trader's replace or manual order, reconciliation of a dead sender's claims, recovery and a
    run's next execute (``close_stopped``): each compares it with the marker it started under,
    or with an order's time."""
    return max((_utc(at) for acted_on, at in marks.items()
                if cancel_all_concerns(None if acted_on == EVERY_ACCOUNT else acted_on, account)), default=None)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


INSTALLATION_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely


def new_installation_id() -> str:
    """6 random characters (30 bits): the part of a client order id that differs between
    databases."""
    return "".join(secrets.choice(INSTALLATION_ID_ALPHABET) for _ in range(6))


# the row's columns read with one Core statement (every preview reads the settings: loading the
# ORM object cost several times the statement)
_SETTINGS = cast(Table, TradeSettings.__table__)
_READ = select(_SETTINGS).where(_SETTINGS.c.id == SETTINGS_ROW_ID)
_IDENTITY = identity_key(TradeSettings, SETTINGS_ROW_ID)


class SettingsRepository:
    """The single ``trade_settings`` row, created with the defaults on first use."""

    def __init__(self, session: Session, *, read_once: bool = False) -> None:
        """``read_once``: the row's columns read with Core are kept for this repository's later
        questions (a reader that changes no setting meanwhile: a preview asks three)."""
        self.session = session
        # held here: the session's identity map keeps rows only while something refers to them,
        # so a second question to one repository would otherwise read the row again
        self._row: TradeSettings | None = None
        self._read_once = read_once
        self._values: Row | None = None

    def exists(self) -> bool:
        """Whether the row is stored: a plain read, which on SQLite takes no write lock."""
        return self.session.execute(select(_SETTINGS.c.id).where(_SETTINGS.c.id == SETTINGS_ROW_ID)).first() is not None

    def get(self) -> TradeSettings:
        if self._row is not None:
            return self._row
        row = self.session.get(TradeSettings, SETTINGS_ROW_ID)
        if row is not None:
            self._row = row
            return row
        row, _ = insert_once(
            self.session,
            TradeSettings,
            {
                "id": SETTINGS_ROW_ID,
                "risk_defaults": {},
                "execution_data_source": "ib",
                "auto_recovery": dict(AUTO_RECOVERY_DEFAULTS),
                "execution": dict(EXECUTION_DEFAULTS),
                "trading_state": TradingState.ACTIVE,
                "installation_id": new_installation_id(),
            },
            ("id",),
        )
        self._row = row
        return row

    def _current(self) -> TradeSettings | Row:
        """What the readers read: the ORM row when this session holds it (its changes not yet
        flushed included), else the row's columns read with Core, the same transaction's view
        of the row, read again on every question (a row changed and flushed through another
        repository of the session is not held once nothing refers to it); the row is created
        when there is none."""
        if self._row is not None:
            return self._row
        held = self.session.identity_map.get(_IDENTITY)
        if held is not None:
            self._row = held
            return self._row
        if self._values is not None:
            return self._values
        # on the session's connection: a Core SELECT needs none of the session's handling of a
        # statement (a preview asks at every rebalance)
        values = self.session.connection().execute(_READ).one_or_none()
        if values is None:
            return self.get()
        if self._read_once:
            self._values = values
        return values

    def installation_id(self) -> str:
        """This database's installation id (generated once, then never changed)."""
        current = self._current()
        if current.installation_id:
            return current.installation_id
        row = self.get_for_update()
        if not row.installation_id:
            row.installation_id = new_installation_id()
            self.session.flush()
        return row.installation_id

    def get_for_update(self) -> TradeSettings:
        """The row locked until the transaction ends (MySQL ``FOR UPDATE``; SQLite's unit of
        work already holds the write lock)."""
        self.get()
        query = select(TradeSettings).where(TradeSettings.id == SETTINGS_ROW_ID).with_for_update()
        return self.session.scalars(query.execution_options(populate_existing=True)).one()

    def trading_state(self) -> TradingState:
        return self._current().trading_state

    def set_trading_state(self, state: TradingState | str) -> TradingState:
        row = self.get_for_update()
        row.trading_state = TradingState(state)
        self.session.flush()
        return row.trading_state

    def cancel_all_at(self) -> datetime | None:
        """The last Cancel All's marker, of any account (None: never)."""
        return self._current().cancel_all_at

    def cancel_all_marks(self) -> dict[str, datetime]:
        """The last Cancel All's marker per account it acted on (``EVERY_ACCOUNT``: unknown)."""
        return {account: _utc(at) for account, at in
                self.session.execute(select(CancelAllMark.account, CancelAllMark.marked_at))}

    def cancel_all_concerning(self, account: str | None) -> datetime | None:
        """The marker of the last Cancel All that concerns ``account`` (``last_cancel_all_concerning``;
        None: none did)."""
        return last_cancel_all_concerning(self.cancel_all_marks(), account)

    def mark_cancel_all(self, now: datetime, *accounts: str | None) -> datetime:
        """A new Cancel All marker, of each of ``accounts`` (the accounts it acted on: several for
        IB's global cancel, which cancels the orders of every account of the login; none, or None:
        unknown, every account's), one moment for all: ``now``, or just after the last one of any
        account when the clock says otherwise (every marker differs from the one before: a sender
        compares them)."""
        row = self.get_for_update()  # first: two Cancel Alls mark one after the other
        last = row.cancel_all_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        row.cancel_all_at = now if last is None or now > last else last + timedelta(microseconds=1)
        for key in sorted({account or EVERY_ACCOUNT for account in accounts} or {EVERY_ACCOUNT}):
            mark = self.session.get(CancelAllMark, key, populate_existing=True)
            if mark is None:
                self.session.add(CancelAllMark(account=key, marked_at=row.cancel_all_at))
            else:
                mark.marked_at = row.cancel_all_at
        self.session.flush()
        return row.cancel_all_at

    def risk_defaults(self) -> dict:
        return dict(self._current().risk_defaults or {})

    def set_risk_defaults(self, values: Mapping[str, Any]) -> dict:
        row = self.get_for_update()
        row.risk_defaults = dict(values)
        self.session.flush()
        return dict(row.risk_defaults)

    def auto_recovery(self) -> dict:
        """Stored values over the defaults of docs/plans.md, plan 003 (a partial dict keeps the other defaults)."""
        return {**AUTO_RECOVERY_DEFAULTS, **(self._current().auto_recovery or {})}

    def set_auto_recovery(self, values: Mapping[str, Any]) -> dict:
        unknown = set(values) - set(AUTO_RECOVERY_DEFAULTS)
        if unknown:
            raise RepositoryError(f"unknown auto-recovery settings: {', '.join(sorted(unknown))}")
        row = self.get_for_update()
        row.auto_recovery = {**AUTO_RECOVERY_DEFAULTS, **(row.auto_recovery or {}), **values}
        self.session.flush()
        return dict(row.auto_recovery)

    def execution(self) -> dict:
        """Plan limits (``plan_max_age_seconds``, ``plan_max_price_move_pct``) over the defaults."""
        return {**EXECUTION_DEFAULTS, **(self._current().execution or {})}

    def set_execution(self, values: Mapping[str, Any]) -> dict:
        unknown = set(values) - set(EXECUTION_DEFAULTS)
        if unknown:
            raise RepositoryError(f"unknown execution settings: {', '.join(sorted(unknown))}")
        row = self.get_for_update()
        row.execution = {**EXECUTION_DEFAULTS, **(row.execution or {}), **values}
        self.session.flush()
        return dict(row.execution)

    def remove(self, section: str, names: Iterable[str]) -> None:
        """Removes stored keys of ``section`` (risk, auto_recovery, execution), known or not: one of
        another version is never changed here, only removed; a known one reads its default again."""
        column = {"risk": "risk_defaults", "auto_recovery": "auto_recovery", "execution": "execution"}[section]
        row = self.get_for_update()
        gone = set(names)
        setattr(row, column, {k: v for k, v in (getattr(row, column) or {}).items() if k not in gone})
        self.session.flush()

    def execution_data_source(self) -> str:
        return self._current().execution_data_source

    def set_execution_data_source(self, source: str) -> str:
        row = self.get_for_update()
        row.execution_data_source = source
        self.session.flush()
        return row.execution_data_source
