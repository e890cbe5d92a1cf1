"""Answers to the requests the console itself never sends, so that no client call waits forever.

Each request gets what TWS gives: data (from the simulator's book and prices), an empty end
marker, or the error TWS sends, with the request's id. Requests without an id (reqMktDepthExchanges,
reqNewsProviders, reqScannerParameters, reqFamilyCodes, requestFA, ...) always get their data
message, because their client call waits on it and an error with id -1 would never end it.
Cancels and switches that TWS does not acknowledge get nothing. Which answer each request gets
is listed in docs/simulator.md; ``tests/sim/test_every_request.py`` walks every request of
ib_async's client against the simulator.

Historical bars are synthetic (history.py). Error codes: 200 (no security definition: the
simulator lists stocks and forex pairs only, no options), 162 (a historical-data request TWS
would refuse, e.g. an invalid bar size), 430 (no fundamentals), 10276 (news
articles), 10279 / 10282 (Wall Street Horizon data); all end the client's request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from services.core.trading_hours import calendar_name
from services.ibsim import history
from services.ibsim import messages as m
from services.ibsim import versions as v
from services.ibsim.codec import fmt
from services.ibsim.model import Instrument
from services.ibsim.requests import parse_contract12

if TYPE_CHECKING:  # pragma: no cover
    from services.ibsim.server import IBGatewaySimulator, _Session

NO_SECURITY = "No security definition has been found for the request"
SCANNER_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><ScanParameterResponse><InstrumentList><Instrument>'
    "<name>US Stocks</name><type>STK</type></Instrument></InstrumentList><ScanTypeList><ScanType>"
    "<displayName>Top % Gainers</displayName><scanCode>TOP_PERC_GAIN</scanCode><instruments>STK</instruments>"
    "</ScanType></ScanTypeList></ScanParameterResponse>"
)
FA_XML = '<?xml version="1.0" encoding="UTF-8"?><ListOfGroups/>'
NEWS_PROVIDERS = (("BRFG", "Briefing.com General Market Columns"), ("BRFUPDN", "Briefing.com Analyst Actions"),
                  ("DJNL", "Dow Jones Newsletters"))
DEPTH_EXCHANGES = (("NASDAQ", "STK", "", "Deep2", "1"), ("ARCA", "STK", "", "Deep2", "1"),
                   ("NYSE", "STK", "", "Deep", "1"), ("IDEALPRO", "CASH", "", "Deep", "4"))
SMART_COMPONENTS = ((0, "NYSE", "N"), (1, "ARCA", "P"), (2, "NASDAQ", "Q"))
MARKET_RULES = {26: ((Decimal(0), Decimal("0.01")),), 239: ((Decimal(0), Decimal("0.00005")),)}
TICK_BY_TICK_TYPES = {"LAST": 1, "ALLLAST": 2, "BIDASK": 3, "MIDPOINT": 4}
HISTORICAL_TICKS_MESSAGE = {"MIDPOINT": "96", "BID_ASK": "97", "TRADES": "98"}

@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """A reqHistoricalData as received (tests count them: a cached download asks for nothing)."""

    listing: str
    end: str
    duration: str
    bar_size: str
    what_to_show: str


Handler = Callable[["IBGatewaySimulator", "_Session", list[str]], None]


# --- helpers ---------------------------------------------------------------------------------------


def _instrument(sim: IBGatewaySimulator, session: _Session, req_id: int, f: list[str], start: int) -> Instrument | None:
    """The contract at ``f[start:start+12]``, or error 200 with the request's id."""
    instrument = sim._resolve_ref(parse_contract12(f, start))
    if instrument is None:
        session.error(req_id, 200, NO_SECURITY)
    return instrument


def _mid(sim: IBGatewaySimulator, instrument: Instrument) -> Decimal:
    bid, ask = sim.quote(instrument.key)  # the listing (SAP@IBIS:EUR), not the US symbol
    return ((bid + ask) / 2).quantize(instrument.min_tick / 2, rounding=ROUND_HALF_UP)


def _now() -> int:
    return int(time.time())


def _nothing(sim, session, f) -> None:
    """Requests TWS does not acknowledge (cancels, bulletins, log level)."""


# --- market data ------------------------------------------------------------------------------------


def req_mkt_depth(sim, session, f) -> None:
    """``10|5|reqId|<12 contract>|numRows|isSmartDepth|options``: the best bid and ask as depth rows."""
    req_id = int(f[2])
    ref = parse_contract12(f, 3)
    smart = len(f) > 16 and f[16] not in ("", "0")
    if not ref.exchange:
        session.error(req_id, 321, "Error validating request.-'bW' : cause - Please enter exchange")
        return
    instrument = _instrument(sim, session, req_id, f, 3)
    if instrument is None:
        return
    bid, ask = sim.quote(instrument.key)  # the listing (SAP@IBIS:EUR), not the US symbol
    bid_size, ask_size = sim._sizes[instrument.symbol]
    for side, price, size in ((1, bid, bid_size), (0, ask, ask_size)):
        if smart or ref.exchange == "SMART":
            fields = ["13", "1", str(req_id), "0", instrument.primary_exchange, "0", str(side), fmt(price), str(size)]
            if session.server_version >= 146:  # MIN_SERVER_VER_SMART_DEPTH
                fields.append(fmt(smart))
        else:
            fields = ["12", "1", str(req_id), "0", "0", str(side), fmt(price), str(size)]
        session.send(fields)


def req_real_time_bars(sim, session, f) -> None:
    """``50|3|reqId|<12 contract>|barSize|whatToShow|useRTH|options``: one bar now (TWS: every 5 s)."""
    req_id = int(f[2])
    instrument = _instrument(sim, session, req_id, f, 3)
    if instrument is None:
        return
    mid = _mid(sim, instrument)
    now = _now() // 5 * 5
    session.send(["50", "3", str(req_id), str(now), fmt(mid), fmt(mid), fmt(mid), fmt(mid), "0", fmt(mid), "0"])


def req_tick_by_tick(sim, session, f) -> None:
    """``97|reqId|<12 contract>|tickType|numberOfTicks|ignoreSize``: the current tick of that kind."""
    req_id = int(f[1])
    instrument = _instrument(sim, session, req_id, f, 2)
    if instrument is None:
        return
    kind = TICK_BY_TICK_TYPES.get(f[14].upper().replace("_", "") if len(f) > 14 else "")
    if kind is None:
        session.error(req_id, 10187, f"Failed to request tick-by-tick data: unknown tick type {f[14] if len(f) > 14 else ''!r}")
        return
    bid, ask = sim.quote(instrument.key)  # the listing (SAP@IBIS:EUR), not the US symbol
    bid_size, ask_size = sim._sizes[instrument.symbol]
    fields = ["99", str(req_id), str(kind), str(_now())]
    if kind in (1, 2):
        last = sim.price(instrument.symbol).quantize(instrument.min_tick, rounding=ROUND_HALF_UP)
        fields += [fmt(last), "100", "0", instrument.primary_exchange, ""]
    elif kind == 3:
        fields += [fmt(bid), fmt(ask), str(bid_size), str(ask_size), "0"]
    else:
        fields.append(fmt(_mid(sim, instrument)))
    session.send(fields)


def req_mkt_depth_exchanges(sim, session, f) -> None:
    fields = ["80", str(len(DEPTH_EXCHANGES))]
    for exchange, sec_type, listing, service, agg in DEPTH_EXCHANGES:
        fields += [exchange, sec_type]
        if session.server_version >= v.SERVICE_DATA_TYPE:
            fields += [listing, service, agg]
    session.send(fields)


def req_smart_components(sim, session, f) -> None:
    req_id = int(f[1])
    fields = ["82", str(req_id), str(len(SMART_COMPONENTS))]
    for bit, exchange, letter in SMART_COMPONENTS:
        fields += [str(bit), exchange, letter]
    session.send(fields)


def req_market_rule(sim, session, f) -> None:
    """``91|marketRuleId``: the increments of rule 26 (US stocks) and 239 (forex); other ids are empty."""
    rule_id = int(f[1])
    increments = MARKET_RULES.get(rule_id, ())
    fields = ["93", str(rule_id), str(len(increments))]
    for low_edge, increment in increments:
        fields += [fmt(low_edge), fmt(increment)]
    session.send(fields)


# --- historical data ----------------------------------------------------------------------------------


def _history(sim: IBGatewaySimulator, instrument: Instrument, what: str, now: datetime) -> history.DailyHistory:
    """The listing's made-up daily series for ``what`` (history.py), anchored at its price now."""
    calendar = calendar_name(instrument.primary_exchange, instrument.currency)
    quote = what in history.QUOTE_KINDS
    last = _mid(sim, instrument) if quote else sim.price(instrument.key)
    quantum = instrument.min_tick / 2 if quote else instrument.min_tick
    return history.DailyHistory(f"{sim.config.seed}:{instrument.key}", calendar, history.anchor_day(now, calendar),
                                last, quantum)


def _history_paced(faults, bar_text: str) -> bool:
    """Whether IB's historical pacing rules apply to a request of this bar size (a bar size TWS
    would refuse is refused after the check, as ever)."""
    if faults.history_pacing <= 0:
        return False
    if faults.history_pacing_bar_seconds is None:
        return True
    try:
        return history.parse_bar_size(bar_text) <= faults.history_pacing_bar_seconds
    except history.HistoryRequestError:
        return True


def req_historical_data(sim, session, f) -> None:
    """``20|reqId|<12 contract>|includeExpired|end|barSize|duration|useRTH|whatToShow|formatDate|...``
    (a version field after the id below 124): the listing's synthetic bars (history.py), then
    nothing more (keepUpToDate gets no updates). Each request is kept in ``history_requests``."""
    old = session.server_version < v.SYNT_REALTIME_BARS
    o = 1 if old else 0
    req_id = int(f[1 + o])
    instrument = _instrument(sim, session, req_id, f, 2 + o)
    if instrument is None:
        return
    end_text, bar_text, duration_text, rth, what_text, date_format = f[15 + o:21 + o]
    sim.history_requests.append(HistoryRequest(instrument.key, end_text, duration_text, bar_text, what_text))
    if _history_paced(sim.faults, bar_text):
        broken = sim.history_pacing.violation((instrument.key, what_text), (instrument.key, end_text, duration_text, bar_text,
                                                                            what_text, rth), sim.history_clock(),
                                              sim.faults.history_pacing, sim.faults.history_window)
        if broken is not None:
            session.error(req_id, 162, f"Historical Market Data Service error message:Historical data request pacing violation ({broken})")
            return
    now = sim.now()
    try:
        bar_seconds = history.parse_bar_size(bar_text)
        what = history.parse_what_to_show(what_text)
        end = history.parse_end(end_text, now)
        bars = history.history_bars(_history(sim, instrument, what, now), end, duration_text, bar_seconds,
                                    rth not in ("", "0"), now)
    except history.HistoryRequestError as exc:
        session.error(req_id, 162, f"Historical Market Data Service error message:{exc}")
        return
    if not bars:
        session.error(req_id, 162, "Historical Market Data Service error message:HMDS query returned no data")
        return
    quote = what in history.QUOTE_KINDS
    fields = ["17"] + (["3"] if old else []) + [
        str(req_id),
        history.format_bar_time(bars[0].start, bar_seconds, date_format),
        history.format_bar_time(min(end, now), 0, date_format),
        str(len(bars)),
    ]
    for bar in bars:
        fields += [history.format_bar_time(bar.start, bar_seconds, date_format), fmt(bar.open), fmt(bar.high),
                   fmt(bar.low), fmt(bar.close), "-1" if quote else str(bar.volume), "-1" if quote else fmt(bar.wap)]
        if old:
            fields.append("false")  # hasGaps
        fields.append("-1" if quote else str(bar.count))
    session.send(fields)


def req_head_timestamp(sim, session, f) -> None:
    """``87|reqId|<12 contract>|includeExpired|useRTH|whatToShow|formatDate``: the first day of
    the listing's synthetic history (history.HISTORY_YEARS back), at its open."""
    req_id = int(f[1])
    instrument = _instrument(sim, session, req_id, f, 2)
    if instrument is None:
        return
    calendar = calendar_name(instrument.primary_exchange, instrument.currency)
    head = history.head_day(history.anchor_day(sim.now(), calendar), calendar)
    session.send(["88", str(req_id), history.format_head_time(head, calendar, f[17] if len(f) > 17 else "1")])


def req_histogram_data(sim, session, f) -> None:
    """``88|reqId|<12 contract>|includeExpired|useRTH|period``: one bucket at the current price."""
    req_id = int(f[1])
    instrument = _instrument(sim, session, req_id, f, 2)
    if instrument is None:
        return
    session.send(["89", str(req_id), "1", fmt(_mid(sim, instrument)), "0"])


def req_historical_ticks(sim, session, f) -> None:
    """``96|reqId|<12 contract>|includeExpired|start|end|count|whatToShow|...``: an empty, finished list."""
    req_id = int(f[1])
    if _instrument(sim, session, req_id, f, 2) is None:
        return
    what = f[18].upper() if len(f) > 18 else "TRADES"
    session.send([HISTORICAL_TICKS_MESSAGE.get(what, "98"), str(req_id), "0", "1"])


# --- reference data ------------------------------------------------------------------------------------


def req_sec_def_opt_params(sim, session, f) -> None:
    """No options are listed: the end marker alone."""
    session.send(["76", str(int(f[1]))])


def req_matching_symbols(sim, session, f) -> None:
    """``81|reqId|pattern``: up to 16 listed symbols starting with the pattern (or naming it)."""
    req_id, pattern = int(f[1]), (f[2] if len(f) > 2 else "").upper()
    matches = [i for i in sim.universe.values() if i.sec_type == "STK" and pattern and i.symbol.startswith(pattern)]
    matches += [i for i in sim.universe.values()
                if i.sec_type == "STK" and pattern and pattern in i.long_name.upper() and i not in matches]
    matches = matches[:16]
    fields = ["79", str(req_id), str(len(matches))]
    for i in matches:
        fields += [str(i.con_id), i.symbol, i.sec_type, i.primary_exchange, i.currency, "0"]
        if session.server_version >= v.BOND_ISSUERID:
            fields += [i.long_name, ""]  # description, issuerId
    session.send(fields)


def req_scanner_parameters(sim, session, f) -> None:
    session.send(["19", "1", SCANNER_XML])


def req_scanner_subscription(sim, session, f) -> None:
    """The simulator runs no scans: an empty result (its end ends the client's request)."""
    session.send(["20", "3", str(int(f[1])), "0"])


def req_fundamental_data(sim, session, f) -> None:
    session.error(int(f[2]), 430, "We are sorry, but fundamentals data for the security specified is not available."
                                  "failed to fetch")


def req_option_calculation(sim, session, f) -> None:
    """calculateImpliedVolatility / calculateOptionPrice: there are no option contracts."""
    session.error(int(f[2]), 200, NO_SECURITY)


def exercise_options(sim, session, f) -> None:
    session.error(int(f[2]), 200, NO_SECURITY)


# --- news and WSH ----------------------------------------------------------------------------------------


def req_news_providers(sim, session, f) -> None:
    fields = ["85", str(len(NEWS_PROVIDERS))]
    for code, name in NEWS_PROVIDERS:
        fields += [code, name]
    session.send(fields)


def req_news_article(sim, session, f) -> None:
    session.error(int(f[1]), 10276, "News feed is not allowed: the simulator stores no news articles")


def req_historical_news(sim, session, f) -> None:
    session.send(["87", str(int(f[1])), "0"])  # historicalNewsEnd, hasMore = false


def req_wsh_meta_data(sim, session, f) -> None:
    session.error(int(f[1]), 10279, "Failed request WSH metadata: no Wall Street Horizon subscription in the simulator")


def req_wsh_event_data(sim, session, f) -> None:
    session.error(int(f[1]), 10282, "Failed request WSH event data: no Wall Street Horizon subscription in the simulator")


# --- account, FA, display groups, verification -------------------------------------------------------------


def req_positions_multi(sim, session, f) -> None:
    """``74|1|reqId|account|modelCode``: positionMulti per position of that account (none named:
    of every managed account), then the end."""
    req_id, account = int(f[2]), f[3] if len(f) > 3 else ""
    model_code = f[4] if len(f) > 4 else ""
    for held_in, book in sim._accounts.items():
        if account and account != held_in:
            continue
        for pos in book.positions.values():
            if pos.quantity:
                instrument = sim.universe[pos.symbol]
                session.send(["71", "1", str(req_id), held_in,
                              *m.position(held_in, instrument, pos.quantity, pos.avg_cost)[3:-2],
                              fmt(pos.quantity), fmt(pos.avg_cost), model_code])
    session.send(["72", "1", str(req_id)])


def req_soft_dollar_tiers(sim, session, f) -> None:
    session.send(["77", str(int(f[1])), "0"])


def req_family_codes(sim, session, f) -> None:
    fields = ["78", str(len(sim.config.accounts))]
    for account in sim.config.accounts:
        fields += [account, ""]
    session.send(fields)


def req_user_info(sim, session, f) -> None:
    session.send(["107", str(int(f[1])), ""])


def request_fa(sim, session, f) -> None:
    """``18|1|faDataType``: the simulated account is no advisor account, so its lists are empty."""
    session.send(["16", "1", f[2] if len(f) > 2 else "1", FA_XML])


def replace_fa(sim, session, f) -> None:
    """``19|1|faDataType|xml|reqId``: nothing to replace; replaceFAEnd from version 157 on."""
    if session.server_version >= v.REPLACE_FA_END and len(f) > 4:
        session.send(["103", str(int(f[4] or 0)), "FA data not replaced: the simulated account is not an advisor account"])


def query_display_groups(sim, session, f) -> None:
    session.send(["67", "1", str(int(f[2])), "1|2|3|4|5|6|7"])


def subscribe_to_group_events(sim, session, f) -> None:
    session.send(["68", "1", str(int(f[2])), ""])


def update_display_group(sim, session, f) -> None:
    session.send(["68", "1", str(int(f[2])), f[3] if len(f) > 3 else ""])


def verify(sim, session, f) -> None:
    """verifyRequest / verifyMessage: API verification is an ISV feature the simulator does not need."""
    session.send(["66", "1", "0", "API verification is not used by the simulator"])


def verify_and_auth(sim, session, f) -> None:
    session.send(["70", "1", "0", "API verification is not used by the simulator"])


HANDLERS: dict[int, Handler] = {
    10: req_mkt_depth,
    11: _nothing,  # cancelMktDepth
    12: _nothing,  # reqNewsBulletins: there are no bulletins
    13: _nothing,  # cancelNewsBulletins
    14: _nothing,  # setServerLogLevel
    18: request_fa,
    19: replace_fa,
    20: req_historical_data,
    21: exercise_options,
    22: req_scanner_subscription,
    23: _nothing,  # cancelScannerSubscription
    24: req_scanner_parameters,
    25: _nothing,  # cancelHistoricalData
    50: req_real_time_bars,
    51: _nothing,  # cancelRealTimeBars
    52: req_fundamental_data,
    53: _nothing,  # cancelFundamentalData
    54: req_option_calculation,
    55: req_option_calculation,
    56: _nothing,  # cancelCalculateImpliedVolatility
    57: _nothing,  # cancelCalculateOptionPrice
    65: verify,
    66: verify,
    67: query_display_groups,
    68: subscribe_to_group_events,
    69: update_display_group,
    70: _nothing,  # unsubscribeFromGroupEvents
    72: verify_and_auth,
    73: verify_and_auth,
    74: req_positions_multi,
    75: _nothing,  # cancelPositionsMulti
    78: req_sec_def_opt_params,
    79: req_soft_dollar_tiers,
    80: req_family_codes,
    81: req_matching_symbols,
    82: req_mkt_depth_exchanges,
    83: req_smart_components,
    84: req_news_article,
    85: req_news_providers,
    86: req_historical_news,
    87: req_head_timestamp,
    88: req_histogram_data,
    89: _nothing,  # cancelHistogramData
    90: _nothing,  # cancelHeadTimeStamp
    91: req_market_rule,
    96: req_historical_ticks,
    97: req_tick_by_tick,
    98: _nothing,  # cancelTickByTickData
    100: req_wsh_meta_data,
    101: _nothing,  # cancelWshMetaData
    102: req_wsh_event_data,
    103: _nothing,  # cancelWshEventData
    104: req_user_info,
}
