"""Qualified contracts kept in the database (``contracts`` table), so that a restarted process
does not spend its pacing budget re-qualifying listings it already knows. Rows are keyed by the
listing asked for (symbol, type, exchange, currency); a row whose primary exchange differs from
the one asked for is not that listing and is ignored."""

from __future__ import annotations

from services.core.contracts import ContractSpec, spec_of
from services.db.repositories.contracts import ContractRepository


class DbContractStore:
    def __init__(self, db) -> None:
        self.db = db

    def load(self, specs: list[str | ContractSpec]) -> dict[str, tuple[int, str | None]]:
        """listing key -> (conId, primary exchange) for the listings already qualified once."""
        out: dict[str, tuple[int, str | None]] = {}
        with self.db.session() as session:
            repo = ContractRepository(session)
            for spec in map(spec_of, specs):
                row = repo.get(spec.symbol, sec_type=spec.sec_type, exchange=spec.exchange, currency=spec.currency)
                if row is None or not row.con_id:
                    continue
                if spec.primary_exchange and row.primary_exchange != spec.primary_exchange:
                    continue
                out[spec.key] = (int(row.con_id), row.primary_exchange)
        return out

    def save(self, contracts: dict[str | ContractSpec, tuple[int, str | None]]) -> None:
        with self.db.unit_of_work() as session:
            repo = ContractRepository(session)
            for item, (con_id, primary) in contracts.items():
                spec = spec_of(item)
                repo.save(spec.symbol, sec_type=spec.sec_type, exchange=spec.exchange, currency=spec.currency,
                          con_id=con_id, primary_exchange=primary or None)
