import pytest

from benchmarks import core_build_risk

pytestmark = pytest.mark.slow  # a benchmark, even at tiny sizes


def test_benchmark_command_runs_small(capsys):
    assert core_build_risk.main(["--runs=1", "--symbols=60", "--positions=20"]) == 0
    out = capsys.readouterr().out
    assert "snapshot 60 symbols vs 20 positions" in out
    assert "naive per-row baseline" in out and "ratio baseline / build+risk" in out
