"""What the trader's order actions come to, as values the window and the commands both say.

``ReplaceResult`` (a replace), ``ReplaceCheck`` (its verdict before it is asked), ``Canceled``
(one row's Cancel) and ``Halted`` (a halt, with its Cancel All's ``CanceledOrders``): frozen
values that carry their own words (``headline``, ``outcome``), so that the window's activity log
and the CLI commands cannot word one outcome two ways. The actions that make them are services.execution.actions.OrderActions' parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.core.wording import counted, replaced_to
from services.domain import OrderRecord, OrderState, TradingState

from .cancel_all_outcome import CanceledOrders


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    order_id: int
    method: str  # "modify" | "cancel_and_new" | "nothing"
    new_order_id: int | None = None
    message: str = ""
    # what the replace made of the order: its new total quantity, limit and stop (a stop order's),
    # the ones not asked for being the order's own (the window's dialog fills in all; ``replace
    # --limit`` gives one)
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    def headline(self, order_name: str) -> str:
        """The replace said in one line, the window's activity log's and ``replace``'s alike:
        "Replace M-2611... to 8 @ 556.00: modified at the broker" (``order_name``: its client
        order id). The command said "to quantity 8", or "to limit 556", in words of its own."""
        becomes = f" to {replaced_to(self.quantity, self.limit_price, self.stop_price)}" if self.quantity is not None else ""
        return f"Replace {order_name}{becomes}: {self.outcome()}"

    def outcome(self) -> str:
        """What the replace came to, in the words the window's activity log and ``replace`` say
        (the command printed its method's name, ``cancel_and_new``): how the broker took it, or
        why nothing was done."""
        if self.method == "nothing":
            return self.message or "nothing to do"
        return _REPLACED_BY.get(self.method, self.method)


@dataclass(frozen=True, slots=True)
class ReplaceCheck:
    """A replace's verdict before it is asked (``OrderActions.check_replace``): the order as the
    replace would make it and risk's blocks of it, by the gates ``replace`` itself runs before
    anything is changed or canceled; nothing stored, nothing sent. The replace runs them again
    when it goes (prices and positions move meanwhile)."""

    order_id: int
    # what the replace would make of the order: its new total quantity, limit and stop
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    blocks: tuple[str, ...] = ()  # risk's blocks, "code: message" each

    @property
    def may_replace(self) -> bool:
        return not self.blocks

    def reasons(self) -> list[str]:
        """Why it may not go, one line per block (the Replace dialog lists them)."""
        return list(self.blocks)

    def refusal(self) -> str:
        """The words the replace refuses it in (its ``RiskBlocked``): "blocked by risk: ..."."""
        return f"blocked by risk: {'; '.join(self.blocks)}"


_REPLACED_BY = {"modify": "modified at the broker", "cancel_and_new": "canceled and sent anew"}


@dataclass(frozen=True, slots=True)
class Canceled:
    """What a row's Cancel did: the order as it stands, and ``note``, said to the trader when the
    cancel did not go the plain way (its run's sender sent the order as it was canceled: the
    cancel followed it to the broker; the broker refused the cancel, the order having filled)."""

    order: OrderRecord
    note: str = ""

    def outcome(self) -> str:
        """What the Cancel came to, in the words the window's activity log and ``cancel`` say
        (the command printed the order's bare status): the note when it did not go the plain
        way, else by the order's status now: canceled, final some other way (it filled before the
        cancel reached it), or asked at the broker and not answered yet."""
        if self.note:
            return self.note
        status = self.order.status
        if status is OrderState.CANCELED:
            return "canceled"
        if status.is_terminal:
            return f"{status.value}, nothing left to cancel"
        return "requested at the broker"

    def headline(self) -> str:
        """The cancel said in one line, the window's activity log's and ``cancel``'s alike:
        "Cancel M-2611...: canceled" (the command said "order 5 (M-2611...): canceled")."""
        return f"Cancel {self.order.client_order_id}: {self.outcome()}"

    def headline_before_the_answer(self) -> str:
        """The window's Cancel, which does not wait for the broker's answer as ``cancel`` does:
        the headline, and where that answer shows when one is still to come (the order not final,
        or the cancel followed it to the broker): "Cancel M-2611...: requested at the broker; its
        answer shows in the blotter". The window added this to the headline itself."""
        follows = bool(self.note) or not self.order.status.is_terminal
        return self.headline() + ("; its answer shows in the blotter" if follows else "")


@dataclass(frozen=True, slots=True)
class Halted:
    """What a halt did: the trading state, the runs' orders not sent yet it canceled (client
    order ids: never sent automatically after the resume, services.execution.halt_unsent), and
    with ``cancel_all`` what its Cancel All canceled and could not (``CanceledOrders``; None
    without it)."""

    state: TradingState
    canceled: CanceledOrders | None = None
    unsent_canceled: tuple[str, ...] = ()
    # the database did not answer: the halt holds in this process and is written when it answers
    # (services.execution.unrecorded); the words for the trader, empty once recorded
    unrecorded: str = ""

    def headline(self) -> str:
        """The halt said in one line, the window's activity log's and ``halt``'s alike: "Trading
        HALTED: only cancels go out; 2 orders of runs not sent yet canceled" (the command said
        "trading state: HALTED; ...", without what the state lets out)."""
        return trading_state_line(self.state, also=self.also())

    def also(self) -> str:
        """What the halt did besides, or could not: the orders not sent yet it canceled, and
        that it is not recorded yet."""
        return "; ".join(words for words in (self.unsent_words(), self.unrecorded) if words)

    def unsent_words(self) -> str:
        """The runs' orders not sent yet that it canceled, as `halt` and the window's Halt both say
        them ("" for none): the window said nothing of them, and the trader did not learn that
        they will never go."""
        if not self.unsent_canceled:
            return ""
        return f"{counted(len(self.unsent_canceled), 'order')} of runs not sent yet canceled"


#: Said after a trading state another process set (a window's activity log, the trader's or a monitor's).
STATE_CHANGED_ELSEWHERE = " (the trading state in force changed)"


def trading_state_line(state: TradingState, why: str = "", *, also: str = "") -> str:
    """A trading state set, in one line with what it lets out: "Trading ACTIVE: new orders and
    replaces go out" (the window's activity log, ``halt`` and ``resume`` alike); ``why``: said
    after the state (another process set it), ``also``: what the change did besides."""
    return f"Trading {state.value}{why}: {state.meaning}" + (f"; {also}" if also else "")
