"""A year of history: the blotter and fills paged from the database against loading everything.

    python3 dev.py bench history_scroll [--orders N] [--fills N] [--full] [--db-url URL]
                                        [--page-size N] [--variants paged,all]

The database is made by devtools/history_db.py (a temporary SQLite file; ``--db-url`` reuses
one that already holds the history, or fills an empty one). ``--full`` is the issue's size:
100,000 orders and 1,000,000 fills; the default is a tenth of the orders and a twentieth of the
fills so that it runs in a couple of minutes.

Each variant runs in its own process (so that its memory is its own), with the window's
BlotterView and FillsView shown offscreen (or on the platform QT_QPA_PLATFORM names, e.g. xcb
under Xvfb) on a qasync loop as in the application:
- ``paged``: the HistoryPager (app/controllers/history.py) reads the newest page of each;
  scrolling pages in older rows, a filter reads its first page from the whole history in SQL;
- ``all``: every order and fill read (services.console_queries with no limit) and the models
  reset with them; filters run in the proxies over every row, as the window did before.
Both read in a worker thread. Measured: the first paint (the window shown to the first page
of both tables painted; the interpreter's start and the imports before it are reported apart), the longest GUI stall (a 1 ms probe timer's longest gap) while both tables are
scrolled one screen per 16 ms frame (the two tables in turn) for ``--scroll-frames`` frames and while a search is
typed and cleared in each, the rows loaded, and the resident memory (now and peak).
Goal (issue 15): paged first paint under 2 s, no stall over 16 ms, resident memory under 600 MB.
Python's collector and the interpreter's switch interval are set as in the application
(app/gc_guard.py, app/gil_turns.py: the pages are read in a worker thread that competes with
the GUI thread for the GIL).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

STARTED = time.perf_counter()

GOAL_FIRST_PAINT_S = 2.0
GOAL_STALL_MS = 16.0
GOAL_RSS_MB = 600.0
FULL = (100_000, 1_000_000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dev.py bench history_scroll", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000, help="orders to generate (default 10,000)")
    parser.add_argument("--fills", type=int, default=50_000, help="fills to generate (default 50,000)")
    parser.add_argument("--full", action="store_true", help="100,000 orders and 1,000,000 fills")
    parser.add_argument("--db-url", help="a database with the history (or empty: it is generated)")
    parser.add_argument("--page-size", type=int, default=250, help="rows per page of the paged variant")
    parser.add_argument("--scroll-frames", type=int, default=120,
                        help="frames scrolled (one screen of one table per 16 ms frame)")
    parser.add_argument("--variants", default="paged,all", help="comma-separated: paged, all")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one variant, in this process
    return parser


def _rss_mb() -> tuple[float, float]:
    """(resident now, peak) in MB."""
    import resource

    with open("/proc/self/statm") as statm:
        now = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return now / 2**20, peak_kb / 1024


class StallProbe:
    """A 1 ms timer; the longest gap between its ticks is the longest the GUI thread stalled."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.last = self.last_cpu = 0.0
        self.longest = 0.0
        self.longest_cpu = 0.0  # the GUI thread's own CPU time in the longest gap (the rest: waiting)
        self.max_cpu = 0.0  # the most GUI-thread CPU between two ticks
        self.over = self.over_cpu = self.gaps = 0  # gaps over a frame (wall, CPU), all gaps

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self.last:
            wall, used = now - self.last, cpu - self.last_cpu
            if wall > self.longest:
                self.longest, self.longest_cpu = wall, used
            self.max_cpu = max(self.max_cpu, used)
            self.gaps += 1
            self.over += wall * 1000 > GOAL_STALL_MS
            self.over_cpu += used * 1000 > GOAL_STALL_MS
        self.last, self.last_cpu = now, cpu

    def start(self) -> None:
        self.last, self.longest, self.longest_cpu, self.max_cpu = 0.0, 0.0, 0.0, 0.0
        self.over = self.over_cpu = self.gaps = 0
        self.timer.start()

    def counts(self) -> str:
        return f"{self.over}/{self.over_cpu} of {self.gaps}"

    def stop(self) -> float:
        self.timer.stop()
        return self.longest


class _Runner:
    """The application's TaskRunner, reduced to what the pager needs: run, keep a reference."""

    def __init__(self) -> None:
        self.tasks: set = set()
        self.errors: list[BaseException] = []

    def run(self, coro, *, what: str):
        import asyncio

        task = asyncio.ensure_future(coro)
        self.tasks.add(task)

        def done(t) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.errors.append(t.exception())

        task.add_done_callback(done)
        return task


def run_variant(variant: str, url: str, page_size: int, scroll_frames: int) -> dict:
    import asyncio

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication, QSplitter

    from services.db.session import Database
    from widgets.models.fills import FillsModel
    from widgets.models.orders import OrderBlotterModel
    from widgets.views.blotter import BlotterView
    from widgets.views.fills import FillsView

    result: dict = {"variant": variant}
    app = QApplication.instance() or QApplication([])
    from app.gc_guard import MainThreadGarbageCollector

    MainThreadGarbageCollector(app)  # the application's collector, as in app/main.py
    from app.gil_turns import background_executor, prefer_gui_thread

    prefer_gui_thread()  # the application's GIL switch interval, as in app/main.py
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loop.set_default_executor(background_executor())  # the database threads below the GUI thread, as in app/main.py
    db = Database(url)
    blotter = BlotterView(OrderBlotterModel())
    fills = FillsView(FillsModel())
    window = QSplitter()
    window.addWidget(blotter)
    window.addWidget(fills)
    window.resize(1400, 900)
    window.show()
    shown = time.perf_counter()
    result["startup_s"] = shown - STARTED  # the interpreter, the imports, the widgets
    runner = _Runner()

    async def wait(predicate, timeout: float, what: str) -> None:
        deadline = time.perf_counter() + timeout
        while not predicate():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{variant}: timed out waiting for {what}")
            await asyncio.sleep(0.002)

    async def frames(count: int, step) -> None:
        for _ in range(count):
            step()
            await asyncio.sleep(1 / 60)

    async def scenario() -> None:
        if variant == "paged":
            from app.controllers.history import HistoryPager

            pager = HistoryPager(db, blotter, fills, runner, page_size=page_size)
            await pager.load()
        else:
            from services import console_queries

            orders, all_fills = await asyncio.gather(
                asyncio.to_thread(console_queries.recent_orders, db, 10**12),
                asyncio.to_thread(console_queries.recent_fills, db, 10**12))
            blotter.model.reset(orders)
            fills.model.reset(all_fills)
            del orders, all_fills
        blotter.table.viewport().repaint()
        fills.table.viewport().repaint()
        result["first_paint_s"] = time.perf_counter() - shown
        await asyncio.sleep(0.05)
        probe = StallProbe()

        turn = iter(range(10**9))

        def scroll() -> None:
            # one table per frame, a screen at a time, the other table the next frame
            table = (blotter.table, fills.table)[next(turn) % 2]
            bar = table.verticalScrollBar()
            bar.setValue(bar.value() + bar.pageStep())

        probe.start()
        await frames(scroll_frames, scroll)
        await wait(lambda: not runner.tasks, 120, "the pages in flight")
        result["scroll_stall_ms"] = probe.stop() * 1000
        result["scroll_stall_cpu_ms"] = probe.longest_cpu * 1000
        result["scroll_max_cpu_ms"] = probe.max_cpu * 1000
        result["scroll_over"] = probe.counts()
        result["orders_loaded_after_scroll"] = blotter.model.rowCount()
        result["fills_loaded_after_scroll"] = fills.model.rowCount()
        probe.start()
        for edit, text in ((blotter.search_edit, "msft"), (fills.search_edit, "nvda")):
            for typed in range(1, len(text) + 1):
                edit.setText(text[:typed])
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.4)  # the debounced reads land
        await wait(lambda: not runner.tasks, 120, "the filtered pages")
        result["filtered_orders_shown"] = blotter.proxy.rowCount()
        result["filtered_fills_shown"] = fills.proxy.rowCount()
        for edit in (blotter.search_edit, fills.search_edit):
            edit.clear()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.4)
        await wait(lambda: not runner.tasks, 120, "the unfiltered pages")
        result["filter_stall_ms"] = probe.stop() * 1000
        result["filter_stall_cpu_ms"] = probe.longest_cpu * 1000
        result["filter_max_cpu_ms"] = probe.max_cpu * 1000
        result["filter_over"] = probe.counts()
        result["rss_mb"], result["peak_rss_mb"] = _rss_mb()

    with loop:
        loop.run_until_complete(scenario())
    if runner.errors:
        raise runner.errors[0]
    window.close()
    db.engine.dispose()
    return result


def _prepare(url: str | None, orders: int, fills: int, folder: str) -> str:
    from sqlalchemy import func, select

    from devtools.history_db import generate
    from services.db import migrate
    from services.db.models import TradeOrder
    from services.db.session import Database

    url = url or f"sqlite:///{folder}/history.sqlite3"
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as session:
        held = session.scalar(select(func.count()).select_from(TradeOrder)) or 0
    db.engine.dispose()
    if held:
        print(f"  using the {held} orders already in the database")
    else:
        started = time.perf_counter()
        generate(url, orders, fills)
        print(f"  generated {orders} orders and {fills} fills in {time.perf_counter() - started:.1f} s")
    return url


def _child(variant: str, url: str, args) -> dict:
    command = [sys.executable, "-m", "benchmarks.history_scroll", "--child", variant, "--db-url", url,
               "--page-size", str(args.page_size), "--scroll-frames", str(args.scroll_frames)]
    done = subprocess.run(command, check=False, capture_output=True, text=True,
                          env={**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the {variant} variant failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(run_variant(args.child, args.db_url, args.page_size, args.scroll_frames)), flush=True)
        return 0
    orders, fills = FULL if args.full else (args.orders, args.fills)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in ("paged", "all")]
    if unknown or not variants:
        print(f"unknown variant(s) {unknown}; choose from paged, all", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        url = _prepare(args.db_url, orders, fills, folder)
        results = {v: _child(v, url, args) for v in variants}
    for variant, r in results.items():
        print(f"  {variant}: first paint {r['first_paint_s']:.2f} s (after {r['startup_s']:.2f} s of start-up); longest stall scrolling "
              f"{r['scroll_stall_ms']:.1f} ms ({r['scroll_stall_cpu_ms']:.1f} ms GUI-thread CPU), filtering "
              f"{r['filter_stall_ms']:.1f} ms ({r['filter_stall_cpu_ms']:.1f} ms CPU); the most GUI-thread CPU between "
              f"two probe ticks {r['scroll_max_cpu_ms']:.1f} ms scrolling, {r['filter_max_cpu_ms']:.1f} ms filtering; "
              f"gaps over {GOAL_STALL_MS:.0f} ms (wall/CPU) scrolling {r['scroll_over']}, filtering {r['filter_over']}; "
              f"loaded after scrolling "
              f"{r['orders_loaded_after_scroll']} orders, {r['fills_loaded_after_scroll']} fills; filter 'msft' shows "
              f"{r['filtered_orders_shown']} orders, 'nvda' {r['filtered_fills_shown']} fills; "
              f"RSS {r['rss_mb']:.0f} MB (peak {r['peak_rss_mb']:.0f} MB)")
    ok = True
    if "paged" in results:
        r = results["paged"]
        stall = max(r["scroll_stall_ms"], r["filter_stall_ms"])
        checks = (("first paint", r["first_paint_s"] < GOAL_FIRST_PAINT_S, f"{r['first_paint_s']:.2f} s < 2 s"),
                  ("longest stall", stall <= GOAL_STALL_MS, f"{stall:.1f} ms <= 16 ms"),
                  ("resident memory", r["peak_rss_mb"] < GOAL_RSS_MB, f"peak {r['peak_rss_mb']:.0f} MB < 600 MB"))
        for name, met, text in checks:
            print(f"  paged {name}: {text}: {'met' if met else 'NOT met'}")
            ok &= met
        if "all" in results:
            a = results["all"]
            print(f"  load-all / paged: first paint x{a['first_paint_s'] / r['first_paint_s']:.1f}, "
                  f"peak RSS x{a['peak_rss_mb'] / r['peak_rss_mb']:.1f}, longest stall "
                  f"x{max(a['scroll_stall_ms'], a['filter_stall_ms']) / max(stall, 0.001):.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
