"""The equity recorder: while connected, samples the account's net liquidation value and the
market prices of the held symbols and stores them (``equity_snapshots``, and the last mark on
each position), so the equity chart and the positions' market values survive a restart.

The composition root starts it next to the execution engine; the window only reads what it
stored (``services.console_queries.equity_history``).

A snapshot row: ``equity`` is IB's NetLiquidation; ``realized_pnl`` and ``unrealized_pnl`` come
from the account's positions (the one positions book's numbers, marked at the sampled prices);
``cash`` is equity minus the positions' market value (a position without a price counts at its
average cost). With each sample the account's exchange rates are stored too (``account_rates``,
from the account summary the adapter keeps: no extra request), for the ``positions`` command.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from services.core.positions_book import PositionState
from services.db.models import Position
from services.db.repositories.portfolio import EquityRepository, PositionRepository

from .errors import BrokerError, NotConnected, QueryFailed
from .ib_contracts import FxRates
from .provider import ExecutionProvider

log = logging.getLogger(__name__)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class EquitySample:
    time: datetime
    account: str
    equity: Decimal
    cash: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    marks: dict[str, Decimal]


class EquityRecorder:
    def __init__(self, db, provider: ExecutionProvider, *, interval: float = 30.0, max_marked_symbols: int = 40) -> None:
        self.db = db
        self.provider = provider
        self.interval = interval
        self.max_marked_symbols = max_marked_symbols  # market data shares IB's ~45 msg/s budget
        self._task: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="equity-recorder")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception:  # the loop logs its own failures; stopping goes on regardless
                log.debug("equity poller ended with an error", exc_info=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed sample never stops the recorder
                log.exception("equity sample failed")
            await asyncio.sleep(self.interval)  # the sampling clock, not a synchronisation

    async def sample(self, when: datetime | None = None) -> EquitySample | None:
        """One sample now, stored; None when not connected or IB gave no account value."""
        if not self.provider.is_connected:
            return None
        account = self.provider.account or ""
        try:
            equity = await self.provider.net_liquidation()
            if equity is None:
                return None
            held = await asyncio.to_thread(self._held_symbols, account)
            prices = await self.provider.market_prices(held[: self.max_marked_symbols]) if held else {}
            fx = await self.provider.exchange_rates()
        except (QueryFailed, NotConnected, BrokerError) as exc:
            log.info("equity sample skipped: %s", exc)
            return None
        marks = {s: p for s, p in prices.items() if p is not None}
        now = when or datetime.now(UTC)
        # when each price was seen (a streamed one: its last tick), so that it never covers a later fill's
        seen = {s: getattr(self.provider, "quote_info", {}).get(s, (now,))[0] for s in marks}
        return await asyncio.to_thread(self._store, account, equity, marks, fx, now, seen)

    def _held_symbols(self, account: str) -> list[str]:
        with self.db.session() as session:
            query = select(Position.symbol).where(Position.project_id.is_(None), Position.account == account,
                                                  Position.quantity != 0).order_by(Position.symbol)
            return list(session.scalars(query))

    def _store(self, account: str, equity: Decimal, marks: dict[str, Decimal], fx: FxRates, when: datetime,
               seen: dict[str, datetime]) -> EquitySample:
        with self.db.unit_of_work() as session:
            if marks:
                PositionRepository(session).mark(account, marks, when, seen)
            EquityRepository(session).store_rates(account, fx.base, fx.rates, when)
            rows = session.scalars(select(Position).where(Position.project_id.is_(None), Position.account == account)).all()
            market_value = realized = unrealized = ZERO
            for row in rows:
                state = PositionState(row.quantity, row.average_cost, row.realized_pnl)
                mark = row.market_price  # the sampled price, unless a fill since it is newer
                realized += state.realized_pnl
                if mark is not None:
                    unrealized += state.unrealized_pnl(mark)
                market_value += state.quantity * (mark if mark is not None else state.average_cost)
            cash = equity - market_value
            EquityRepository(session).append(account, cash, equity, realized_pnl=realized, unrealized_pnl=unrealized, time=when)
        return EquitySample(when, account, equity, cash, realized, unrealized, marks)
