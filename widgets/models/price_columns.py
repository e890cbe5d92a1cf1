"""Columns of prices, each shown to one number of places: its most precise price's (two to four,
services.core.wording.price_places), so that a column's decimal points line up. Each price to
its own, a column read 229.5 above 229.125 above 230 (the fills), 229.34 above 165.2431 (the
blotter's Avg price).

The places are kept as rows arrive (one price per column looked at, never a scan of the table):
they only grow until the rows are replaced (a new selection starts them again). When they grow,
the rows shown before are shown again at the new places, with one dataChanged over each price
column after the flush or the page that brought them."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from services.core.wording import price_places

from .base import fmt_price_at

R = TypeVar("R")

if TYPE_CHECKING:
    from .base import CoalescingTableModel as _Model
else:
    # a plain class at run time: a second QObject class in a model's bases (PySide builds one
    # meta-object for them) left the paged models' more_wanted signal unconnected
    _Model = Generic


class ColumnPlaces:
    """The places of some columns of prices, kept as their prices are looked at: each column's
    most precise price's so far (``price_places``: two to four). They only grow, until ``start``
    (the rows replaced). The rule of ``SharedPricePlaces`` and of the positions tree, which builds
    its own rows."""

    def __init__(self, columns: Iterable[int]) -> None:
        self.columns = tuple(columns)
        self._places: dict[int, int] = {}
        self.start()

    def start(self) -> None:
        self._places = dict.fromkeys(self.columns, price_places(()))

    def __getitem__(self, column: int) -> int:
        return self._places[column]

    def fit(self, column: int, price: Decimal | None) -> bool:
        """Whether ``price`` widened its column."""
        places = price_places((price,))
        if places > self._places[column]:
            self._places[column] = places
            return True
        return False


class SharedPricePlaces(_Model[R]):
    """A model mixin: ``PRICE_COLUMNS`` (column numbers) read to their shared places. Put it
    before the model's base (``class FillsModel(SharedPricePlaces[FillRecord],
    PagedTableModel[FillRecord])``); a model's own hooks call ``super()``."""

    PRICE_COLUMNS: ClassVar[tuple[int, ...]] = ()

    def __init__(self, parent=None, **kwargs) -> None:
        self._places = ColumnPlaces(self.PRICE_COLUMNS)
        self._places_grew = False
        super().__init__(parent, **kwargs)
        self._start_places()  # the columns' formats exist once the base has made them

    def _start_places(self) -> None:
        self._places.start()
        for column in self.PRICE_COLUMNS:
            self.set_column_format(column, fmt_price_at(self._places[column]))

    def _on_record_added(self, record: R) -> None:
        super()._on_record_added(record)
        self._fit_places(record)

    def _on_record_replaced(self, old: R, new: R) -> None:
        super()._on_record_replaced(old, new)
        self._fit_places(new)

    def _on_reset(self) -> None:
        super()._on_reset()
        self._start_places()

    def _fit_places(self, record: R) -> None:
        for column in self.PRICE_COLUMNS:
            if self._places.fit(column, self._value[column](record)):
                self.set_column_format(column, fmt_price_at(self._places[column]))
                self._places_grew = True

    def _show_places(self) -> None:
        """The rows shown before a price of more places came: their prices at the new places."""
        if self._places_grew and self._rows:
            last = len(self._rows) - 1
            for column in self.PRICE_COLUMNS:
                self.dataChanged.emit(self.index(0, column), self.index(last, column), [])
        self._places_grew = False

    def flush(self, limit: int | None = None) -> tuple[int, int]:
        result = super().flush(limit)
        self._show_places()
        return result

    def reset(self, records: Iterable[R] = ()) -> None:
        super().reset(records)
        self._places_grew = False  # every row is shown anew

    def _on_page_appended(self) -> None:
        """An older page of a PagedTableModel (its hook): its prices may widen the columns above it."""
        self._show_places()
