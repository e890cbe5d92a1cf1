"""Each account of a login with several (managedAccounts "DU1111111,DU2222222") is its own ledger:
its own starting cash, its own fills, positions, account values and P&L, and its own part of the
state file. Before, only the first account had money: the others reported zeros and a fill in
the second was booked against the first."""

from __future__ import annotations

import json
from decimal import Decimal

from ib_async import IB, MarketOrder, Stock

from services.ibsim import IBGatewaySimulator
from tests.fixtures.ib import wait_for

FIRST, SECOND = "DU1111111", "DU2222222"


def _summary(ib: IB, account: str) -> dict[str, str]:
    return {v.tag: v.value for v in ib.wrapper.acctSummary.values() if v.account == account and v.currency in ("USD", "")}


def _figures(ib: IB, account: str) -> tuple[str | None, str | None]:
    summary = _summary(ib, account)
    return summary.get("NetLiquidation"), summary.get("TotalCashValue")


async def _buy_aapl(ib: IB, account: str, quantity: int):
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    trade = ib.placeOrder(aapl, MarketOrder("BUY", quantity, account=account))
    await wait_for(lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId, 5, "the fill")
    return trade


async def test_each_account_has_its_own_cash_and_a_fill_moves_only_its_account(make_simulator, ib_client):
    sim = await make_simulator(accounts=(FIRST, SECOND))
    ib = await ib_client(sim=sim)
    sim.set_price("AAPL", "100")
    await ib.reqAccountSummaryAsync()
    assert _figures(ib, FIRST) == _figures(ib, SECOND) == ("1000000", "1000000")

    trade = await _buy_aapl(ib, SECOND, 100)
    assert trade.fills[0].execution.acctNumber == SECOND
    # cash 1,000,000 - 100 x 100.02 - 1 commission, plus 100 AAPL at 100
    await wait_for(lambda: _figures(ib, SECOND) == ("999997", "989997"), 5,
                   lambda: f"the second account's summary after its fill ({_figures(ib, SECOND)})")
    assert _figures(ib, FIRST) == ("1000000", "1000000")
    assert (sim.cash_balances(FIRST), sim.cash_balances(SECOND)) == ({"USD": Decimal("1000000")}, {"USD": Decimal("989997.00")})

    positions = await ib.reqPositionsAsync()
    assert [(p.account, p.contract.symbol, p.position) for p in positions] == [(SECOND, "AAPL", 100.0)]
    assert (sim.positions(FIRST), sim.positions(SECOND)) == ({}, {"AAPL": Decimal("100")})


async def test_the_account_updates_and_pnl_are_the_accounts_own(make_simulator, ib_client):
    sim = await make_simulator(accounts=(FIRST, SECOND))
    ib = await ib_client(sim=sim)
    sim.set_price("AAPL", "100")
    await _buy_aapl(ib, SECOND, 100)
    sim.set_price("AAPL", "110")

    await ib.reqAccountUpdatesAsync(SECOND)
    values = {v.tag: v.value for v in ib.accountValues(SECOND) if v.currency == "USD"}
    assert (values["NetLiquidation"], values["TotalCashValue"]) == ("1000997", "989997")
    assert [(p.account, p.contract.symbol, p.position, p.marketPrice) for p in ib.portfolio(SECOND)] == [
        (SECOND, "AAPL", 100.0, 110.0)]

    first_pnl, second_pnl = ib.reqPnL(FIRST), ib.reqPnL(SECOND)
    await wait_for(lambda: second_pnl.unrealizedPnL == 997.0, 5, lambda: f"the second account's P&L ({second_pnl})")
    assert (first_pnl.dailyPnL, first_pnl.unrealizedPnL) == (0.0, 0.0)


async def test_an_account_may_start_with_its_own_cash(make_simulator, ib_client):
    sim = await make_simulator(accounts=(FIRST, SECOND), account_cash={SECOND: Decimal("50000")})
    ib = await ib_client(sim=sim)
    await ib.reqAccountSummaryAsync()
    assert (_figures(ib, FIRST), _figures(ib, SECOND)) == (("1000000", "1000000"), ("50000", "50000"))


async def test_a_restart_keeps_each_accounts_ledger(sim_config):
    config = sim_config(accounts=(FIRST, SECOND))
    sim = IBGatewaySimulator(config)
    await sim.start(port=0)
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", sim.port, clientId=3, timeout=5)
        sim.set_price("AAPL", "100")
        await _buy_aapl(ib, SECOND, 100)
    finally:
        ib.disconnect()
        await sim.stop()

    restarted = IBGatewaySimulator(sim_config(accounts=(FIRST, SECOND)))
    assert (restarted.cash_balances(FIRST), restarted.cash_balances(SECOND)) == (
        {"USD": Decimal("1000000")}, {"USD": Decimal("989997.00")})
    assert (restarted.positions(FIRST), restarted.positions(SECOND)) == ({}, {"AAPL": Decimal("100")})


def test_a_state_file_of_the_single_ledger_loads_as_the_first_accounts(sim_config):
    """The state file the simulator wrote before it kept a ledger per account (format 1: cash,
    fx_cash and positions at the top): its ledger is the first account's; the others start anew."""
    config = sim_config(accounts=(FIRST, SECOND))
    config.state_file.write_text(json.dumps({
        "format": 1, "accounts": [FIRST, SECOND], "next_order_id": 3, "next_perm_id": 1000003, "exec_seq": 1,
        "cash": "989997.00", "fx_cash": {"EUR": "250.00"}, "prices": {"AAPL": "100"}, "orders": [], "executions": [],
        "positions": [{"symbol": "AAPL", "con_id": 265598, "quantity": "100", "avg_cost": "100.03", "realized_pnl": "0"}],
        "ledger": []}))
    sim = IBGatewaySimulator(config)
    assert (sim.cash_balances(FIRST), sim.positions(FIRST)) == (
        {"USD": Decimal("989997.00"), "EUR": Decimal("250.00")}, {"AAPL": Decimal("100")})
    assert (sim.cash_balances(SECOND), sim.positions(SECOND)) == ({"USD": Decimal("1000000")}, {})


def test_a_state_file_with_the_ledger_of_an_account_not_managed_is_refused(sim_config):
    """Loaded with the other account alone, the second's cash and positions would be dropped at
    the next save: refused, naming the account."""
    import pytest

    IBGatewaySimulator(sim_config(accounts=(FIRST, SECOND))).save()
    with pytest.raises(ValueError, match=f"holds the ledger of account {SECOND}, not managed by this simulator"):
        IBGatewaySimulator(sim_config(accounts=(FIRST,)))
