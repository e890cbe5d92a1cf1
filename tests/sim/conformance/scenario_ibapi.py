"""Conformance scenario with IB's official client (``ibapi``, 9.81 from the package index):
``python scenario_ibapi.py PORT`` prints JSON results with the same keys as insync_family.py.

The official client is callback based: every EWrapper callback is recorded as (name, args) in
one list, and each step waits (with a deadline) until the callbacks it needs are there. Plain
script code, no repository imports: it runs with the client's own venv python.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.wrapper import EWrapper


class Recorder(EWrapper):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, tuple]] = []
        self.changed = threading.Condition()

    def _record(self, name: str, args: tuple) -> None:
        with self.changed:
            self.events.append((name, args))
            self.changed.notify_all()

    def of(self, name: str, start: int = 0) -> list[tuple]:
        with self.changed:
            return [args for n, args in self.events[start:] if n == name]

    def mark(self) -> int:
        with self.changed:
            return len(self.events)

    def wait(self, predicate, what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; last events: {self.events[-5:]}")
                self.changed.wait(left)


def _recording(name: str):
    def callback(self, *args):
        self._record(name, args)
    return callback


for _name in dir(EWrapper):  # record every callback the official client can make
    if not _name.startswith("_") and callable(getattr(EWrapper, _name)) and _name not in ("logAnswer",):
        setattr(Recorder, _name, _recording(_name))


class ClientIdInUse(Exception):
    """Error 326: the gateway still holds the previous connection with this client id."""


class App(Recorder, EClient):
    def __init__(self) -> None:
        Recorder.__init__(self)
        EClient.__init__(self, self)

    def start(self, port: int, client_id: int) -> None:
        start = self.mark()
        self.connect("127.0.0.1", port, client_id)
        threading.Thread(target=self.run, daemon=True).start()
        self.wait(lambda: self.of("nextValidId", start) or 326 in self.errors(start), "nextValidId")
        if not self.of("nextValidId", start):
            raise ClientIdInUse()
        self.next_id = self.of("nextValidId", start)[-1][0]

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def errors(self, start: int = 0, req_id: int | None = None) -> list[int]:
        return [code for rid, code, *_ in self.of("error", start) if req_id is None or rid == req_id]


def stock(symbol: str) -> Contract:
    c = Contract()
    c.symbol, c.secType, c.exchange, c.currency = symbol, "STK", "SMART", "USD"
    return c


def order(action: str, quantity: float, order_type: str, price: float | None = None) -> Order:
    o = Order()
    o.action, o.totalQuantity, o.orderType = action, quantity, order_type
    if price is not None:
        o.lmtPrice = price
    return o


def run(port: int) -> dict:
    results: dict = {}
    app = App()
    app.start(port, 1)
    results["server_version"] = app.serverVersion()
    app.wait(lambda: app.of("managedAccounts"), "managedAccounts")
    accounts = app.of("managedAccounts")[-1][0].split(",")
    results["accounts"] = [a for a in accounts if a]
    account = results["accounts"][0]

    # contract details, known and unknown
    app.reqContractDetails(101, stock("AAPL"))
    app.wait(lambda: any(a[0] == 101 for a in app.of("contractDetailsEnd")), "contract details")
    [(_, details)] = [a for a in app.of("contractDetails") if a[0] == 101]
    aapl = details.contract
    results["details_known"] = {"conId": aapl.conId, "primaryExchange": aapl.primaryExchange,
                                "longName": details.longName, "minTick": details.minTick}
    app.reqContractDetails(102, stock("NOSUCHSYM"))
    app.wait(lambda: app.errors(req_id=102), "the unknown contract's error")
    results["details_unknown"] = {"count": len([a for a in app.of("contractDetails") if a[0] == 102]),
                                  "errors": app.errors(req_id=102)}

    # a delayed snapshot: notice 10167, then the delayed tick types
    app.reqMarketDataType(3)
    app.reqMktData(103, aapl, "", True, False, [])
    app.wait(lambda: any(a[0] == 103 for a in app.of("tickSnapshotEnd")), "the snapshot's end")
    prices = {a[1]: a[2] for a in app.of("tickPrice") if a[0] == 103}
    types = {a[1] for a in app.of("tickPrice") + app.of("tickSize") if a[0] == 103}
    data_types = [a[1] for a in app.of("marketDataType") if a[0] == 103]
    results["delayed"] = {"tick_types": sorted(types), "marketDataType": data_types[-1] if data_types else None,
                          "bid": prices.get(66), "ask": prices.get(67), "notice": 10167 in app.errors(req_id=103)}
    app.reqMarketDataType(1)

    # a market order: fill, execution, commission report
    market_id = app.take_id()
    app.placeOrder(market_id, aapl, order("BUY", 100, "MKT"))

    def executions_of(order_id: int) -> list:
        return [a[2] for a in app.of("execDetails") if a[2].orderId == order_id]

    def reports_for(execs: list) -> list:
        ids = {e.execId for e in execs}
        return [a[0] for a in app.of("commissionReport") if a[0].execId in ids]

    def status_of(order_id: int) -> list:
        return [a for a in app.of("orderStatus") if a[0] == order_id]

    app.wait(lambda: status_of(market_id) and status_of(market_id)[-1][1] == "Filled"
             and reports_for(executions_of(market_id)), "the market order's fill")
    last = status_of(market_id)[-1]
    execs = executions_of(market_id)
    reports = reports_for(execs)
    results["market_order"] = {"status": last[1], "filled": float(last[2]), "avgFillPrice": last[4],
                               "executions": [[e.side, float(e.shares)] for e in execs],
                               "commission": sum(r.commission for r in reports), "commissionCurrency": reports[-1].currency}

    # a limit order: rests, modified, (cancelled further down)
    limit_id = app.take_id()
    limit = order("BUY", 10, "LMT", 100)
    app.placeOrder(limit_id, aapl, limit)
    app.wait(lambda: status_of(limit_id) and status_of(limit_id)[-1][1] == "Submitted", "the limit order to rest")
    limit.lmtPrice = 101
    start = app.mark()
    app.placeOrder(limit_id, aapl, limit)
    app.wait(lambda: any(a[0] == limit_id and a[2].lmtPrice == 101 for a in app.of("openOrder", start)),
             "the modified limit price")
    results["limit"] = {"rest": "Submitted", "modified": 101.0}

    # a second client places its own order; the first sees it with reqAllOpenOrders
    app2 = App()
    app2.start(port, 2)
    other_id = 9001  # apart from client 1's ids: client 1 sees this order too (reqAllOpenOrders)
    app2.placeOrder(other_id, aapl, order("SELL", 5, "LMT", 500))
    app2.wait(lambda: [a for a in app2.of("orderStatus") if a[0] == other_id and a[1] == "Submitted"], "client 2's order")
    start = app.mark()
    app.reqOpenOrders()
    app.wait(lambda: app.of("openOrderEnd", start), "the open orders")
    client1_open = sorted({a[0] for a in app.of("openOrder", start)})
    start = app.mark()
    app.reqAllOpenOrders()
    app.wait(lambda: app.of("openOrderEnd", start), "all open orders")
    results["two_clients"] = {"client2_status": "Submitted", "client1_open": client1_open,
                              "all_open_clients": sorted({a[2].clientId for a in app.of("openOrder", start)})}
    app2.cancelOrder(other_id)
    app2.wait(lambda: [a for a in app2.of("orderStatus") if a[0] == other_id and a[1] == "Cancelled"], "client 2's cancel")
    app2.disconnect()

    app.cancelOrder(limit_id)
    app.wait(lambda: status_of(limit_id)[-1][1] == "Cancelled", "the limit order's cancel")
    results["limit"]["cancel"] = "Cancelled"
    start = app.mark()
    app.reqOpenOrders()
    app.wait(lambda: app.of("openOrderEnd", start), "the open orders")
    results["open_orders"] = len(app.of("openOrder", start))
    start = app.mark()
    app.reqCompletedOrders(False)
    app.wait(lambda: app.of("completedOrdersEnd", start), "the completed orders")
    results["completed_orders"] = sorted(a[2].status for a in app.of("completedOrder", start))

    # executions by filter
    def count_executions(req_id: int, **fields) -> int:
        flt = ExecutionFilter()
        for key, value in fields.items():
            setattr(flt, key, value)
        app.reqExecutions(req_id, flt)
        app.wait(lambda: any(a[0] == req_id for a in app.of("execDetailsEnd")), "the executions' end")
        return len([a for a in app.of("execDetails") if a[0] == req_id])

    results["executions"] = {"AAPL": count_executions(201, m_symbol="AAPL", symbol="AAPL"),
                             "MSFT": count_executions(202, m_symbol="MSFT", symbol="MSFT"),
                             "SELL": count_executions(203, m_side="SELL", side="SELL")}

    # positions, account summary and updates
    start = app.mark()
    app.reqPositions()
    app.wait(lambda: app.of("positionEnd", start), "the positions")
    results["positions"] = {a[1].symbol: float(a[2]) for a in app.of("position", start)}
    app.cancelPositions()
    app.reqAccountSummary(301, "All", "NetLiquidation,TotalCashValue")
    app.wait(lambda: any(a[0] == 301 for a in app.of("accountSummaryEnd")), "the account summary")
    results["account_summary"] = {a[2]: a[4] for a in app.of("accountSummary") if a[0] == 301 and a[1] == account}
    app.cancelAccountSummary(301)
    start = app.mark()
    app.reqAccountUpdates(True, account)
    app.wait(lambda: app.of("accountDownloadEnd", start), "the account updates")
    results["account_updates"] = {
        "NetLiquidation": any(a[0] == "NetLiquidation" and a[2] == "USD" for a in app.of("updateAccountValue", start)),
        "portfolio": {a[0].symbol: float(a[1]) for a in app.of("updatePortfolio", start)},
    }

    # what-if
    what_if_id = app.take_id()
    preview = order("BUY", 100, "MKT")
    preview.whatIf = True
    app.placeOrder(what_if_id, aapl, preview)
    app.wait(lambda: [a for a in app.of("openOrder") if a[0] == what_if_id], "the what-if answer")
    state = [a for a in app.of("openOrder") if a[0] == what_if_id][-1][3]
    results["what_if"] = {"initMarginChange": float(state.initMarginChange), "commission": state.commission}

    # a reject: a trailing stop is not supported by the simulator (error 201)
    stop_id = app.take_id()
    stop = order("BUY", 1, "TRAIL")
    stop.auxPrice = 3
    app.placeOrder(stop_id, aapl, stop)
    app.wait(lambda: 201 in app.errors(req_id=stop_id) and status_of(stop_id), "the reject")
    results["reject"] = {"status": status_of(stop_id)[-1][1], "codes": sorted(set(app.errors(req_id=stop_id)))}

    # historical data
    app.reqHistoricalData(401, aapl, "", "2 D", "1 hour", "TRADES", 1, 1, False, [])
    app.wait(lambda: any(a[0] == 401 for a in app.of("historicalDataEnd")), "the historical data")
    bars = [a[1] for a in app.of("historicalData") if a[0] == 401]
    results["historical"] = {"bars": len(bars), "last_close_positive": bars[-1].close > 0 if bars else False}

    # P&L, account and single
    app.reqPnL(501, account, "")
    app.reqPnLSingle(502, account, "", aapl.conId)
    app.wait(lambda: [a for a in app.of("pnl") if a[0] == 501] and [a for a in app.of("pnlSingle") if a[0] == 502],
             "the P&L updates")
    single = [a for a in app.of("pnlSingle") if a[0] == 502][-1]
    results["pnl"] = {"daily_is_number": isinstance([a for a in app.of("pnl") if a[0] == 501][-1][1], float),
                      "single_position": float(single[1])}
    app.cancelPnL(501)
    app.cancelPnLSingle(502)

    # forex: quote and order in base-currency units
    pair = Contract()
    pair.symbol, pair.secType, pair.exchange, pair.currency = "EUR", "CASH", "IDEALPRO", "USD"
    app.reqContractDetails(601, pair)
    app.wait(lambda: any(a[0] == 601 for a in app.of("contractDetailsEnd")), "the pair's details")
    eurusd = next(a[1] for a in app.of("contractDetails") if a[0] == 601).contract
    app.reqMktData(602, eurusd, "", True, False, [])
    app.wait(lambda: any(a[0] == 602 for a in app.of("tickSnapshotEnd")), "the pair's quote")
    quote = {a[1]: a[2] for a in app.of("tickPrice") if a[0] == 602}
    fx_id = app.take_id()
    app.placeOrder(fx_id, eurusd, order("BUY", 20000, "MKT"))
    app.wait(lambda: status_of(fx_id) and status_of(fx_id)[-1][1] == "Filled" and reports_for(executions_of(fx_id)),
             "the forex fill")
    app.wait(lambda: any(a[0] == "CashBalance" and a[2] == "EUR" for a in app.of("updateAccountValue")), "the EUR balance")
    fx_report = reports_for(executions_of(fx_id))[-1]
    results["forex"] = {
        "conId": eurusd.conId, "spread_positive": quote.get(2, 0) > quote.get(1, 0) > 0,
        "status": "Filled", "filled": float(status_of(fx_id)[-1][2]),
        "commission": fx_report.commission, "commissionCurrency": fx_report.currency,
        "EUR": float([a[1] for a in app.of("updateAccountValue") if a[0] == "CashBalance" and a[2] == "EUR"][-1]),
    }

    # reconnect with the same client id: the book is still there
    app.disconnect()
    deadline = time.monotonic() + 10
    while True:  # until the simulator has seen the old socket close (TWS answers 326 until then)
        again = App()
        try:
            again.start(port, 1)
            break
        except ClientIdInUse:
            again.disconnect()
            if time.monotonic() > deadline:
                raise AssertionError("client id 1 still in use 10 s after disconnecting") from None
            time.sleep(0.05)
    again.reqPositions()
    again.wait(lambda: again.of("positionEnd"), "the positions after the reconnect")
    again.reqExecutions(701, ExecutionFilter())
    again.wait(lambda: again.of("execDetailsEnd"), "the executions after the reconnect")
    results["reconnect"] = {"server_version": again.serverVersion(),
                            "positions": {a[1].symbol: float(a[2]) for a in again.of("position")},
                            "executions": len(again.of("execDetails"))}
    again.disconnect()
    return results


if __name__ == "__main__":
    code = 0
    try:
        print(json.dumps(run(int(sys.argv[1]))), flush=True)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the official client's reader threads do not stop by themselves
