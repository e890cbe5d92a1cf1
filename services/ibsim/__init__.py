"""IB Gateway simulator speaking the TWS socket protocol (issue 4).

On the caller's loop (tests, the console's qasync loop)::

    from services.ibsim import IBGatewaySimulator, SimConfig
    sim = IBGatewaySimulator(SimConfig(seed=1, state_file=..., ledger_file=...))
    await sim.start(host="127.0.0.1", port=0)     # sim.port: the bound port
    ...
    await sim.stop()                              # sockets closed, tasks cancelled, state saved

On its own thread: ``SimulatorThread(config).start()`` -> port; ``.call(fn)``; ``.stop()``.
From the shell: ``trading-console sim --help``.

Controls: ``set_price(symbol, price)``, ``step_prices()``, ``quote(symbol)``, ``expire_day_orders()``
(every DAY order, now), ``expire_ended_day_orders()`` (those whose session ended by the simulator's clock),
``drop_connections()``, ``hold_partial_fills()`` / ``release_partial_fills()``,
``hold_commission_reports()`` / ``release_commission_reports()`` (a test decides when they come). Books: ``orders()``, ``open_orders()``, ``executions()``,
per account (the first when omitted; each managed account is its own ledger, account_book.py): ``positions(account)``,
``position(symbol, account)``, ``cash_balances(account)``, ``account_values(account)``, ``cash`` (the first's);
``ledger()``, ``connected_client_ids()``.
Faults (``sim.faults``, mutable while running): ``ack_delay``, ``presubmitted``, ``duplicate_status``,
``exec_correction``, ``late_commission``, ``cancel_delay``, ``info_10349``, ``reject_symbols``, ``reject_min_quantity``,
``drop_after_messages``, ``pacing_limit`` (and ``pacing_disconnect_after``: kept up, the connection closes),
``market_data_lines`` (101 beyond them; 100 by default), ``history_pacing`` (162; bars of 30 s or less by default),
``market_data_errors`` (listing -> the error answering its streams: 354, 200, 10168, ...; running ones:
``end_market_data(symbol, code)``), ``account_summary_silent`` (summary subscriptions held, not answered); per order: ``sim.faults.add_rule(symbols=..., order_ref=REGEX,
min_quantity=..., <fault>=value, fill_mode="partial")``.
Gateway faults (gateway_faults.py): ``connectivity_lost()`` (1100), ``connectivity_restored(data_lost=)``
(1101 / 1102), ``farm_broken(farm)`` / ``farm_restored(farm)`` (2103/2104, HMDS 2105/2106),
``nightly_reset(seconds)``; on a timetable: ``sim.faults.schedule`` (``ScheduledFault``).
Prices: bid/ask = mid -/+ spread/2 (0.02); MKT fills at the touch plus ``slippage`` (0.01; none for
forex); LMT fills at the touch once it crosses; STP / STP LMT rest until the touch reaches the
stop (``auxPrice``), then work as MKT / LMT; IOC cancels what did not fill at once; commissions from
``services.core.commissions.FixedCommission`` per order (forex: ``forex.commission_usd``).
Protocol: server versions 100..178 (``versions.py``); delayed/frozen market data, reqPnL, forex
quotes, what-if and orders in base-currency units with cash per currency (``forex.py``) and an
answer to every other request (``other_requests.py``): see docs/simulator.md.
"""

from services.ibsim.config import DEFAULT_ACCOUNT, FaultRule, Faults, OrderFaults, SimConfig, parse_fault_rule
from services.ibsim.fault_schedule import ScheduledFault, parse_scheduled_fault
from services.ibsim.model import Instrument, SimExecution, SimOrder, SimPosition, load_universe
from services.ibsim.server import AccountSnapshot, IBGatewaySimulator
from services.ibsim.thread import SimulatorThread

__all__ = [
    "DEFAULT_ACCOUNT",
    "AccountSnapshot",
    "FaultRule",
    "Faults",
    "IBGatewaySimulator",
    "Instrument",
    "OrderFaults",
    "ScheduledFault",
    "SimConfig",
    "SimExecution",
    "SimOrder",
    "SimPosition",
    "SimulatorThread",
    "load_universe",
    "parse_fault_rule",
    "parse_scheduled_fault",
]
