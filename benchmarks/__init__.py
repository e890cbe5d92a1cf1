"""Benchmarks: `python3 dev.py bench [NAME ...]`. Each module ``benchmarks/<NAME>.py`` has
``main(argv) -> int`` and prints its results next to a baseline measured in the same run."""
