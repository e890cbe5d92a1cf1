"""Blotter stream: the console's coalescing models against a vn.py-style QTableWidget.

    python3 dev.py bench blotter_stream [--quick] [--orders=N] [--baseline-budget=SECONDS]

The longest stall and the count of gaps over a frame leave out the gaps around the four forced
flushes at the measuring windows' edges (the harness applies the whole buffer at once there);
they are printed apart.

The stream (issue 6, Benchmark): 10,000 orders, each inserted as SUBMITTED and then given 3
status updates (ACCEPTED, PARTIALLY_FILLED, FILLED; every tenth order stays working with a
second PARTIALLY_FILLED instead), and 5 fills per order (50,000), interleaved as a broker would
send them (an order's updates trail its insert by 20/40/60 orders). 90,000 events in all.

Ours: OrderBlotterModel + BlotterView (sorted by time, newest first, filtered to working
orders) and FillsModel + FillsView (newest first), shown offscreen; events go in with
``upsert`` one by one and the models flush on their ~100 ms timer.

Baseline (same run, same events, same display text): two QTableWidgets updated exactly like
vn.py 4.3's BaseMonitor.process_event: ``setSortingEnabled(False)``, insert row 0 or set each
cell's text, ``setSortingEnabled(True)`` (which re-sorts the whole table) for every event.

Both are fed in chunks of 100 events per event-loop turn; a 1 ms heartbeat timer measures the
longest time the GUI thread did not get back to its event loop (the longest stall). The
per-event cost "at 500 rows" and "at 10,000 rows" is the wall time over the events of orders
250-749 and of the last 500 orders, with a flush forced at each window's edges so that each
window pays for its own coalesced work. The baseline is slow (seconds per hundred events once
the fills table is large): it stops after ``--baseline-budget`` seconds (default 120; 0 for no
limit, about half an hour) and the comparison then uses the same prefix of the stream for both,
plus a lower bound for the whole (the baseline's full time can only be larger).

Python's collector runs as in the application (app/gc_guard.py: on a GUI-thread timer, the
oldest generation's survivors frozen after each of its passes); its pauses are reported too and
are part of the stall figures, not removed. The interpreter's switch interval is the
application's too (app/gil_turns.py; this benchmark runs no worker thread, so it changes little).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import itertools

from PySide6.QtCore import QEventLoop, Qt, QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QTableWidget, QTableWidgetItem

from services.domain import FillRecord, OrderRecord, OrderState, OrderType, Side
from widgets.models.fills import FillsModel
from widgets.models.orders import OrderBlotterModel
from widgets.models.proxy import StatusFilter
from widgets.views.blotter import BlotterView
from widgets.views.fills import FillsView

T0 = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "SPY", "QQQ", "IBM", "NVDA", "META", "JPM", "XOM", "JNJ", "V", "PG")
ORDER, FILL = 0, 1
CHUNK = 100
LAG = 20
GOAL_SPEEDUP = 20.0
GOAL_FLATNESS = 1.5
GOAL_STALL_MS = 16.0  # issue 15: one 60 Hz frame (it was 50 ms, issue 6)


# ----------------------------------------------------------------------------------------------
# The stream


def iter_stream(n_orders: int, lag: int = LAG):
    """(kind, record) events, deterministic and built lazily, as a broker feed produces them
    (so the heap holds what a console would: the live records, not a precomputed stream).
    Order i is inserted at step i, accepted at i+lag, partially filled (2 fills) at i+2*lag
    and filled (3 fills) at i+3*lag; every tenth order gets a second partial fill instead and
    stays working."""
    orders: dict[int, OrderRecord] = {}
    fill_id = 0
    count = 0
    for step in range(n_orders + 3 * lag):
        for stage, i in ((0, step), (1, step - lag), (2, step - 2 * lag), (3, step - 3 * lag)):
            if not 0 <= i < n_orders:
                continue
            fills: tuple[int, ...] = ()
            if stage == 0:
                symbol = SYMBOLS[i % len(SYMBOLS)]
                created = T0 + timedelta(milliseconds=count)
                o = OrderRecord(
                    id=i + 1, client_order_id=f"r{1 + i // 1000}-{symbol}-{'B' if i % 3 else 'S'}-{i:05d}",
                    run_id=1 + i // 1000, symbol=symbol, side=Side.BUY if i % 3 else Side.SELL,
                    quantity=Decimal(100), order_type=OrderType.LMT, limit_price=Decimal(100) + Decimal(i % 500) / 100,
                    status=OrderState.SUBMITTED, filled_quantity=Decimal(0), avg_fill_price=None,
                    created_at=created, updated_at=created, ib_order_id=10_000 + i,
                )
            elif stage == 1:
                o = replace(orders[i], status=OrderState.ACCEPTED, ib_perm_id=900_000 + i)
            elif stage == 2:
                o = replace(orders[i], status=OrderState.PARTIALLY_FILLED, filled_quantity=Decimal(20),
                            avg_fill_price=orders[i].limit_price - Decimal("0.01"))
                fills = (10, 10)
            elif i % 10 == 0:  # stays working
                o = replace(orders.pop(i), filled_quantity=Decimal(50))
                fills = (10, 10, 10)
            else:
                o = replace(orders.pop(i), status=OrderState.FILLED, filled_quantity=Decimal(100))
                fills = (30, 30, 20)
            if stage < 3:
                orders[i] = o
            for q in fills:
                fill_id += 1
                yield FILL, FillRecord(
                    id=fill_id, order_id=o.id, exec_id=f"0001f4e5.{fill_id:08d}.01", symbol=o.symbol, side=o.side,
                    quantity=Decimal(q), price=o.limit_price - Decimal("0.01"), commission=Decimal("1.00"),
                    fill_time=T0 + timedelta(milliseconds=count),
                )
                count += 1
            yield ORDER, o
            count += 1


def make_stream(n_orders: int, lag: int = LAG) -> list[tuple[int, object]]:
    return list(iter_stream(n_orders, lag))


def stream_length(n_orders: int) -> int:
    return 4 * n_orders + 5 * n_orders


def expected_after(events) -> tuple[list[OrderRecord], int]:
    """What the blotter must show after the stream (working orders, newest first, computed
    with a plain sort) and how many fills there are."""
    latest: dict[int, OrderRecord] = {}
    fills = 0
    for kind, record in events:
        if kind == ORDER:
            latest[record.id] = record
        else:
            fills += 1
    working = [o for o in latest.values() if o.status.is_working]
    return sorted(working, key=lambda o: o.created_at, reverse=True), fills


def expected_working_newest_first(events) -> list[OrderRecord]:
    return expected_after(events)[0]


# ----------------------------------------------------------------------------------------------
# The two consoles


class OurConsole:
    name = "console (coalescing models)"

    def __init__(self, *, proxy_sorts_time: bool = False) -> None:
        self.orders = OrderBlotterModel()
        self.fills = FillsModel()
        self.blotter = BlotterView(self.orders)
        self.fills_view = FillsView(self.fills)
        if proxy_sorts_time:
            # The design not taken, for comparison: QSortFilterProxyModel itself keeps the
            # time order (binary search per new row, Python data() per comparison).
            self.name = "console, but the proxies sort by time"
            for proxy in (self.blotter.proxy, self.fills_view.proxy):
                proxy.native_column = -2
        self.blotter.set_status_filter(StatusFilter.WORKING)
        self.blotter.table.sortByColumn(OrderBlotterModel.TIME, Qt.SortOrder.DescendingOrder)
        self.fills_view.table.sortByColumn(FillsModel.TIME, Qt.SortOrder.DescendingOrder)
        for view in (self.blotter, self.fills_view):
            view.resize(1400, 700)
            view.show()
        self.flush_times: list[float] = []
        for model in (self.orders, self.fills):
            self._time_flushes(model)

    def _time_flushes(self, model) -> None:
        flush = model.flush
        times = self.flush_times

        def timed_flush(limit=None):
            start = time.perf_counter()
            result = flush(limit)
            times.append(time.perf_counter() - start)
            return result

        model.flush = timed_flush  # the model's timer calls self.flush(limit)

    def process(self, kind: int, record) -> None:
        (self.orders if kind == ORDER else self.fills).upsert((record,))

    def settle(self) -> None:
        self.orders.flush()
        self.fills.flush()

    def row_counts(self) -> tuple[int, int]:
        return self.orders.rowCount(), self.fills.rowCount()

    def close(self) -> None:
        for view in (self.blotter, self.fills_view):
            view.close()
            view.deleteLater()


def order_texts(o: OrderRecord) -> list[str]:
    model = OrderBlotterModel
    return [c.fmt(c.value(o)) for c in model.columns]


def fill_texts(f: FillRecord) -> list[str]:
    return [c.fmt(c.value(f)) for c in FillsModel.columns]


class VnpyMonitor(QTableWidget):
    """vn.py 4.3 BaseMonitor, reduced to what an event costs: the cells dict keyed by the data
    key, insertRow(0) for new data, setText per cell for updates, sorting off/on per event."""

    def __init__(self, headers: list[str], keyed: bool) -> None:
        super().__init__()
        self.keyed = keyed
        self.cells: dict[object, list[QTableWidgetItem]] = {}
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setSortingEnabled(True)
        self.sortItems(0, Qt.SortOrder.DescendingOrder)  # time, newest first

    def process_event(self, key, texts: list[str]) -> None:
        self.setSortingEnabled(False)
        if not self.keyed or key not in self.cells:
            self.insertRow(0)
            row = []
            for column, text in enumerate(texts):
                cell = QTableWidgetItem(text)
                self.setItem(0, column, cell)
                row.append(cell)
            if self.keyed:
                self.cells[key] = row
        else:
            for cell, text in zip(self.cells[key], texts, strict=True):
                cell.setText(text)
        self.setSortingEnabled(True)


class VnpyConsole:
    name = "baseline (vn.py-style QTableWidget)"

    def __init__(self) -> None:
        self.orders = VnpyMonitor([c.title for c in OrderBlotterModel.columns], keyed=True)
        self.fills = VnpyMonitor([c.title for c in FillsModel.columns], keyed=False)
        for view in (self.orders, self.fills):
            view.resize(1400, 700)
            view.show()
        self.flush_times: list[float] = []

    def process(self, kind: int, record) -> None:
        if kind == ORDER:
            self.orders.process_event(record.id, order_texts(record))
        else:
            self.fills.process_event(None, fill_texts(record))

    def settle(self) -> None:
        pass

    def row_counts(self) -> tuple[int, int]:
        return self.orders.rowCount(), self.fills.rowCount()

    def close(self) -> None:
        for view in (self.orders, self.fills):
            view.close()
            view.deleteLater()


# ----------------------------------------------------------------------------------------------
# The harness


@dataclass
class RunResult:
    name: str
    events_done: int = 0
    finished: bool = False
    total: float = 0.0
    max_gap: float = 0.0  # wall time: what the user feels
    max_gap_cpu: float = 0.0  # the GUI thread's own CPU time within that gap
    max_cpu_gap: float = 0.0  # the largest GUI-thread CPU time between two heartbeats
    max_chunk: float = 0.0
    #: heartbeat gaps (wall) over one 60 Hz frame, gaps whose GUI-thread CPU was over one frame,
    #: and all gaps: how often a stall happens, not only the longest
    frames_over: int = 0
    frames_over_cpu: int = 0
    gaps: int = 0
    #: the gaps around the harness's forced flushes at the measuring windows' edges (left out above)
    forced_gaps: list[tuple[float, float]] = field(default_factory=list)
    #: (events done, wall time since start) at every chunk start, for prefix comparisons.
    marks: list[tuple[int, float]] = field(default_factory=list)
    windows: dict[str, tuple[float, int, float]] = field(default_factory=dict)  # name -> (cost/event, events, mean rows)
    max_flush: float = 0.0
    flushes: int = 0
    gc_pauses: list[tuple[int, float]] = field(default_factory=list)  # (generation, seconds)

    def time_at(self, events: int) -> float | None:
        for done, t in self.marks:
            if done >= events:
                return t
        return None


def windows_for(events, n_orders: int) -> dict[str, tuple[int, int]]:
    """Event index ranges of the two measuring windows (by order inserts). ``events``: any
    iterable of the stream (a fresh ``iter_stream`` keeps memory flat)."""
    insert_at: list[int] = []
    total = 0
    for index, (kind, record) in enumerate(events):
        total = index + 1
        if kind == ORDER and record.status is OrderState.SUBMITTED:
            insert_at.append(index)
    small_lo, small_hi = min(250, n_orders // 4), min(750, n_orders // 2)
    big_lo = max(small_hi, n_orders - 500)
    return {
        "small": (insert_at[small_lo], insert_at[small_hi]),
        "large": (insert_at[big_lo], total),
    }


def run_stream(console, events, windows: dict[str, tuple[int, int]], *, budget: float | None = None,
               chunk: int = CHUNK, total: int | None = None) -> RunResult:
    """Feed ``events`` (a list or a lazy iterator of ``total`` events) in chunks, one chunk per
    event-loop turn, and measure."""
    app = QApplication.instance()
    result = RunResult(console.name)
    loop = QEventLoop()
    beats: list[float] = []
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(1)
    heartbeat.timeout.connect(lambda: beats.append((time.perf_counter(), time.thread_time())))
    edges = {}
    for name, (lo, hi) in windows.items():
        edges.setdefault(lo, []).append((name, "start"))
        edges.setdefault(hi, []).append((name, "end"))
    window_start: dict[str, tuple[float, tuple[int, int]]] = {}
    position = 0
    n = len(events) if total is None else total
    source = iter(events)
    process = console.process
    start = time.perf_counter()

    forced: list[tuple[float, float]] = []  # when the harness flushed everything at an edge

    def at_edge(index: int) -> None:
        for name, which in edges.get(index, ()):
            settling = time.perf_counter()
            console.settle()
            app.processEvents()
            now = time.perf_counter()
            forced.append((settling, now))
            if which == "start":
                window_start[name] = (now, console.row_counts())
            else:
                begun, rows_before = window_start.pop(name)
                lo, hi = windows[name]
                rows_after = console.row_counts()
                result.windows[name] = ((now - begun) / (hi - lo), hi - lo, (rows_before[0] + rows_after[0]) / 2)

    def step() -> None:
        nonlocal position
        chunk_start = time.perf_counter()
        result.marks.append((position, chunk_start - start))
        end = min(n, position + chunk)
        for index in range(position, end):
            if index in edges:
                at_edge(index)
            kind, record = next(source)
            process(kind, record)
        position = end
        result.max_chunk = max(result.max_chunk, time.perf_counter() - chunk_start)
        if position >= n:
            at_edge(n)
            result.finished = True
            loop.quit()
        elif budget is not None and time.perf_counter() - start > budget:
            loop.quit()
        else:
            QTimer.singleShot(0, step)

    gc_started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            result.gc_pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

    gc.collect()
    gc.callbacks.append(on_gc)
    heartbeat.start()
    QTimer.singleShot(0, step)
    loop.exec()
    console.settle()
    app.processEvents()
    result.total = time.perf_counter() - start
    heartbeat.stop()
    gc.callbacks.remove(on_gc)
    result.events_done = position
    result.marks.append((position, result.total))
    # The windows' edges flush the whole buffer at once (so that each window pays for its own
    # work): the harness's doing, not the console's; the gaps around them are reported apart.
    all_gaps = [(a[0], b[0], b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(beats)]
    gaps = [(wall, cpu) for began, ended, wall, cpu in all_gaps
            if not any(began < f_end and f_start < ended for f_start, f_end in forced)]
    result.forced_gaps = [(wall, cpu) for began, ended, wall, cpu in all_gaps
                          if any(began < f_end and f_start < ended for f_start, f_end in forced)]
    result.max_gap, result.max_gap_cpu = max(gaps, default=(result.total, result.total))
    result.max_cpu_gap = max((cpu for _, cpu in gaps), default=result.total)
    frame = GOAL_STALL_MS / 1000
    result.frames_over = sum(1 for wall, _ in gaps if wall > frame)
    result.frames_over_cpu = sum(1 for _, cpu in gaps if cpu > frame)
    result.gaps = len(gaps)
    result.max_flush = max(console.flush_times, default=0.0)
    result.flushes = len(console.flush_times)
    return result


def check_ours(console: OurConsole, events) -> tuple[bool, str]:
    """Visible blotter rows against the model, and the fills view against its model."""
    console.settle()
    proxy = console.blotter.proxy
    visible = proxy.visible_records()
    expected, fills_expected = expected_after(events)
    problems = []
    if visible != expected:
        problems.append(f"blotter shows {len(visible)} rows, expected {len(expected)} working newest first")
    if console.fills.rowCount() != fills_expected or console.fills_view.proxy.rowCount() != fills_expected:
        problems.append(f"fills {console.fills.rowCount()} / view {console.fills_view.proxy.rowCount()}, "
                        f"expected {fills_expected}")
    times = [console.fills_view.proxy.index(r, FillsModel.TIME).data() for r in range(min(50, fills_expected))]
    if times != sorted(times, reverse=True):
        problems.append("fills view not newest first")
    return not problems, "; ".join(problems) or f"{len(visible)} working orders, {fills_expected} fills"


# ----------------------------------------------------------------------------------------------


def _gc_text(result: RunResult) -> str:
    full = [t for g, t in result.gc_pauses if g == 2]
    longest = max((t for _, t in result.gc_pauses), default=0.0)
    return f"{len(result.gc_pauses)} passes, {len(full)} full, longest {_ms(longest)} (inside the stall figures)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench blotter_stream", description=" ".join((__doc__ or "").strip().split("\n\n")[0].split()))
    parser.add_argument("--quick", action="store_true", help="1,000 orders and a 20 s baseline budget")
    parser.add_argument("--orders", type=int, default=None, help="orders streamed (default 10,000; 1,000 with --quick)")
    parser.add_argument("--baseline-budget", type=float, default=None,
                        help="seconds (default 120; 20 with --quick; 0: no limit, about half an hour)")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the QTableWidget baseline")
    parser.add_argument("--skip-proxy-sort", action="store_true",
                        help="skip the variant whose proxies sort by time (the design not taken)")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    n_orders = args.orders or (1000 if args.quick else 10_000)
    budget = args.baseline_budget if args.baseline_budget is not None else (20.0 if args.quick else 120.0)
    budget = budget or None

    def quiet(mode, context, message: str) -> None:
        # The offscreen platform warns on every top-level show; nothing to act on.
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(quiet)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.gc_guard import MainThreadGarbageCollector

    collector = MainThreadGarbageCollector(app)  # the application's collector, as in app/main.py
    from app.gil_turns import prefer_gui_thread

    restore_switch_interval = prefer_gui_thread()  # the application's GIL switch interval, as in app/main.py
    try:
        return _run(args, app, n_orders, budget)
    finally:
        restore_switch_interval()
        collector.stop()


def _run(args: argparse.Namespace, app: QApplication, n_orders: int, budget: float | None) -> int:
    windows = windows_for(iter_stream(n_orders), n_orders)
    n_events = stream_length(n_orders)
    n_fills = 5 * n_orders
    print(f"stream: {n_orders:,} orders x (insert + 3 status updates) + {n_fills:,} fills = {n_events:,} events; "
          f"chunks of {CHUNK}; blotter sorted newest first, filtered to working", flush=True)

    ours_console = OurConsole()
    ours = run_stream(ours_console, iter_stream(n_orders), windows, total=n_events)
    correct, detail = check_ours(ours_console, iter_stream(n_orders))
    ours_console.close()
    app.processEvents()
    print(f"\n{ours.name}:")
    print(f"  total {ours.total:.2f} s for {ours.events_done:,} events ({_us(ours.total / ours.events_done)} per event)")
    for key in ("small", "large"):
        cost, count, rows = ours.windows[key]
        print(f"  per event at ~{rows:,.0f} order rows: {_us(cost)} (window of {count:,} events)")
    print(f"  longest GUI stall {_ms(ours.max_gap)} wall ({_ms(ours.max_gap_cpu)} of it GUI-thread CPU; "
          f"largest CPU between heartbeats {_ms(ours.max_cpu_gap)})")
    print(f"  gaps over {GOAL_STALL_MS:.0f} ms: {ours.frames_over} of {ours.gaps:,} by the wall clock, "
          f"{ours.frames_over_cpu} by GUI-thread CPU")
    if ours.forced_gaps:
        print(f"  left out: {len(ours.forced_gaps)} gaps around the harness's {len(windows) * 2} forced flushes at the "
              f"measuring windows' edges (longest {_ms(max(w for w, _ in ours.forced_gaps))} wall, "
              f"{_ms(max(c for _, c in ours.forced_gaps))} CPU)")
    print(f"  longest flush {_ms(ours.max_flush)} over {ours.flushes} flushes; "
          f"longest chunk {_ms(ours.max_chunk)}")
    print(f"  Python collector: {_gc_text(ours)}")
    print(f"  visible rows check: {'OK' if correct else 'WRONG'} ({detail})")

    if not args.skip_proxy_sort:
        variant_console = OurConsole(proxy_sorts_time=True)
        variant = run_stream(variant_console, iter_stream(n_orders), windows, total=n_events)
        variant_ok, _ = check_ours(variant_console, iter_stream(n_orders))
        variant_console.close()
        app.processEvents()
        print(f"\n{variant.name} (for comparison, not a goal):")
        print(f"  total {variant.total:.2f} s; per event at ~{variant.windows['small'][2]:,.0f} / "
              f"~{variant.windows['large'][2]:,.0f} order rows: {_us(variant.windows['small'][0])} / "
              f"{_us(variant.windows['large'][0])}; longest stall {_ms(variant.max_gap)}; "
              f"longest flush {_ms(variant.max_flush)}; rows {'OK' if variant_ok else 'WRONG'}")

    base = None
    if not args.skip_baseline:
        base_console = VnpyConsole()
        base = run_stream(base_console, iter_stream(n_orders), windows, budget=budget, total=n_events)
        base_console.close()
        app.processEvents()
        print(f"\n{base.name}:")
        state = "all" if base.finished else f"stopped by the {budget or 0:.0f} s budget after"
        print(f"  total {base.total:.2f} s, {state} {base.events_done:,} events "
              f"({_us(base.total / max(1, base.events_done))} per event)")
        for key in ("small", "large"):
            if key in base.windows:
                cost, count, rows = base.windows[key]
                print(f"  per event at ~{rows:,.0f} order rows: {_us(cost)}")
            else:
                print(f"  per event at ~{ours.windows[key][2]:,.0f} order rows: not reached")
        print(f"  longest GUI stall {_ms(base.max_gap)}; longest chunk of {CHUNK} events {_ms(base.max_chunk)}")
        print(f"  Python collector: {_gc_text(base)}")

    print("\nresults:")
    ok = True
    if base is not None:
        prefix = base.events_done
        ours_prefix = ours.time_at(prefix) if prefix < ours.events_done else ours.total
        same_prefix = base.total / ours_prefix if ours_prefix else float("inf")
        if base.finished:
            speedup = base.total / ours.total
            print(f"  speed-up over the whole stream: {speedup:.1f}x (goal >= {GOAL_SPEEDUP:.0f}x): "
                  f"{'met' if speedup >= GOAL_SPEEDUP else 'NOT met'}")
            met = speedup >= GOAL_SPEEDUP
        else:
            lower = base.total / ours.total
            print(f"  speed-up over the same first {prefix:,} events: {same_prefix:.1f}x")
            print(f"  speed-up over the whole stream: >= {lower:.1f}x (baseline stopped; its full time is larger) "
                  f"(goal >= {GOAL_SPEEDUP:.0f}x): {'met' if lower >= GOAL_SPEEDUP else 'NOT shown'}")
            met = lower >= GOAL_SPEEDUP
        ok &= met
        if "large" in base.windows and "small" in base.windows:
            print(f"  baseline per-event growth, large / small table: "
                  f"{base.windows['large'][0] / base.windows['small'][0]:.1f}x")
    flat = ours.windows["large"][0] / ours.windows["small"][0]
    print(f"  per-event cost at ~{ours.windows['large'][2]:,.0f} rows / at ~{ours.windows['small'][2]:,.0f} rows: "
          f"{flat:.2f} (goal <= {GOAL_FLATNESS}): "
          f"{'met' if flat <= GOAL_FLATNESS else 'NOT met'}")
    stall_ok = ours.max_gap * 1000 <= GOAL_STALL_MS
    print(f"  longest stall {_ms(ours.max_gap)} wall (goal <= {GOAL_STALL_MS:.0f} ms): {'met' if stall_ok else 'NOT met'}"
          + ("" if stall_ok else f"; the GUI thread's own CPU in that gap was {_ms(ours.max_gap_cpu)}, the rest "
             f"was waiting for a core (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"))
    print(f"  sorting and filtering correct after the stream: {'yes' if correct else 'NO'}")
    ok &= flat <= GOAL_FLATNESS and stall_ok and correct
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
