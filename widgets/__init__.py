"""Qt panels, dialogs and table models. Widgets never touch the database: they are built from
the immutable values they show (``services.domain`` records, the trading core's frozen
results) and emit intent signals; the composition root in ``app/`` turns intents into service
calls and feeds results back through the public setters.

Map (import from the submodules; this package imports nothing so pyqtgraph loads only with
the charts):

- ``widgets.models.base``: ``CoalescingTableModel`` (``upsert`` / ``apply(change_set)`` buffer,
  a ~100 ms timer or ``flush()`` applies: one ``dataChanged`` per contiguous row range, one
  ``beginInsertRows`` per batch; ``order_key`` keeps rows newest first), ``Column``,
  ``SortKeyRole``, ``RecordRole``, formatters.
- ``widgets.models``: ``orders.OrderBlotterModel``, ``fills.FillsModel`` (``totals()``),
  ``positions.PositionsModel`` (``set_project_names``, ``totals()``), ``audit.AuditModel``,
  ``snapshots.SnapshotItemsModel``, ``preview.PreviewOrdersModel`` (``OrderDraft`` rows,
  ``totals()``), ``risk.RiskResultsModel`` (``OrderRisk`` rows), ``proxy.BlotterFilterProxyModel``.
- ``widgets.views``: ``BlotterView``, ``FillsView``, ``PositionsView``, ``AuditView``,
  ``SnapshotsView``, ``PreviewView``, ``RiskView``, ``ChartsView``, ``status.ConnectionStatusBar``,
  ``status.ModeBadge``.
- ``widgets.dialogs``: ``LiveConfirmDialog``, ``ReplaceDialog``, ``OrderDetailsDialog``,
  ``SettingsDialog``, ``error_box`` / ``show_error``.
- ``widgets.theme.apply_theme(app, "dark" | "light")``; ``widgets.common.confirm``.
"""
