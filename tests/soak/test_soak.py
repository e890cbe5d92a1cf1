"""A short soak (``python3 dev.py soak`` for 25 s): the console's engine, built by the
composition root, against the simulator in its own process over a loopback socket, with runs,
cancels, replaces and manual orders, partial fills, corrections, late commissions, duplicate
statuses, a dropped connection every 8 s and a database restart half-way (a kill -9 of the
private MariaDB server; on SQLite the engine's pool is closed). Then the database must equal the
simulator's ledger: no fill lost or duplicated, no order sent twice."""

from __future__ import annotations

import pytest

from devtools.mariadb import missing_binaries
from devtools.soak import SoakOptions, soak
from tests.fixtures.mariadb import _unavailable

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
async def test_short_soak_loses_nothing_and_sends_nothing_twice(backend, tmp_path, ib_log_guard, capsys):
    if backend == "mariadb" and (why := missing_binaries()):
        _unavailable(why)
    # The soak provokes broker errors on purpose (dropped connections, cancels racing fills);
    # the guard still fails the test on any decoding error of the client library.
    ib_log_guard.allow(r".")
    report = await soak(SoakOptions(seconds=25, mysql=backend == "mariadb", drop_every=8, seed=7, workdir=tmp_path))
    with capsys.disabled():
        print("\n" + "\n".join(report.lines()))
    assert report.drops >= 2 and report.db_restarts == 1
    assert report.runs >= 2 and report.fills > 0 and report.manual_orders > 0
    assert report.failures == []
