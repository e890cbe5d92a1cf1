"""The simulator benchmark still runs (tiny sizes; the numbers are not asserted)."""

import pytest

from benchmarks import sim_throughput

pytestmark = pytest.mark.slow  # a benchmark, even at tiny sizes


def test_sim_throughput_benchmark_runs(capsys):
    assert sim_throughput.main(["--orders", "20", "--open-orders", "10", "--executions", "23"]) == 0
    out = capsys.readouterr().out
    assert "20 MKT orders -> " in out and "10 open orders and 23 executions" in out and "ratio" in out
