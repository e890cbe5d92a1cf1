"""Conformance scenario with ib_insync: ``python scenario_ib_insync.py PORT`` prints JSON results."""

import ib_insync
from insync_family import main

if __name__ == "__main__":
    main(ib_insync)
