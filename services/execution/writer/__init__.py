"""The ONE writer: drains the broker's domain events into the database in batched transactions.

* exactly-once by ``exec_id`` (the fills table's unique key): duplicates are no-ops;
* corrections (same base id, higher revision) supersede the earlier revision, and only the
  difference reaches the order's filled quantity and the position (never double counted);
* commissions fill in whenever they arrive (also before their execution: kept until it comes);
* every state change goes through ``services.core.order_state`` and is recorded in
  ``order_events`` with the broker's raw payload; IB's error code and text become the
  ``rejected_reason``;
* positions are updated from fills, run statuses roll up from their orders;
* after each commit a ``ChangeSet`` goes to the subscribers (the GUI refreshes exactly that).

Nothing is dropped when the database is away: the events wait in memory, then in the local
journal, and parked events the database refused are retried until written (see ``queue``).

The modules, by responsibility:

* ``queue``: ``EventWriter``, the queue, batching, retries, the journal, parked events;
* ``projection``: one batch into orders, fills and run statuses in one transaction;
* ``positions``: the batch's fills and IB's positions booked into the positions;
* ``orders``: an order's state through the state machine, recorded in ``order_events``;
* ``batch``: what one transaction holds; ``events``: the writer's own event kinds;
* ``health``: ``WriterHealth`` and its subscribers.
"""

from .events import JOURNAL_CODEC, LocalOrderEvent, PositionTruth, ReconciledStatus
from .health import WriterHealth
from .orders import add_order_event, apply_to_order, sm_status
from .queue import EventWriter, written_or_kept

__all__ = [
    "JOURNAL_CODEC",
    "EventWriter",
    "LocalOrderEvent",
    "PositionTruth",
    "ReconciledStatus",
    "WriterHealth",
    "add_order_event",
    "apply_to_order",
    "sm_status",
    "written_or_kept",
]
