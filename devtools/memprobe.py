"""Where the soak's memory goes: the soak with tracemalloc and object counts.

    PYTHONPATH=. python -m devtools.memprobe [--seconds 60] [--drop-every 2] [--frames 12] [--top 20]

The soak (``devtools.soak``) runs as usual; once its warm-up is over a tracemalloc snapshot and
the live objects counted by type (``gc.get_objects``) are taken, and again at the end. It prints
the allocations that grew most (grouped by traceback) and the types whose count grew, so that a
step at each dropped connection (``--drop-every``, default every 2 s) shows what it is made of.
tracemalloc makes the soak slower (about 2x); its own bookkeeping is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import sys
import threading
import time
import tracemalloc
from collections import Counter

from devtools import soak as soak_module

IGNORED = (tracemalloc.__file__, "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>", "<unknown>")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _malloc_figures() -> tuple[int, int, int]:
    """(in use, free but kept, mmapped) bytes of glibc's malloc, all threads' arenas; zeros elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        return info.uordblks, info.fordblks, info.hblkhd
    except (OSError, AttributeError):
        return 0, 0, 0


def pymalloc_arenas() -> tuple[int, int]:
    """(arenas allocated now, bytes in used blocks) of Python's small-object allocator, read from
    sys._debugmallocstats (it prints to the C stderr)."""
    import os
    import re
    import tempfile

    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    arenas = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", text)
    used = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    return (int(arenas.group(1).replace(",", "")) if arenas else 0, int(used.group(1).replace(",", "")) if used else 0)


def sample_line(t: float, drops: int) -> str:
    in_use, free, mapped = _malloc_figures()
    traced, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()  # the next sample's peak is the peak since this one
    arenas, used = pymalloc_arenas()
    return (f"{t:6.1f}s drops={drops:3d} rss={soak_module.rss_bytes() / 2**20:6.1f} pymalloc_arenas={arenas:4d} "
            f"pymalloc_used={used / 2**20:6.1f} malloc_in_use={in_use / 2**20:6.1f} "
            f"malloc_free={free / 2**20:6.1f} malloc_mmapped={mapped / 2**20:5.1f} py_blocks={sys.getallocatedblocks():8d} "
            f"traced={traced / 2**20:6.1f} peak={peak / 2**20:6.1f} threads={threading.active_count()}")


def _type_counts() -> Counter:
    gc.collect()
    return Counter(type(o).__qualname__ for o in gc.get_objects())


class Probe:
    def __init__(self) -> None:
        self.first: tracemalloc.Snapshot | None = None
        self.first_types: Counter = Counter()
        self.first_drops = 0
        self.samples: list[str] = []
        self.findings: list[str] = []

    def mark(self, drops: int) -> None:
        self.first_types = _type_counts()
        if tracemalloc.is_tracing():
            self.first = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, f) for f in IGNORED])
        self.first_drops = drops

    def report(self, drops: int, top: int) -> list[str]:
        last_types = _type_counts()
        n = max(drops - self.first_drops, 1)
        out = [f"memprobe: {drops - self.first_drops} dropped connections between the snapshots"]
        if self.first is not None:
            out += self._traced(n, top)
        grown = [(name, last_types[name] - self.first_types.get(name, 0)) for name in last_types]
        grown = sorted((g for g in grown if g[1] > 0), key=lambda g: -g[1])[:top]
        out.append("object counts that grew (type: +count, +per drop):")
        out += [f"  {name}: +{d} ({d / n:+.1f})" for name, d in grown]
        return out

    def _traced(self, n: int, top: int) -> list[str]:
        assert self.first is not None
        last = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, f) for f in IGNORED])
        out = []
        total = sum(s.size_diff for s in last.compare_to(self.first, "filename"))
        out.append(f"traced Python memory: {total / 2**20:+.2f} MiB ({total / n / 1024:+.0f} KiB per drop)")
        out.append(f"top {top} growths by traceback:")
        for stat in last.compare_to(self.first, "traceback")[:top]:
            out.append(f"  {stat.size_diff / 1024:+.0f} KiB, {stat.count_diff:+d} blocks")
            out += [f"      {line}" for line in stat.traceback.format(limit=12, most_recent_first=True)]
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.memprobe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--drop-every", dest="drop_every", type=float, default=2.0)
    parser.add_argument("--frames", type=int, default=12, help="traceback depth kept by tracemalloc (0: no tracemalloc, object counts only)")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--sample-every", dest="sample_every", type=float, default=2.0, help="seconds between memory samples")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ib_async").setLevel(logging.CRITICAL)
    probe = Probe()
    base = soak_module.Soak

    class ProbedSoak(base):  # type: ignore[misc, valid-type]
        async def memory_worker(self, start: float, end: float) -> None:
            warmup = min(max(soak_module.WARMUP_SECONDS, soak_module.WARMUP_FRACTION * (end - start)), (end - start) / 2)
            await asyncio.sleep(warmup)  # the soak's own warm-up period
            probe.mark(self.report.drops)
            self.report.rss_start_raw = soak_module.rss_bytes(trim=False)
            self.report.rss_start = soak_module.rss_bytes()
            while time.monotonic() < end and not self.broken:
                probe.samples.append(sample_line(time.monotonic() - start, self.report.drops))
                await asyncio.sleep(args.sample_every)  # the sampling period

        async def settle(self, timeout: float = 60.0) -> None:
            await super().settle(timeout)
            probe.findings = probe.report(self.report.drops, args.top)  # after the settle: no order working

    soak_module.Soak = ProbedSoak  # type: ignore[misc]  # soak() builds this one
    if args.frames:
        tracemalloc.start(args.frames)
    started = time.monotonic()
    options = soak_module.SoakOptions(seconds=args.seconds, drop_every=args.drop_every)
    report = asyncio.run(soak_module.soak(options))
    print("\n".join(report.lines()))
    print("\n".join(probe.samples))
    print("\n".join(probe.findings))
    print(f"memprobe: {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
