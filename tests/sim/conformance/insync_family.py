"""The scenario run by ib_async and by ib_insync (same API): see scenario_ib_async.py.

Plain script code, no repository imports: it runs with the client's own venv python. Every
wait has a deadline and fails naming what it waited for.
"""

from __future__ import annotations

import json
import math
import sys
import time


def run(lib, port: int) -> dict:
    results: dict = {}
    errors: list[tuple[int, int]] = []  # (reqId, code) of every error/warning received
    ib = lib.IB()
    ib.errorEvent += lambda req_id, code, *rest: errors.append((req_id, code))

    def wait(predicate, what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            ib.sleep(0.02)

    # connect, accounts
    ib.connect("127.0.0.1", port, clientId=1, timeout=10)
    account = ib.managedAccounts()[0]
    results["server_version"] = ib.client.serverVersion()
    results["accounts"] = ib.managedAccounts()

    # contract details, known and unknown
    [details] = ib.reqContractDetails(lib.Stock("AAPL", "SMART", "USD"))
    aapl = details.contract
    results["details_known"] = {"conId": aapl.conId, "primaryExchange": aapl.primaryExchange,
                                "longName": details.longName, "minTick": details.minTick}
    results["details_unknown"] = {"count": len(ib.reqContractDetails(lib.Stock("NOSUCHSYM", "SMART", "USD")))}
    results["details_unknown"]["errors"] = sorted({code for _, code in errors if code == 200})

    # a delayed snapshot: notice 10167, then the delayed tick types
    tick_types: set[int] = set()

    def on_tickers(tickers):
        for ticker in tickers:
            tick_types.update(t.tickType for t in ticker.ticks)

    ib.pendingTickersEvent += on_tickers
    ib.reqMarketDataType(3)
    [ticker] = ib.reqTickers(aapl)  # a snapshot: returns at tickSnapshotEnd, after every tick
    results["delayed"] = {"tick_types": sorted(tick_types), "marketDataType": ticker.marketDataType,
                          "bid": ticker.bid, "ask": ticker.ask, "notice": 10167 in {c for _, c in errors}}
    ib.pendingTickersEvent -= on_tickers
    ib.reqMarketDataType(1)

    # a market order: fill, execution, commission report
    trade = ib.placeOrder(aapl, lib.MarketOrder("BUY", 100))
    wait(lambda: trade.isDone() and trade.fills and trade.fills[-1].commissionReport.execId, "the market order's fill")
    results["market_order"] = {
        "status": trade.orderStatus.status, "filled": trade.orderStatus.filled,
        "avgFillPrice": trade.orderStatus.avgFillPrice,
        "executions": [[f.execution.side, f.execution.shares] for f in trade.fills],
        "commission": sum(f.commissionReport.commission for f in trade.fills),
        "commissionCurrency": trade.fills[-1].commissionReport.currency,
    }

    # a limit order: rests, modified, (cancelled further down)
    limit = ib.placeOrder(aapl, lib.LimitOrder("BUY", 10, 100))
    wait(lambda: limit.orderStatus.status == "Submitted", "the limit order to rest")
    limit.order.lmtPrice = 101
    ib.placeOrder(aapl, limit.order)
    wait(lambda: any(t.order.orderId == limit.order.orderId and t.order.lmtPrice == 101 for t in ib.reqOpenOrders()),
         "the modified limit price")
    results["limit"] = {"rest": "Submitted", "modified": 101.0}

    # a second client places its own order; the first sees it with reqAllOpenOrders
    ib2 = lib.IB()
    ib2.connect("127.0.0.1", port, clientId=2, timeout=10)
    other = ib2.placeOrder(aapl, lib.LimitOrder("SELL", 5, 500))
    wait(lambda: other.orderStatus.status == "Submitted", "client 2's order")
    results["two_clients"] = {"client2_status": other.orderStatus.status,
                              "client1_open": sorted(t.order.orderId for t in ib.reqOpenOrders()),
                              "all_open_clients": sorted({t.order.clientId for t in ib.reqAllOpenOrders()})}
    ib2.cancelOrder(other.order)
    wait(lambda: other.orderStatus.status == "Cancelled", "client 2's cancel")
    ib2.disconnect()

    ib.cancelOrder(limit.order)
    wait(lambda: limit.orderStatus.status == "Cancelled", "the limit order's cancel")
    results["limit"]["cancel"] = limit.orderStatus.status
    results["open_orders"] = len(ib.reqOpenOrders())
    results["completed_orders"] = sorted(t.orderStatus.status for t in ib.reqCompletedOrders(False))

    # executions by filter
    results["executions"] = {
        "AAPL": len(ib.reqExecutions(lib.ExecutionFilter(symbol="AAPL"))),
        "MSFT": len(ib.reqExecutions(lib.ExecutionFilter(symbol="MSFT"))),
        "SELL": len(ib.reqExecutions(lib.ExecutionFilter(side="SELL"))),
    }

    # positions, account summary and updates
    results["positions"] = {p.contract.symbol: p.position for p in ib.reqPositions()}
    summary = ib.accountSummary(account)
    results["account_summary"] = {v.tag: v.currency for v in summary if v.tag in ("NetLiquidation", "TotalCashValue")}
    wait(lambda: ib.portfolio(), "the portfolio in the account updates")
    results["account_updates"] = {
        "NetLiquidation": any(v.tag == "NetLiquidation" and v.currency == "USD" for v in ib.accountValues()),
        "portfolio": {p.contract.symbol: p.position for p in ib.portfolio()},
    }

    # what-if
    state = ib.whatIfOrder(aapl, lib.MarketOrder("BUY", 100))
    results["what_if"] = {"initMarginChange": float(state.initMarginChange), "commission": state.commission}

    # a reject: a trailing stop is not supported by the simulator (error 201)
    stop = lib.Order(action="BUY", totalQuantity=1, orderType="TRAIL", auxPrice=3)
    rejected = ib.placeOrder(aapl, stop)
    # (ib_insync counts Inactive, the status after a reject, as not done: wait for the error)
    wait(lambda: (stop.orderId, 201) in errors and rejected.orderStatus.status in ("Inactive", "Cancelled"), "the reject")
    results["reject"] = {"status": rejected.orderStatus.status,
                         "codes": sorted({c for r, c in errors if r == stop.orderId})}

    # historical data
    bars = ib.reqHistoricalData(aapl, "", "2 D", "1 hour", "TRADES", True)
    results["historical"] = {"bars": len(bars), "last_close_positive": bars[-1].close > 0 if bars else False}

    # P&L, account and single
    pnl = ib.reqPnL(account)
    single = ib.reqPnLSingle(account, "", aapl.conId)
    wait(lambda: not math.isnan(pnl.dailyPnL) and single.position == 100, "the P&L updates")
    results["pnl"] = {"daily_is_number": not math.isnan(pnl.dailyPnL), "single_position": single.position}
    ib.cancelPnL(account)
    ib.cancelPnLSingle(account, "", aapl.conId)

    # forex: quote and order in base-currency units
    [eurusd] = ib.qualifyContracts(lib.Forex("EURUSD"))
    [quote] = ib.reqTickers(eurusd)
    fx = ib.placeOrder(eurusd, lib.MarketOrder("BUY", 20000))
    wait(lambda: fx.isDone() and fx.fills and fx.fills[-1].commissionReport.execId, "the forex fill")
    wait(lambda: any(v.tag == "CashBalance" and v.currency == "EUR" for v in ib.accountValues()), "the EUR balance")
    results["forex"] = {
        "conId": eurusd.conId, "spread_positive": quote.ask > quote.bid > 0,
        "status": fx.orderStatus.status, "filled": fx.orderStatus.filled,
        "commission": fx.fills[-1].commissionReport.commission,
        "commissionCurrency": fx.fills[-1].commissionReport.currency,
        "EUR": float(next(v.value for v in ib.accountValues() if v.tag == "CashBalance" and v.currency == "EUR")),
    }

    # reconnect with the same client id: the book is still there
    ib.disconnect()
    deadline = time.monotonic() + 10
    while True:  # until the simulator has seen the old socket close (TWS answers 326 until then)
        try:
            ib.connect("127.0.0.1", port, clientId=1, timeout=10)
            break
        except Exception:
            ib.disconnect()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    results["reconnect"] = {"server_version": ib.client.serverVersion(),
                            "positions": {p.contract.symbol: p.position for p in ib.reqPositions()},
                            "executions": len(ib.reqExecutions())}
    ib.disconnect()
    return results


def main(lib) -> None:
    port = int(sys.argv[1])
    print(json.dumps(run(lib, port)))
