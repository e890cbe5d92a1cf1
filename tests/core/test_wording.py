"""Counts in messages: "1 order", "3 orders", never "order(s)"."""

from __future__ import annotations

import re
import tokenize
from decimal import Decimal
from pathlib import Path

from services.core.wording import counted, mode_word, shared_places, working_note
from services.domain import OrderType, Side

ROOT = Path(__file__).resolve().parents[2]
BRACKETED_PLURAL = re.compile(r"[a-z]\(s\)")


def test_a_count_takes_its_noun_in_the_singular_only_for_one():
    assert counted(1, "order") == "1 order"
    assert [counted(n, "fill") for n in (0, 2)] == ["0 fills", "2 fills"]
    assert counted(3, "working order") == "3 working orders"
    assert counted(2, "child", "children") == "2 children"


def test_the_preview_s_note_says_which_orders_counted_as_filled_were_not_sent_yet():
    """docs/project-books.md: an earlier run's orders stored and not sent yet count as filled too;
    the line the trader reads says so instead of calling them working."""
    held = {"AAPL": Decimal(44), "MSFT": Decimal(-3)}
    assert working_note(1, {"AAPL": Decimal(44)}) == "counted as filled: 1 working order of this project: AAPL +44"
    assert working_note(2, held, unsent=2) == "counted as filled: 2 unsent orders of this project: AAPL +44, MSFT -3"
    assert working_note(3, held, unsent=1) == "counted as filled: 2 working and 1 unsent order of this project: AAPL +44, MSFT -3"


def _messages_with_a_bracketed_plural(path: Path) -> list[str]:
    """The string literals of a module (docstrings aside) that write a plural as "(s)"."""
    with path.open("rb") as source:
        return [f"{path.relative_to(ROOT)}:{token.start[0]}" for token in tokenize.tokenize(source.readline)
                if token.type == tokenize.STRING and not token.string.startswith(('"""', "r\"\"\""))
                and BRACKETED_PLURAL.search(token.string)]


def test_no_message_of_the_console_writes_a_plural_in_brackets():
    found = [where for folder in ("app", "widgets", "services") for path in sorted((ROOT / folder).rglob("*.py"))
             for where in _messages_with_a_bracketed_plural(path)]
    assert not found, found


def test_a_column_of_numbers_shares_the_places_of_its_most_precise_one():
    """A snapshot's scores read 2.28, 1.8, 1.3 (each to its own significant digits): a ragged
    column whose decimal points did not line up. One count of places for all, up to a cap."""
    assert shared_places([Decimal("2.28"), Decimal("1.8"), Decimal("1.30"), None, Decimal("3")]) == 2
    assert shared_places([Decimal("2"), Decimal("10")]) == 0
    assert shared_places([]) == 0 and shared_places([None]) == 0
    assert shared_places([Decimal("0.123456789"), Decimal("1")]) == 6  # a z-score's noise is cut at the cap
    assert shared_places([Decimal("1E+2"), Decimal("0.5")]) == 1
    assert shared_places([Decimal("NaN"), Decimal("0.25")]) == 2


def test_a_demo_windows_paper_run_is_said_demo_as_its_badge():
    """The demo runs paper-mode runs against the built-in simulator: beside the DEMO badge "paper"
    read as IB's paper account (the TCA tab, the execute confirmation's title)."""
    assert mode_word("paper", "demo") == "demo"
    assert [mode_word(mode, "paper") for mode in ("paper", "live", "backtest")] == ["paper", "live", "backtest"]
    assert mode_word("backtest", "demo") == "backtest" and mode_word("live", "live") == "live"


def test_an_order_and_what_a_replace_makes_of_it_are_named_in_one_set_of_words():
    """The Cancel's and the Replace's LIVE confirmations name the order, and the Replace's
    "Becomes" row and the message after it say the new quantity and limit: words the window's
    controller wrote itself (app/controllers/orders.py), now the services' (pure move)."""
    from services.core.wording import describe_order, replaced_to
    from tests.gui.factories import order

    partly = order(3, symbol="IBM", quantity="1000", filled="30", limit="100.25")
    assert describe_order(partly) == f"BUY 1,000 IBM LMT 100.25 (30 filled) · {partly.client_order_id}"
    market = order(4, symbol="AAPL", quantity="10", limit=None, order_type=OrderType.MKT)
    assert describe_order(market) == f"BUY 10 AAPL MKT · {market.client_order_id}"
    assert replaced_to(Decimal("1500"), Decimal("229.5")) == "1,500 @ 229.50"
    assert replaced_to(Decimal("15"), None) == "15"  # no limit given: the order's stays
    # a stop order's new stop, named as describe_order names a stop order's prices
    assert replaced_to(Decimal("10"), None, Decimal("180")) == "10 stop 180.00"
    assert replaced_to(Decimal("10"), Decimal("179.5"), Decimal("180")) == "10 stop 180.00 limit 179.50"


def test_an_order_is_named_with_each_price_its_type_has_the_stop_before_the_limit():
    """A stop order was named without its trigger ("SELL 10 AAPL STP"): a trader confirming the
    cancel of one of several stops could not tell which. Each type is named with its prices: the
    one price after the type (LMT its limit, STP its stop), a STP LMT's two named, stop first,
    as the order ticket writes them (the trigger, then the limit it then works at)."""
    from services.core.wording import describe_order
    from tests.gui.factories import order

    def named(order_type: OrderType, limit: str | None, stop: str | None, filled: str = "0") -> str:
        return describe_order(order(5, symbol="AAPL", side=Side.SELL, quantity="10", filled=filled, order_type=order_type,
                                    limit=limit, stop=stop), with_id=False)

    assert named(OrderType.MKT, None, None) == "SELL 10 AAPL MKT"
    assert named(OrderType.LMT, "179.5", None) == "SELL 10 AAPL LMT 179.50"
    assert named(OrderType.STP, None, "180") == "SELL 10 AAPL STP 180.00"
    assert named(OrderType.STP_LMT, "179.5", "180") == "SELL 10 AAPL STP LMT stop 180.00 limit 179.50"
    assert named(OrderType.STP_LMT, "179.5", "180", filled="4") == "SELL 10 AAPL STP LMT stop 180.00 limit 179.50 (4 filled)"
    # a STP LMT whose stop is not known (an order placed in TWS: the stop is kept with a draft
    # only this console writes) names the price it knows, never as if it were the stop
    assert named(OrderType.STP_LMT, "179.5", None) == "SELL 10 AAPL STP LMT limit 179.50"
