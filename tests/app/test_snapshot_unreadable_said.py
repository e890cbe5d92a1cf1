"""A snapshot file that cannot be read at all (missing, an unknown format) is said by the window
as `snapshot import` says it (services.console_queries.unreadable_snapshot_line). The window said
"/path/x.csv: [Errno 2] No such file or directory: '/path/x.csv'", the path twice, and a format's
refusal with its file named twice; the command "cannot read /path/x.csv: No such file or
directory". The real window offscreen and the command in this process."""

from __future__ import annotations

import pytest

from app.cli import main
from tests.app.conftest import run

# end to end: a real window; left out by dev.py test --quick
pytestmark = pytest.mark.slow


def _command_says(capsys, tmp_path, path) -> str:
    capsys.readouterr()
    code = main(["--db-url", f"sqlite:///{tmp_path / 'cli.db'}", "snapshot", "import", str(path), "--project", "p"])
    err = capsys.readouterr().err
    assert code == 2, err
    # "trading-console: " as every command says a failure (app.cli.say_failure)
    [said] = [line.removeprefix("trading-console: ") for line in err.splitlines()
              if line.startswith("trading-console: ")]
    return said


def test_an_unreadable_snapshot_file_is_said_as_the_command_says_it(qloop, open_console, tmp_path, capsys):
    missing, unknown = tmp_path / "missing.csv", tmp_path / "targets.txt"
    unknown.write_text("symbol,weight\nAAPL,0.1\n")
    command = {path: _command_says(capsys, tmp_path, path) for path in (missing, unknown)}
    assert command == {missing: f"cannot read {missing}: No such file or directory",
                       unknown: "targets.txt: unknown snapshot format '.txt' (use .csv or .json)"}

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            for path, said in command.items():
                controller.last_error = None
                await controller.runner.run(controller.import_snapshot(str(path), "p"), what="Import snapshot")
                assert controller.last_error == ("Import snapshot", said), controller.last_error
                assert any(e.text == f"Import snapshot: {said}" for e in w.activity_log.entries())
                listed = w.snapshots_view.errors_list
                # listed as the panel lists a problem of the whole file ("file: not UTF-8 text")
                assert [listed.item(i).text() for i in range(listed.count())] == [f"file: {said}"]
        finally:
            await console.close()

    run(qloop, scenario())
