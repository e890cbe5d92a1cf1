"""One reading of a typed cash buffer (services.core.cash_buffer): a percent everywhere a trader
types it (the window's fields, ``preview``, ``execute`` and ``backtest``), and on the command
line a bare fraction refused as ambiguous, so that an old ``preview``/``execute`` script's ratio
(``--cash-buffer 0.05``, once 5 %) is never silently read as 0.05 %."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from app.cli import EXIT_BAD_INPUT, EXIT_OK, main
from services.backtest.requests import BacktestRequest, BadBacktest, prepare
from services.core.cash_buffer import BadCashBuffer, cash_buffer_percent, cash_buffer_ratio
from services.core.preview_form import PreviewForm
from tests.core.test_cli import NOV20, run_json


@pytest.mark.parametrize("typed, ratio", [("5", D("0.05")), ("5%", D("0.05")), (" 2.5 % ", D("0.025")), ("0", D(0)),
                                           ("0.5%", D("0.005")), ("99.9", D("0.999")), ("1", D("0.01"))])
def test_a_percent_is_read_as_the_builders_ratio(typed, ratio):
    assert cash_buffer_ratio(typed, label="--cash-buffer", unit_shown=False) == ratio


@pytest.mark.parametrize("typed, said", [
    ("100", "--cash-buffer: must be a percent from 0 to below 100: '100'"),
    ("-1", "--cash-buffer: must be a percent from 0 to below 100: '-1'"),
    ("abc", "--cash-buffer: not a number: 'abc'"),
    ("1,5", "--cash-buffer: not a number: '1,5' (commas only group thousands, as in 1,000.5)"),
    ("nan", "--cash-buffer: not a number: 'nan'"),
    ("0.05", ("--cash-buffer '0.05' is ambiguous: it is a percent of the portfolio value (5 keeps 5 % as cash), "
              "so 0.05 would keep 0.05 %; write 0.05% if that is meant, or 5 for 5 % (the ratio 0.05)")),
])
def test_what_cannot_be_read_is_refused_with_the_reason(typed, said):
    with pytest.raises(BadCashBuffer) as refused:
        cash_buffer_ratio(typed, label="--cash-buffer", unit_shown=False)
    assert str(refused.value) == said


def test_a_fraction_is_meant_as_typed_where_the_field_shows_the_percent_sign():
    assert cash_buffer_ratio("0.5", label="Cash buffer", unit_shown=True) == D("0.005")
    assert cash_buffer_percent(D("0.1")) == "10" and cash_buffer_percent(D("0.025")) == "2.5"  # not "1E+1"


def test_preview_takes_the_cash_buffer_as_the_windows_form_does(capsys):
    form = PreviewForm("100000", "20", "1", "0", "0", "floor", "MKT", False).build_values()
    code, out = run_json(capsys, ["preview", "--snapshot", NOV20, "--portfolio-value", "100000", "--cash-buffer", "20",
                                  "--json"])
    assert code == EXIT_OK and form["cash_buffer"] == D("0.2")
    assert D(out["budget"]) == D(100000) * (1 - form["cash_buffer"]) == D(80000)  # a fifth kept as cash, as typed


def test_an_old_ratio_on_the_command_line_is_refused_not_read_as_a_tiny_percent(capsys):
    with pytest.raises(SystemExit) as refused:  # argparse's refusal of an option's value
        main(["preview", "--snapshot", NOV20, "--portfolio-value", "100000", "--cash-buffer", "0.05"])
    assert refused.value.code == EXIT_BAD_INPUT
    assert "argument --cash-buffer: '0.05' is ambiguous: it is a percent" in capsys.readouterr().err
    code, out = run_json(capsys, ["preview", "--snapshot", NOV20, "--portfolio-value", "100000", "--cash-buffer", "0.05%",
                                  "--json"])
    assert code == EXIT_OK and D(out["budget"]) == D(99950)  # written with its sign: 0.05 % as meant


def test_the_backtest_command_refuses_the_fraction_its_panel_takes(database, tmp_path):
    bars = tmp_path / "bars.csv"
    bars.write_text("date,symbol,open,high,low,close,volume\n2024-02-01,AAA,10,10,10,10,100\n", encoding="utf-8")
    snapshots = tmp_path / "weights.csv"
    snapshots.write_text("date,symbol,weight\n2024-02-01,AAA,0.5\n", encoding="utf-8")
    typed = {"prices": str(bars), "snapshots": str(snapshots), "cash_buffer_pct": "0.5"}
    with pytest.raises(BadBacktest) as refused:
        prepare(database, BacktestRequest(**typed))
    assert any("--cash-buffer '0.5' is ambiguous" in p for p in refused.value.problems)
    prepared = prepare(database, BacktestRequest(**typed, cash_buffer_unit_shown=True))  # the panel's "cash buffer %"
    assert prepared.spec.builder["cash_buffer"] == D("0.005")
    assert prepare(database, BacktestRequest(**{**typed, "cash_buffer_pct": "0.5%"})).spec.builder["cash_buffer"] == D("0.005")


def test_the_backtest_panels_typed_fraction_is_meant_as_its_percent_field_shows(qtbot, database, tmp_path):
    from PySide6.QtCore import Qt

    from widgets.views.backtest import BacktestView

    bars = tmp_path / "bars.csv"
    bars.write_text("date,symbol,open,high,low,close,volume\n2024-02-01,AAA,10,10,10,10,100\n", encoding="utf-8")
    snapshots = tmp_path / "weights.csv"
    snapshots.write_text("date,symbol,weight\n2024-02-01,AAA,0.5\n", encoding="utf-8")
    view = BacktestView()
    qtbot.addWidget(view)
    view.prices_edit.setText(str(bars))
    view.snapshots_edit.setText(str(snapshots))
    view.buffer_edit.clear()
    qtbot.keyClicks(view.buffer_edit, "0.5")
    with qtbot.waitSignal(view.run_requested, timeout=5000) as asked:
        qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    assert prepare(database, BacktestRequest(**asked.args[0])).spec.builder["cash_buffer"] == D("0.005")
