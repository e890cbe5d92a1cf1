"""The writer's rules on crafted broker events (a logic test on the real databases): revisions
with a changed size, a late older revision, a commission before its execution, change sets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import TradeFill
from services.db.repositories import OrderRepository, PositionRepository
from services.domain import ChangeSet, OrderState, Side
from services.execution.events import BrokerErrorEvent, CommissionEvent, ExecutionEvent, OrderStatusEvent
from services.execution.writer import EventWriter, PositionTruth

pytestmark = pytest.mark.timeout(30)
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _exec(exec_id, qty, price, ref="W-1", perm=5001):
    return ExecutionEvent(exec_id=exec_id, ib_order_id=7, perm_id=perm, client_id=1, order_ref=ref, account="DU1",
                          symbol="AAPL", side="BUY", shares=Decimal(qty), price=Decimal(price), time=T0, raw={"execId": exec_id})


@pytest.fixture
async def writer(database):
    with database.unit_of_work() as session:
        OrderRepository(session).create("W-1", "AAPL", Side.BUY, Decimal(10), status=OrderState.ACCEPTED, account="DU1")
    w = EventWriter(database)
    changes: list[ChangeSet] = []
    w.subscribe(changes.append)
    w.changes = changes
    w.start()
    yield w
    await w.stop()


def _state(db):
    with db.session() as session:
        order = OrderRepository(session).get_by_client_id("W-1")
        fills = list(session.scalars(select(TradeFill).order_by(TradeFill.exec_id)))
        pos = PositionRepository(session).get("DU1", "AAPL")
        return order, fills, pos


async def test_correction_with_a_smaller_size_and_a_late_older_revision(writer, database):
    for ev in (_exec("0001.aa.01.01", 6, "100"), _exec("0001.aa.01.02", 4, "100.5"), _exec("0001.aa.01.01", 6, "100")):
        writer.submit(ev)
    await writer.flush()
    order, fills, pos = _state(database)
    assert [(f.exec_id, f.quantity, f.superseded) for f in fills] == [("0001.aa.01.01", Decimal(6), True), ("0001.aa.01.02", Decimal(4), False)]
    assert (order.filled_quantity, order.avg_fill_price, order.status) == (Decimal(4), Decimal("100.5"), OrderState.PARTIALLY_FILLED)
    assert (pos.quantity, pos.average_cost) == (Decimal(4), Decimal("100.5"))
    # a revision 3 arriving, then revision 2 again (duplicate): counted once
    writer.submit(_exec("0001.aa.01.03", 10, "100.25"))
    writer.submit(_exec("0001.aa.01.02", 4, "100.5"))
    await writer.flush()
    order, fills, pos = _state(database)
    assert [f.superseded for f in fills] == [True, True, False]
    assert (order.filled_quantity, order.status, pos.quantity) == (Decimal(10), OrderState.FILLED, Decimal(10))


async def test_older_revision_after_newer_is_stored_superseded(writer, database):
    writer.submit(_exec("0002.bb.01.02", 5, "101"))
    writer.submit(_exec("0002.bb.01.01", 5, "100"))
    await writer.flush()
    order, fills, pos = _state(database)
    assert [(f.exec_id, f.superseded) for f in fills] == [("0002.bb.01.01", True), ("0002.bb.01.02", False)]
    assert (order.filled_quantity, pos.quantity, pos.average_cost) == (Decimal(5), Decimal(5), Decimal(101))


async def test_commission_before_its_execution_and_much_later(writer, database):
    writer.submit(CommissionEvent("0003.cc.01.01", Decimal("1.25")))
    await writer.flush()
    writer.submit(_exec("0003.cc.01.01", 2, "100"))
    writer.submit(_exec("0003.cc.02.01", 3, "100"))
    await writer.flush()
    _, fills, _ = _state(database)
    assert [(f.exec_id, f.commission) for f in fills] == [("0003.cc.01.01", Decimal("1.25")), ("0003.cc.02.01", None)]
    writer.submit(CommissionEvent("0003.cc.02.01", Decimal("0.75")))
    await writer.flush()
    _, fills, _ = _state(database)
    assert [f.commission for f in fills] == [Decimal("1.25"), Decimal("0.75")]
    last = writer.changes[-1]
    assert [f.exec_id for f in last.fills] == ["0003.cc.02.01"] and last.fills[0].commission == Decimal("0.75")


async def test_change_sets_name_what_changed(writer, database):
    writer.submit(_exec("0004.dd.01.01", 10, "99"))
    writer.submit(OrderStatusEvent(7, 5001, 1, "Filled", Decimal(10), Decimal(0), Decimal(99), Decimal(99), order_ref="W-1"))
    await writer.flush()
    merged = [c for c in writer.changes if c.fills]
    assert [f.exec_id for f in merged[0].fills] == ["0004.dd.01.01"]
    assert merged[0].orders[0].status is OrderState.FILLED
    assert {(p.project_id, p.quantity) for p in merged[0].positions} == {(None, Decimal(10))}


async def test_reject_reason_from_the_error_then_inactive(writer, database):
    writer.submit(BrokerErrorEvent(7, 201, "Order rejected - reason:no margin", order_ref="W-1"))
    writer.submit(OrderStatusEvent(7, 5001, 1, "Inactive", Decimal(0), Decimal(10), None, None, order_ref="W-1"))
    await writer.flush()
    order, _, _ = _state(database)
    assert (order.status, order.rejected_reason) == (OrderState.REJECTED, "201: Order rejected - reason:no margin")


def _trade(exec_id, side, qty, price, ref="W-1"):
    return ExecutionEvent(exec_id=exec_id, ib_order_id=7, perm_id=5001, client_id=1, order_ref=ref, account="DU1",
                          symbol="AAPL", side=side, shares=Decimal(qty), price=Decimal(price), time=T0, raw={"execId": exec_id})


def _position(db):
    with db.session() as session:
        pos = PositionRepository(session).get("DU1", "AAPL")
        return pos.quantity, pos.average_cost, pos.realized_pnl


async def test_realized_pnl_is_net_of_both_commissions(writer, database):
    # the example: buy 100 at 50, sell 100 at 51, 1.00 commission each way -> 98.00
    with database.unit_of_work() as session:
        OrderRepository(session).create("W-2", "AAPL", Side.SELL, Decimal(100), status=OrderState.ACCEPTED, account="DU1")
    writer.submit(_trade("0005.ee.01.01", "BUY", 100, "50"))
    writer.submit(CommissionEvent("0005.ee.01.01", Decimal("1.00")))
    await writer.flush()
    assert _position(database) == (Decimal(100), Decimal("50.01"), Decimal(0))  # the buy's commission is in the cost
    writer.submit(_trade("0005.ee.02.01", "SELL", 100, "51", ref="W-2"))
    await writer.flush()
    writer.submit(CommissionEvent("0005.ee.02.01", Decimal("1.00")))  # late, in a batch of its own
    await writer.flush()
    assert _position(database) == (Decimal(0), Decimal(0), Decimal("98.00"))


async def test_late_commission_of_an_earlier_fill_rebuilds_the_position(writer, database):
    with database.unit_of_work() as session:
        OrderRepository(session).create("W-3", "AAPL", Side.SELL, Decimal(4), status=OrderState.ACCEPTED, account="DU1")
    writer.submit(_trade("0006.ff.01.01", "BUY", 10, "100"))
    await writer.flush()
    writer.submit(_trade("0006.ff.02.01", "SELL", 4, "110", ref="W-3"))
    writer.submit(CommissionEvent("0006.ff.02.01", Decimal("1.00")))
    await writer.flush()
    writer.submit(CommissionEvent("0006.ff.01.01", Decimal("2.00")))  # the first fill's, after the second fill
    await writer.flush()
    # as if known at once: cost 100.20; 4 sold realise (110 - 100.20) * 4 - 1.00
    assert _position(database) == (Decimal(6), Decimal("100.2"), Decimal("38.2"))


@pytest.mark.parametrize("trigger", [
    CommissionEvent("0007.gg.01.01", Decimal("1.00")),  # the first fill's commission, after the second fill
    _trade("0007.gg.01.02", "SELL", 15, "60.5", ref="S-1"),  # a correction of the first fill
], ids=["late commission", "correction"])
async def test_a_rebuilt_account_position_keeps_what_reconciliation_set(writer, database, trigger):
    # IB holds 100 @ 50 bought before the console ran (reconciliation's truth, no fill of ours);
    # two partial sells of 15 @ 60 follow; rebuilding the position for an older fill must start
    # from that truth at its place, not from nothing (which made a short of -30, realized 0)
    with database.unit_of_work() as session:
        OrderRepository(session).create("S-1", "AAPL", Side.SELL, Decimal(30), status=OrderState.ACCEPTED, account="DU1")
    writer.submit(PositionTruth("DU1", "AAPL", Decimal(100), Decimal(50)))
    await writer.flush()
    writer.submit(_trade("0007.gg.01.01", "SELL", 15, "60", ref="S-1"))
    await writer.flush()
    writer.submit(_trade("0007.gg.02.01", "SELL", 15, "60", ref="S-1"))
    writer.submit(CommissionEvent("0007.gg.02.01", Decimal("1.00")))
    await writer.flush()
    assert _position(database) == (Decimal(70), Decimal(50), Decimal(299))  # (60 - 50) x 15 + (60 - 50) x 15 - 1
    writer.submit(trigger)
    await writer.flush()
    first = Decimal(149) if isinstance(trigger, CommissionEvent) else Decimal("157.5")  # (60 - 50) x 15 - 1 | (60.5 - 50) x 15
    assert _position(database) == (Decimal(70), Decimal(50), first + Decimal(149))


async def test_a_truth_after_a_fill_of_its_batch_is_rebuilt_after_that_fill(writer, database):
    # one batch: a buy of 10, then IB's position of 110 @ 95 (it holds 100 more than our fills);
    # a sale, then the buy's late commission rebuilds: the truth stands after the buy (which it
    # already counts), not before it (that would count the buy twice: 120, then 110)
    with database.unit_of_work() as session:
        OrderRepository(session).create("S-2", "AAPL", Side.SELL, Decimal(10), status=OrderState.ACCEPTED, account="DU1")
    writer.submit(_trade("0008.hh.01.01", "BUY", 10, "100"))
    writer.submit(PositionTruth("DU1", "AAPL", Decimal(110), Decimal(95)))
    await writer.flush()
    writer.submit(_trade("0008.hh.02.01", "SELL", 10, "100", ref="S-2"))
    writer.submit(CommissionEvent("0008.hh.02.01", Decimal("1.00")))
    await writer.flush()
    writer.submit(CommissionEvent("0008.hh.01.01", Decimal("2.00")))
    await writer.flush()
    assert _position(database) == (Decimal(100), Decimal(95), Decimal(49))  # (100 - 95) x 10 - 1


async def test_a_state_machine_bug_is_recorded_on_the_order_and_logged(writer, database, caplog):
    from services.db.models import OrderEvent as OrderEventRow

    broken = OrderStatusEvent(7, 5001, 1, "Submitted", "not a number", Decimal(10), None, None, order_ref="W-1")
    with caplog.at_level("ERROR", logger="services.execution.writer"):
        writer.submit(broken)
        writer.submit(OrderStatusEvent(7, 5001, 1, "Cancelled", Decimal(0), Decimal(10), None, None, order_ref="W-1"))
        await writer.flush()
    order, _, _ = _state(database)
    assert order.status is OrderState.CANCELED  # the next event still went through
    with database.session() as session:
        rows = list(session.scalars(select(OrderEventRow).where(OrderEventRow.order_id == order.id,
                                                                 OrderEventRow.event_type == "internal_error")))
    assert len(rows) == 1
    assert rows[0].flagged and rows[0].from_state is rows[0].to_state is OrderState.ACCEPTED
    assert "internal error: TypeError" in rows[0].message and "not a number" in rows[0].message
    logged = [r for r in caplog.records if "order state machine failed" in r.getMessage()]
    assert len(logged) == 1 and f"order {order.id} (W-1" in logged[0].getMessage()
    assert "Traceback" in logged[0].getMessage()


def test_an_order_is_written_back_with_the_columns_the_batch_changed_only(database, monkeypatch):
    """Another change of the order after the batch read it (a sender's claim, a human's edit) is
    kept: the batch's UPDATE sets only what the batch changed (the ORM's flush did the same)."""
    from sqlalchemy import update

    from services.db.models import TradeOrder
    from services.execution.writer.projection import EventProjection

    with database.unit_of_work() as session:
        OrderRepository(session).create("W-1", "AAPL", Side.BUY, Decimal(10), status=OrderState.ACCEPTED, account="DU1")
    read = EventProjection._prefetch

    def read_then_changed_elsewhere(self, session, batch, events):
        read(self, session, batch, events)
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == "W-1").values(claimed_by="other", rejected_reason="kept"))

    monkeypatch.setattr(EventProjection, "_prefetch", read_then_changed_elsewhere)
    changes = EventProjection(database).write([_exec("0001.aa.01.01", 4, "100")])
    order, _fills, _pos = _state(database)
    assert (order.status, order.filled_quantity, order.claimed_by, order.rejected_reason) == (
        OrderState.PARTIALLY_FILLED, Decimal(4), "other", "kept")
    assert [(o.status, o.filled_quantity, o.updated_at) for o in changes.orders] == [
        (OrderState.PARTIALLY_FILLED, Decimal(4), order.updated_at)]


async def test_an_inline_writer_makes_change_sets_only_while_someone_listens(database):
    """A backtest's writer writes inline: with nobody subscribed it makes no change set (nor
    reads the positions back for one), and stores the same rows; a subscriber gets them again."""
    with database.unit_of_work() as session:
        OrderRepository(session).create("W-1", "AAPL", Side.BUY, Decimal(10), status=OrderState.ACCEPTED, account="DU1")
    writer = EventWriter(database)
    writer.inline_db = True
    made: list[ChangeSet] = []
    write = writer.projection.write
    writer.projection.write = lambda events, **kw: made.append(write(events, **kw)) or made[-1]  # type: ignore[method-assign]
    writer.start()
    try:
        writer.submit(_exec("0005.ee.01.01", 4, "100"))
        await writer.flush()
        assert made == [ChangeSet()]  # nobody listened: nothing made
        order, fills, pos = _state(database)
        assert (order.filled_quantity, [f.exec_id for f in fills], pos.quantity, pos.average_cost) == (
            Decimal(4), ["0005.ee.01.01"], Decimal(4), Decimal(100))
        heard: list[ChangeSet] = []
        writer.subscribe(heard.append)
        writer.submit(_exec("0005.ee.02.01", 6, "101"))
        await writer.flush()
        assert len(heard) == 1 and [f.exec_id for f in heard[0].fills] == ["0005.ee.02.01"]
        assert [(p.symbol, p.quantity) for p in heard[0].positions] == [("AAPL", Decimal(10))]  # the account's row
        assert heard[0].orders[0].status is OrderState.FILLED
    finally:
        await writer.stop()


async def test_a_fraction_of_a_share_finer_than_the_database_keeps_is_booked_as_stored_and_said(writer, database):
    """IB's fractional shares with more places than the quantity columns keep (six, on SQLite and
    MariaDB alike): each execution was stored rounded while the order, the position and the
    change set counted the exact sum (1.0000005, stored 1.000001), and a late commission, which
    rebuilds the position from the stored fills, moved it to 1.000002. The fill is booked as it
    is stored, and the order says so."""
    from services.db.models import OrderEvent as OrderEventRow

    for n in (1, 2, 3):
        writer.submit(_exec(f"0010.jj.0{n}.01", "0.3333335", "100"))
    await writer.flush()
    order, fills, pos = _state(database)
    kept = Decimal("0.333334") * 3
    assert [f.quantity for f in fills] == [Decimal("0.333334")] * 3
    assert (order.filled_quantity, pos.quantity) == (kept, kept)
    assert [o.filled_quantity for c in writer.changes for o in c.orders][-1] == kept
    assert [p.quantity for c in writer.changes for p in c.positions][-1] == kept
    writer.submit(CommissionEvent("0010.jj.01.01", Decimal("1.00")))  # rebuilds the position from the stored fills
    await writer.flush()
    assert _position(database)[0] == kept
    with database.session() as session:
        said = list(session.scalars(select(OrderEventRow.message).where(OrderEventRow.order_id == order.id,
                                                                         OrderEventRow.flagged.is_(True))))
    assert said == [f"execution 0010.jj.0{n}.01: IB's 0.3333335 shares kept as 0.333334 (the database keeps 6 decimal places)"
                    for n in (1, 2, 3)]

