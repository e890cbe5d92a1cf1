"""The positions tree's benchmark runs at a tiny size and reports ours against both baselines."""

from __future__ import annotations

from benchmarks import positions_ticks


def test_the_positions_benchmark_runs_small(qapp, capsys):
    assert positions_ticks.main(["--lines", "30", "--flushes", "4", "--old-flushes", "1"]) == 0
    out = capsys.readouterr().out
    assert "-- 30 lines (the account and two projects, 10 symbols), 9 changed lines a flush" in out
    for name in ("in place (ours)", "built anew every flush", "built anew every change"):
        assert name in out
    assert "ratio ours / built anew every flush:" in out and "goal: a flush within 16 ms at 600 lines" in out
