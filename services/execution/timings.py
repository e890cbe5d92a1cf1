"""The two waits of the execution stack a deployment (or a test) may set: the run lease's time to
live and how long an action waits for the event writer. Their defaults and their sensible ranges
live here, in a module without imports, so that the settings (read before anything heavy is
imported) and the services agree on them.

* ``LEASE_TTL``: how long a run's lease lives without a heartbeat (``services.execution.lease``).
  Everything else about the lease is a fraction of it: the heartbeat renews every third of it,
  a claim needs a third of it left, a placeOrder a sixth (``send_margin``), and on MariaDB a
  holder stops when its clock and the server's moved against each other by a twelfth while it
  held the lease (a clock stepped). Shorter: a stalled holder is taken over sooner, but a holder
  whose event loop or database stalls for more than about half of it loses its run; and the
  step limit tightens with it (3 s: 0.25 s).
* ``WRITE_TIMEOUT``: how long an action (a run's send, a reconciliation, a cancel) waits for the
  event writer to have written what was queued before it stops saying why (a row another
  connection keeps locked, a database away); a stop waits at most this, and at most
  ``STOP_TIMEOUT``, before the rest goes to the journal.
"""

from __future__ import annotations

LEASE_TTL = 30.0  # seconds a lease lives without a heartbeat
# below 3 s a renewal (every TTL/3) would be due every second and on MariaDB a clock step of less
# than 0.25 s (an ordinary NTP step) would stop a holder; above an hour a stalled holder would
# keep its run that long
LEASE_TTL_RANGE = (3.0, 3600.0)

WRITE_TIMEOUT = 30.0  # seconds an action waits for the writer before it stops and says why
WRITE_TIMEOUT_RANGE = (1.0, 3600.0)
STOP_TIMEOUT = 10.0  # at most this for the writer at a stop (a window closed during an outage)


def seconds_problem(value: float, allowed: tuple[float, float], *, typed: object = None, name: str = "") -> str | None:
    """Why ``value`` is no such number of seconds, or None; said as every bound is
    (``services.core.typed_numbers.must_be_said``: ``TC_LEASE_TTL: must be a number of seconds
    from 3 to 3600: '0'``, ``typed`` defaulting to ``value``), for the settings and the
    commands' second options alike: they said "TC_LEASE_TTL must be between 3 and 3600 seconds,
    got '0'" and "argument --interval: must be between 0.05 and 5 seconds: '9'"."""
    from services.core.typed_numbers import must_be_said  # this module imports nothing at load

    low, high = allowed
    if not low <= value <= high:  # NaN fails this too
        return must_be_said(value if typed is None else typed, f"a number of seconds from {low:g} to {high:g}", name=name)
    return None
