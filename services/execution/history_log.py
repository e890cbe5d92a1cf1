"""The historical-data requests every process of the console sent to one gateway, kept in the
database (``history_requests``): IB counts its historical pacing per gateway session, so a
second ``bars download``, a ``backtest --from-broker`` or the window must see the requests the
others sent (docs/ib-pacing.md, "Historical data"). ``HistoricalPacing`` (history_pacing.py)
decides; this only keeps the record and makes the decision one process at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.db.repositories.history_requests import HistoryRequestRepository


def gateway_key(host: str, port: int) -> str:
    """The gateway a connection talks to, as the history is keyed ("127.0.0.1:4002")."""
    host = (host or "127.0.0.1").strip().lower()
    return f"{'127.0.0.1' if host == 'localhost' else host}:{int(port)}"


class DbHistoryLog:
    def __init__(self, db, gateway: str) -> None:
        self.db = db
        self.gateway = gateway

    def reserve(self, contract: str, request: str, now: float, since: float,
                delay: Callable[[Sequence[tuple[float, str, str]]], float]) -> float:
        """With the gateway locked: the requests sent after ``since`` go to ``delay``; when it
        says 0 the request is recorded as sent at ``now`` (the caller sends it). Returns the
        delay. Requests at or before ``since`` are pruned. Blocking: call it in a worker thread."""
        with self.db.unit_of_work() as session:
            repo = HistoryRequestRepository(session, self.gateway)
            repo.lock()
            repo.prune(since)
            wait = delay(repo.since(since))
            if wait <= 0:
                repo.add(now, contract, request)
            return wait
