"""A decision snapshot's items. Built from the frozen item values the snapshot service returns
(any object with symbol, weight, score, rank, price, sec_type, exchange, currency)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from services.core.wording import percent, shared_places

from .base import RIGHT, CoalescingTableModel, Column, fmt_decimal, fmt_price
from .price_columns import SharedPricePlaces


def _get(name: str):
    return lambda item: getattr(item, name, None)


class SnapshotItemsModel(SharedPricePlaces[Any], CoalescingTableModel[Any]):
    RANK, SYMBOL, WEIGHT, SCORE, PRICE, SEC_TYPE, EXCHANGE, CURRENCY = range(8)
    #: One number of places down the column (SharedPricePlaces), as the scores.
    PRICE_COLUMNS = (PRICE,)

    columns = (
        Column("Rank", _get("rank"), align=RIGHT),
        Column("Symbol", _get("symbol")),
        Column("Weight", _get("weight"), align=RIGHT, fmt=percent),
        Column("Score", _get("score"), align=RIGHT, fmt=fmt_decimal),
        Column("Price", _get("price"), align=RIGHT, fmt=fmt_price),
        Column("Type", _get("sec_type")),
        Column("Exchange", _get("exchange")),
        Column("Currency", _get("currency")),
    )

    def reset(self, records: Iterable[Any] = ()) -> None:
        """A snapshot's items, shown whole: its scores to the places of its most precise one, so
        that the column lines up (each to its own digits read 2.28, 1.8, 1.3)."""
        records = list(records)
        places = shared_places(getattr(item, "score", None) for item in records)
        self.set_column_format(self.SCORE, lambda score: fmt_decimal(score, places))
        super().reset(records)

    @staticmethod
    def key(record: Any) -> Hashable:
        return (getattr(record, "symbol", None), getattr(record, "sec_type", None), getattr(record, "exchange", None))
