"""Market hours of the simulator (``--market-hours always|regular|closed``) and the data-farm
notices a gateway sends at connect.

``always`` (the default): every listing trades around the clock, so demos and tests run at any
hour. ``regular``: the exchange's regular session from the exchange calendar (holidays, early
closes), extended hours 04:00-20:00 for US listings as IB reports them. ``closed``: never open.
The contract details carry ``tradingHours``, ``liquidHours`` and ``timeZoneId`` accordingly (the
format is in docs/ib-notes.md, "Trading hours"). Outside the regular session an order is held
PreSubmitted, as IB holds it, and released at the open: a timer set for the next open, or
``release_held_orders()`` (tests with an injected clock). A DAY order is good for one session of
its listing, the one it was placed in or, placed outside one, the next (``day_order_end``): still
working at its end, it is canceled, Expired (a timer set for that end, or
``expire_ended_day_orders()``). Always open, no session ends: a DAY order works until canceled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.core.trading_hours import TradingHours, calendar_name, calendar_zone, ib_zone, regular_session
from services.ibsim.base import SimulatorBase
from services.ibsim.model import NEW_YORK, Instrument, SimOrder

MARKET_HOURS = ("always", "regular", "closed")
DAYS_SENT = 7  # IB's contract details cover about a week

# (code, text) as a gateway sends them after the start of the API, request id -1
FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnyc"),
)


def ib_time_zone(instrument: Instrument) -> str:
    """The timeZoneId IB gives a listing (its market's zone)."""
    return "US/Eastern" if instrument.currency == "USD" else "MET" if instrument.currency == "EUR" else "GB"


@dataclass(frozen=True, slots=True)
class HoursText:
    trading: str
    liquid: str
    time_zone: str


def _stamp(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y%m%d:%H%M")


def hours_text(instrument: Instrument, mode: str, now: datetime) -> HoursText:
    """The tradingHours / liquidHours of a listing for the week starting yesterday."""
    tz_id = ib_time_zone(instrument)
    zone = ib_zone(tz_id)
    first = now.astimezone(zone).date() - timedelta(days=1)
    days = [first + timedelta(days=n) for n in range(DAYS_SENT)]
    if mode == "always" or (instrument.sec_type == "CASH" and mode != "closed"):
        spans = [f"{d:%Y%m%d}:0000-{d + timedelta(days=1):%Y%m%d}:0000" for d in days]
        text = ";".join(spans)
        return HoursText(text, text, tz_id)
    if mode == "closed":
        text = ";".join(f"{d:%Y%m%d}:CLOSED" for d in days)
        return HoursText(text, text, tz_id)
    calendar = calendar_name(instrument.primary_exchange, instrument.currency)
    trading, liquid = [], []
    for day in days:
        session = regular_session(day, calendar)
        if session is None:
            trading.append(f"{day:%Y%m%d}:CLOSED")
            liquid.append(f"{day:%Y%m%d}:CLOSED")
            continue
        liquid.append(f"{_stamp(session.start, zone)}-{_stamp(session.end, zone)}")
        if instrument.currency == "USD":  # IB's US extended hours: 04:00 to 20:00 (16:00 on an early close + 4 h)
            local = calendar_zone(calendar)
            start = datetime.combine(day, time(4, 0), local)
            end = session.end.astimezone(local) + timedelta(hours=4)
            trading.append(f"{_stamp(start, zone)}-{_stamp(end, zone)}")
        else:
            trading.append(liquid[-1])
    return HoursText(";".join(trading), ";".join(liquid), tz_id)


def _trades_outside_rth(order: SimOrder) -> bool:
    """A limit order with outsideRth works in the extended hours too; any other in the regular session only."""
    return order.order_type in ("LMT", "STP LMT") and order.outside_rth


class HoursMixin(SimulatorBase):
    """Which listing trades now, orders held until the open, the farm notices at connect."""

    def now(self) -> datetime:
        clock: Callable[[], datetime] | None = self.config.clock
        return clock() if clock is not None else datetime.now(UTC)

    def hours_of(self, instrument: Instrument) -> HoursText:
        return hours_text(instrument, self.config.market_hours, self.now())

    def _listing_hours(self, instrument: Instrument) -> TradingHours:
        text = self.hours_of(instrument)
        return TradingHours.from_ib(text.trading, text.liquid, text.time_zone)

    def may_fill_now(self, order: SimOrder) -> bool:
        """A market order, or a limit order without outsideRth, fills in the regular session only;
        a limit order with outsideRth in the extended hours too."""
        if self.config.market_hours == "always":
            return True
        hours = self._listing_hours(self.universe[order.symbol])
        now = self.now()
        if _trades_outside_rth(order):
            return hours.is_open(now)
        return hours.in_regular_session(now)

    def _hold_until_open(self, order: SimOrder) -> None:
        """IB's answer to an order outside its session: PreSubmitted, worked at the open."""
        hours = self._listing_hours(self.universe[order.symbol])
        opens = hours.next_open(self.now(), regular=not _trades_outside_rth(order))
        if opens is not None:
            self._later(max(0.0, (opens - self.now()).total_seconds()) + 0.01, self._release_at_open)

    def day_order_end(self, order: SimOrder) -> datetime | None:
        """When a DAY order stops working: the end of its listing's session it was placed in (the
        regular one, or the extended hours for an order that may trade in them), or of the next
        session when placed outside one (IB: good for the next trading day). The hours of the day
        it was placed (``created_at``, the simulator's clock), whenever asked; None when no
        session comes in the week they cover (``closed``), or always open: a market that never
        closes ends no session, so a DAY order works until canceled (the demo and the tests run
        always open at any hour: a day's end at midnight in New York would cancel a test's resting
        order at whatever moment the suite crossed it)."""
        if self.config.market_hours == "always":
            return None
        text = hours_text(self.universe[order.symbol], self.config.market_hours, order.created_at)
        hours = TradingHours.from_ib(text.trading, text.liquid, text.time_zone)
        return hours.session_end(order.created_at, regular=not _trades_outside_rth(order))

    def _expire_at_session_end(self, order: SimOrder) -> None:
        end = self.day_order_end(order)
        if end is not None:
            self._later(max(0.0, (end - self.now()).total_seconds()) + 0.01, lambda: self._expire_at_end(order))

    def ended_day_orders(self, *, restarted: bool = False) -> list[SimOrder]:
        """The working DAY orders whose session has ended by now. ``restarted`` (a state file
        loaded): always open too, those placed on an earlier day in New York, as the close of
        the day they were placed would have ended them (no session ends while it runs)."""
        now = self.now()
        working = [o for o in self._orders.values() if not o.is_done and o.tif == "DAY"]
        if self.config.market_hours == "always":
            today = now.astimezone(NEW_YORK).date()
            return [o for o in working if o.created_at.astimezone(NEW_YORK).date() < today] if restarted else []
        return [o for o in working if (end := self.day_order_end(o)) is not None and end <= now]

    def expire_ended_day_orders(self) -> int:
        """DAY orders still working at the end of their session are canceled (``expire_orders``)."""
        return self.expire_orders(self.ended_day_orders())

    def _expire_at_end(self, order: SimOrder) -> None:
        """The order's timer: it runs by the loop's clock, its end is the simulator's; a timer
        that ran before the end by the simulator's clock (set back meanwhile, or a test's that
        moves on its own) is set again for what is left."""
        if order.is_done:
            return
        end = self.day_order_end(order)
        if end is not None and end <= self.now():
            self.expire_orders([order])
        else:
            self._expire_at_session_end(order)

    def _release_at_open(self) -> None:
        self.release_held_orders()

    def release_held_orders(self) -> int:
        """Orders held PreSubmitted whose market is open now go Submitted and may fill."""
        released = 0
        for order in list(self._orders.values()):
            if not order.is_done and order.status == "PreSubmitted" and self.may_fill_now(order):
                order.status = "Submitted"
                self._send_order_update(order)
                self._try_match(order)
                released += 1
        return released

    def send_farm_notices(self, session) -> None:
        broken = self._broken_farms  # farms a fault broke say so instead (gateway_faults.py)
        for code, text in FARM_NOTICES:
            if text.rsplit(":", 1)[1] not in broken:
                session.error(-1, code, text)
