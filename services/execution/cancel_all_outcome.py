"""What a Cancel All did, per account, and its words (services.execution.cancel_all.CancelAll.cancel_all).

One source for what it says and what it records: the orders of each account it canceled or
asked the broker to cancel (``CanceledOrders.by_account``, the ``order.cancel_all`` audit entry's
``accounts``) and the words said of another account (``done_in``) come from the same split of
that account's open orders, so the record and the words cannot disagree. The question asked
before a global cancel names the login's other accounts it acts on (``global_cancel_also``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.core.wording import counted
from services.db.models import EVERY_ACCOUNT
from services.domain import OrderRecord, OrderState


def reached_the_broker(order: OrderRecord) -> bool:
    """Whether a cancel must be asked of the broker: an order that went out or may have (any
    state after NEW, SENDING included) or has a broker id; a NEW order without one was never
    sent and is canceled here."""
    return bool(order.ib_order_id) or order.status is not OrderState.NEW


def global_cancel_reach(login: tuple[str, ...]) -> str:
    """What IB's global cancel cancels at the broker, for the login's accounts ``login`` (IB's
    managedAccounts): asked before it is sent and said after it."""
    if len(login) > 1:
        return f"every open order of the login's accounts {', '.join(login)}, TWS's included"
    return "every open order of the account, TWS's included"


def global_cancel_also(acted_on: tuple[str, ...]) -> str:
    """What a global Cancel All does beyond the connected account, asked before it is sent (the
    window's Cancel All question): ``acted_on``, the accounts it acts on, the connected one first
    (``CancelAll._acted_on``). Empty: it acts on the connected account alone (a login of one
    account, or the account unknown). A trader of one account of a shared login could otherwise
    take "everything at the broker" for their own account's."""
    others = acted_on[1:]
    if not others:
        return ""
    several = len(others) > 1
    return (f"The global cancel also acts on the login's other account{'s' if several else ''} {', '.join(others)}: "
            f"{'their' if several else 'its'} runs stop sending, and {'their' if several else 'its'} orders not sent "
            f"yet and those working at the broker are canceled.")


@dataclass(frozen=True, slots=True)
class DoneInAccount:
    """What a Cancel All did to another account's open orders: ``canceled``, the ids of those it
    canceled here (unsent) or asked the broker to cancel (the global cancel's reach), empty for an
    account it did not act on; ``said``, the same in words (the result's ``other_accounts``)."""

    account: str
    canceled: tuple[int, ...]
    said: str


def done_in(account: str, orders: list[OrderRecord], connected: str, acted_on: tuple[str, ...],
            claimed: set[str] | frozenset[str] = frozenset()) -> DoneInAccount:
    """What a Cancel All did to another account's open ``orders``: ``acted_on``, the accounts it
    acted on (``CancelAll._acted_on``: one by one, the connected account alone; global, every
    account of the login, whose orders at the broker the global cancel reached), whose unsent
    orders it canceled but those ``claimed`` for sending meanwhile (client order ids, said among
    the orders not canceled)."""
    unsent = [order for order in orders if not reached_the_broker(order)]
    if account in acted_on:
        at_broker = [order for order in orders if reached_the_broker(order)]
        closed = [order for order in unsent if order.client_order_id not in claimed]
        said = []
        if at_broker:
            said.append(f"the global cancel asked the broker to cancel its {counted(len(at_broker), 'order')} there too "
                        f"(IB's global cancel acts on every account of the login)")
        if closed:
            said.append(f"its {counted(len(closed), 'order')} not sent yet canceled before "
                        f"{'they' if len(closed) > 1 else 'it'} went")
        if unsent:
            said.append("its runs' senders stop before their next order (this Cancel All's marker is every "
                        "account's of the login)")
        return DoneInAccount(account, tuple(sorted(order.id for order in at_broker + closed)),
                             f"account {account}, of the same login: " + "; ".join(said))
    acting_on = (f"the global cancel acts on the login's accounts {', '.join(acted_on)} only" if len(acted_on) > 1
                 else f"Cancel All acts on the connected account {connected} only")
    return DoneInAccount(account, (), f"account {account}: {counted(len(orders), 'open order')} left as they are"
                         + (f" ({len(unsent)} not sent yet)" if unsent else "")
                         + f"; {acting_on}: connect to {account} to cancel them")


class CanceledOrders(list):
    """The ids of the orders Cancel All canceled (or asked the broker to cancel);
    ``not_canceled``: the orders it could not cancel, each said with why (one by one: IB refused
    the cancel, or the order is not open in this session); ``senders_not_stopped``: the runs
    whose sender (in another process) still sent after the wait, described (empty: every sender
    stopped); ``other_accounts``: the open orders of accounts other than the connected one, said
    per account (``done_in``: left as they are, or, for an account of the same login, canceled
    at the broker by the global cancel and its unsent ones here, its senders stopped). ``everything``: IB's global cancel, which
    acts on every account of ``login`` (IB's managedAccounts), rather than one cancel for each
    of this console's orders. ``by_account``: each account it acted on, the ids of its orders
    canceled or asked the broker to cancel (the connected account's are the list itself; the
    audit entry's ``accounts``)."""

    def __init__(self, ids, *, not_canceled: tuple[str, ...] = (), senders_not_stopped: tuple[str, ...] = (),
                 other_accounts: tuple[str, ...] = (), everything: bool = False, login: tuple[str, ...] = (),
                 by_account: dict[str, tuple[int, ...]] | None = None, unrecorded: str = "",
                 at_broker_alone: tuple[str, ...] = ()) -> None:
        super().__init__(ids)
        # the database did not answer: the cancel went to the broker alone, its marker and audit
        # entry wait (services.execution.unrecorded), which of this console's orders it canceled
        # is written as the broker's answers are (the writer keeps them meanwhile)
        self.unrecorded = unrecorded
        self.at_broker_alone = at_broker_alone  # one by one without the database: the client order ids canceled
        self.not_canceled = not_canceled
        self.senders_not_stopped = senders_not_stopped
        self.other_accounts = other_accounts
        self.everything = everything
        self.login = login
        self.by_account = by_account or {}

    @classmethod
    def of(cls, ids: list[int], connected: str, acted_on: tuple[str, ...], elsewhere: list[DoneInAccount], *,
           not_canceled: tuple[str, ...], senders_not_stopped: tuple[str, ...], everything: bool,
           login: tuple[str, ...]) -> CanceledOrders:
        """A Cancel All's outcome from what it did in each account: ``ids``, the connected
        account's (``connected``; an unknown account is every account's, ``*``, as its marker),
        and ``elsewhere``, the other accounts' (``done_in``), of which those it acted on
        (``acted_on``) are listed by account, even with nothing of theirs canceled."""
        by_account = {account: () for account in acted_on} | {connected or EVERY_ACCOUNT: tuple(ids)}
        by_account |= {done.account: done.canceled for done in elsewhere if done.account in acted_on}
        return cls(ids, not_canceled=not_canceled, senders_not_stopped=senders_not_stopped,
                   other_accounts=tuple(done.said for done in elsewhere), everything=everything, login=login,
                   by_account=by_account)

    def accounts_record(self) -> dict[str, list[int]]:
        """``by_account`` as recorded and printed: the audit entry's ``accounts`` and the
        ``accounts`` of ``cancel-all --json`` / ``halt --cancel-all --json``, one form for both so
        that a script reading either finds the same ids under the same accounts."""
        return {account: list(ids) for account, ids in self.by_account.items()}

    def headline(self, confirmed: int = 0) -> str:
        """What this Cancel All did, one line, said the same by the window (its status line) and
        ``cancel-all`` / ``halt --cancel-all``: the command said 'cancel requested for N working
        orders' of a global cancel too, which cancels every open order of the login at the broker.
        ``confirmed``: how many of its orders the broker has confirmed canceled by now (the
        window's activity log said them before this line, which read as a request after its
        answer when the broker was quick)."""
        if self.everything and self.unrecorded:
            return (f"Global cancel sent to the broker: {global_cancel_reach(self.login)} "
                    "(the database did not answer: which of this console's orders it canceled is written when it does)")
        if self.everything:
            return (f"Global cancel sent to the broker: {global_cancel_reach(self.login)} "
                    f"({len(self)} of this console's among them)")
        if self.unrecorded:
            return (f"Cancel sent to the broker for {counted(len(self.at_broker_alone), 'order')} of this account "
                    "it holds open (the database did not answer: read from the broker)")
        if self and confirmed >= len(self):
            return f"Cancel All: this console's {counted(len(self), 'working order')} canceled at the broker"
        if self and confirmed:
            return (f"Cancel requested for this console's {counted(len(self), 'working order')} "
                    f"({confirmed} canceled at the broker so far)")
        if self:
            return f"Cancel requested for this console's {counted(len(self), 'working order')}"
        if self.not_canceled:
            return f"Nothing canceled of this console's {counted(len(self.not_canceled), 'working order')}"
        return "Nothing to cancel: this console has no working orders"

    def left_notes(self) -> tuple[str, ...]:
        """What this Cancel All left that may still work at the broker, one line each, said the
        same by the window (warnings) and ``cancel-all`` / ``halt --cancel-all`` (stderr): the
        orders it could not cancel, each other account's orders it left, the senders still at
        work after the wait. Empty: nothing left. The window said a sender still at work as an
        ordinary line that went with the next message, and each writer had its own words."""
        notes = [self.unrecorded] if self.unrecorded else []
        if self.not_canceled:
            notes.append(f"{counted(len(self.not_canceled), 'order')} not canceled: " + "; ".join(self.not_canceled))
        notes += [f"orders of another account: {left}" for left in self.other_accounts]
        if self.senders_not_stopped:
            notes.append("still sending after the wait (what they sent since may be working): "
                         + "; ".join(self.senders_not_stopped))
        return tuple(notes)

    def left_lines(self) -> tuple[str, ...]:
        """``left_notes``, each as the window's warning and ``cancel-all`` / ``halt --cancel-all``
        (after "trading-console: " on stderr) say it: "Cancel All: 1 order not canceled: ..."
        (the commands said "cancel-all: ...", the window "Cancel All: ...")."""
        return tuple(f"Cancel All: {note}" for note in self.left_notes())
