"""Persistence: the state file (orders, executions, each account's positions and cash, prices,
the id counters) and the ledger file (every execution sent, corrections included), both written
atomically.

Saves are coalesced to one per turn of the loop. On loading, DAY orders of an earlier New York
day expire, as they would have at the close.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from services.ibsim.account_book import AccountBook
from services.ibsim.base import SimulatorBase
from services.ibsim.model import SimExecution, SimOrder, utcnow
from services.ibsim.state import READABLE_FORMATS, STATE_FORMAT, read_json, write_json_atomic

log = logging.getLogger("services.ibsim")


class PersistenceMixin(SimulatorBase):
    """Saving the state and ledger files, loading the state file at construction."""

    def _schedule_save(self) -> None:
        if not (self.config.state_file or self.config.ledger_file) or self._save_scheduled:
            return
        self._save_scheduled = True
        loop = self._loop
        if loop is None or loop.is_closed():
            self.save()
            return
        loop.call_soon(self.save)

    def save(self) -> None:
        """Write the state and ledger files now (atomic); a no-op without files configured."""
        self._save_scheduled = False
        if self.config.state_file:
            write_json_atomic(self.config.state_file, self._state_json())
        if self.config.ledger_file:
            write_json_atomic(self.config.ledger_file, self._ledger)

    def _state_json(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "saved_at": utcnow().isoformat(),
            "accounts": {account: book.to_json() for account, book in self._accounts.items()},
            "next_order_id": self._next_order_id,
            "next_perm_id": self._next_perm_id,
            "exec_seq": self._exec_seq,
            "prices": {s: str(p) for s, p in self._prices.items()},
            "orders": [o.to_json() for o in self._orders.values()],
            "executions": [e.to_json() for e in self._executions.values()],
            "ledger": self._ledger,
        }

    def _load_state(self) -> None:
        path = self.config.state_file
        assert path is not None
        try:
            data = read_json(path)
        except FileNotFoundError:
            return
        except ValueError as exc:  # said as "Expecting value: line 1 column 6 (char 5)", no file named
            raise ValueError(f"state file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"state file {path} is not a simulator state (a JSON object)")
        if data.get("format") not in READABLE_FORMATS:
            raise ValueError(f"state file {path} has format {data.get('format')!r}, expected {STATE_FORMAT}")
        try:
            self._load_state_data(data)
        except (KeyError, TypeError, ArithmeticError) as exc:  # KeyError said "'next_order_id'" alone
            raise ValueError(f"state file {path} is damaged: {type(exc).__name__} {exc}") from None

    def _load_state_data(self, data: dict) -> None:
        path = self.config.state_file
        self._next_order_id = max(self._next_order_id, int(data["next_order_id"]))
        self._next_perm_id = max(self._next_perm_id, int(data["next_perm_id"]))
        self._exec_seq = int(data["exec_seq"])
        self._load_accounts(data)
        for symbol, price in data.get("prices", {}).items():
            if symbol in self._prices:
                self._prices[symbol] = Decimal(price)
        held = [symbol for book in self._accounts.values() for symbol in book.positions]
        unknown = sorted(({raw["symbol"] for raw in data["orders"]} | set(held)) - set(self.universe))
        if unknown:
            raise ValueError(f"state file {path} refers to symbols missing from the universe: {', '.join(unknown)}")
        for raw in data["orders"]:
            order = SimOrder.from_json(raw)
            self._orders[order.perm_id] = order
            self._order_keys[(order.client_id, order.order_id)] = order.perm_id
        for raw in data["executions"]:
            execution = SimExecution.from_json(raw)
            self._executions[execution.base_id] = execution
        self._ledger = list(data.get("ledger", []))
        for order in self.ended_day_orders(restarted=True):  # no client is connected yet: nobody to tell
            self._finish(order, "Cancelled", "Expired")
        log.info("state loaded from %s: %d orders (%d open), %d executions", path, len(self._orders),
                 len(self.open_orders()), len(self._executions))

    def _load_accounts(self, data: dict) -> None:
        """Each managed account's ledger; a format-1 file's one ledger is the first account's. A
        saved account this simulator does not manage is refused: dropped, its cash and positions
        would be lost at the next save."""
        if data["format"] == 1:
            self._accounts[self.config.account] = AccountBook.from_json(data)
            return
        saved = data["accounts"]
        unmanaged = sorted(set(saved) - set(self._accounts))
        if unmanaged:
            raise ValueError(f"state file {self.config.state_file} holds the ledger of account{'s' if len(unmanaged) > 1 else ''} "
                             f"{', '.join(unmanaged)}, not managed by this simulator (accounts {', '.join(self._accounts)})")
        for account, raw in saved.items():
            self._accounts[account] = AccountBook.from_json(raw)
