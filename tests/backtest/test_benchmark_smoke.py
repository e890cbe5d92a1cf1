import pytest

from benchmarks import backtest_vs_bt

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # a benchmark, even at tiny sizes


def test_backtest_benchmark_runs_small(capsys, tmp_path):
    assert backtest_vs_bt.main(["--symbols=20", "--years=1", f"--db={tmp_path / 'trail.db'}"]) == 0
    out = capsys.readouterr().out
    assert "loading the price file" in out and "ratio ours/bt" in out and "final equity: ours" in out
    assert "whole command wall time" in out


def test_backtest_benchmark_repeats_alternating_and_reports_medians(capsys, tmp_path):
    assert backtest_vs_bt.main(["--symbols=20", "--years=1", "--repeat=3", f"--db={tmp_path / 'trail.db'}"]) == 0
    out = capsys.readouterr().out
    runs = next(line for line in out.splitlines() if line.startswith("backtest, 3 runs each, alternating"))
    ours = runs.split("ours ")[1].split(" s")[0].split()
    assert len(ours) == 3 and len(runs.split("ratios ")[1].split()) == 3
    medians = next(line for line in out.splitlines() if line.startswith("backtest (prices in memory -> results) medians"))
    assert f"ours {sorted(map(float, ours))[1]:6.2f} s" in medians
