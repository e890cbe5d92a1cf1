"""The trading core: pure Python, no Qt, no database.

* ``snapshots``: ``parse_snapshot_file / _bytes / _text`` -> ``ParsedSnapshot`` (items, every
  problem with its line, content hash); ``inputs``: the preview's prices/positions CSVs.
* ``contracts``: ``ContractSpec`` (the listing a row names; ``.key``: ``AAPL``, ``SAP@IBIS:EUR``),
  ``contract_problem`` (what the console cannot trade), ``rate_to_base`` (broker's FX rates).
* ``builder``: ``build_orders(targets, BuildParams(...), prices=, positions=)`` ->
  ``BuildResult`` of frozen ``OrderDraft``s; ``client_order_id(run, symbol, side, seq)``.
* ``risk``: ``evaluate_risk(orders, RiskContext(...), rules)`` -> ``RiskReport`` (verdict
  ready/blocked); the rules in ``risk_rules``, their limits in ``risk_limits``
  (``DEFAULT_RISK_LIMITS``, ``rules_from_params(dict, ["NAME=VALUE"])``), an order's value in
  ``order_values``.
* ``order_state``: ``apply_event(OrderStatus, OrderEvent)`` -> ``Transition``; ``run_status``.
* ``portfolio``: ``Portfolio`` (average cost, realized/unrealized P&L, cash, equity, snapshots).
* ``commissions``: ``FixedCommission``, ``TieredCommission`` (IB Pro, US stocks).
"""
