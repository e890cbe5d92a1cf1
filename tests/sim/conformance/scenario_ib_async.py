"""Conformance scenario with ib_async: ``python scenario_ib_async.py PORT`` prints JSON results."""

import ib_async
from insync_family import main

if __name__ == "__main__":
    main(ib_async)
