"""What the window's controller used to decide itself, now Qt-free in services: the live-word
policy, the preview session's Execute gate, position marks, chart state, settings changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from types import SimpleNamespace

from services.console_charts import equity_points, pnl_sides, run_chart
from services.console_settings import change_from_dialog, dialog_values, with_theme
from services.domain import PositionRecord, Side, TradeMode
from services.execution.runs.records import ExecuteResult
from services.live_word import LiveWord, live_preview_subject
from services.position_marks import PositionMarks, mark_said
from services.preview_session import (
    NO_PREVIEW,
    PreviewSession,
    describe_execute,
    execute_needs_attention,
    sent_gate,
)
from services.run_progress import RunProgress

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_paper_never_asks_for_the_word():
    word = LiveWord(TradeMode.PAPER)
    assert not word.must_ask_before_preview()
    assert word.for_action() == (False, None)
    assert word.for_action(adds_risk=True) == (False, None)


def test_live_reuses_the_word_only_for_actions_that_take_risk_off():
    word = LiveWord(TradeMode.LIVE)
    assert word.must_ask_before_preview()
    assert word.for_action() == (True, None)
    assert not word.arm("yes") and word.token is None
    assert word.arm(" live ")
    assert not word.must_ask_before_preview()
    assert word.for_action() == (False, " live ")  # a cancel reuses it
    assert word.for_action(adds_risk=True) == (True, None)  # a replace asks again


def _draft(symbol, coid="C1"):
    return SimpleNamespace(client_order_id=coid, symbol=symbol, side=Side.BUY, reference_price=D("100"), fx_rate=D(1), quantity=D(10))


def _preview(*, blocked=False, drafts=("AAPL",), run_id=5, plan=True, executed_plan_id=None, report=None):
    return SimpleNamespace(run_id=run_id, blocked=blocked, drafts=tuple(_draft(s, f"C{i}") for i, s in enumerate(drafts)),
                           report=report,
                           plan=SimpleNamespace(id=9, content_hash="h9") if plan else None, plan_id=9 if plan else None,
                           executed_plan_id=executed_plan_id,
                           run_executed_another=executed_plan_id is not None and executed_plan_id != (9 if plan else None))


def test_the_execute_gate_follows_the_preview():
    session = PreviewSession()
    assert session.gate() == NO_PREVIEW and session.refusal() == "Preview the run first."
    assert session.start(_preview(), snapshot_id=3).enabled
    assert session.refusal() is None and session.run_id == 5 and session.plan.id == 9
    assert session.start(_preview(blocked=True), 3) == (False, "Blocked by risk: see Risk results")
    assert "BLOCKED" in session.refusal()
    assert session.start(_preview(drafts=()), 3) == (False, "Nothing to trade: the account is at the targets")
    assert session.start(_preview(plan=False), 3).enabled and session.refusal() == "Preview the run first."
    assert not sent_gate(5).enabled and "Run 5 sent" in sent_gate(5).reason



def test_the_execute_gate_is_off_while_the_form_differs_from_the_previewed_one():
    from services.preview_session import FORM_CHANGED

    session = PreviewSession()
    assert session.start(_preview(), 3, {"lot_size": "1"}).enabled
    assert session.form_edited({"lot_size": "10"}) == (False, FORM_CHANGED) and session.refusal() == FORM_CHANGED + "."
    assert session.form_edited({"lot_size": "1"}).enabled  # put back
    assert session.start(_preview(), 3).enabled and session.form_edited({"lot_size": "10"}).enabled  # no form kept: no rule

def test_a_preview_of_a_run_that_executed_another_plan_can_be_reviewed_not_sent():
    """The service refuses it (execute_plan: plan_superseded); Execute was green until the click."""
    session = PreviewSession()
    gate = session.start(_preview(executed_plan_id=4), 3)
    assert gate == (False, "Run 5 already executed plan 4: plan 9 can be reviewed, not sent; Preview in a new run (Ctrl+Shift+P) to trade the snapshot again")
    assert session.refusal() == "Run 5 already executed plan 4: plan 9 can be reviewed, not sent; Preview in a new run (Ctrl+Shift+P) to trade the snapshot again."


def test_the_progress_line_says_a_preview_not_sent_beside_the_last_sent_plans_own_outcome():
    """A second preview showed "run 5: 0 of 214 filled": the sent run's words, the unsent plan's numbers."""
    session, sent = PreviewSession(), RunProgress()
    nothing = sent.snapshot(T0)
    assert session.progress_line(nothing) == ""
    session.start(_preview(), 3)
    assert session.progress_line(nothing) == "plan 9 (run 5) previewed, not sent"
    sent.reset(5, {"C0": session.planned_orders()["C0"]}, D("1000"), plan_id=4)
    outcome = sent.snapshot(T0)
    assert outcome.text == "run 5, plan 4: 0 of 1,000 filled"
    session.start(_preview(executed_plan_id=4), 3)
    # the way on said beside Execute, off: not only in its tooltip
    assert session.progress_line(outcome) == ("plan 9 (run 5) previewed, not sent: the run executed plan 4; "
                                              "Ctrl+Shift+P previews in a new run · "
                                              "last sent: run 5, plan 4: 0 of 1,000 filled")
    session.mark_sent(5)
    assert session.progress_line(outcome) == outcome.text


def test_a_preview_goes_stale_when_another_snapshot_is_shown():
    session = PreviewSession()
    assert not session.stale_for(1)  # nothing previewed
    session.start(_preview(), snapshot_id=1)
    assert not session.stale_for(1) and session.stale_for(2)
    session.clear()
    assert session.preview is None and session.run_id is None and not session.stale_for(2)


def test_planned_orders_by_client_order_id():
    session = PreviewSession()
    session.start(_preview(drafts=("AAPL", "MSFT")), 1)
    planned = session.planned_orders()
    assert set(planned) == {"C0", "C1"} and planned["C1"].symbol == "MSFT"
    assert planned["C0"].reference_price == D("100") and planned["C0"].quantity == D(10)


@dataclass
class _Trade:
    calls: list = field(default_factory=list)

    async def execute_plan(self, plan_id, token, *, confirmed_hash=None):
        self.calls.append(("plan", plan_id, token, confirmed_hash))
        return "sent plan"

    async def execute(self, run_id, token):
        self.calls.append(("run", run_id, token))
        return "sent run"


async def test_send_uses_the_stored_plan_of_the_current_preview_only():
    trade, session = _Trade(), PreviewSession()
    session.start(_preview(run_id=5), 1)
    assert await session.send(trade, 5, "LIVE") == "sent plan"
    assert await session.send(trade, 6) == "sent run"
    # the plan whose numbers were shown, by its hash: the stored one is sent only while it still is that
    assert trade.calls == [("plan", 9, "LIVE", "h9"), ("run", 6, None)]


def test_describe_execute():
    result = ExecuteResult(4, sent=("a", "b"), already_known=(), failed=(("c", "x"),), unsent=("c", "d"), stopped="halted")
    # each order counted once, the counts adding up to the plan's 4: c failed (put back to NEW), d never tried
    assert describe_execute(4, result) == "Run 4: 2 sent, 0 already at the broker, 1 failed, 1 not sent (halted)"
    assert describe_execute(4, ExecuteResult(4, sent=("a",), failed=(("c", "x"),), unsent=("c",))) == (
        "Run 4: 1 sent, 0 already at the broker, 1 failed, 0 not sent")  # it said "1 failed, 1 not sent" of c
    assert execute_needs_attention(result)
    assert not execute_needs_attention(ExecuteResult(4, sent=("a",), already_known=()))


def test_orders_sent_as_another_sessions_cancel_all_came_are_said_with_what_became_of_them():
    """Canceled at the broker by their sender, or not (then they may still work): said, as a warning."""
    result = ExecuteResult(7, sent=("a", "b", "c"), already_known=(), stopped="Cancel All",
                           canceled_after_cancel_all=("b", "c"), not_canceled_after_cancel_all=(("a", "not connected"),))
    assert describe_execute(7, result) == (
        "Run 7: 3 sent, 0 already at the broker, 0 failed, 0 not sent (Cancel All); 2 orders sent as another "
        "session's Cancel All came canceled at the broker: b, c; 1 order sent after another session's Cancel All "
        "could not be canceled and may still work: a (not connected)")
    assert execute_needs_attention(result)


def _position(symbol, quantity):
    return PositionRecord(None, "DU1", symbol, D(quantity), D("10"), D(0), T0)


class _Provider:
    def __init__(self, prices):
        self.prices, self.asked = prices, []

    async def market_prices(self, symbols):
        self.asked.append(list(symbols))
        return {s: self.prices.get(s) for s in symbols}


async def test_marks_only_held_symbols_capped_and_keeps_the_last_price():
    marks = PositionMarks(max_symbols=2)
    provider = _Provider({"AAPL": D("12"), "IBM": None})
    positions = [_position("MSFT", 0), _position("IBM", 5), _position("AAPL", 3), _position("SPY", 1)]
    marked = await marks.refresh(provider, positions)
    assert provider.asked == [["AAPL", "IBM"]]  # flat MSFT skipped; sorted and capped
    by_symbol = {p.symbol: p for p in marked}
    assert set(by_symbol) == {"IBM", "AAPL", "SPY"}
    assert by_symbol["AAPL"].market_price == D("12") and by_symbol["IBM"].market_price is None
    assert marks.apply([_position("AAPL", 4)])[0].market_price == D("12")  # a later change set is marked too
    assert await marks.refresh(provider, [_position("MSFT", 0)]) == []


async def test_a_holding_listed_again_is_marked_and_no_longer_said_unlisted():
    """A symbol the broker did not list (a gateway that did not know it) and answers for later
    (another gateway, a listing back) is marked as any other, its row no longer "not listed"."""
    from services.execution.errors import UnknownContract

    class Gateway(_Provider):
        knows_zz = False

        async def market_prices(self, symbols):
            if "ZZ" in symbols and not self.knows_zz:
                raise UnknownContract("no listing of ZZ", ("ZZ",))
            return await super().market_prices(symbols)

    marks, gateway = PositionMarks(), Gateway({"ZZ": D("7"), "AAPL": D("12")})
    held = [_position("ZZ", 5), _position("AAPL", 3)]
    assert [(p.symbol, p.unlisted) for p in await marks.refresh(gateway, held)] == [("ZZ", True), ("AAPL", False)]
    gateway.knows_zz = True
    marked = await marks.refresh(gateway, held)
    assert [(p.symbol, p.unlisted, p.market_price) for p in marked] == [("ZZ", False, D("7")), ("AAPL", False, D("12"))]
    assert marks.unlisted == set()



def test_a_positions_market_price_says_where_it_comes_from_and_when():
    """The positions tree's Market cell's tooltip: the stored mark (the last fill's, or the
    equity recorder's) or the quote the window was given, and when it was the price."""
    held = _position("AAPL", 10)
    assert mark_said(held) is None
    at = T0.replace(second=11, microsecond=500)
    assert mark_said(replace(held, market_price=D(101), marked_at=at)) == "stored mark of 2026-12-01 15:00:11 UTC (the last fill or a quote)"
    assert mark_said(replace(held, market_price=D(102), marked_at=at, quoted=True)) == "quote seen 2026-12-01 15:00:11 UTC"


def test_a_holding_the_broker_does_not_list_says_so_and_which_price_it_keeps():
    """PositionMarks leaves a holding the broker does not list at its stored mark: its row says
    so, not a price that reads as the market's."""
    from services.position_marks import symbol_said

    held = replace(_position("ZZOTHER", 10), unlisted=True)
    at = T0.replace(second=11)
    assert symbol_said(held) == "ZZOTHER (not listed)" and symbol_said(_position("AAPL", 10)) == "AAPL"
    assert mark_said(held) == "not marked: the broker does not list ZZOTHER, so no quote values it; no mark"
    assert mark_said(replace(held, market_price=D(101), marked_at=at)) == (
        "not marked: the broker does not list ZZOTHER, so no quote values it; "
        "stored mark of 2026-12-01 15:00:11 UTC (the last fill or a quote)")

def test_the_pnl_line_is_split_at_zero_where_it_crosses():
    """The Equity & P&L chart filled the P&L green whatever its sign: a loss read as a gain. Its
    gain side and its loss side, each meeting zero where the P&L crossed it between samples."""
    t = [T0 + timedelta(seconds=10 * n) for n in range(4)]
    gains, losses = pnl_sides([(t[0], D(0)), (t[1], D(10)), (t[2], D(-30)), (t[3], D(-5))])
    crossing = t[1] + timedelta(seconds=2.5)  # 10 down to -30 in 10 s: zero a quarter of the way
    assert gains == [(t[0], D(0)), (t[1], D(10)), (crossing, D(0)), (t[2], D(0)), (t[3], D(0))]
    assert losses == [(t[0], D(0)), (t[1], D(0)), (crossing, D(0)), (t[2], D(-30)), (t[3], D(-5))]
    assert pnl_sides([]) == ([], [])
    assert pnl_sides([(t[0], D(-1)), (t[1], D(0)), (t[2], D(2))]) == (
        [(t[0], D(0)), (t[1], D(0)), (t[2], D(2))], [(t[0], D(-1)), (t[1], D(0)), (t[2], D(0))])


def test_equity_points_are_pnl_against_the_first_value():
    history = [(T0, D("1000")), (T0 + timedelta(minutes=1), D("1010")), (T0 + timedelta(minutes=2), D("990"))]
    assert [p[2] for p in equity_points(history)] == [D(0), D(10), D(-10)]
    assert equity_points([]) == []


def test_run_chart_has_no_target_without_a_run():
    assert run_chart(RunProgress().snapshot(T0)).target is None
    progress = RunProgress()
    progress.reset(3, {}, D("5000"))
    assert run_chart(progress.snapshot(T0)).target == D("5000")


@dataclass(frozen=True)
class _Ib:
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    account: str = ""
    market_data_type: str = "delayed"
    market_data_lines: int = 100


@dataclass(frozen=True)
class _Ui:
    theme: str = "dark"


@dataclass(frozen=True)
class _Settings:
    db_url: str = "mysql://u:secret@h/db"
    ib: _Ib = field(default_factory=_Ib)
    ui: _Ui = field(default_factory=_Ui)

    @property
    def redacted_db_url(self) -> str:
        return "mysql://u:***@h/db"


def test_settings_dialog_values_hide_the_password():
    values = dialog_values(_Settings(), {"risk": {"max_order_notional": 5}, "auto_recovery": {"new_timeout_seconds": 45},
                                         "execution_data_source": "ib"})
    assert values["database_url"] == "mysql://u:***@h/db" and values["ib"]["port"] == 7497
    assert values["ib"]["market_data_lines"] == 100
    assert values["execution_data_source"] == "ib" and values["data_sources"] == ["ib", "simulator"]
    assert values["risk_defaults"] == {"max_order_notional": 5} and values["theme"] == "dark"
    # the stored plans' settings too (`trade-settings` listed them, the dialog did not: a trader's walk)
    shown = dialog_values(_Settings(), {"risk": {}, "auto_recovery": {}, "execution_data_source": "ib",
                                        "execution": {"plan_max_age_seconds": 120, "plan_max_price_move_pct": 1.0}})
    assert shown["execution"] == {"plan_max_age_seconds": 120, "plan_max_price_move_pct": 1.0}
    assert shown["labels"]["plan_max_age_seconds"] == "A stored plan may be sent until (seconds after its preview)"


def test_a_submitted_dialog_changes_the_file_and_the_database_parts():
    data = {"ib": {"port": "4002", "account": None}, "theme": "light", "risk_defaults": {"max_order_notional": 7},
            "recovery": {"new_timeout_seconds": 30}}
    change = change_from_dialog(_Settings(), data)
    assert change.settings.ib.port == 4002 and change.settings.ib.host == "127.0.0.1"
    assert change.settings.ib.market_data_lines == 100  # not submitted: kept
    assert change_from_dialog(_Settings(), {"ib": {"market_data_lines": 300}}).settings.ib.market_data_lines == 300
    assert change.settings.ui.theme == "light" and change.theme == "light"
    assert change.settings.db_url == "mysql://u:secret@h/db"  # no URL submitted: kept
    # no data source submitted: None, which the trade settings service reads as "unchanged"
    assert change.trade_changes == {"risk": {"max_order_notional": 7}, "auto_recovery": {"new_timeout_seconds": 30},
                                    "execution": None, "execution_data_source": None}
    assert change_from_dialog(_Settings(), {"execution": {"plan_max_age_seconds": "300"}}).trade_changes["execution"] == {
        "plan_max_age_seconds": "300"}
    assert change.audit_payload == {"ib": data["ib"], "database_changed": False}
    assert change_from_dialog(_Settings(), {"theme": "neon"}).theme is None
    assert with_theme(_Settings(), "light").ui.theme == "light"


def test_the_risk_headline_and_the_execute_gate_read_a_preview_alike():
    """The risk panel's headline (services.console_risk) is READY exactly when the Execute gate
    lets the preview through; otherwise it names a reason that holds."""
    from services.console_risk import risk_verdict

    def report(blocked, orders):
        return SimpleNamespace(verdict="blocked" if blocked else "ready", run_blocks=(),
                               orders=tuple(SimpleNamespace(blocks=("x",) if blocked else ()) for _ in orders))

    for blocked in (False, True):
        for drafts in ((), ("AAPL",), ("AAPL", "MSFT")):
            for halted in (False, True):
                session = PreviewSession()
                session.start(_preview(blocked=blocked, drafts=drafts), 1)
                gate = session.set_halted(halted)
                verdict = risk_verdict(report(blocked, drafts), halted)
                assert (verdict.look == "ready") == gate.enabled, (blocked, drafts, halted, verdict, gate)
                assert verdict.blocked == blocked
                # the headline's reason holds of the preview (a blocked run says BLOCKED even while
                # halted: the risk result first here; the gate names the halt first)
                applies = {"BLOCKED": blocked, "NOTHING TO TRADE": not drafts, "HALTED": halted, "READY": gate.enabled}
                assert applies[verdict.text.split(" — ")[0]], (verdict, gate)
    assert risk_verdict(report(False, ("AAPL",)), False).text == "READY — 1 order passes every rule"
    # sent, the gate turns Execute off: the headline says so rather than READY over orders that
    # filled (a trader's walk), whether or not trading was halted since
    for halted in (False, True):
        session = PreviewSession()
        session.start(_preview(blocked=False, drafts=("AAPL", "MSFT")), 1)
        session.set_halted(halted)
        gate = session.mark_sent(7)
        verdict = risk_verdict(report(False, ("AAPL", "MSFT")), halted, sent_run=7)
        assert not gate.enabled and verdict.look != "ready" and not verdict.blocked
        assert verdict.text == "SENT — run 7: 2 orders passed every rule at preview"


def test_a_preview_blocked_by_the_halt_alone_says_preview_again_once_trading_resumed():
    """A trader's walk under Xvfb: a preview made while trading was HALTED (every order blocked
    by trading_halted), then Resume: the risk panel still said "BLOCKED — 1 order blocked" over
    "NVDA: trading is HALTED", the bar beside Execute "BLOCKED by risk, see Risk results", and
    nothing said that only a new preview would do. Blocked by another rule too, it says as before."""
    from services.console_risk import risk_verdict

    def block(code):
        return SimpleNamespace(code=code)

    def report(*codes):
        return SimpleNamespace(verdict="blocked", run_blocks=(), orders=(SimpleNamespace(blocks=tuple(block(c) for c in codes)),))

    by_halt = report("trading_halted")
    session = PreviewSession()
    session.set_halted(True)
    session.start(_preview(blocked=True, drafts=("NVDA",), report=by_halt), 3)
    assert risk_verdict(by_halt, True).text == "BLOCKED — 1 order blocked"
    assert session.unsent_note() == "plan 9 (run 5) previewed, not sent: BLOCKED by risk, see Risk results"
    gate = session.set_halted(False)  # Resume
    assert gate == (False, "Blocked: previewed while trading was HALTED; trading resumed since: Preview again")
    assert session.refusal() == "The run is BLOCKED: previewed while trading was HALTED; trading resumed since: Preview again."
    assert session.unsent_note() == "plan 9 (run 5) previewed, not sent: BLOCKED while trading was HALTED, Preview again"
    verdict = risk_verdict(by_halt, False)
    assert verdict.text == "BLOCKED — 1 order blocked: previewed while trading was HALTED; trading resumed since: Preview again"
    assert verdict.blocked and verdict.look == "blocked"
    # another rule's block holds after Resume: said as before
    both = report("trading_halted", "max_order_notional")
    session.start(_preview(blocked=True, drafts=("NVDA",), report=both), 3)
    assert session.gate() == (False, "Blocked by risk: see Risk results")
    assert session.unsent_note().endswith(": BLOCKED by risk, see Risk results")
    assert risk_verdict(both, False).text == "BLOCKED — 1 order blocked"


def test_a_live_preview_s_dialog_says_what_the_preview_does_with_the_word():
    # the window's slot composed these rows itself (app/controllers/trading.py)
    assert live_preview_subject("momentum.csv") == [
        ("Snapshot", "momentum.csv"),
        ("Preview", "builds and stores a LIVE plan; nothing is sent (Execute asks for the word again)")]
    assert live_preview_subject(None)[0] == ("Snapshot", "(none selected)")
