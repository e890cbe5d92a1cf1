"""The backtest's dated snapshots: a folder of snapshot files whose names contain one date
written YYYY-MM-DD (a name with two different dates is refused), one CSV
``date,symbol,weight[,project]`` whose dates are written YYYY-MM-DD (not 20240102, not the ISO
week date 2024-W01-2; other snapshot columns allowed), or the snapshots
already stored for a project (dated by the ISO date in their file name, else the day they were
stored). Files are validated exactly as a snapshot import is (``services.core.snapshots``): every
problem with its file and line, nothing used when there is any."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from services.core.bars import day_problem, iso_day
from services.core.snapshot_dates import dates_in_name
from services.core.snapshot_rows import cell_count_problem
from services.core.snapshots import SnapshotItem, parse_snapshot_file, parse_snapshot_text
from services.db.limits import snapshot_limits

DEFAULT_PROJECT = "backtest"


@dataclass(frozen=True, slots=True)
class DatedSnapshot:
    day: date
    project: str
    source_name: str
    content_hash: str
    items: tuple[SnapshotItem, ...]
    snapshot_id: int | None = None  # already stored (the project's own snapshots)
    # the project's stored snapshots of the same day, stored before this one, which it replaces
    # (``requests.stored_snapshots``: the newest of a day is that day's decision): named, not dropped
    left_out: tuple[str, ...] = ()


class SnapshotInputError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_snapshots(path: str | Path, projects: list[str] | None = None) -> list[DatedSnapshot]:
    """The dated snapshots at ``path`` (a folder or one dated CSV), for ``projects`` (a file
    without a project column belongs to the only project named, else to ``backtest``; a file with
    one names a project on every row). Raises
    ``SnapshotInputError`` listing every problem."""
    path = Path(path)
    projects = list(projects or [])
    if path.is_dir():
        found = _read_folder(path, projects)
    elif path.is_file():
        found = _read_dated_csv(path, projects)
    else:
        raise SnapshotInputError([f"{path}: no such file or folder"])
    if projects and found:
        # asked before keeping the chosen projects' snapshots: once none is left, all that
        # could be said is "no dated snapshot", which the files do have
        held = sorted({s.project for s in found})
        absent = [p for p in projects if p not in held]
        if absent:
            problems = [f"{path}: no snapshot of project {p!r}" for p in absent]
            if path.is_dir():  # its files name no project: they are the one project chosen
                problems.append(f"{path}: a folder of snapshot files holds one project; {len(projects)} chosen "
                                f"({', '.join(projects)}): choose one, or give a dated CSV with a project column")
            else:
                problems.append(f"{path}: it holds {', '.join(repr(p) for p in held)}")
            raise SnapshotInputError(problems)
        found = [s for s in found if s.project in projects]
    if not found:
        raise SnapshotInputError([f"{path}: no dated snapshot"])
    return sorted(found, key=lambda s: (s.day, s.project))


def _default_project(projects: list[str]) -> str:
    return projects[0] if len(projects) == 1 else DEFAULT_PROJECT


def _read_folder(folder: Path, projects: list[str]) -> list[DatedSnapshot]:
    problems: list[str] = []
    found: list[DatedSnapshot] = []
    project = _default_project(projects)
    seen: dict[date, str] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".json"))
    if not files:  # "no dated snapshot" read as if the files lacked a date
        raise SnapshotInputError([f"{folder}: no snapshot file in the folder (.csv or .json, with an ISO date in its name)"])
    for file in files:
        days = dates_in_name(file.name)
        if not days:
            problems.append(f"{file.name}: no ISO date (YYYY-MM-DD) in the file name")
            continue
        if len(days) > 1:  # which one the snapshot is of cannot be told
            problems.append(f"{file.name}: {len(days)} dates in the file name ({', '.join(map(str, days))}); "
                            "a snapshot file's name holds one")
            continue
        day = days[0]
        if (wrong_day := day_problem(day)) is not None:
            problems.append(f"{file.name}: the {wrong_day}")
            continue
        if day in seen:
            problems.append(f"{file.name}: a second snapshot for {day} (also {seen[day]})")
            continue
        seen[day] = file.name
        parsed = parse_snapshot_file(file, limits=snapshot_limits())
        problems.extend(f"{file.name}: {p}" for p in parsed.errors)
        if parsed.ok:
            found.append(DatedSnapshot(day, project, file.name, parsed.content_hash, parsed.items))
    if problems:
        raise SnapshotInputError(problems)
    return found


def _read_dated_csv(path: Path, projects: list[str]) -> list[DatedSnapshot]:
    """One CSV of many snapshots: grouped by (project, date); each group is validated as a
    snapshot file of its own, its problems named by the line of the whole file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotInputError([f"{path.name}: cannot be read ({exc})"]) from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    problems: list[str] = []
    if "date" not in header:
        raise SnapshotInputError([f"{path.name}: line 1: a dated snapshot CSV needs a date column (date,symbol,weight[,project])"])
    date_col = header.index("date")
    project_col = header.index("project") if "project" in header else None
    kept = [i for i, h in enumerate(header) if i not in (date_col, project_col)]
    groups: dict[tuple[str, date], list[tuple[int, list[str]]]] = {}
    default = _default_project(projects)
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = row[date_col].strip() if date_col < len(row) else ""
        day = iso_day(cell)
        if day is None:
            problems.append(f"{path.name}: line {line}, column date: {cell!r} is not an ISO date (YYYY-MM-DD)")
            continue
        if (wrong_day := day_problem(day)) is not None:
            problems.append(f"{path.name}: line {line}, column date: {wrong_day}")
            continue
        if project_col is None:
            project = default
        else:  # a blank cell under a project column is a slip, not "the project chosen"
            project = row[project_col].strip() if project_col < len(row) else ""
            if not project:
                problems.append(f"{path.name}: line {line}, column project: no project named (the file has a project column)")
                continue
        # as a snapshot file's row (regrouped by day, it would be padded or cut to the header)
        wrong_count = cell_count_problem(row, header)
        if wrong_count is not None:
            problems.append(f"{path.name}: line {line}: {wrong_count[1]}")
            continue
        groups.setdefault((project, day), []).append((line, row))
    found: list[DatedSnapshot] = []
    for (project, day), rows in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0])):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([header[i] for i in kept])
        for _line, row in rows:
            writer.writerow([row[i] if i < len(row) else "" for i in kept])
        # the group's day first: stored_day reads the first ISO date of a stored name, and the
        # file's own name may hold one (weights-2024-01-31.csv), which would date every group
        name = f"{day.isoformat()}-{path.stem}-{project}.csv"
        parsed = parse_snapshot_text(out.getvalue(), "csv", source_name=name, limits=snapshot_limits())
        for problem in parsed.errors:
            where = rows[problem.line - 2][0] if problem.line is not None and 2 <= problem.line < len(rows) + 2 else None
            column = f", column {problem.column}" if problem.column else ""
            problems.append(f"{path.name}: line {where}{column}: {problem.message}" if where is not None
                            else f"{path.name}: {project} {day}: {problem.message}")
        if parsed.ok:
            found.append(DatedSnapshot(day, project, name, parsed.content_hash, parsed.items))
    if problems:
        raise SnapshotInputError(problems)
    return found


def left_out_entry(snap: DatedSnapshot, traded_on: date | None) -> dict:
    """What a backtest's results keep of a snapshot that replaced others of its day
    (``left_out_snapshots``, per project): the day, the names left out, the one used, the
    session it traded on (None: outside the days simulated), and those of them dated the day they were stored (no YYYY-MM-DD date in
    the name: why two files of different days shared one). Said by ``outcomes.left_out_said``."""
    names = [*snap.left_out, snap.source_name]
    return {"day": snap.day.isoformat(), "left_out": list(snap.left_out), "replaced_by": snap.source_name,
            "traded_on": traded_on.isoformat() if traded_on else None, "undated": [n for n in names if not dates_in_name(n)]}


def gross(items: tuple[SnapshotItem, ...]) -> Decimal:
    return sum((abs(i.weight) for i in items), Decimal(0))
