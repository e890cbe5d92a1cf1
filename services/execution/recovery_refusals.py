"""Why auto-recovery leaves a stuck order as it is (services.execution.recovery.AutoRecovery).

An order stored NEW and never sent is not sent when it changed since the pass read it
(``no_longer_new``), a halt or a Cancel All stopped it (``what_stopped``: a run's order, closed), a
Cancel All came after it (``canceled_all_since``: a manual one), or nothing may be sent now
(``Refusals.gate``). An order proven dead is not re-placed when any condition of
``Refusals.replace_refusal`` fails: the Cancel All, the retries, the plan's reference price and
the price's deviation from it, the market's hours, the gate, and today's risk limits.

Each reason is a sentence the audit log and the order's events keep; ``PASSING_REFUSALS`` are
the ones that pass with the session (the pass looks again), every other refusal is final. The
refusals that ask the broker or the database share them through ``Refusals``; the rest are plain
functions of the trade settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from services.core.contracts import ContractSpec
from services.db.repositories.settings import last_cancel_all_concerning
from services.domain import OrderState, TradeMode, TradingState, is_live_token

from .errors import BadInput, QueryFailed
from .halt_unsent import CANCEL_ALL_STOP, HALT, Stop, stopped_by
from .order_risk import (
    MarketInputs,
    Replacing,
    block_reasons,
    check_order_in,
    market_inputs,
    market_price,
    order_draft,
)
from .provider import ExecutionProvider
from .recovery_finding import reference_price, replacement_of
from .recovery_outcomes import Stuck, replacement_id

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
NOT_CONNECTED = "not connected"
NO_LIVE_WORD = "live mode and this session was not given the LIVE word"
# refusals that pass with the session (the connection comes back, the trader types the word):
# skipped for now, looked at again next pass; every other refusal is final
PASSING_REFUSALS = frozenset({NOT_CONNECTED, NO_LIVE_WORD})


class Refusals:
    """The refusals that ask: the broker (connected, its price, the market's hours), the
    database (the plan, a replacement stored already, the risk engine), the session (its LIVE
    word, as ``live_token`` reads it now)."""

    def __init__(self, db, provider: ExecutionProvider, session_open: Callable[[ContractSpec], bool],
                 live_token: Callable[[], str | None]) -> None:
        self.db = db
        self.provider = provider
        self.session_open = session_open
        self.live_token = live_token

    def gate(self, settings: dict) -> str | None:
        """What forbids sending anything now (halted, disconnected, no LIVE word), if anything.
        REDUCING too: recovery does not tell which orders grow the exposure (the risk engine
        does, for runs and manual orders), so it leaves them to the trader."""
        state = TradingState(settings["trading_state"])
        if state is not TradingState.ACTIVE:
            return f"trading is {state}"
        if not self.provider.is_connected:
            return NOT_CONNECTED
        if TradeMode(self.provider.mode) is TradeMode.LIVE and not is_live_token(self.live_token()):
            return NO_LIVE_WORD
        return None

    async def replace_refusal(self, stuck: Stuck, order: dict, settings: dict) -> str | None:
        """Why the dead order ``stuck`` (its row: ``order``) is not re-placed now, None when it may be."""
        # The trader canceled everything after it went out: the Cancel All found it closed
        # already (nothing to cancel) or, one by one, could not cancel another client's order;
        # a replacement would be a new order at the broker after the trader's cancel (the rule
        # reconciliation applies to an order a gone sender claimed before the Cancel All); a
        # Cancel All of another account left it as it was
        mark = last_cancel_all_concerning(settings["cancel_all_marks"], order["account"])
        if mark is not None and order["sent_at"] <= mark:
            return (f"sent before the Cancel All of {mark:%Y-%m-%d %H:%M:%S} UTC, which canceled everything: "
                    "not re-placed")
        max_retries = int(settings["max_auto_retries"])
        if stuck.retry_count >= max_retries:
            retries = f"{stuck.retry_count} retr{'y' if stuck.retry_count == 1 else 'ies'}"
            return f"proven dead, nothing filled; not re-placed: {retries} so far, max_auto_retries {max_retries}"
        if await asyncio.to_thread(replacement_of, self.db, stuck.id) is not None:
            return "already re-placed"
        if stuck.run_id is None:
            return "not an order of a run: no plan reference price; the trader decides"
        spec = order["spec"]
        reference = await asyncio.to_thread(reference_price, self.db, order["plan_id"], spec.key)
        if reference is None:
            return f"no reference price for {spec.key} in the run's plan: not re-placed"
        # the price first: the account's positions and values are asked for only when the
        # deviation, the hours and the gate leave the replacement to the risk check
        current = await market_price(self.provider, spec)
        if current is None:
            return f"no current price for {spec.key}: not re-placed"
        limit = Decimal(str(settings["max_price_deviation_pct"]))
        deviation = abs(current - reference) / reference * HUNDRED
        if deviation > limit:
            return (f"price moved {deviation:.2f} % from the plan's {reference} to {current}, more than "
                    f"max_price_deviation_pct {limit}: not re-placed")
        if not settings["allow_replace_outside_rth"]:
            await self._ask_hours(spec)
            if not self.session_open(spec):
                return f"{spec.key}: market outside its regular session and allow_replace_outside_rth is off: not re-placed"
        refusal = self.gate(settings)
        if refusal is not None:
            return refusal
        inputs = await market_inputs(self.provider, spec, ask_tick=False, price=current)
        return await self._risk_refusal(stuck, order, inputs)

    async def _risk_refusal(self, stuck: Stuck, order: dict, inputs: MarketInputs) -> str | None:
        """The replacement is a new order at the broker: it meets today's risk limits, positions
        and prices as a ticket would (services.execution.order_risk), standing for the dead
        order in the day's count. The plan's verdict was given at another moment."""
        replacing: Replacing = order["replacing"]
        try:
            _, report, _ = await asyncio.to_thread(
                check_order_in, self.db, self.provider,
                lambda seen: order_draft(order["spec"], order["side"], order["quantity"], order["order_type"], seen,
                                         replacement_id(stuck.client_order_id, stuck.retry_count + 1),
                                         limit_price=order["limit_price"], tif=order["tif"]),
                inputs, project=replacing.project_id, replacing=replacing)
        except BadInput as exc:  # a stored limit no rule of this version checks refuses it, as it refuses a ticket
            return f"refused by risk now ({exc}): not re-placed"
        if not report.blocked:
            return None
        if await asyncio.to_thread(replacement_of, self.db, stuck.id) is not None:
            # another process's pass stored it since this one looked (its client order id is the
            # one checked here: 'duplicate_order'): the order was re-placed, not refused by risk
            return "already re-placed"
        return f"blocked by risk now ({block_reasons(report)}): not re-placed"

    async def _ask_hours(self, spec: ContractSpec) -> None:
        """Whether the market trades now comes from the broker, as in TWS: ask for the listing's
        hours (kept by the provider, where ``session_open`` reads them); the exchange calendar
        decides only when the broker cannot say."""
        ask = getattr(self.provider, "trading_hours", None)
        if ask is None:
            return
        try:
            await ask(spec)
        except (QueryFailed, ConnectionError) as exc:
            log.info("recovery: trading hours of %s not known (%s): the exchange calendar decides", spec.key, exc)


def canceled_all_since(created_at: datetime, settings: dict, account: str | None = None) -> str | None:
    """Why a manual order never sent is not sent by recovery: it was stored at or before the last
    Cancel All of its account (``last_cancel_all_concerning``: one of another account left it),
    which canceled everything not sent; sent now it would be a new order at the broker after the
    trader canceled everything. (A run's order is closed instead: ``what_stopped``.)"""
    mark = last_cancel_all_concerning(settings["cancel_all_marks"], account)
    if mark is None or created_at > mark:
        return None
    return f"stored before the Cancel All of {mark:%Y-%m-%d %H:%M:%S} UTC, which canceled everything not sent: not sent"


def what_stopped(created_at: datetime, settings: dict, account: str | None = None) -> tuple[Stop, str] | None:
    """Why a run's order never sent is closed rather than sent, and what stopped it: trading is
    HALTED now, or it was stored at or before the last halt, which stopped its run, or at or
    before the last Cancel All, which canceled everything not sent (a sender that held it then
    died, or gave it back NEW after the stop had listed what to close, and reconciliation gave
    it back NEW since). Sent now it would reach the broker at a price the trader never confirmed
    for the market as it is, or after the trader canceled everything: the trader previews again."""
    if TradingState(settings["trading_state"]) is TradingState.HALTED:
        return HALT, "trading is HALTED: the halt stopped it before it was sent"
    halted_at = settings["halted_at"]
    canceled_all_at = last_cancel_all_concerning(settings["cancel_all_marks"], account)
    stop = stopped_by(created_at, halted_at, canceled_all_at)
    if stop is HALT:
        return HALT, f"stored before the halt of {halted_at:%Y-%m-%d %H:%M:%S} UTC, which stopped its run before it was sent"
    if stop is CANCEL_ALL_STOP:
        return stop, (f"stored before the Cancel All of {canceled_all_at:%Y-%m-%d %H:%M:%S} UTC, which canceled "
                      "everything not sent")
    return None


def no_longer_new(status: OrderState, order: dict) -> str:
    """Why a NEW order found changed is not sent: the lookup at the broker found it (the broker
    knows it: a permId), or the trader canceled it, or a sender claimed or sent it since
    the pass read it (SENDING, or SUBMITTED with no broker answer yet: the run's sender in another
    process, between this pass's read and its decision), which says nothing about the broker."""
    if order["ib_perm_id"]:
        return f"found at the broker by its order ref: now {status}; nothing to send"
    if status in (OrderState.SENDING, OrderState.SUBMITTED):
        return f"claimed by a sender since this pass read it (now {status}, no answer from the broker yet); nothing to send"
    return f"now {status} (changed since this pass read it); nothing to send"
