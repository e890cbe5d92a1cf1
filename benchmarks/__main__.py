from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    # Leading words are benchmark names; everything from the first option on goes to them
    # (so both --orders=500 and --orders 500 work).
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option] or available(), argv[first_option:]
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"=== benchmark {name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        status = max(status, int(module.main(options) or 0))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
