from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def describe(names: list[str]) -> str:
    """Every named benchmark with its one-line purpose and its options."""
    parts = ["usage: python3 dev.py bench [NAME ...] [OPTIONS]",
             "Without a NAME every benchmark runs; OPTIONS go to the named benchmarks.", ""]
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        parts.append(f"== {name}")
        parts.append(module.build_parser().format_help().rstrip())
        parts.append("")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    # Leading words are benchmark names; everything from the first option on goes to them
    # (so both --orders=500 and --orders 500 work).
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option] or available(), argv[first_option:]
    if argv[:1] == ["help"]:
        names, options = argv[1:] or available(), ["--help"]
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    if any(option in ("-h", "--help") for option in options):
        print(describe(names))
        return 0
    status = 0
    for name in names:
        print(f"=== benchmark {name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        status = max(status, int(module.main(options) or 0))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
