"""The instrument named is the instrument traded: a EUR row beside a same-named US listing, against
the simulator over a real socket, on SQLite and MariaDB."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.console_queries import import_snapshot
from services.db.models import DecisionSnapshotItem
from services.db.repositories import (
    PositionRepository,
    ProjectRepository,
    SnapshotItemInput,
    SnapshotRepository,
)
from services.domain import OrderState, TradeMode
from services.execution.errors import BadInput, BrokerError

from .conftest import build_stack

pytestmark = pytest.mark.timeout(60)


def _import(db, tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return import_snapshot(db, path, "fx", actor="tester")


async def test_a_eur_row_trades_the_eur_listing_sized_with_the_rate(stack, tmp_path):
    sim = stack.sim
    us_sap, eur_sap = sim.universe["SAP"], sim.universe["SAP@IBIS:EUR"]
    assert (us_sap.currency, eur_sap.currency, sim.config.fx_rates["EUR"]) == ("USD", "EUR", Decimal("1.10"))
    outcome = _import(stack.db, tmp_path, "eur.csv", "symbol,weight,exchange,currency\nSAP,0.1,IBIS,EUR\n")
    assert outcome.parsed.ok, outcome.parsed.errors
    run = await stack.service.create_run("fx", outcome.snapshot_id, TradeMode.PAPER, {})

    preview = await stack.service.preview(run.id, Decimal("100000"))
    [draft] = preview.drafts
    # 10 % of 100,000 USD at 200 EUR with EURUSD 1.10: 10,000 / 220 -> 45 shares, not 50
    assert (draft.symbol, draft.currency, draft.exchange, draft.quantity) == ("SAP", "EUR", "IBIS", Decimal(45))
    assert (draft.reference_price, draft.fx_rate, draft.notional) == (Decimal("200"), Decimal("1.10"), Decimal("9900.00"))
    assert preview.prices == {"SAP@IBIS:EUR": Decimal("200")}

    result = await stack.service.execute(run.id)
    assert result.sent == (draft.client_order_id,)
    assert await stack.service.wait_done(run.id, 10) == []
    await stack.writer.flush()
    # the simulator got the EUR contract: its conId, routed to IBIS; the US listing untouched
    [order] = sim.orders()
    assert (order.con_id, order.exchange, order.quantity) == (eur_sap.con_id, "IBIS", Decimal(45))
    assert sim.universe[order.symbol].currency == "EUR"
    [entry] = sim.ledger()
    assert (entry["conId"], entry["currency"], entry["exchange"]) == (eur_sap.con_id, "EUR", "IBIS")
    assert sim.positions() == {"SAP@IBIS:EUR": Decimal(45)}
    # the cash paid in base currency at the rate: 45 x 200.02 EUR (ask + slippage) + 1 commission, x 1.10
    assert entry["price"] == "200.02"
    assert sim.cash == sim.config.initial_cash - (Decimal(45) * Decimal("200.02") + Decimal(1)) * Decimal("1.10")

    view = await stack.service.view(run.id)
    [stored] = view.orders
    assert (stored.symbol, stored.status, stored.filled_quantity) == ("SAP", OrderState.FILLED, Decimal(45))
    [fill] = view.fills
    assert (fill.currency, fill.exchange) == ("EUR", "IBIS")
    with stack.db.session() as session:
        rows = {(p.project_id is None, p.symbol): (p.quantity, p.currency, p.exchange) for p in PositionRepository(session).list()}
    assert rows == {(False, "SAP@IBIS:EUR"): (Decimal(45), "EUR", "IBIS"), (True, "SAP@IBIS:EUR"): (Decimal(45), "EUR", "IBIS")}
    # the broker's position carries the listing too, and reconciliation keeps it apart from a US SAP
    [held] = await stack.provider.positions()
    assert (held.symbol, held.currency, held.exchange, held.con_id, held.key) == ("SAP", "EUR", "IBIS", eur_sap.con_id, "SAP@IBIS:EUR")
    report = await stack.reconciler.reconcile()
    assert report.positions_corrected == []


async def test_a_same_named_us_position_does_not_merge_with_the_eur_target(stack, tmp_path):
    """Holding the US SAP while the snapshot wants the EUR one: two listings, two positions."""
    sim = stack.sim
    us = _import(stack.db, tmp_path, "us.csv", "symbol,weight\nSAP,0.05\n")
    run_us = await stack.service.create_run("fx", us.snapshot_id, TradeMode.PAPER, {})
    await stack.service.execute(run_us.id, portfolio_value=Decimal("100000"))
    assert await stack.service.wait_done(run_us.id, 10) == []
    us_qty = sim.positions()["SAP"]  # 5,000 / 220 -> 23 (nearest)
    assert us_qty == Decimal(23)

    eur = _import(stack.db, tmp_path, "eur.csv", "symbol,weight,sec_type,exchange,currency,primary_exchange\nSAP,0.1,STK,SMART,EUR,IBIS\n")
    run = await stack.service.create_run("fx", eur.snapshot_id, TradeMode.PAPER, {"liquidate_unlisted": False})
    preview = await stack.service.preview(run.id, Decimal("100000"))
    [draft] = preview.drafts
    # the held US shares are not counted towards the EUR target: a full 45 to buy
    assert (draft.key, draft.current_quantity, draft.quantity) == ("SAP@IBIS:EUR", Decimal(0), Decimal(45))
    await stack.service.execute(run.id)
    assert await stack.service.wait_done(run.id, 10) == []
    await stack.writer.flush()
    assert sim.positions() == {"SAP": Decimal(23), "SAP@IBIS:EUR": Decimal(45)}
    assert sim.orders()[-1].exchange == "SMART" and sim.universe[sim.orders()[-1].symbol].currency == "EUR"
    with stack.db.session() as session:
        account_rows = {p.symbol: p.quantity for p in PositionRepository(session).list(project_id=None) if p.project_id is None}
    assert account_rows == {"SAP": Decimal(23), "SAP@IBIS:EUR": Decimal(45)}


async def test_the_risk_engine_values_a_foreign_order_in_the_base_currency(stack, tmp_path):
    outcome = _import(stack.db, tmp_path, "gbp.csv", "symbol,weight,exchange,currency\nSHEL,0.2,LSE,GBP\n")
    run = await stack.service.create_run("fx", outcome.snapshot_id, TradeMode.PAPER,
                                         {"risk_overrides": ["max_order_notional=21000", "max_position_ratio=0.25"]})
    preview = await stack.service.preview(run.id, Decimal("100000"))
    [draft] = preview.drafts
    # 20,000 USD / (26 GBP x 1.27 = 33.02 USD) = 605.7 -> 606 shares, 20,010.12 USD (15,756 GBP)
    assert (draft.quantity, draft.notional) == (Decimal(606), Decimal("20010.12"))
    assert not preview.blocked
    # the same order counted in GBP would pass a 16,000 limit (15,756 GBP); in USD it does not
    tight = await stack.service.create_run("fx", outcome.snapshot_id, TradeMode.PAPER,
                                           {"risk_overrides": ["max_order_notional=16000", "max_position_ratio=0.25"]}, new_run=True)
    blocked = await stack.service.preview(tight.id, Decimal("100000"))
    assert [b.code for b in blocked.report.all_blocks()] == ["max_order_notional"]


async def test_a_listing_without_a_rate_blocks_the_run(stack, tmp_path):
    outcome = _import(stack.db, tmp_path, "chf.csv", "symbol,weight,exchange,currency\nSAP,0.1,IBIS,EUR\n")
    del stack.sim.config.fx_rates["EUR"]  # the broker reports no EUR rate (read at the first account summary)
    run = await stack.service.create_run("fx", outcome.snapshot_id, TradeMode.PAPER, {})
    preview = await stack.service.preview(run.id, Decimal("100000"))
    assert preview.drafts == () and [s.reason for s in preview.skipped] == ["missing_rate"]
    assert preview.blocked and [b.code for b in preview.report.all_blocks()] == ["missing_price"]
    assert stack.sim.orders() == []


def test_import_refuses_untradeable_rows_with_their_line(database, tmp_path):
    outcome = _import(database, tmp_path, "bad.csv",
                      "symbol,weight,sec_type,exchange,currency\n"
                      "AAPL,0.1,STK,SMART,USD\n"
                      "SPY,0.1,OPT,SMART,USD\n"
                      "ES,0.1,FUT,SMART,USD\n"
                      "SAP,0.1,STK,IBIS,USD\n"
                      "VOD,0.1,STK,XLON,GBP\n")
    assert outcome.snapshot_id is None  # nothing stored
    problems = [(p.line, p.column, p.code) for p in outcome.parsed.errors]
    assert problems == [(3, "sec_type", "unsupported_sec_type"), (4, "sec_type", "unsupported_sec_type"),
                        (5, "exchange", "unsupported_exchange"), (6, "exchange", "unsupported_exchange")]
    assert "IBIS does not trade in USD" in str(outcome.parsed.errors[2])
    with database.session() as session:
        assert session.query(DecisionSnapshotItem).count() == 0


async def test_preview_refuses_a_stored_untradeable_row_and_sends_nothing(stack):
    """A row stored before import checked it (or by another tool) is refused at preview, never swapped."""
    with stack.db.unit_of_work() as session:
        project = ProjectRepository(session).get_or_create("fx")
        snap = SnapshotRepository(session).create_with_items(project.id, "old.csv", "h" * 64, [
            SnapshotItemInput("AAPL", Decimal("0.1")),
            SnapshotItemInput("SAP", Decimal("0.1"), sec_type="OPT", exchange="SMART", currency="EUR"),
            SnapshotItemInput("SHEL", Decimal("0.1"), exchange="LSE", currency="USD"),
        ])
        snapshot_id = snap.id
    run = await stack.service.create_run("fx", snapshot_id, TradeMode.PAPER, {})
    with pytest.raises(BadInput) as info:
        await stack.service.execute(run.id, portfolio_value=Decimal("100000"))
    assert "row 2 (SAP), column sec_type: security type OPT is not supported" in str(info.value)
    assert "row 3 (SHEL), column exchange: LSE does not trade in USD" in str(info.value)
    assert stack.sim.orders() == []


async def test_a_listing_the_broker_does_not_have_is_refused_not_swapped(stack, tmp_path, ib_log_guard):
    ib_log_guard.allow(r"Error 200")
    # SAP trades on IBIS and NYSE in the simulator, not on SBF (Paris): a valid row, unknown listing
    outcome = _import(stack.db, tmp_path, "paris.csv", "symbol,weight,exchange,currency\nSAP,0.1,SBF,EUR\n")
    assert outcome.parsed.ok
    run = await stack.service.create_run("fx", outcome.snapshot_id, TradeMode.PAPER, {})
    with pytest.raises(BrokerError, match=r"unknown contract: SAP@SBF:EUR"):
        await stack.service.execute(run.id, portfolio_value=Decimal("100000"))
    assert stack.sim.orders() == []


async def test_qualification_cache_is_keyed_by_listing(database, simulator):
    from services.core.contracts import ContractSpec
    from services.execution.contracts import DbContractStore

    stack = await build_stack(database, simulator)
    try:
        eur = ContractSpec("SAP", "STK", "IBIS", "", "EUR")
        contracts = await stack.provider.qualify(["SAP", eur])
        assert (contracts["SAP"].currency, contracts["SAP@IBIS:EUR"].currency) == ("USD", "EUR")
        assert contracts["SAP"].conId != contracts["SAP@IBIS:EUR"].conId
        prices = await stack.provider.market_prices(["SAP", eur])
        assert prices == {"SAP": Decimal("220"), "SAP@IBIS:EUR": Decimal("200")}
        fx = await stack.provider.exchange_rates()
        assert (fx.base, fx.rates) == ("USD", {"EUR": Decimal("1.10"), "GBP": Decimal("1.27")})
    finally:
        await stack.close()
    assert DbContractStore(database).load(["SAP", eur]) == {
        "SAP": (simulator.universe["SAP"].con_id, "NYSE"), "SAP@IBIS:EUR": (simulator.universe["SAP@IBIS:EUR"].con_id, "IBIS")}


async def test_a_manual_eur_order_and_its_cancel_and_new_replacement_stay_on_the_eur_listing(stack):
    from services.core.contracts import ContractSpec
    from services.domain import Side

    from .test_actions import _order, _settle

    sim = stack.sim
    stack.sim.faults.add_rule(order_ref=r"^SLOWEUR-1$", ack_delay=30)
    eur = ContractSpec("SAP", "STK", "IBIS", "", "EUR")
    record = await stack.actions.manual_order("SAP", Side.BUY, Decimal(4), client_order_id="SLOWEUR-1", contract=eur)
    result = await stack.actions.replace(record.id, quantity=Decimal(6))
    assert result.method == "cancel_and_new"
    await _settle(stack, result.new_order_id, {OrderState.FILLED})
    new = _order(stack.db, result.new_order_id)
    assert (new.symbol, new.exchange, new.currency, new.quantity) == ("SAP", "IBIS", "EUR", Decimal(6))
    assert [sim.universe[o.symbol].currency for o in sim.orders()] == ["EUR", "EUR"]
    assert sim.positions() == {"SAP@IBIS:EUR": Decimal(6)}
    # a listing key names the listing too; an option is refused before anything is sent
    await stack.actions.manual_order("SAP@IBIS:EUR", Side.SELL, Decimal(1))
    assert sim.universe[sim.orders()[-1].symbol].currency == "EUR"
    with pytest.raises(BadInput, match="OPT is not supported"):
        await stack.actions.manual_order("SAP", Side.BUY, Decimal(1), contract=ContractSpec("SAP", "OPT"))
    assert len(sim.orders()) == 3


async def test_a_forex_conversion_on_the_account_is_not_a_position_the_console_trades(stack, tmp_path, ib_client):
    """IB reports a forex pair as a CASH position; the console (stocks only) leaves it out, and a
    run beside it previews and trades as before."""
    from ib_async import Forex, MarketOrder

    from tests.fixtures.ib import wait_for

    other = await ib_client(client_id=9)
    [eurusd] = await other.qualifyContractsAsync(Forex("EURUSD"))
    conversion = other.placeOrder(eurusd, MarketOrder("BUY", 20_000))
    await wait_for(lambda: conversion.isDone(), message="the conversion")
    assert stack.sim.positions() == {"EUR.USD": Decimal(20000)}
    assert await stack.provider.positions() == []
    snap = _import(stack.db, tmp_path, "us.csv", "symbol,weight\nAAPL,0.05\n")
    run = await stack.service.create_run("fx", snap.snapshot_id, TradeMode.PAPER, {})
    await stack.service.execute(run.id, portfolio_value=Decimal("100000"))
    assert await stack.service.wait_done(run.id, 10) == []
    assert stack.sim.positions()["AAPL"] > 0 and [p.symbol for p in await stack.provider.positions()] == ["AAPL"]
