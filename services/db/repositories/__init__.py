"""Repositories: create / get / list for every entity, on one caller-owned ``Session``.

    with database.unit_of_work() as session:
        repos = Repositories(session)
        order, created = repos.orders.insert_once(client_order_id="r1-AAPL", symbol="AAPL",
                                                  side=Side.BUY, quantity=Decimal(10))

Exactly-once: ``OrderRepository.insert_once`` (key ``client_order_id``) and
``FillRepository.insert_once`` (key ``exec_id``) run one statement that cannot fail on a
duplicate -- ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite, ``INSERT ... ON DUPLICATE KEY
UPDATE id=id`` on MySQL -- then read the row back. Two processes racing on one key get one row
and no error: MySQL makes the second insert wait for the first transaction and then treats it as
a duplicate; SQLite serializes writers (``BEGIN IMMEDIATE``). The flag says which caller created
the row.

Repositories never commit: the unit of work does. They return ORM rows, which stay inside
``services``; ``services.db.convert`` turns them into the frozen records the GUI receives.

One module per aggregate; every name is re-exported here, so ``from services.db.repositories
import OrderRepository`` keeps working:

    base        RepositoryError, NotFound, insert_once (the exactly-once insert every module uses)
    projects    ProjectRepository
    snapshots   SnapshotRepository, SnapshotItemInput
    runs        RunRepository, run_idempotency_key
    orders      OrderRepository, OrderEventRepository (a status change appends its event)
    fills       FillRepository, split_exec_id
    portfolio   PositionRepository, EquityRepository
    contracts   ContractRepository
    price_bars  PriceBarRepository, BarCoverage (the daily historical-price cache)
    settings    SettingsRepository, new_installation_id, INSTALLATION_ID_ALPHABET
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.db.repositories.base import NotFound, RepositoryError, insert_once
from services.db.repositories.contracts import ContractRepository
from services.db.repositories.fills import FillRepository, split_exec_id
from services.db.repositories.orders import OrderEventRepository, OrderRepository
from services.db.repositories.portfolio import EquityRepository, PositionRepository
from services.db.repositories.price_bars import BarCoverage, PriceBarRepository
from services.db.repositories.projects import ProjectRepository
from services.db.repositories.runs import RunRepository, run_idempotency_key
from services.db.repositories.settings import (
    INSTALLATION_ID_ALPHABET,
    SettingsRepository,
    new_installation_id,
)
from services.db.repositories.snapshots import SnapshotItemInput, SnapshotRepository

__all__ = [
    "INSTALLATION_ID_ALPHABET",
    "BarCoverage",
    "ContractRepository",
    "EquityRepository",
    "FillRepository",
    "NotFound",
    "OrderEventRepository",
    "OrderRepository",
    "PositionRepository",
    "PriceBarRepository",
    "ProjectRepository",
    "Repositories",
    "RepositoryError",
    "RunRepository",
    "SettingsRepository",
    "SnapshotItemInput",
    "SnapshotRepository",
    "insert_once",
    "new_installation_id",
    "run_idempotency_key",
    "split_exec_id",
]


class Repositories:
    """Every repository on one session: ``Repositories(session).orders.list_working()``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.projects = ProjectRepository(session)
        self.snapshots = SnapshotRepository(session)
        self.runs = RunRepository(session)
        self.orders = OrderRepository(session)
        self.fills = FillRepository(session)
        self.events = OrderEventRepository(session)
        self.positions = PositionRepository(session)
        self.equity = EquityRepository(session)
        self.contracts = ContractRepository(session)
        self.settings = SettingsRepository(session)
        self.price_bars = PriceBarRepository(session)
