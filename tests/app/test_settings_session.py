"""The Settings dialog of a running console names what the session is really connected to: a
demo runs the built-in simulator on a port of its own, whatever the stored data source and port
(7497) say."""

from __future__ import annotations

import pytest

from tests.app.conftest import run

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)  # the dialog, not the database


def test_the_demo_settings_dialog_names_the_simulator_and_its_port(qloop, open_console):
    async def scenario():
        console = await open_console()
        try:
            dialog = await console.controller.settings_part.open()
            port = console.sim.port
            assert port != 7497 and dialog.port_edit.text() == "7497"  # the stored port, for paper and live
            assert dialog.session_label.text() == f"built-in simulator (demo), 127.0.0.1:{port}"
            assert dialog.session_label.isVisible() and not dialog.data_source_combo.isVisible()
            dialog.reject()
        finally:
            await console.close()

    run(qloop, scenario())
