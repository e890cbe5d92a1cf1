"""The trading core: snapshot import, order builder, risk engine, order state machine,
portfolio and IB commissions. Pure Python: no Qt, no database."""
