"""Trade runs: create (idempotent), preview (builder + risk), execute (and resume).

The broker never holds an order the database does not know: every order is stored NEW with its
``client_order_id`` before ``placeOrder``, and ``orderRef`` carries that id. Executing a run
that was interrupted reconciles first and sends only the orders the broker has never seen.
The live token is checked here, at the service layer, whatever the UI does.

One sender per run, across processes: a run is executed under its lease (services.execution.lease),
and its orders are claimed (NEW -> SENDING, one conditional update) a few at a time right before
their ``placeOrder`` (services.execution.sending), so no two processes ever send the same order.

``TradeService`` is composed of its use cases, one module each: ``planning`` (create and preview
runs), ``executing`` (send a run or a plan, resume, halt), ``waiting`` (for acknowledgements,
final states, commission reports); ``base`` holds their shared state and reads, ``records`` what
they return. Stuck orders are recovered by the one auto-recovery (services.execution.recovery).
"""

from .executing import RunExecution
from .planning import MARKET_TZ, trading_day
from .records import ExecuteResult, PreviewResult, RunInfo, RunView
from .waiting import RunWaiting


class TradeService(RunExecution, RunWaiting):
    """Runs from snapshot to orders at IB: ``preview_snapshot``, ``prepare_run``, ``execute``,
    ``execute_plan``, ``check_plan``, ``hold_run``, ``wait_done``, ``wait_commissions``
    and the reads of a run."""


__all__ = ["MARKET_TZ", "ExecuteResult", "PreviewResult", "RunInfo", "RunView", "TradeService", "trading_day"]
