"""Test-wide setup. Fixtures live in ``tests/fixtures/*`` (one module per subsystem).

Every test runs with its own config, data and log folders so that it never reads or writes the
user's real settings, and Qt runs offscreen.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from tests.fixtures import schedule

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.ib",
    "tests.fixtures.mariadb",
    "tests.fixtures.modal_guard",
    "tests.fixtures.other_user",
    "tests.fixtures.theme",
    "tests.fixtures.widgets_freed",
    "tests.fixtures.worker_crash",
]


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path, monkeypatch):
    home = tmp_path / "user"
    monkeypatch.setenv("TC_CONFIG_FILE", str(home / "config" / "settings.toml"))
    monkeypatch.setenv("TC_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("TC_LOG_DIR", str(home / "logs"))
    for name in ("TC_DB_URL", "TC_IB_HOST", "TC_IB_PORT", "TC_IB_CLIENT_ID", "TC_IB_ACCOUNT", "TC_MODE"):
        monkeypatch.delenv(name, raising=False)
    return home


def pytest_configure(config):
    schedule.register_recorder(config)


@pytest.hookimpl(trylast=True)  # after -m / -k deselection: the slices are cut from what runs
def pytest_collection_modifyitems(config, items):
    schedule.apply(config, items)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: without xdist there are no workers to order for
def pytest_configure_node(node):
    schedule.tell_worker(node)
