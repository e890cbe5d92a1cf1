import sqlite3

import pytest

from benchmarks import backtest_vs_bt

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # a benchmark, even at tiny sizes


def test_backtest_benchmark_runs_small(capsys, tmp_path):
    trail = tmp_path / "trail.db"
    assert backtest_vs_bt.main(["--symbols=20", "--years=1", "--floor", f"--db={trail}"]) == 0
    out = capsys.readouterr().out
    assert "loading the price file" in out and "ratio ours/bt" in out and "final equity: ours" in out
    assert "whole command wall time" in out
    # the storage floor inserted every row the run stored, no more, no fewer
    with sqlite3.connect(trail) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        stored = sum(db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)
    assert f"storage floor: inserting our trail's {stored:,} rows" in out


def test_backtest_benchmark_repeats_alternating_and_reports_medians(capsys, tmp_path):
    assert backtest_vs_bt.main(["--symbols=20", "--years=1", "--repeat=3", f"--db={tmp_path / 'trail.db'}"]) == 0
    out = capsys.readouterr().out
    runs = next(line for line in out.splitlines() if line.startswith("backtest, 3 runs each, alternating"))
    ours = runs.split("ours ")[1].split(" s")[0].split()
    assert len(ours) == 3 and len(runs.split("ratios ")[1].split()) == 3
    medians = next(line for line in out.splitlines() if line.startswith("backtest (prices in memory -> results) medians"))
    assert f"ours {sorted(map(float, ours))[1]:6.2f} s" in medians
