"""Soak test: the console's engine against the simulator over a real loopback socket for N
minutes, with every fault at once, then the database compared with the simulator's ledger.

    python3 dev.py soak [--minutes N | --seconds S] [--mysql] [--drop-every S] [--seed N] [--json]

The stack is built by the composition root (``app.composition.build_stack``, as the headless
commands and the window do) in paper mode on a temporary SQLite file, or with ``--mysql`` on a
private MariaDB server started for the soak (``devtools.mariadb``). The simulator runs in a child
process, so the memory figures are the console's own.

Load, concurrently until the time is up:
* runs: a snapshot of 8 symbols bought (1 % each), then sold back to zero, run after run; a run
  that fails half-way (dropped connection, database down) is executed again, which must resume it
  without sending anything twice;
* manual orders: market orders, resting limit orders then cancelled, modified, or replaced
  across the market so that they fill;
* faults: partial fills everywhere, execution corrections, late commissions and duplicate
  statuses on some symbols; every ``--drop-every`` seconds (default 60) the simulator drops the
  connection; half-way the database restarts (``--mysql``: kill -9 and start of the private
  server; SQLite: the engine's connection pool is closed, the file cannot go away).

Goals (exit 1 if one fails): zero lost or duplicated fills (current fills == the simulator's
executions, superseded revisions == the rest of its ledger), zero orders sent twice (the
simulator saw each orderRef once), every order's filled quantity equal to the simulator's, no
unexpected error, memory (RSS after warm-up vs at the end of the load, each read once the C
allocator gave its free memory back; the figures as read are shown too) growing less than 10 %.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import hashlib
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

log = logging.getLogger("soak")

RUN_SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "KO")
MANUAL_SYMBOLS = ("IBM", "PEP", "INTC", "CSCO", "XOM", "PG")
FAULT_RULES = (
    {"symbols": ["MSFT", "IBM"], "exec_correction": True},
    {"symbols": ["NVDA", "PEP"], "late_commission": True},
    {"symbols": ["AMZN", "INTC"], "duplicate_status": True},
)
PORTFOLIO_VALUE = Decimal(1_000_000)
MEMORY_GROWTH_LIMIT = 0.10
DB_OUTAGE_SECONDS = 2.0  # how long the MariaDB server stays down (fills arrive meanwhile)
ERROR_GRACE = 10.0  # database errors up to this long after the restart are expected
WARMUP_SECONDS, WARMUP_FRACTION = 10.0, 0.2  # memory reference: after max(10 s, 20 %) of the load (at most half)


@dataclass
class SoakOptions:
    seconds: float = 60.0
    mysql: bool = False
    drop_every: float = 60.0
    seed: int = 1
    workdir: Path | None = None  # default: a temporary folder, removed afterwards


@dataclass
class SoakReport:
    seconds: float = 0.0
    database: str = ""
    runs: int = 0
    runs_resumed: int = 0
    manual_orders: int = 0
    cancels: int = 0
    replaces: int = 0
    drops: int = 0
    db_restarts: int = 0
    orders_at_broker: int = 0
    fills: int = 0
    rss_start: int = 0
    rss_end: int = 0
    rss_before_load: int = 0
    rss_start_raw: int = 0  # the same two figures read without giving free memory back (shown, not judged)
    rss_end_raw: int = 0
    rss_after_checks: int = 0  # after the settle and the comparison (they load the whole day: shown, not judged)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the load, bytes)
    expected_errors: Counter = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def memory_growth(self) -> float:
        return (self.rss_end - self.rss_start) / self.rss_start if self.rss_start else 0.0

    def lines(self) -> list[str]:
        per = max(self.seconds, 1e-9)
        out = [
            f"soak: {self.seconds:.0f} s on {self.database}",
            (f"  load: {self.runs} runs ({self.runs_resumed} resumed after a failure), {self.manual_orders} manual orders, "
             f"{self.cancels} cancels, {self.replaces} replaces"),
            f"  faults: {self.drops} dropped connections, {self.db_restarts} database restarts",
            (f"  throughput: {self.orders_at_broker} orders ({self.orders_at_broker / per:.2f}/s), "
             f"{self.fills} fills ({self.fills / per:.2f}/s)"),
            (f"  memory (RSS): {self.rss_before_load / 2**20:.1f} MiB at the start, {self.rss_start / 2**20:.1f} MiB after "
            f"the warm-up under load, {self.rss_end / 2**20:.1f} MiB at the end ({self.memory_growth:+.1%} since the "
            f"warm-up, goal < {MEMORY_GROWTH_LIMIT:.0%}); as read before the allocator gave its free memory back: "
            f"{self.rss_start_raw / 2**20:.1f} -> {self.rss_end_raw / 2**20:.1f} MiB "
            f"({(self.rss_end_raw - self.rss_start_raw) / max(self.rss_start_raw, 1):+.1%}); "
            f"{self.rss_after_checks / 2**20:.1f} MiB after the final checks"),
            "  RSS samples (s: MiB): " + ", ".join(f"{t:.0f}: {b / 2**20:.0f}" for t, b in self.rss_samples),
        ]
        if self.expected_errors:
            out.append("  refused while a fault was active (expected):")
            out += [f"    {k} x{n} (e.g. {self.error_examples.get(k, '')})" for k, n in sorted(self.expected_errors.items())]
        out += [f"  FAILED: {f}" for f in self.failures] or [("  all goals met: no fill lost or duplicated, "
                                                                "no order sent twice, memory within bounds")]
        return out

    def to_json(self) -> dict:
        return {"seconds": round(self.seconds, 1), "database": self.database, "runs": self.runs, "runs_resumed": self.runs_resumed,
                "manual_orders": self.manual_orders, "cancels": self.cancels, "replaces": self.replaces, "drops": self.drops,
                "db_restarts": self.db_restarts, "orders": self.orders_at_broker, "fills": self.fills,
                "orders_per_second": round(self.orders_at_broker / max(self.seconds, 1e-9), 3),
                "fills_per_second": round(self.fills / max(self.seconds, 1e-9), 3),
                "rss_before_load": self.rss_before_load, "rss_start": self.rss_start, "rss_end": self.rss_end,
                "rss_start_raw": self.rss_start_raw, "rss_end_raw": self.rss_end_raw, "rss_after_checks": self.rss_after_checks,
                "rss_samples": self.rss_samples, "memory_growth": round(self.memory_growth, 4),
                "expected_errors": dict(self.expected_errors), "error_examples": self.error_examples, "failures": self.failures, "ok": self.ok}


def release_free_memory() -> bool:
    """Give the C allocator's free memory back to the system (glibc's malloc_trim), so that RSS
    counts what the process holds. glibc keeps what a peak freed (here each reconnect's
    reconciliation of the day's orders, in the loop's and the worker threads' arenas) for reuse,
    and the RSS read as is rose with every peak though nothing stayed allocated."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):  # not glibc
        return False


def rss_bytes(*, trim: bool = True) -> int:
    """Resident set size of this process now (Linux: /proc; elsewhere the peak from getrusage),
    after a garbage collection and, with ``trim``, once the allocator gave back its free memory."""
    gc.collect()
    if trim:
        release_free_memory()
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class Soak:
    def __init__(self, stack, sim, server, options: SoakOptions, report: SoakReport) -> None:
        self.stack = stack
        self.sim = sim
        self.server = server
        self.options = options
        self.report = report
        self.rng = random.Random(options.seed)
        self.t0 = time.monotonic()
        self.outage: tuple[float, float] | None = None  # (start, end) of the database restart
        self.unexpected: list[str] = []
        self.broken: str | None = None  # set when the console cannot go on (no reconnect): the soak stops
        self.connection_log: list[str] = []
        stack.engine.subscribe_connection(self._on_connection)

    def _on_connection(self, event) -> None:
        self.connection_log.append(f"{time.monotonic() - self.t0:.1f}s {event.state}: {event.detail}")
        del self.connection_log[:-12]

    # ------------------------------------------------------------------ errors
    def _expected(self, what: str, exc: BaseException) -> bool:
        from sqlalchemy.exc import DBAPIError

        from services.execution.errors import ExecutionError
        from services.urls import redact_text

        if isinstance(exc, ExecutionError):
            key = f"{what}: {type(exc).__name__}"
            self.report.expected_errors[key] += 1
            self.report.error_examples.setdefault(key, str(exc)[:160])
            return True
        if isinstance(exc, (ConnectionError, TimeoutError)) and not self.stack.provider.is_connected:
            # The client library's own exception leaked through the broker adapter while the
            # connection was down: the caller should have had NotConnected. Reported, not fatal.
            key = f"{what}: {type(exc).__name__} leaked untranslated (should be NotConnected)"
            self.report.expected_errors[key] += 1
            self.report.error_examples.setdefault(key, str(exc)[:160])
            return True
        if isinstance(exc, DBAPIError) and self.outage is not None:
            start, end = self.outage
            if start <= time.monotonic() <= (end or float("inf")) + ERROR_GRACE:
                key = f"{what}: database down"
                self.report.expected_errors[key] += 1
                # its first line, the password hidden: the report's "(e.g. )" was empty here
                self.report.error_examples.setdefault(key, redact_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:160])
                return True
        return False

    async def guarded(self, what: str, action):
        """Run ``action()``; a refusal caused by a fault is counted, anything else is a failure."""
        try:
            return await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # classified below, never swallowed silently
            if not self._expected(what, exc):
                self.unexpected.append(f"{what}: {type(exc).__name__}: {exc}")
                log.exception("unexpected error in %s", what)
            await self.until_connected()
            return None

    async def until_connected(self, timeout: float = 60.0) -> bool:
        """Wait for the console's automatic reconnect; if it does not come, the soak stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.stack.provider.is_connected:
            if self.broken:
                return False
            if loop.time() > deadline:
                self.broken = (f"the console did not reconnect to the simulator within {timeout:.0f} s; connection "
                               f"events: {' | '.join(self.connection_log)}")
                return False
            await asyncio.sleep(0.05)  # poll interval of a deadline-bounded wait
        return True

    def running(self, end: float) -> bool:
        return time.monotonic() < end and not self.broken

    # ------------------------------------------------------------------ load
    def _snapshot(self, cycle: int, weight: str) -> int:
        from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository

        with self.stack.db.unit_of_work() as session:
            project = ProjectRepository(session).get_or_create("soak")
            items = [SnapshotItemInput(s, Decimal(weight)) for s in RUN_SYMBOLS]
            digest = hashlib.sha256(f"soak:{self.options.seed}:{cycle}:{weight}".encode()).hexdigest()
            return SnapshotRepository(session).create_with_items(project.id, f"soak-{cycle}.csv", digest, items).id

    async def one_run(self, cycle: int, end: float | None = None) -> None:
        from services.domain import TradeMode

        weight = "0.01" if cycle % 2 == 0 else "0"  # buy, then sell back to zero
        snapshot_id = await self.guarded("store snapshot", lambda: asyncio.to_thread(self._snapshot, cycle, weight))
        if snapshot_id is None:
            return
        run = await self.guarded("create run", lambda: self.stack.trade.create_run("soak", snapshot_id, TradeMode.PAPER, {}, new_run=True))
        if run is None:
            return
        # A failed attempt is resumed after a pause that grows (0.5 s .. 5 s, within 60 s): a
        # database restart leaves the run's lease behind (it expires in 30 s), so attempts in
        # quick succession would all find the run busy.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 60.0
        for attempt in range(30):
            if self.broken:
                return
            result = await self.guarded("execute run", lambda: self.stack.trade.execute(run.id, portfolio_value=PORTFOLIO_VALUE))
            if result is not None:
                break
            self.report.runs_resumed += attempt == 0
            if loop.time() > give_up:
                self.unexpected.append(f"run {run.id} could not be executed in {attempt + 1} attempts within 60 s")
                return
            await asyncio.sleep(min(0.5 * 2**attempt, 5.0))  # the retry schedule, not a synchronisation
        else:
            self.unexpected.append(f"run {run.id} could not be executed in 30 attempts")
            return
        self.report.runs += 1
        # Bounded by the end of the soak: what still works then is cancelled by the settle phase.
        patience = 30.0 if end is None else min(30.0, max(5.0, end - time.monotonic()))
        await self.guarded("wait for run", lambda: self.stack.trade.wait_done(run.id, patience))

    async def runs_worker(self, end: float) -> None:
        cycle = 0
        while self.running(end):
            await self.one_run(cycle, end)
            cycle += 1

    async def _price(self, symbol: str) -> Decimal:
        return Decimal(str(await self.sim.call("price", symbol)))

    async def manual_cycle(self) -> None:
        from services.domain import OrderType, Side

        actions = self.stack.actions
        symbol = self.rng.choice(MANUAL_SYMBOLS)
        quantity = Decimal(self.rng.randint(3, 30))
        kind = self.rng.choice(("market", "cancel", "modify", "cross"))
        # Sell only what is held: the risk engine refuses short sales.
        held = Decimal(str((await self.sim.call("positions")).get(symbol, 0)))
        side = Side.SELL if held >= quantity + 5 and self.rng.random() < 0.5 else Side.BUY
        if kind == "market":
            if await self.guarded("manual order", lambda: actions.manual_order(symbol, side, quantity, project="soak-manual")):
                self.report.manual_orders += 1
            return
        price = await self._price(symbol)
        away = Decimal("0.98") if side is Side.BUY else Decimal("1.02")  # rests, inside the 3 % price collar
        limit = (price * away).quantize(Decimal("0.01"))
        order = await self.guarded("manual order", lambda: actions.manual_order(symbol, side, quantity, OrderType.LMT, limit,
                                                                                project="soak-manual"))
        if order is None:
            return
        self.report.manual_orders += 1
        if kind == "modify":
            if await self.guarded("replace", lambda: actions.replace(order.id, quantity=quantity + 5)):
                self.report.replaces += 1
        elif kind == "cross":
            across = (price * (Decimal("1.01") if side is Side.BUY else Decimal("0.99"))).quantize(Decimal("0.01"))
            if await self.guarded("replace", lambda: actions.replace(order.id, limit_price=across)):
                self.report.replaces += 1
            return  # it fills
        status = await self.guarded("read order", lambda: asyncio.to_thread(self._status, order.id))
        if (status is not None and not status.is_terminal
                and await self.guarded("cancel", lambda: actions.cancel(order.id, wait=True))):
            self.report.cancels += 1

    def _status(self, order_id: int):
        from services.db.repositories import OrderRepository

        with self.stack.db.session() as session:
            return OrderRepository(session).get(order_id).status

    async def manual_worker(self, end: float) -> None:
        while self.running(end):
            await self.manual_cycle()

    async def faults_worker(self, start: float, end: float) -> None:
        next_drop = start + self.options.drop_every
        restart_at = start + (end - start) / 2
        restarted = False
        while True:
            now = time.monotonic()
            upcoming = min(next_drop, end) if restarted else min(next_drop, restart_at, end)
            if upcoming >= end or self.broken:
                return
            await asyncio.sleep(upcoming - now)  # the fault schedule itself, not a synchronisation
            if not restarted and time.monotonic() >= restart_at:
                restarted = True
                await self.restart_database()
            if time.monotonic() >= next_drop:
                await self.sim.call("drop_connections")
                self.report.drops += 1
                next_drop += self.options.drop_every

    async def memory_worker(self, start: float, end: float) -> None:
        """RSS samples through the load; the reference figure is taken once the warm-up under
        full load is over (caches, pools and the client library's books filled)."""
        seconds = end - start
        warmup = min(max(WARMUP_SECONDS, WARMUP_FRACTION * seconds), seconds / 2)
        interval = max(1.0, seconds / 30)
        while (now := time.monotonic()) < end and not self.broken:
            raw = rss_bytes(trim=False)
            rss = rss_bytes()
            self.report.rss_samples.append((round(now - start, 1), rss))
            if not self.report.rss_start and now - start >= warmup:
                self.report.rss_start, self.report.rss_start_raw = rss, raw
            await asyncio.sleep(min(interval, max(end - time.monotonic(), 0)))  # the sampling period

    async def restart_database(self) -> None:
        self.outage = (time.monotonic(), None)
        if self.server is not None:
            await asyncio.to_thread(self.server.kill)
            await asyncio.sleep(DB_OUTAGE_SECONDS)  # the outage lasts a while: fills arrive meanwhile
            await asyncio.to_thread(self.server.start)
        else:
            # SQLite: the file cannot go away; close every pooled connection instead.
            await asyncio.to_thread(self.stack.db.engine.dispose)
        self.outage = (self.outage[0], time.monotonic())
        self.report.db_restarts += 1

    # ------------------------------------------------------------------ the whole soak
    async def run(self) -> SoakReport:
        report = self.report
        self.t0 = time.monotonic()
        await self.one_run(0)  # warm-up: every code path once before the first memory figure
        await self.one_run(1)
        for _ in range(4):
            await self.manual_cycle()
        report.rss_before_load = rss_bytes()
        orders_before = len(await self.sim.call("orders"))
        fills_before = len(await self.sim.call("ledger"))
        start = time.monotonic()
        end = start + self.options.seconds
        await asyncio.gather(self.runs_worker(end), self.manual_worker(end), self.faults_worker(start, end),
                             self.memory_worker(start, end))
        # the end of the load is the figure: what follows (the simulator's books, the database
        # read back for the comparison) is the soak's own work, in the same process
        report.rss_end_raw = rss_bytes(trim=False)
        report.rss_end = rss_bytes()
        report.seconds = time.monotonic() - start
        report.orders_at_broker = len(await self.sim.call("orders")) - orders_before
        report.fills = len(await self.sim.call("ledger")) - fills_before
        if self.broken:
            report.failures.append(self.broken)
        else:
            await self.settle()
            await self.compare()
        report.rss_after_checks = rss_bytes()
        if report.memory_growth >= MEMORY_GROWTH_LIMIT:
            report.failures.append(f"memory grew {report.memory_growth:.1%} (goal < {MEMORY_GROWTH_LIMIT:.0%})")
        report.failures[:0] = [f"unexpected error: {u}" for u in self.unexpected]
        if report.fills == 0:
            report.failures.append("no fill during the soak: nothing was tested")
        return report

    async def settle(self, timeout: float = 60.0) -> None:
        """Cancel what still rests, then wait until the broker has nothing working."""
        if not await self.until_connected():
            self.report.failures.append(self.broken)
            return
        await self.guarded("final cancel all", lambda: self.stack.actions.cancel_all())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.sim.call("open_orders"):
            if loop.time() > deadline:
                self.report.failures.append(f"orders still open at the simulator after {timeout:.0f} s: "
                                            f"{(await self.sim.call('open_orders'))[:5]}")
                return
            await asyncio.sleep(0.2)  # poll interval of a deadline-bounded wait

    def _database_view(self):
        from sqlalchemy import select

        from services.db.models import TradeFill, TradeOrder
        from services.db.repositories import PositionRepository

        with self.stack.db.session() as session:
            fills = [(f.exec_id, f.order_ref, f.symbol, str(f.side), f.quantity, f.price, f.superseded, f.commission)
                     for f in session.scalars(select(TradeFill))]
            orders = [(o.client_order_id, str(o.status), o.filled_quantity, o.ib_perm_id)
                      for o in session.scalars(select(TradeOrder))]
            positions = {p.symbol: p.quantity for p in PositionRepository(session).list(project_id=0) if p.quantity}
        return fills, orders, positions

    async def _differences(self) -> list[str]:
        await self.stack.writer.flush()
        fills, orders, positions = await asyncio.to_thread(self._database_view)
        executions = await self.sim.call("executions")
        ledger = await self.sim.call("ledger")
        sim_orders = await self.sim.call("orders")
        problems = []
        stored = Counter(f[0] for f in fills)
        duplicated = sorted(e for e, n in stored.items() if n > 1)
        if duplicated:
            problems.append(f"{len(duplicated)} fills stored twice: {duplicated[:5]}")
        current = {f[0]: f[1:6] for f in fills if not f[6]}
        expected = {e[0]: (e[1], e[2], e[3], e[4], e[5]) for e in executions}
        lost = sorted(set(expected) - set(current))
        if lost:
            problems.append(f"{len(lost)} fills lost (at the simulator, not in the database): {lost[:5]}")
        extra = sorted(set(current) - set(expected))
        if extra:
            problems.append(f"{len(extra)} current fills the simulator does not have (or has superseded): {extra[:5]}")
        wrong = sorted(e for e in set(current) & set(expected) if tuple(current[e]) != tuple(expected[e]))
        if wrong:
            e = wrong[0]
            problems.append(f"{len(wrong)} fills differ from the simulator, e.g. {e}: {current[e]} != {expected[e]}")
        no_commission = sorted(f[0] for f in fills if not f[6] and f[7] is None)
        if no_commission:
            problems.append(f"{len(no_commission)} current fills without their commission: {no_commission[:5]}")
        # A revision that arrived while the connection was down is only seen in its latest form
        # (reconciliation asks for the executions as they are now): superseded ones may be missing.
        superseded = {f[0] for f in fills if f[6]}
        revised = {entry["execId"] for entry in ledger} - set(expected)
        if not superseded <= revised:
            problems.append(f"fills marked superseded that the simulator never revised: {sorted(superseded - revised)[:5]}")
        sent = Counter(o[0] for o in sim_orders)
        twice = sorted(ref for ref, n in sent.items() if n > 1)
        if twice:
            problems.append(f"{len(twice)} orders sent twice: {twice[:5]}")
        ours = {o[0]: o for o in orders}
        unknown = sorted(set(sent) - set(ours))
        if unknown:
            problems.append(f"{len(unknown)} orders at the simulator missing from the database: {unknown[:5]}")
        filled_at_sim = Counter()
        for e in executions:
            filled_at_sim[e[1]] += e[4]
        off = sorted(ref for ref, o in ours.items() if Decimal(o[2] or 0) != Decimal(filled_at_sim.get(ref, 0)))
        if off:
            ref = off[0]
            problems.append(f"{len(off)} orders' filled quantity differs from the simulator, e.g. {ref}: "
                            f"{ours[ref][2]} != {filled_at_sim.get(ref, 0)}")
        at_sim = {s: Decimal(q) for s, q in (await self.sim.call("positions")).items()}
        if positions != at_sim:
            diff = {s: (positions.get(s), at_sim.get(s)) for s in set(positions) | set(at_sim) if positions.get(s) != at_sim.get(s)}
            problems.append(f"positions differ (database, simulator): {dict(sorted(diff.items())[:5])}")
        return problems

    async def compare(self, timeout: float = 60.0) -> None:
        """The database against the simulator; the console gets ``timeout`` seconds to converge
        (a reconnect's reconciliation may still be writing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while problems := await self._differences():
            if loop.time() > deadline:
                self.report.failures += problems
                return
            await asyncio.sleep(0.5)  # poll interval of a deadline-bounded wait


def _raise_daily_limits(db) -> None:
    """The soak sends far more than a day's 500 orders: lift the daily count for its own database."""
    from services.core.risk_limits import DEFAULT_RISK_LIMITS
    from services.db.repositories import SettingsRepository

    with db.unit_of_work() as session:
        settings = SettingsRepository(session)
        settings.set_risk_defaults({**DEFAULT_RISK_LIMITS, **settings.risk_defaults(), "max_daily_orders": 10_000_000})


async def soak(options: SoakOptions) -> SoakReport:
    from app.composition import build_stack
    from app.settings import IbSettings, Settings
    from devtools.mariadb import PrivateMariaDB
    from devtools.sim_process import SimulatorProcess
    from services.db.migrate import upgrade

    report = SoakReport()
    with tempfile.TemporaryDirectory(prefix="tc-soak-") as temporary:
        folder = Path(options.workdir or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        server = None
        sim = SimulatorProcess(seed=options.seed, fill_mode="partial", partial_fills=3, fill_interval=0.05,
                               faults={"late_commission_delay": 0.3})
        stack = None
        try:
            if options.mysql:
                server = PrivateMariaDB(folder / "mariadb")
                await asyncio.to_thread(server.start)
                url, report.database = server.url, f"a private MariaDB on port {server.port}"
                # the console never migrates a MySQL database (the operator's decision): the soak
                # is the operator of its own private server
                await asyncio.to_thread(upgrade, url, "head")
            else:
                url, report.database = f"sqlite:///{(folder / 'soak.sqlite3').as_posix()}", "SQLite"
            port = await sim.start()
            for rule in FAULT_RULES:
                await sim.call("add_rule", rule)
            settings = Settings(db_url=url, profile="soak", data_dir=folder / "data", log_dir=folder / "logs",
                                config_file=folder / "settings.toml",
                                ib=IbSettings(host="127.0.0.1", port=port, client_id=1, market_data_type="live"))
            stack = await build_stack(settings, demo=False)
            await asyncio.to_thread(_raise_daily_limits, stack.db)
            return await Soak(stack, sim, server, options, report).run()
        finally:
            if stack is not None:
                await stack.close()
            await sim.stop()
            if server is not None:
                await asyncio.to_thread(server.close)


def main(argv: list[str] | None = None) -> int:
    from app.malloc_arenas import limit_malloc_arenas

    limit_malloc_arenas()  # as the console's own processes do (app.cli)
    parser = argparse.ArgumentParser(prog="dev.py soak", description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=None, help="how long to load the console (default 1)")
    length.add_argument("--seconds", type=float, default=None, help="the same in seconds")
    parser.add_argument("--mysql", action="store_true", help="on a private MariaDB server (killed and restarted half-way)")
    parser.add_argument("--drop-every", dest="drop_every", type=float, default=60.0, metavar="S",
                        help="seconds between dropped connections (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="a new or empty folder to keep the database in (default: a temporary folder, removed)")
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60.0 * (args.minutes if args.minutes is not None else 1.0)
    if not 0 < seconds <= 24 * 3600 or args.drop_every <= 0:
        parser.error("the duration must be between 0 and 24 hours and --drop-every positive")
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty: the comparison needs a fresh database")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A dropped connection is the point of the exercise: the client library's complaint is noise.
    logging.getLogger("ib_async").setLevel(logging.CRITICAL)
    options = SoakOptions(seconds=seconds, mysql=args.mysql, drop_every=args.drop_every, seed=args.seed, workdir=args.workdir)
    if options.mysql:
        from devtools.mariadb import missing_binaries

        why = missing_binaries()
        if why:
            print(f"soak: --mysql needs a local MariaDB server binary: {why}", file=sys.stderr)
            return 2
    report = asyncio.run(soak(options))
    print(json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
