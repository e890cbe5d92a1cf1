import pytest

from benchmarks import backtest_vs_bt

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # a benchmark, even at tiny sizes


def test_backtest_benchmark_runs_small(capsys, tmp_path):
    assert backtest_vs_bt.main(["--symbols=20", "--years=1", f"--db={tmp_path / 'trail.db'}"]) == 0
    out = capsys.readouterr().out
    assert "loading the price file" in out and "ratio ours/bt" in out and "final equity: ours" in out
    assert "whole command wall time" in out
