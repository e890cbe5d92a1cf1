"""A held position the broker does not list (another process's fill of a listing this broker
does not know, one delisted since) failed every marking pass: one UnknownContract for all held
symbols, said as the window's 'Position marks' error every 15 s and after each fill, and no
position marked. It is left out (it keeps its stored mark) and the others are marked; on the
simulator with the real client."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.domain import PositionRecord
from services.position_marks import PositionMarks, mark_said

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]


def _held(symbol: str) -> PositionRecord:
    return PositionRecord(None, "DU1", symbol, Decimal(10), Decimal(100), Decimal(0), datetime.now(UTC))


async def test_a_holding_the_broker_does_not_list_leaves_the_others_marked(stack, ib_log_guard):
    ib_log_guard.allow(r"Error 200, .*ZZOTHER")  # the broker's own answer for the unknown listing
    marks = PositionMarks()

    marked = await marks.refresh(stack.provider, [_held("AAPL"), _held("ZZOTHER"), _held("MSFT")])

    assert {p.symbol for p in marked if p.market_price is not None} == {"AAPL", "MSFT"}
    unlisted = next(p for p in marked if p.symbol == "ZZOTHER")
    assert unlisted.market_price is None
    assert marks.unlisted == {"ZZOTHER"}
    # the window's row says why it has no market price (it was left unmarked in silence)
    assert unlisted.unlisted and not any(p.unlisted for p in marked if p.symbol != "ZZOTHER")
    assert "does not list ZZOTHER" in (mark_said(unlisted) or "")
    assert marks.apply([_held("ZZOTHER")])[0].unlisted  # a later change set's record too
    again = await marks.refresh(stack.provider, [_held("ZZOTHER")])  # alone: nothing to ask, nothing raised
    assert [(p.market_price, p.unlisted) for p in again] == [(None, True)]
