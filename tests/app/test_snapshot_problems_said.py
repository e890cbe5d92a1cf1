"""A snapshot file refused for its problems: the window's Snapshots panel lists each problem as
`snapshot import` prints it (services.core.wording.file_problem). The panel listed "line 3,
weight: weight 'abc' is not a finite number", the command "line 3, column weight: ...". The real
window offscreen and the command in this process."""

from __future__ import annotations

import pytest

from app.cli import main
from tests.app.conftest import run

# end to end: a real window; left out by dev.py test --quick
pytestmark = pytest.mark.slow

PROBLEMS = ["line 3, column weight: weight 'abc' is not a finite number", "line 4, column symbol: symbol is empty"]


def test_a_refused_files_problems_are_listed_as_the_command_prints_them(qloop, open_console, tmp_path, capsys):
    path = tmp_path / "targets.csv"
    path.write_text("symbol,weight\nAAPL,0.5\nMSFT,abc\n,0.2\n")
    capsys.readouterr()
    code = main(["--db-url", f"sqlite:///{tmp_path / 'cli.db'}", "snapshot", "import", str(path), "--project", "p"])
    said = capsys.readouterr().err.splitlines()
    assert code == 2 and said[1:] == [f"  {problem}" for problem in PROBLEMS], said

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            await controller.runner.run(controller.import_snapshot(str(path), "p"), what="Import snapshot")
            listed = w.snapshots_view.errors_list
            assert [listed.item(i).text() for i in range(listed.count())] == PROBLEMS
            assert w.snapshots_view.errors_label.text() == "targets.csv: 2 problems; nothing was stored"
        finally:
            await console.close()

    run(qloop, scenario())
    # the command's failure line starts as every command's (app.cli.say_failure): it had none
    assert said[0] == "trading-console: targets.csv: 2 problems; nothing was stored", said
