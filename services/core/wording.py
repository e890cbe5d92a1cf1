"""Words for counts in the messages every front end shows: "1 order", "3 orders", never
"3 order(s)"; a ratio as a percent ("10.00%"), money, prices and quantities as numbers; and what a stored setting of another version is
called. Free of Qt: the services' messages, the commands' lines and the window's panels use the
same one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 order", "3 orders" (``plural`` for a noun that does not take an s)."""
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


def refused_file(source: str, problems: int) -> str:
    """A file refused for its problems, nothing of it stored: "broken.csv: 2 problems; nothing was
    stored". One wording for the `snapshot import` command, the window's activity log and the
    Snapshots panel's label above the problems listed by line."""
    return f"{source}: {counted(problems, 'problem')}; nothing was stored"


def file_problem(line: int | None, column: str | None, message: str) -> str:
    """One problem of a refused file, where it is and what: "line 3, column weight: weight 'abc'
    is not a finite number", "file: not UTF-8 text" (the file as a whole). One wording for the
    lines `snapshot import` prints under ``refused_file`` and the Snapshots panel lists under it
    (the panel said "line 3, weight: ...", a bare column name read as part of the message)."""
    where = "file" if line is None else place(line, column)
    if line is None and column:
        where += f", column {column}"
    return f"{where}: {message}"


def unreadable_file(path: object, refusal: OSError, kind: str) -> str:
    """A file that could not be read at all (nothing stored), ``kind`` what it should have been
    ("a snapshot file (CSV or JSON)"): "cannot read targets.csv: No such file or directory", or,
    given a folder, "prices is a folder, not a bar file (CSV or Parquet)". One wording for
    `snapshot import`, `bars import` and the window (`bars import` said "1 problem; nothing was
    stored" and "cannot read the file", `snapshot import` a folder's "unknown snapshot format ''")."""
    if isinstance(refusal, IsADirectoryError):
        return f"{path} is a folder, not {kind}"
    return f"cannot read {path}: {refusal.strerror or refusal}"


def unknown_project(name: str, known: Iterable[str] = ()) -> str:
    """A project named that the trader has not got, with the ones there are: "no project named
    'x' (projects: alpha, momentum)", "no project named 'x' (there is none yet)". One wording for
    every command and service that looks a project up by name (`positions` said "project 'x'
    does not exist", `assign` "no project named 'x'")."""
    names = sorted(set(known))
    if not names:
        return f"no project named {name!r} (there is none yet)"
    shown = ", ".join(names[:_PROJECTS_LISTED]) + (f", ... ({len(names)} in all)" if len(names) > _PROJECTS_LISTED else "")
    return f"no project named {name!r} (projects: {shown})"


_PROJECTS_LISTED = 10


def place(line: int | None, column: str | None) -> str:
    """Where in a file: "line 3, column weight", "line 3", "column weight", "" (neither): one
    wording for a refused file's problems (``file_problem``) and ``preview``'s input problems."""
    return ", ".join(part for part in (f"line {line}" if line else None, f"column {column}" if column else None) if part)


def percent(ratio: Decimal | None) -> str:
    """A ratio of a whole (a target weight, a position's share of the portfolio) as a trader reads
    it, to the hundredth of a percent: ``Decimal("0.1")`` -> ``"10.00%"``; None -> ``""``. The
    preview, the Decisions panel, the risk messages and the ``trail`` command all show it so, that
    one number reads the same everywhere; the exact value stays in the data (a tooltip, ``--json``)."""
    if ratio is None:
        return ""
    return f"{(ratio * 100).quantize(Decimal('0.01'))}%"


def grouped(value: Decimal | None, places: int | None = None) -> str:
    """Grouped fixed-point text (``12,345.67``); without ``places`` exactly the significant
    digits (``44.000000`` -> ``44``). None -> ``""``."""
    if value is None:
        return ""
    if places is None:
        exponent = value.normalize().as_tuple().exponent
        places = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{value:,.{places}f}"


def shared_places(values: Iterable[Decimal | None], most: int = 6) -> int:
    """The decimal places that show each of ``values`` (None and NaN skipped) to its last
    significant digit, at most ``most``: a column of them shown to that many lines up its
    decimal points ("2.28", "1.80", not "2.28", "1.8")."""
    places = 0
    for value in values:
        if value is None:
            continue
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int):
            places = max(places, -exponent)
    return min(places, most)


def mode_word(mode: str, profile: str | None) -> str:
    """A run's mode as a window of ``profile`` (its badge's word: demo, paper, live) says it: a
    paper run of the demo went to the built-in simulator and is "demo", as the badge and the
    execute question say ("paper" read as IB's paper account); the rest as stored (no profile:
    a command whose database the demo does not write, app.composition.runs_profile)."""
    return "demo" if profile == "demo" and mode == "paper" else mode


def money(value: Decimal | None) -> str:
    """An amount to the cent, grouped: every panel's and command's money (the data keeps it exact)."""
    return grouped(value, 2)


def price(value: Decimal | None, places: int | None = None) -> str:
    """A price at two to four places (sub-penny fills exist): ``229.34000000`` -> ``229.34``,
    ``165.24306122`` -> ``165.2431``; the blotter's, the fills', the TCA's alike. ``places``: a
    column's (``price_places``), so that one column of prices reads to one number of places."""
    if value is None:
        return ""
    if places is None:
        places = price_places((value,))
    return grouped(value, places)


def price_places(prices: Iterable[Decimal | None]) -> int:
    """The places a column of ``prices`` is shown to: its most precise price's, two to four
    (``price``'s rule for one). Each to its own places, the blotter's Avg price column read
    "229.34" above "165.2431"."""
    return max(2, shared_places(prices, most=4))


def describe_order(order, *, with_id: bool = True) -> str:
    """``BUY 10 AAPL LMT 229.50 (3 filled) · M-2611...``: how an order (an ``OrderRecord``) is
    named where a confirmation or a message names it, the cancel's and the replace's alike (the
    blotter's cancel question, the Replace dialog, the ``order`` command's line). Its prices as
    ``order_prices`` says them. ``with_id`` False: without its client order id (the Replace
    dialog has a row of its own for it)."""
    filled = f" ({grouped(order.filled_quantity)} filled)" if order.filled_quantity else ""
    named = (f"{order.side.value} {grouped(order.quantity)} {order.symbol} "
             f"{order_kind(order.order_type.value, order.stop_price, order.limit_price)}{filled}")
    return f"{named} · {order.client_order_id}" if with_id else named


def describe_request(request) -> str:
    """``BUY 35 IBM MKT``: an order about to be sent (an ``OrderRequest``), as ``describe_order``
    names a stored one, without its id."""
    return (f"{request.side.value} {grouped(request.quantity)} {request.symbol} "
            f"{order_kind(request.order_type.value, request.stop_price, request.limit_price)}")


def order_kind(order_type: str, stop: Decimal | None, limit: Decimal | None) -> str:
    """An order's type and its prices, ``LMT 410.50``, ``STP 166.00``, ``STP LMT stop 220.00 limit
    219.50``, ``MKT``: the one wording of them wherever an order is named, the window's (the
    ticket's verdict and its "Sent" line, the cancel question, the Replace dialog, the order's
    details) and the commands' (``order``'s "Sent" line and its last line); the ticket's lines
    said "LMT limit 410.50" and "STP stop 166.00" beside the blotter's "LMT 410.50"."""
    return f"{order_type}{order_prices(order_type, stop, limit)}"


def order_prices(order_type: str, stop: Decimal | None, limit: Decimal | None) -> str:
    """The prices after an order's type: its one price bare (``LMT 229.50``, ``STP 180.00``: the
    type says which it is; a stop order named without its trigger could not be told from the
    other stops), a STP LMT's each named, the stop first as the order ticket writes them (``STP
    LMT stop 180.00 limit 179.50``: the trigger, then the limit it works at once touched). A STP
    LMT with one price known (an order placed in TWS: the console keeps a stop only with its own
    draft) names it, that a limit never reads as the stop."""
    if order_type == "STP LMT":
        return "".join(f" {name} {price(value)}" for name, value in (("stop", stop), ("limit", limit)) if value is not None)
    known = stop if order_type == "STP" else limit
    return f" {price(known)}" if known is not None else ""


def replaced_to(quantity: Decimal, limit: Decimal | None, stop: Decimal | None = None) -> str:
    """What a replace makes of an order, ``15 @ 229.50``, ``15 stop 180.00`` or ``15 stop
    180.00 limit 179.50`` (each price only when one is given): the LIVE confirmation's "Becomes"
    row and the message after the replace say it alike."""
    if stop is None:
        return grouped(quantity) + (f" @ {price(limit)}" if limit is not None else "")
    return f"{grouped(quantity)} stop {price(stop)}" + (f" limit {price(limit)}" if limit is not None else "")


def history_detail(event_type: str, message: str | None, payload: Mapping | None) -> str | None:
    """What an order's history row (the order details' History tab) says of one stored event: its
    message, and for a replace the trader asked for what it was to become, from the payload the
    replace stored with it ("replace requested to 15 @ 226.50", "... to 6 stop 104.50 limit
    106.00": ``replaced_to``'s words, the status bar's after the replace); the row said "replace
    requested" and no more, the order's new values only in the row of the order itself, which
    shows the last replace's. A payload without a readable quantity: the message as stored."""
    if event_type != "replace_requested" or not payload:
        return message
    try:
        quantity = Decimal(str(payload["quantity"]))
        limit, stop = (None if payload.get(key) is None else Decimal(str(payload[key])) for key in ("limit_price", "stop_price"))
    except (KeyError, ArithmeticError, ValueError):
        return message
    if not (quantity.is_finite() and all(v is None or v.is_finite() for v in (limit, stop))):
        return message
    said = f"{message or 'replace requested'} to {replaced_to(quantity, limit, stop)}"
    was = payload.get("was")
    try:  # what it was, when the replace stored it (those before it did not)
        if isinstance(was, Mapping):
            old_quantity = Decimal(str(was["quantity"]))
            old_limit, old_stop = (None if was.get(key) is None else Decimal(str(was[key])) for key in ("limit_price", "stop_price"))
            if old_quantity.is_finite() and all(v is None or v.is_finite() for v in (old_limit, old_stop)):
                said += f", from {replaced_to(old_quantity, old_limit, old_stop)}"
    except (KeyError, ArithmeticError, ValueError):
        pass
    return said


# A stored trade setting this version has no rule for (a newer version stored it, or a hand in the
# database): the risk engine refusing a preview over it and the settings' report of it
# (services.trade_settings_keys.stored_problems) say it alike, with the way to remove it.
ANOTHER_VERSION = "a setting of another version, which this one cannot check"


def how_to_remove(key: str) -> str:
    """The removal of a stored setting ``key`` (``risk.NAME``)."""
    return f"`trading-console trade-settings unset {key}` removes it, as Remove beside it in Settings does"


def as_sentence(message: str) -> str:
    """A service's message (lower case, no stop: "lot size must be ...") as a line of a form."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def working_note(orders: int, quantities: Mapping[str, Decimal], unsent: int = 0) -> str:
    """The line a preview shows when the project's orders still working (``orders`` of them,
    ``unsent`` of which are stored and not sent yet) were counted as if they filled
    (docs/project-books.md): "counted as filled: 1 working order of this project: AAPL +100",
    "... 2 unsent orders of this project: ...", "... 1 working and 2 unsent orders of ..."."""
    listed = ", ".join(f"{key} {quantity.normalize():+f}" for key, quantity in sorted(quantities.items()))
    sent = orders - unsent
    if not unsent:
        what = counted(orders, "working order")
    elif not sent:
        what = counted(unsent, "unsent order")
    else:
        what = f"{sent} working and {counted(unsent, 'unsent order')}"
    return f"counted as filled: {what} of this project: {listed}"


def send_counts(sent: int, already_at_broker: int, failed: int, not_sent: int) -> str:
    """What sending a run's orders came to, in the words and the order the window's status line
    after Execute and the `execute` command's line share: "5 sent, 0 already at the broker,
    1 failed, 1 not sent". The window said so, the command "sent 5, already at the broker 0, ...,
    not sent 0": its own order and no failed ones."""
    return f"{sent} sent, {already_at_broker} already at the broker, {failed} failed, {not_sent} not sent"


def audit_entity(entity_type: str | None, entity_id: object) -> str:
    """What an audit entry is about, as `audit list` and the Audit log panel both write it:
    "trade_run:5", the type alone for an entry about no one row ("project" of a capital change
    naming its projects in the payload), "-" for neither. The command wrote "project:None"."""
    if entity_id is None or entity_id == "":
        return entity_type or "-"
    return f"{entity_type or ''}:{entity_id}"


def accounts_said(accounts: Iterable[str]) -> str:
    """``account DU1234567``, ``accounts DU1, U2``, or ``no account yet``: whose data a window
    with no broker of its own (a monitor) shows, as a trading window names its connection's."""
    named = sorted({a for a in accounts if a})
    if not named:
        return "no account yet"
    return f"account{'s' if len(named) > 1 else ''} {', '.join(named)}"
