"""The offline preview as a use case of services/ (the command only parses and prints): the same
orders as the trade service's builder, every problem of the input at once, and a database opened
only for a stored snapshot."""

from decimal import Decimal
from pathlib import Path

import pytest

from services.core.builder import Rounding, params_from
from services.domain import OrderType
from services.offline_preview import OfflinePreviewRequest, PreviewInputError, offline_preview

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _no_database():
    raise AssertionError("a preview of a file opened the database")


def test_a_file_is_previewed_without_a_database_with_each_orders_estimated_commission():
    preview = offline_preview(OfflinePreviewRequest(str(SAMPLES / "momentum_2026-11-20.csv"), Decimal(100000),
                                                    builder={"rounding": "floor", "lot_size": Decimal(1)}), _no_database)
    assert preview["risk"]["verdict"] == "ready"
    assert [o["symbol"] for o in preview["orders"]][:3] == ["AAPL", "AMZN", "GOOGL"]
    assert preview["commission_total"] == str(sum(Decimal(o["commission"]) for o in preview["orders"]))


def test_every_problem_of_the_input_is_named_at_once(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("symbol,price\nAAPL,abc\n")
    with pytest.raises(PreviewInputError) as raised:
        offline_preview(OfflinePreviewRequest(str(SAMPLES / "malformed_example.csv"), None, prices_file=str(prices),
                                              risk_overrides=("no_such_rule=1",), commission_model="cheap"), _no_database)
    sources = [e["source"] for e in raised.value.errors]
    assert "malformed_example.csv" in sources and "prices.csv" in sources
    assert {"--portfolio-value", "--risk", "--commission"} <= set(sources)


def test_the_builder_parameters_are_read_one_way_for_a_run_and_a_preview():
    params = params_from({"cash_buffer": "0.02", "lot_size": Decimal(5), "rounding": "floor", "order_type": "LMT",
                          "limit_offset_bps": "10", "liquidate_unlisted": 1, "min_order_value": None, "other": "x"},
                         portfolio_value=Decimal(1000), run_id=7, fx_rates={"EUR": Decimal("1.1")})
    assert (params.cash_buffer, params.lot_size, params.rounding, params.order_type, params.limit_offset_bps) == (
        Decimal("0.02"), Decimal(5), Rounding.FLOOR, OrderType.LMT, Decimal(10))
    assert params.liquidate_unlisted is True and params.min_order_value == 0 and params.run_id == 7
    assert params.fx_rates == {"EUR": Decimal("1.1")}
