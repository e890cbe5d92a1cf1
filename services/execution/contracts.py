"""Qualified contracts kept in the database (``contracts`` table), so that a restarted process
does not spend its pacing budget re-qualifying symbols it already knows."""

from __future__ import annotations

from services.db.repositories import ContractRepository


class DbContractStore:
    def __init__(self, db) -> None:
        self.db = db

    def load(self, symbols: list[str]) -> dict[str, tuple[int, str | None]]:
        """symbol -> (conId, primary exchange) for the symbols already qualified once."""
        out: dict[str, tuple[int, str | None]] = {}
        with self.db.session() as session:
            repo = ContractRepository(session)
            for symbol in symbols:
                row = repo.get(symbol)
                if row is not None and row.con_id:
                    out[symbol] = (int(row.con_id), row.primary_exchange)
        return out

    def save(self, contracts: dict[str, tuple[int, str | None]]) -> None:
        with self.db.unit_of_work() as session:
            repo = ContractRepository(session)
            for symbol, (con_id, primary) in contracts.items():
                repo.save(symbol, con_id=con_id, primary_exchange=primary or None)
