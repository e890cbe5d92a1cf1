"""`trading-console` subcommands: db (filled in by its issue)."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add this module's subcommands to the top-level parser."""
