"""The market-health gate: checked before every run sends and before every manual order.

Healthy means: connected to the gateway; no lost connectivity (1100) outstanding (until 1101 or
1102); the data farms reported OK at connect (market data 2104, historical data 2106, security
definitions 2158) and none reported broken (2103, 2105, 2157) since; and the market of every
listing about to be traded in its session (the contract details' hours from the broker, or the
exchange calendar when the broker gave none). A market order outside the regular session is
refused (IB would hold it until the open, at whatever price the open brings); a limit order
outside the regular session only when the trader allows it (``outside_rth``).

Reference prices are the risk engine's business (the stale-price rule of the preview; a plan's
prices carry their time and kind). The codes come from the one table, ``services.core.ib_codes``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.core.contracts import ContractSpec
from services.core.ib_codes import CodeClass, classify
from services.core.trading_hours import TradingHours, calendar_name, market_open
from services.domain import OrderType

from .errors import ExecutionError
from .events import ConnectionEvent, ConnectionState

log = logging.getLogger(__name__)

# farm kind of each data-farm code, and whether it says the farm works
FARM_CODES: dict[int, tuple[str, bool]] = {
    2103: ("market data", False), 2104: ("market data", True), 2108: ("market data", True), 2119: ("market data", False),
    2105: ("historical data", False), 2106: ("historical data", True), 2107: ("historical data", True),
    2157: ("security definition", False), 2158: ("security definition", True),
}
REQUIRED_FARMS = ("market data", "historical data", "security definition")


@dataclass(frozen=True, slots=True)
class HealthReport:
    reasons: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.reasons

    def describe(self) -> str:
        return "healthy" if self.healthy else "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class TradeIntent:
    """What the session check needs of one order."""

    spec: ContractSpec
    order_type: OrderType = OrderType.MKT


class MarketHealth:
    """Follows the provider's connection states and data-farm notices; answers ``status()``
    (connection and farms) and ``check(intents)`` (that, plus the session of each listing)."""

    def __init__(self, provider, *, clock: Callable[[], datetime] | None = None) -> None:
        self.provider = provider
        self.clock = clock or (lambda: datetime.now(UTC))
        self.connectivity_lost = False
        self.lost_message = ""
        self.farms: dict[str, tuple[str, bool, int, str]] = {}  # farm name -> (kind, ok, code, message)
        self._listeners: list[Callable[[HealthReport], None]] = []
        # what the listeners last heard, and whether the gateway was ever reached: a window's first
        # connection is the connection indicator's to say ("connecting"), and each of its steps and
        # the farm notices of its handshake said "not connected to the gateway" again (four
        # warnings and a toast at every paper start). check() and status() answer as ever.
        self._heard: HealthReport | None = None
        self._reached = False
        provider.subscribe(self.on_connection)
        subscribe_notices = getattr(provider, "subscribe_notices", None)
        if subscribe_notices is not None:
            subscribe_notices(self.on_notice)

    # ------------------------------------------------------------------ what the provider reports
    def on_connection(self, event: ConnectionEvent) -> None:
        if event.state is ConnectionState.CONNECTING:
            self.farms.clear()  # a new connection: the gateway reports its farms again
            self.connectivity_lost = False
        elif event.state is ConnectionState.LOST:
            self.connectivity_lost, self.lost_message = True, event.detail
        elif event.state in (ConnectionState.RESTORED, ConnectionState.CONNECTED):
            self.connectivity_lost = False
        self._changed()

    def on_notice(self, code: int, message: str) -> None:
        kind = classify(code)
        if kind is CodeClass.CONNECTIVITY_LOST:
            self.connectivity_lost, self.lost_message = True, message
        elif kind is CodeClass.CONNECTIVITY_RESTORED:
            self.connectivity_lost = False
        elif code in FARM_CODES:
            farm_kind, ok = FARM_CODES[code]
            name = message.rpartition(":")[2].strip() if ":" in message else farm_kind
            self.farms[name or farm_kind] = (farm_kind, ok, code, message)
        else:
            return
        self._changed()

    def subscribe(self, callback: Callable[[HealthReport], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _changed(self) -> None:
        """Tell the listeners a report they have not heard yet (the same reasons again are not news),
        once the gateway was reached."""
        report = self.status()
        self._reached = self._reached or self.provider.is_connected
        if not self._reached or report == self._heard:
            return
        self._heard = report
        for listener in list(self._listeners):
            try:
                listener(report)
            except Exception:  # a failing subscriber must not stop the others
                log.exception("market-health listener failed")

    # ------------------------------------------------------------------ answers
    def status(self) -> HealthReport:
        """Connection and data farms (no listing asked)."""
        if not self.provider.is_connected:
            return HealthReport(("not connected to the gateway",))
        reasons: list[str] = []
        if self.connectivity_lost:
            reasons.append(f"connectivity between IB and the gateway lost (1100){': ' + self.lost_message if self.lost_message else ''}")
        broken = [f"{code} {message}" for _, ok, code, message in self.farms.values() if not ok]
        reasons.extend(f"data farm broken: {b}" for b in sorted(broken))
        seen = {kind for kind, ok, _, _ in self.farms.values() if ok}
        missing = [k for k in REQUIRED_FARMS if k not in seen and not any(v[0] == k for v in self.farms.values())]
        if missing:
            reasons.append("no data-farm OK reported for " + ", ".join(missing) + " (2104/2106/2158)")
        return HealthReport(tuple(reasons))

    async def hours_of(self, spec: ContractSpec) -> TradingHours | None:
        lookup = getattr(self.provider, "trading_hours", None)
        if lookup is None:
            return None
        try:
            return await lookup(spec)
        except (ExecutionError, TimeoutError, ConnectionError) as exc:  # no answer: the calendar decides
            log.warning("%s: trading hours not known (%s): the exchange calendar decides", spec.key, exc)
            return None

    def session_open(self, spec: ContractSpec) -> bool:
        """The listing's market in its regular session now, without asking the broker: the
        hours its contract details gave (kept by the provider), else the exchange calendar. The
        callable auto-recovery takes for "the market in its regular session"."""
        now = self.clock()
        known = getattr(self.provider, "known_hours", None)
        hours = known(spec) if known is not None else None
        if hours is not None and hours.covers(now):
            return hours.in_regular_session(now)
        return market_open(now, calendar_name(spec.primary_exchange, spec.currency))

    async def session_problems(self, intents: Iterable[TradeIntent], *, outside_rth: bool = False) -> list[str]:
        """Why some of these orders may not go now (their market closed, or outside its regular
        session), one line per listing."""
        now = self.clock()
        problems: list[str] = []
        by_listing: dict[str, list[TradeIntent]] = {}
        for intent in intents:
            by_listing.setdefault(intent.spec.key, []).append(intent)
        for key, group in sorted(by_listing.items()):
            spec = group[0].spec
            hours = await self.hours_of(spec)
            if hours is not None and hours.covers(now):
                regular, trading = hours.in_regular_session(now), hours.is_open(now)
                source = "the broker's trading hours"
            else:
                regular = trading = market_open(now, calendar_name(spec.primary_exchange, spec.currency))
                source = f"the {calendar_name(spec.primary_exchange, spec.currency)} calendar"
            if regular:
                continue
            # a stop order becomes a market order when it triggers
            if any(i.order_type in (OrderType.MKT, OrderType.STP) for i in group):
                closed = "closed" if not trading else "outside its regular session"
                problems.append(f"{key}: market {closed} at {now:%Y-%m-%d %H:%M} UTC ({source}): a market order is refused")
            elif not outside_rth:
                problems.append(f"{key}: outside the regular session ({source}): a limit order needs outside_rth")
        return problems

    async def check(self, intents: Sequence[TradeIntent] = (), *, outside_rth: bool = False) -> HealthReport:
        report = self.status()
        if not report.healthy:
            return report
        return HealthReport(tuple(await self.session_problems(intents, outside_rth=outside_rth)))
