"""A backtest row left `running` by a process that is gone, as kill -9 or a reboot leaves it:
for the tests of services.backtest.closing and of the views that close it."""

from __future__ import annotations

import socket
from datetime import date, datetime
from decimal import Decimal

import pytest

from services.db.models import Backtest
from services.db.repositories import OrderRepository, ProjectRepository, RunRepository
from services.domain import BACKTEST_ACCOUNT_PREFIX, OrderState, RunStatus, TradeMode
from services.execution.lease import process_key

HOST = socket.gethostname()


def own_key() -> str:
    key = process_key()
    if key is None:
        pytest.skip("process keys need Linux's /proc")
    return key


def dead_key() -> str:
    """This machine, this boot, a pid whose process started at another time: the process that
    had it is gone (the pid reused)."""
    return own_key().rsplit("/", 1)[0] + "/0"


def rebooted_key() -> str:
    """This host name, another boot: every process of that boot is gone."""
    return "00000000-0000-0000-0000-000000000000/" + own_key().split("/", 1)[1]


def running_backtest(database, *, host: str | None, key: str | None, pid: int | None = 4242,
                     heartbeat: datetime | None = None) -> tuple[int, list[int], list[str]]:
    """A `running` backtest row with a rebalance run still running (a NEW and an ACCEPTED order on
    its account), another still queued: (backtest id, run ids, client order ids)."""
    with database.unit_of_work() as session:
        row = Backtest(status="running", params={}, host=host, pid=pid, process_key=key, heartbeat_at=heartbeat)
        session.add(row)
        session.flush()
        project = ProjectRepository(session).get_or_create(f"bt-{row.id}")
        runs = RunRepository(session)
        running = runs.create(project.id, mode=TradeMode.BACKTEST, trade_date=date(2024, 3, 1),
                              backtest_id=row.id, status=RunStatus.RUNNING)
        queued = runs.create(project.id, mode=TradeMode.BACKTEST, trade_date=date(2024, 4, 1), backtest_id=row.id)
        orders = OrderRepository(session)
        coids = []
        for n, status in enumerate((OrderState.NEW, OrderState.ACCEPTED)):
            coid = f"bt{row.id}-{n}"
            orders.create(coid, f"S{n}", "BUY", Decimal(10), status=status, run_id=running.id, project_id=project.id,
                          account=f"{BACKTEST_ACCOUNT_PREFIX}{row.id}-{project.id}")
            coids.append(coid)
        return row.id, [running.id, queued.id], coids
