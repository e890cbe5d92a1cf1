"""A snapshot file that names its project (a `project` column, as the backtest's one-file form
has, or a JSON document's "project" key) is imported only into that project: imported with
`--project alpha` (or the window's project) a file naming 'gamma' was stored as alpha's,
the column dropped without a word, and alpha then traded gamma's weights. Refused with the lines
that name another project, nothing stored; a file naming the project it goes into imports."""

from __future__ import annotations

from sqlalchemy import func, select

from services.console_queries import import_snapshot
from services.db.models import DecisionSnapshot, Project


def _stored(database) -> tuple[int, list[str]]:
    with database.session() as session:
        return session.scalar(select(func.count(DecisionSnapshot.id))), list(session.scalars(select(Project.name)))


def test_a_file_naming_another_project_is_refused_with_its_lines(database, tmp_path):
    csv_file = tmp_path / "weights.csv"
    csv_file.write_text("symbol,weight,project\nAAPL,0.1,gamma\nMSFT,0.1,alpha\nIBM,0.1, gamma \n", encoding="utf-8")
    json_file = tmp_path / "weights.json"
    json_file.write_text('{"project": "gamma",\n "items": [\n  {"symbol": "AAPL", "weight": 0.1}\n ]}\n', encoding="utf-8")
    for path, lines in ((csv_file, [2, 4]), (json_file, [3])):
        outcome = import_snapshot(database, path, "alpha", actor="tester")
        assert outcome.snapshot_id is None
        said = [(p.line, p.column, p.code, p.message) for p in outcome.parsed.errors]
        words = ("the file names project 'gamma', not 'alpha', the project it is imported into: import it into "
                 "'gamma', or correct the file")
        assert said == [(line, "project", "other_project", words) for line in lines], said
    assert _stored(database) == (0, [])

    named = tmp_path / "alpha.csv"
    named.write_text("symbol,weight,project\nAAPL,0.1,alpha\n", encoding="utf-8")
    assert import_snapshot(database, named, " alpha", actor="tester").snapshot_id is not None  # the name as it is stored: stripped
    assert _stored(database) == (1, ["alpha"])
