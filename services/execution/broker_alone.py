"""A command's Cancel All (`cancel-all`, `halt --cancel-all`) while the database does not answer.

The window holds a halt and writes it once the database answers (services.execution.unrecorded);
a command ends, so nothing of it can wait. What it can do is what needs no database: connect to
the broker (the account guard as ever: a paper session refuses a live account, LIVE needs the
word) and send the cancel (``cancel_all.cancel_at_the_broker``). Its words say plainly what was
not done: the halt is not in force anywhere, the Cancel All is not on the record, and what to
run once the database answers.
"""

from __future__ import annotations

from services.db.errors import describe_db_error

from .action_context import check_live_word
from .cancel_all import cancel_at_the_broker
from .cancel_all_outcome import CanceledOrders
from .provider import ExecutionProvider


def not_recorded_words(exc: BaseException, *, halt: bool) -> str:
    """What a command says it could not do without the database (``exc``: what it said)."""
    what = "trading is NOT halted and the Cancel All is" if halt else "the Cancel All is"
    return (f"{what} not recorded: the database did not answer ({describe_db_error(exc)}); a command does not stay "
            f"to write {'them' if halt else 'it'}: run `trading-console {'halt' if halt else 'cancel-all'}` again once "
            "it answers, or use the window's, which holds them until it does")


async def cancel_all_without_database(provider: ExecutionProvider, exc: BaseException, *, one_by_one: bool,
                                      live_token: str | None, halt: bool) -> CanceledOrders:
    """The broker's part of the command's Cancel All, ``provider`` connected (its account guard
    passed); ``exc``: why the database did not answer."""
    check_live_word(provider, live_token)
    return await cancel_at_the_broker(provider, one_by_one, not_recorded_words(exc, halt=halt))
