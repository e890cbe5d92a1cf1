"""The historical-data requests sent to each gateway (tables ``history_gateways`` and
``history_requests``): what every process of the console sent, for IB's historical pacing
(services.execution.history_log, docs/ib-pacing.md "Historical data")."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from services.db.models import HistoryGateway, HistoryRequestSent
from services.db.repositories.base import insert_once


class HistoryRequestRepository:
    def __init__(self, session: Session, gateway: str) -> None:
        self.session = session
        self.gateway = gateway

    def lock(self) -> None:
        """Hold the gateway's row until the unit of work ends (created on first use): one process
        at a time decides whether a request may go (SQLite's unit of work holds the write lock
        anyway; on MySQL this row lock serialises the deciding)."""
        insert_once(self.session, HistoryGateway, {"gateway": self.gateway}, ("gateway",))
        self.session.execute(select(HistoryGateway.id).where(HistoryGateway.gateway == self.gateway).with_for_update())

    def since(self, moment: float) -> list[tuple[float, str, str]]:
        """(sent_at, contract, request) of the requests sent after ``moment``, oldest first."""
        rows = self.session.execute(
            select(HistoryRequestSent.sent_at, HistoryRequestSent.contract, HistoryRequestSent.request)
            .where(HistoryRequestSent.gateway == self.gateway, HistoryRequestSent.sent_at > moment)
            .order_by(HistoryRequestSent.sent_at, HistoryRequestSent.id))
        return [(float(t), c, r) for t, c, r in rows]

    def add(self, sent_at: float, contract: str, request: str) -> None:
        self.session.execute(insert(HistoryRequestSent).values(gateway=self.gateway, sent_at=sent_at, contract=contract,
                                                               request=request))

    def prune(self, before: float) -> None:
        """Forget the gateway's requests sent at or before ``before`` (out of every window)."""
        self.session.execute(delete(HistoryRequestSent).where(HistoryRequestSent.gateway == self.gateway,
                                                              HistoryRequestSent.sent_at <= before))
