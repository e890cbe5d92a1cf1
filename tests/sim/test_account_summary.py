"""The account summary is a subscription (IB's reqAccountSummary): after the first answer the
simulator sends the values that changed, after each fill and every ``account_interval`` (IB: every
3 minutes), consistent with its account (NetLiquidation = cash + positions at market)."""

from __future__ import annotations

from decimal import Decimal

from ib_async import MarketOrder, Stock

from tests.fixtures.ib import wait_for


async def _aapl(ib):
    [contract] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    return contract


def _summary(ib) -> dict[str, str]:
    return {v.tag: v.value for v in ib.wrapper.acctSummary.values() if v.account == "DU1234567" and v.currency in ("USD", "")}


def _expected(sim) -> dict[str, str]:
    return {tag: value for tag, value, currency in sim.account_values() if currency in ("USD", "")}


async def test_a_subscribed_client_receives_the_changed_summary_after_a_fill(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    await ib.reqAccountSummaryAsync()  # ib_async's own tag list, $LEDGER:ALL included
    assert (_summary(ib)["NetLiquidation"], _summary(ib)["BuyingPower"]) == ("1000000", "4000000")
    received = []
    ib.accountSummaryEvent += received.append

    trade = ib.placeOrder(await _aapl(ib), MarketOrder("BUY", 100))
    await wait_for(lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId, 5, "the fill and its commission")
    # cash 1,000,000 - 100 x 100.02 - 1 commission, plus 100 AAPL at 100: the same as the account updates say
    await wait_for(lambda: _summary(ib).get("NetLiquidation") == "999997", 5,
                   lambda: f"the summary after the fill (NetLiquidation {_summary(ib).get('NetLiquidation')})")
    await wait_for(lambda: _summary(ib) == {k: v for k, v in _expected(simulator).items() if k in _summary(ib)}, 5,
                   "every summary value as the simulator's account has it")
    assert (_summary(ib)["TotalCashValue"], _summary(ib)["GrossPositionValue"], _summary(ib)["BuyingPower"]) == (
        "989997", "10000", "3989988")
    # an update carries the values that changed, not the unchanged ones (IB's)
    tags = {v.tag for v in received}
    assert {"NetLiquidation", "TotalCashValue", "BuyingPower", "GrossPositionValue"} <= tags
    assert "AccountType" not in tags and "AccruedCash" not in tags


async def test_the_summary_follows_the_prices_at_the_account_interval(make_simulator, ib_client):
    sim = await make_simulator(account_interval=0.05)
    ib = await ib_client(sim=sim)
    sim.set_price("AAPL", "100")
    await ib.reqAccountSummaryAsync()
    await ib.reqAccountUpdatesAsync("DU1234567")
    trade = ib.placeOrder(await _aapl(ib), MarketOrder("BUY", 100))
    await wait_for(lambda: trade.isDone() and trade.fills, 5, "the fill")
    await wait_for(lambda: _summary(ib).get("NetLiquidation") == "999997", 5, "the summary after the fill")
    sim.set_price("AAPL", "110")  # no fill: only the interval brings the new value
    assert sim.account_snapshot().net_liquidation == Decimal("1000997")
    await wait_for(lambda: _summary(ib).get("NetLiquidation") == "1000997", 5,
                   lambda: f"the summary at the interval (NetLiquidation {_summary(ib).get('NetLiquidation')})")
    values = lambda: {v.tag: v.value for v in ib.accountValues() if v.currency == "USD"}  # noqa: E731
    await wait_for(lambda: values().get("NetLiquidation") == "1000997", 5, "the account updates at the interval")
    await wait_for(lambda: ib.portfolio() and ib.portfolio()[0].marketPrice == 110.0, 5, "the portfolio line at the interval")


async def test_a_cancelled_summary_gets_no_update(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    await ib.reqAccountSummaryAsync()
    [req_id] = [r for s in simulator._sessions.values() for r in s.account_summaries]
    received = []
    ib.accountSummaryEvent += received.append
    ib.client.cancelAccountSummary(req_id)
    await wait_for(lambda: not any(s.account_summaries for s in simulator._sessions.values()), 5, "the cancel")
    trade = ib.placeOrder(await _aapl(ib), MarketOrder("BUY", 100))
    await wait_for(lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId, 5, "the fill")
    await ib.reqCurrentTimeAsync()  # answered after everything the fill sent this connection
    assert received == []
    assert _summary(ib)["NetLiquidation"] == "1000000"


async def test_a_third_summary_subscription_is_refused_as_ib_refuses_it(simulator, ib_client, ib_log_guard):
    """IB keeps two account summary subscriptions per client at once: the third gets error 322."""
    ib_log_guard.allow(r"Error 322, reqId \d+: .*Maximum number of account summary requests exceeded")
    ib = await ib_client()
    errors = []
    ib.errorEvent += lambda req_id, code, message, contract: errors.append((req_id, code, message))
    await ib.reqAccountSummaryAsync()
    await ib.reqAccountSummaryAsync()
    assert [len(s.account_summaries) for s in simulator._sessions.values()] == [2]
    third = ib.reqAccountSummaryAsync()  # answered by the error alone
    await wait_for(lambda: any(code == 322 for _, code, _ in errors), 5, "error 322 for the third subscription")
    assert "Maximum number of account summary requests exceeded" in errors[-1][2]
    assert [len(s.account_summaries) for s in simulator._sessions.values()] == [2]
    if third.done():  # ib_async ends the request with the error: retrieved, not left unretrieved
        third.exception()
