"""The Positions and P&L tree under a stream of marks: a book of ``--lines`` lines (the account's
and two projects' positions in the same symbols), and ``--flushes`` flushes of the positions model
each changing the marks of a scattered quarter of the lines (a tick of quotes across the book).
The time per flush is the GUI thread's: the model's flush and the tree brought up to date.

    python3 dev.py bench positions_ticks [--lines 600] [--flushes 40]

Measured in the same run against two baselines on the same ticks: the tree built anew at every
flush (what the panel did before it updated its items in place), and built anew at every
``dataChanged`` of a flush (before it was rebuilt once per flush: a flush reports scattered rows
as one ``dataChanged`` per run of rows; this baseline runs at most ``--old-flushes`` flushes, it
is slow). Goal: a flush within one 60 Hz frame (16 ms) at 600 lines, offscreen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
FRAME_MS = 16.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench positions_ticks", description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--lines", type=int, default=600, help="position lines in the tree (default 600)")
    parser.add_argument("--flushes", type=int, default=40, help="flushes of marks measured (default 40)")
    parser.add_argument("--old-flushes", type=int, default=3,
                        help="flushes measured for the rebuild-per-dataChanged baseline (default 3)")
    return parser


def _position(project_id: int | None, symbol: str, mark: Decimal):
    from services.domain import PositionRecord

    quantity = Decimal(20) if project_id is None else Decimal(10)  # the account holds both projects' shares
    return PositionRecord(project_id, "DU1", symbol, quantity, Decimal(100), Decimal(0), NOW, market_price=mark)


def _ticks(symbols: list[str], flushes: int) -> list[list]:
    """Each flush: a quarter of the symbols (every fourth, shifted), new marks for the account's
    line and both projects' lines of each."""
    out = []
    for n in range(flushes):
        mark = Decimal(100) + Decimal(n + 1) / 4
        out.append([_position(project, symbol, mark)
                    for symbol in symbols[n % 4::4] for project in (None, 1, 2)])
    return out


def _measure(app, symbols: list[str], ticks: list[list], prepare: Callable | None = None) -> list[float]:
    """Milliseconds per flush: the model's flush with the view connected, then the events it
    posted (the tree's own updates) processed."""
    from widgets.models.positions import PositionsModel
    from widgets.views.positions import PositionsView

    model = PositionsModel(project_names={1: "alpha", 2: "beta"})
    view = PositionsView(model)
    view.resize(460, 500)
    view.show()
    model.reset([_position(project, symbol, Decimal(100)) for symbol in symbols for project in (None, 1, 2)])
    app.processEvents()
    if prepare is not None:
        prepare(view, model)
    times = []
    for records in ticks:
        model.upsert(records)
        started = time.perf_counter()
        model.flush()
        app.processEvents()
        times.append((time.perf_counter() - started) * 1000)
    view.close()
    view.deleteLater()
    app.processEvents()
    return times


def _rebuilt_every_flush(view, _model) -> None:
    fill = view._fill_tree

    def rebuilt() -> None:
        view._shape = None  # never the same shape: every flush builds the tree anew
        fill()

    view._fill_tree = rebuilt


def _rebuilt_every_data_changed(view, model) -> None:
    _rebuilt_every_flush(view, model)
    model.dataChanged.connect(view._update_totals)


def _line(name: str, times: list[float]) -> str:
    return (f"{name}: median {statistics.median(times):6.1f} ms per flush, longest {max(times):6.1f} ms, "
            f"{sum(t > FRAME_MS for t in times)} of {len(times)} over a frame")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    symbols = [f"S{i:04d}" for i in range(max(1, args.lines // 3))]
    ticks = _ticks(symbols, args.flushes)
    print(f"-- {3 * len(symbols)} lines (the account and two projects, {len(symbols)} symbols), "
          f"{len(ticks[0])} changed lines a flush", flush=True)
    ours = _measure(app, symbols, ticks)
    whole = _measure(app, symbols, ticks, _rebuilt_every_flush)
    print(_line("in place (ours)         ", ours))
    print(_line("built anew every flush  ", whole))
    old = _measure(app, symbols, ticks[:max(1, args.old_flushes)], _rebuilt_every_data_changed)
    print(_line("built anew every change ", old))
    print(f"ratio ours / built anew every flush: {statistics.median(ours) / statistics.median(whole):.2f}; "
          f"ours / built anew every change: {statistics.median(ours) / statistics.median(old):.4f}; "
          f"goal: a flush within {FRAME_MS:g} ms at 600 lines "
          f"({'met' if statistics.median(ours) <= FRAME_MS else 'NOT met'} at the median)")
    return 0
