"""A run's sender in a process of its own, driven step by step over stdin, for the tests of what
another process's Cancel All does to it (tests/execution/test_cancel_all_dead_sender.py):

    python -m tests.execution.claiming_sender DB_URL RUN_ID COID...

It takes the run's lease and marks it as sending (``LeaseManager.start_sending``: under the
Cancel All marker of that moment), prints ``sending``; on a ``claim`` line it claims the orders
(NEW -> SENDING, as a sender does right before their placeOrder), prints ``claimed N``; then it
waits on stdin and never sends them: a sender that had not looked at the marker again yet,
killed (SIGKILL) by the test while it holds its claims. On a ``let go`` line it gives its claims
back NEW as a sender does whose lease ran out before it looked at the marker again (a process
paused past its lease, woken), ends its sending and its lease, prints ``let go N`` and exits.
It holds no transaction while it waits.
"""

from __future__ import annotations

import sys

from services.db import Database
from services.execution.lease import LEASE_EXPIRED, Lease, LeaseManager


def main(url: str, run_id: int, coids: list[str]) -> None:
    db = Database(url)
    leases = LeaseManager(db)
    lease = leases.try_acquire(run_id)
    if not isinstance(lease, Lease):
        raise SystemExit(f"run {run_id} is held: {lease.describe()}")
    leases.start_sending(lease)
    print("sending", flush=True)
    claim_id = None
    for line in sys.stdin:
        if line.strip() == "claim":
            got = leases.claim_many(lease, coids)
            claim_id = got[0] if got else None
            print(f"claimed {len(got[1]) if got else 0}", flush=True)
        elif line.strip() == "let go":
            given_back = leases.unclaim(claim_id, coids, f"not sent: {LEASE_EXPIRED}") if claim_id else []
            leases.stop_sending(lease)
            leases.release(lease)
            print(f"let go {len(given_back)}", flush=True)
            return


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
