"""Create the whole schema.

Projects, decision snapshots, runs, orders, fills, order events, positions, equity, contracts,
trade settings and the hash-chained audit log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21 12:56:33.898893
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0001_initial'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC


def exact(precision: int, scale: int) -> sa.types.TypeEngine:
    """NUMERIC on MySQL; on SQLite a BIGINT holding value * 10**scale (services.db.types.ExactDecimal)."""
    return sa.Numeric(precision, scale).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table('audit_chain_head',
    sa.Column('id', BIG_ID, autoincrement=False, nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=True),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('audit_logs',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('time', UTC_DATETIME, nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=64), nullable=True),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_logs')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_logs_hash')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('audit_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_logs_action'), ['action'], unique=False)
        batch_op.create_index('ix_audit_logs_entity', ['entity_type', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_logs_time'), ['time'], unique=False)

    op.create_table('contracts',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('sec_type', sa.String(length=16), nullable=False),
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('con_id', sa.BigInteger(), nullable=True),
    sa.Column('primary_exchange', sa.String(length=32), nullable=True),
    sa.Column('min_tick', exact(20, 8), nullable=True),
    sa.Column('details', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contracts')),
    sa.UniqueConstraint('symbol', 'sec_type', 'exchange', 'currency', name=op.f('uq_contracts_symbol_sec_type_exchange_currency')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('projects',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('trade_settings',
    sa.Column('id', BIG_ID, autoincrement=False, nullable=False),
    sa.Column('risk_defaults', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('execution_data_source', sa.String(length=16), nullable=False),
    sa.Column('auto_recovery', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('trading_state', sa.String(length=16), nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trade_settings')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('decision_snapshots',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('project_id', BIG_ID, nullable=False),
    sa.Column('source_file', sa.String(length=512), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_decision_snapshots_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision_snapshots')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('decision_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decision_snapshots_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_decision_snapshots_project_hash', ['project_id', 'content_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_decision_snapshots_project_id'), ['project_id'], unique=False)

    op.create_table('equity_snapshots',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('time', UTC_DATETIME, nullable=False),
    sa.Column('project_id', BIG_ID, nullable=True),
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('cash', exact(24, 8), nullable=False),
    sa.Column('equity', exact(24, 8), nullable=False),
    sa.Column('realized_pnl', exact(24, 8), nullable=False),
    sa.Column('unrealized_pnl', exact(24, 8), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_equity_snapshots_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equity_snapshots')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('equity_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_equity_snapshots_account_time', ['account', 'time'], unique=False)
        batch_op.create_index('ix_equity_snapshots_project_time', ['project_id', 'time'], unique=False)

    op.create_table('positions',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('project_id', BIG_ID, nullable=True),
    sa.Column('project_key', sa.BigInteger(), nullable=False),
    sa.Column('account', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('quantity', exact(20, 6), nullable=False),
    sa.Column('average_cost', exact(20, 8), nullable=False),
    sa.Column('realized_pnl', exact(24, 8), nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_positions_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_positions')),
    sa.UniqueConstraint('project_key', 'account', 'symbol', name=op.f('uq_positions_project_key_account_symbol')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('decision_snapshot_items',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('snapshot_id', BIG_ID, nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('weight', exact(20, 10), nullable=False),
    sa.Column('score', exact(20, 8), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('price', exact(20, 8), nullable=True),
    sa.Column('sec_type', sa.String(length=16), nullable=False),
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['decision_snapshots.id'], name=op.f('fk_decision_snapshot_items_snapshot_id_decision_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision_snapshot_items')),
    sa.UniqueConstraint('snapshot_id', 'symbol', name=op.f('uq_decision_snapshot_items_snapshot_id_symbol')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('trade_runs',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('project_id', BIG_ID, nullable=False),
    sa.Column('snapshot_id', BIG_ID, nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('trade_date', sa.Date(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=191), nullable=True),
    sa.Column('params', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('started_at', UTC_DATETIME, nullable=True),
    sa.Column('ended_at', UTC_DATETIME, nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_trade_runs_project_id_projects')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['decision_snapshots.id'], name=op.f('fk_trade_runs_snapshot_id_decision_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trade_runs')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_trade_runs_idempotency_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('trade_runs', schema=None) as batch_op:
        batch_op.create_index('ix_trade_runs_lookup', ['project_id', 'snapshot_id', 'mode', 'trade_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_trade_runs_status'), ['status'], unique=False)

    op.create_table('trade_orders',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('run_id', BIG_ID, nullable=True),
    sa.Column('project_id', BIG_ID, nullable=True),
    sa.Column('client_order_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('sec_type', sa.String(length=16), nullable=False),
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('quantity', exact(20, 6), nullable=False),
    sa.Column('order_type', sa.String(length=16), nullable=False),
    sa.Column('limit_price', exact(20, 8), nullable=True),
    sa.Column('tif', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('filled_quantity', exact(20, 6), nullable=False),
    sa.Column('avg_fill_price', exact(20, 8), nullable=True),
    sa.Column('ib_order_id', sa.BigInteger(), nullable=True),
    sa.Column('ib_perm_id', sa.BigInteger(), nullable=True),
    sa.Column('ib_client_id', sa.Integer(), nullable=True),
    sa.Column('account', sa.String(length=32), nullable=True),
    sa.Column('last_status_time', UTC_DATETIME, nullable=True),
    sa.Column('rejected_reason', sa.Text(), nullable=True),
    sa.Column('replaces_order_id', BIG_ID, nullable=True),
    sa.Column('retry_count', sa.Integer(), nullable=False),
    sa.Column('is_external', sa.Boolean(), nullable=False),
    sa.Column('params', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_trade_orders_project_id_projects')),
    sa.ForeignKeyConstraint(['replaces_order_id'], ['trade_orders.id'], name=op.f('fk_trade_orders_replaces_order_id_trade_orders')),
    sa.ForeignKeyConstraint(['run_id'], ['trade_runs.id'], name=op.f('fk_trade_orders_run_id_trade_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trade_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_trade_orders_client_order_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('trade_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trade_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_trade_orders_perm_id', ['ib_perm_id'], unique=False)
        batch_op.create_index('ix_trade_orders_run_status', ['run_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_trade_orders_status'), ['status'], unique=False)

    op.create_table('order_events',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('order_id', BIG_ID, nullable=False),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('time', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['trade_orders.id'], name=op.f('fk_order_events_order_id_trade_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index('ix_order_events_order_time', ['order_id', 'time'], unique=False)

    op.create_table('trade_fills',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('order_id', BIG_ID, nullable=False),
    sa.Column('exec_id', sa.String(length=64), nullable=False),
    sa.Column('exec_base_id', sa.String(length=64), nullable=False),
    sa.Column('exec_revision', sa.Integer(), nullable=False),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('quantity', exact(20, 6), nullable=False),
    sa.Column('price', exact(20, 8), nullable=False),
    sa.Column('commission', exact(24, 8), nullable=True),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('exchange', sa.String(length=32), nullable=True),
    sa.Column('account', sa.String(length=32), nullable=True),
    sa.Column('perm_id', sa.BigInteger(), nullable=True),
    sa.Column('order_ref', sa.String(length=64), nullable=True),
    sa.Column('fill_time', UTC_DATETIME, nullable=False),
    sa.Column('raw_payload', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['trade_orders.id'], name=op.f('fk_trade_fills_order_id_trade_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trade_fills')),
    sa.UniqueConstraint('exec_id', name=op.f('uq_trade_fills_exec_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('trade_fills', schema=None) as batch_op:
        batch_op.create_index('ix_trade_fills_base', ['exec_base_id', 'exec_revision'], unique=False)
        batch_op.create_index(batch_op.f('ix_trade_fills_fill_time'), ['fill_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_trade_fills_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    # Dropping a table drops its indexes; dropping them first fails on MySQL for indexes that
    # back a foreign key. Children before parents.
    for table in (
        "trade_fills",
        "order_events",
        "trade_orders",
        "trade_runs",
        "decision_snapshot_items",
        "positions",
        "equity_snapshots",
        "decision_snapshots",
        "trade_settings",
        "projects",
        "contracts",
        "audit_logs",
        "audit_chain_head",
    ):
        op.drop_table(table)
