"""A ``halt`` command whose database step waits for a lock another connection keeps (another
console's writer frozen in its transaction, on MariaDB) leaves it after ``LOCK_WAIT_LIMIT``,
waits its write_timeout, says the halt NOT recorded and exits 5. Before, it then hung at its
exit for as long as the server's lock waits lasted (50 s, three times over) while its worker
thread still waited, and that thread could still write the halt it had said was not recorded.
The step runs in a daemon thread of its own now (services.execution.dbcall.db_call_detached):
the command ends once it has said so, and its transaction ends with it."""

from __future__ import annotations

import asyncio

import pytest

from services.audit import AuditLog
from services.audit_actions import AuditAction
from services.db.repositories import SettingsRepository
from services.domain import TradingState
from tests.fixtures.locks import FrozenWriter

from .cli_helpers import cli_args, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # the command waits LOCK_WAIT_LIMIT (10 s) first
# the command's whole life while the lock is kept: its start, the 10 s it waits for the lock, its
# write_timeout (1 s); before, the lock waits it sat out at its exit took 150 s more
COMMAND_DEADLINE_S = 60


@pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
async def test_a_halt_command_behind_a_kept_lock_ends_once_it_said_the_halt_not_recorded(database, db_url,
                                                                                          monkeypatch):
    monkeypatch.setenv("TC_WRITE_TIMEOUT", "1")
    frozen = FrozenWriter(db_url)  # it keeps the audit chain's head, which the halt's entry needs
    try:
        proc = await start(cli_args(db_url, 0, "halt", connection=False))
        try:
            out, err = await asyncio.wait_for(proc.communicate(), COMMAND_DEADLINE_S)
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
            pytest.fail(f"the halt command had not ended {COMMAND_DEADLINE_S} s after it started, the lock still "
                        f"kept (it waits for its database step at exit); it said: {err.decode()}")
        said = err.decode()
        assert proc.returncode == 5, (out.decode(), said)
        assert "NOT recorded, the database did not answer before this command ended: the halt asked at" in said, said
    finally:
        frozen.release()
    # its transaction ended with it: nothing of the halt it said NOT recorded was written after all
    with database.session() as session:
        assert SettingsRepository(session).trading_state() is TradingState.ACTIVE
    assert AuditLog(database).list(action=AuditAction.TRADING_HALT.value) == []
