"""A run's transaction cost analysis (``services.backtest.tca.TcaReport.to_dict()``) in words:
one line per order and the run's totals, its numbers as every panel shows numbers
(services.core.wording). The window's TCA view and the ``tca`` command say them alike; free of
Qt and of the database, so the view can."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from services.core.wording import counted, grouped, mode_word, money
from services.core.wording import price as price_text

from .costs import FillAt

NO_FILLS = "no fills: nothing to compare"


def not_compared(profile: str | None = None) -> str:
    """What TCA compares, said of a backtest run (which it does not measure): in the words of a
    window of ``profile`` (its badge's, services.core.wording.mode_word): a demo window's runs are
    demo runs, sent to the built-in simulator, and "paper and live runs" named runs it cannot
    make; without a profile (the ``tca`` command: nothing stored says where a run was sent) as
    the runs are stored."""
    runs = f"{mode_word('paper', profile)} runs" if profile == "demo" else "paper and live runs"
    return f"TCA compares {runs} with the backtest"


NOT_COMPARED = not_compared()
# A demo window's paper runs went to the built-in simulator (composition: demo mode always runs it):
# "paper" beside the DEMO badge read as IB's paper account, whose fills are a market's.
SIMULATED_FILLS = ("a demo run: sent to the built-in IB Gateway simulator, so its fills, and the "
                   "shortfall measured on them, are the simulator's, not a market's")


def run_heading(report: Mapping[str, Any], profile: str | None) -> tuple[str, str]:
    """The TCA's title for a run (``TcaReport.to_dict()``) and its note (a line under the title,
    "" when there is nothing to add): "Run 1 (demo) of 2026-12-07"; a backtest's run says it is not
    measured, and which runs are (``not_compared``: a demo window's are demo runs). The window's
    TCA tab and the ``tca`` command (its title line, the note below it) say it alike."""
    mode = str(report["mode"])
    title = f"Run {report['run_id']} ({mode_word(mode, profile)}) of {report['trade_date']}"
    if not report.get("compared", True):
        return f"{title}: not measured, {not_compared(profile)}", ""
    return title, SIMULATED_FILLS if mode_word(mode, profile) != mode else ""


def heading_fields(report: Mapping[str, Any], profile: str | None) -> dict[str, Any]:
    """What ``run_heading`` says, for a JSON beside the report's stored ``mode`` (which its
    consumers read, "paper" for a demo run too): ``mode_said``, the word the title says the run's
    mode in ("demo" for a paper run read in the demo's words), the ``title`` and the ``note``
    (None when there is none). ``tca --json`` and its text say a demo run alike."""
    title, note = run_heading(report, profile)
    return {"mode_said": mode_word(str(report["mode"]), profile), "title": title, "note": note or None}


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def order_state(line: Mapping[str, Any]) -> str:
    """The order's state in words, whatever it filled: "filled", "canceled", "rejected",
    "accepted" for one still working, "canceled, replaced by ID" for one whose remainder another
    order took: the TCA table's State column. Only what did not fill whole said it, and the
    column stood blank beside every filled order, which read as a state not known. "" for a
    line without one (a report stored before lines kept it)."""
    status = line.get("status")
    if not status:
        return ""
    replaced = f", replaced by {line['replaced_by']}" if line.get("replaced_by") else ""
    return f"{str(status).lower().replace('_', ' ')}{replaced}"


def _state(line: Mapping[str, Any]) -> str:
    """What became of an order that did not fill whole, in the order's line (" (canceled)");
    nothing for a filled one, whose "44/44" says it."""
    if _number(line["filled"]) == _number(line["quantity"]) or not order_state(line):
        return ""
    return f" ({order_state(line)})"


def _in(currency: str | None, base: str) -> str:
    """The currency after an amount when it is not the base currency (" EUR"), else nothing."""
    return f" {currency}" if currency and currency != base else ""


def _unreported(fills: int) -> str:
    return f"{counted(fills, 'fill')}'" + ("s" if fills == 1 else "") + " not reported yet"


def _not_counted(amounts: Mapping[str, str] | None) -> str:
    """Commissions reported in a currency the run has no rate for, each in its own currency
    ("1.20 CHF not counted: no CHF rate in the run"): reported, so never "not reported yet"."""
    return "; ".join(f"{money(Decimal(amount))} {currency} not counted: no {currency} rate in the run"
                     for currency, amount in sorted((amounts or {}).items()))


def commission_notes(line: Mapping[str, Any]) -> str:
    """What an order's commission leaves out (" (1 fill's not reported yet; 1.20 CHF not
    counted: no CHF rate in the run)"), else nothing: the TCA table's Commission tooltip."""
    return _commission_notes(line.get("commissions_unreported") or 0, _not_counted(line.get("commissions_not_counted")))


def _commission_notes(missing: int, not_counted: str) -> str:
    """What a commission sum leaves out, in parentheses: the fills not reported yet, the amounts not counted."""
    notes = [note for note in (_unreported(missing) if missing else "", not_counted) if note]
    return f" ({'; '.join(notes)})" if notes else ""


def _commission(line: Mapping[str, Any], base: str) -> str:
    paid, missing = _number(line.get("commission")), line.get("commissions_unreported") or 0
    not_counted = _not_counted(line.get("commissions_not_counted"))
    if paid is None:
        if not_counted:
            return f", commission {not_counted}" + _commission_notes(missing, "")
        return ", commission not reported yet" if missing else ""
    return f", commission {money(paid)}{_in(line.get('currency'), base)}" + _commission_notes(missing, not_counted)


def _days(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{', '.join(days[:-1])} and {days[-1]}"


def order_text(line: Mapping[str, Any], base_currency: str = "USD", trade_date: str | None = None) -> str:
    """One order of ``TcaReport.to_dict()["orders"]`` in a line, its numbers as the window's TCA
    table shows them (services.core.wording: quantities as they are, prices at two to four
    places, money to the cent, in the listing's currency, named when it is not
    ``base_currency``): ``BUY  44/44 AAPL: reference 228.93, fill 229.34, shortfall 17.91 bps
    (18.04), commission 0.22``; an order that did not fill whole says its state (``BUY  0/30
    BBB (canceled): reference 50.00, not filled``); one with fills on another day than the run's
    ``trade_date`` says their days (``..., filled on 2024-03-01 and 2024-03-04``); one the
    backtest would not have filled (beyond its limit) says why (``..., the backtest would not have
    filled it: the close 101.20 is above its limit 100.10``)."""
    fill, bps, cost = _number(line["fill_price"]), _number(line["shortfall_bps"]), _number(line["shortfall"])
    currency = _in(line.get("currency"), base_currency)
    if fill is None:  # filled with no average price yet: the broker's status came before its executions
        measured = "fill price not reported yet" if _number(line["filled"]) else "not filled"
    elif cost is None:
        measured = f"fill {price_text(fill)}, no reference price to measure it against"
    else:
        measured = f"fill {price_text(fill)}, shortfall {grouped(bps, 2)} bps ({money(cost)}{currency})"
    backtest, backtest_bps = _number(line["backtest_price"]), _number(line["backtest_shortfall_bps"])
    days = list(line.get("fill_days") or ())
    return (f"{line['side']:4} {grouped(_number(line['filled']))}/{grouped(_number(line['quantity']))} {line['symbol']}{_state(line)}: "
            f"reference {price_text(_number(line['reference_price'])) or 'none'}, {measured}{_commission(line, base_currency)}"
            + (f", backtest {price_text(backtest)} ({grouped(backtest_bps, 2)} bps)" if backtest is not None and backtest_bps is not None else "")
            + (f", {line['backtest_not_filled']}" if line.get("backtest_not_filled") else "")
            + (f", filled on {_days(days)}" if trade_date and any(day != trade_date for day in days) else ""))


def _left_out(totals: Mapping[str, Any]) -> str:
    """The filled orders the compared totals leave out, and why: "1 filled order without a bar
    left out; 1 filled order the backtest would not have filled (beyond its limit) left out"."""
    notes = []
    if totals.get("orders_without_bar"):
        notes.append(f"{counted(totals['orders_without_bar'], 'filled order')} without a bar left out")
    if totals.get("orders_beyond_limit"):
        notes.append(f"{counted(totals['orders_beyond_limit'], 'filled order')} the backtest would not have filled "
                     "(beyond its limit) left out")
    return "; ".join(notes)


def totals_text(report: Mapping[str, Any], fill: FillAt | str, bars: str = "the price cache") -> str:
    """The run's totals (``TcaReport.to_dict()``) in a line, the window's TCA view's and ``tca``'s
    alike: its shortfall, IB's commissions beside it (not in it), and the backtest's on the
    orders both priced, or what the backtest waits for (``bars``: where its bars come from: the
    price cache, or the file given); ``NO_FILLS`` for a run that filled nothing. Filled orders
    it cannot measure are counted out loud. Amounts in the base currency, named when an order
    is in another."""
    if not report.get("filled", True):
        return NO_FILLS
    totals = report["totals"]
    base = report.get("base_currency") or "USD"
    currency = f" {base}" if any(_in(o.get("currency"), base) for o in report.get("orders", ())) else ""
    cost = _number(totals["shortfall"])
    text = "shortfall not measured" if cost is None else f"shortfall {money(cost)}{currency}"
    if totals.get("shortfall_bps") is not None:
        text += f" ({grouped(_number(totals['shortfall_bps']), 2)} bps)"
    paid, missing = _number(totals.get("commission")), totals.get("commissions_unreported") or 0
    notes = _commission_notes(missing, _not_counted(totals.get("commissions_not_counted")))
    if paid is not None:
        text += f", before IB's commissions of {money(paid)}{currency}" + notes
    elif notes:
        text += f", before IB's commissions{notes}"
    if totals.get("orders_not_measured"):
        text += f", {counted(totals['orders_not_measured'], 'filled order')} not measured (no reference or fill price)"
    for currency, orders in (totals.get("orders_not_converted") or {}).items():  # their lines say their figures
        text += f", {counted(orders, 'order')} in {currency} left out: no {currency} rate recorded with the run"
    left_out = _left_out(totals)
    if totals.get("backtest_shortfall") is not None:  # beside the run's shortfall on the same orders, not the whole run's
        orders = totals["orders_compared"]
        text += (f" · on the {counted(orders, 'order')} with a bar: run {money(_number(totals['compared_shortfall']))}{currency}"
                 f" · backtest {money(_number(totals['backtest_shortfall']))}{currency}")
        if left_out:
            text += f" ({left_out})"
    elif totals.get("orders_beyond_limit"):  # the bars are there: the backtest filled none of the orders it priced
        text += f" · backtest: no order to compare ({left_out})"
    else:  # said with what it waits for: a paper run's backtest is known once its day's bar is
        wanted = report["trade_date"] if str(fill) == str(FillAt.CLOSE) else f"the session after {report['trade_date']}"
        text += f" · backtest: {bars} has no bar for {wanted}" + (
            " yet (bars download, after the close)" if bars == "the price cache" else "")
    if totals.get("orders_filled_another_day"):
        text += (f" · {counted(totals['orders_filled_another_day'], 'order')} filled on another day than the run's "
                 f"{report['trade_date']}, beside the backtest of that day")
    return text
