"""Backtests on the one engine (issue 11): dated snapshots replayed through the trade service,
the writer and the positions book against a simulated broker filling from daily bars."""
