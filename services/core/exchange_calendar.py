"""The New York exchange calendar, built for the years it covers.

``exchange_calendars`` lists a calendar's sessions with a pandas business-day offset whose
holiday calendar, asked without a range, works out every holiday rule from 1970 to 2200: about
two thirds of building the XNYS calendar (0.25 s on a first call, 6 % of a backtest) go to
holidays outside the twenty years the calendar covers. This subclass asks the same rules for
the calendar's own years only, and works them out once (the library makes a new holiday
calendar for each question, so the special closes' check worked them out again); its sessions,
opens and closes are the library's
(tests/core/test_trading_hours.py compares them with ``get_calendar("XNYS")``). Imported only
when the calendar is first asked for (the library takes about a second to import).
"""

from __future__ import annotations

import pandas as pd
from exchange_calendars.exchange_calendar_xnys import XNYSExchangeCalendar
from pandas.tseries.offsets import CustomBusinessDay


class XNYSCalendar(XNYSExchangeCalendar):
    """XNYS with the holidays of its own years (whole years, both ends included)."""

    def __init__(self, start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
                 side: str = "left") -> None:
        first = self.default_start() if start is None else pd.Timestamp(start)
        last = self.default_end() if end is None else pd.Timestamp(end)
        self._holiday_years = (pd.Timestamp(first.year, 1, 1), pd.Timestamp(last.year, 12, 31))
        super().__init__(start, end, side)

    @property
    def regular_holidays(self):
        # one holiday calendar for the calendar's life (the library makes a new one on every
        # call): pandas keeps the holidays it worked out for ``day``'s years, and the special
        # closes' check of the regular holidays (within those years) reads them instead of
        # working every rule out again
        held = self.__dict__.get("_regular_holidays")
        if held is None:
            held = self.__dict__["_regular_holidays"] = super().regular_holidays
        return held

    @property
    def day(self) -> CustomBusinessDay:
        # the library's offset (ExchangeCalendar.day) with the rules' holidays of these years
        regular = self.regular_holidays
        holidays = [*self.adhoc_holidays, *(regular.holidays(*self._holiday_years) if regular else [])]
        return CustomBusinessDay(holidays=holidays, weekmask=self.weekmask)
