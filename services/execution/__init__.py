"""Execution over a broker: the provider switch point, the IB adapter, the event writer, trade
runs, reconciliation and order actions. Never imports Qt: the GUI adapts the plain callbacks."""
