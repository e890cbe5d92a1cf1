"""The snapshot and preview commands through ``app.cli.main``; the database ones on SQLite and
MariaDB (``db_url``)."""

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.cli import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_OK, main
from services.db.models import DecisionSnapshot as Snapshot

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
NOV20 = str(SAMPLES / "momentum_2026-11-20.csv")
NOV21 = str(SAMPLES / "momentum_2026-11-21.json")
MALFORMED = str(SAMPLES / "malformed_example.csv")


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_preview_from_a_file_needs_no_database(capsys, tmp_path, isolated_user_dirs):
    code, out = run_json(capsys, ["--db-url", "mysql+pymysql://nobody@127.0.0.1:1/none", "preview",
                                  "--snapshot", NOV20, "--portfolio-value", "100000", "--json"])
    assert code == EXIT_OK
    assert [(o["symbol"], o["side"], o["quantity"]) for o in out["orders"]] == [
        ("AAPL", "BUY", "44"), ("AMZN", "BUY", "50"), ("GOOGL", "BUY", "52"), ("JPM", "BUY", "34"), ("META", "BUY", "21"),
        ("MSFT", "BUY", "26"), ("NVDA", "BUY", "96"), ("SPY", "BUY", "12"), ("V", "BUY", "26"), ("XOM", "BUY", "50"),
    ]
    first = out["orders"][0]
    assert {k: first[k] for k in ("order_type", "limit_price", "reference_price", "notional", "client_order_id")} == {
        "order_type": "MKT", "limit_price": None, "reference_price": "228.50", "notional": "10054.00",
        "client_order_id": "TCP-1-B-AAPL-89CBC7",
    }
    assert out["risk"]["verdict"] == "ready" and len(out["risk"]["results"]) == 10
    assert out["target_value"] == "95095.85"
    assert first["commission"] == "1.00" and out["commission_total"] == "10.00"  # every order pays the 1.00 minimum
    code, tiered = run_json(capsys, ["preview", "--snapshot", NOV20, "--portfolio-value", "100000", "--commission", "tiered", "--json"])
    nvda = next(o for o in tiered["orders"] if o["symbol"] == "NVDA")
    assert nvda["commission"] == "0.6572"  # 96 shares: minimum 0.35 + clearing 0.0192 + exchange 0.288


def test_the_preview_table_words_its_numbers_as_the_window_does(capsys, isolated_user_dirs):
    """It printed the JSON's texts: "portfolio 100000", a reference "228.5" beside a notional
    "10054.00" and another "14877.0", where the window's preview reads 100,000.00, 228.50 and
    10,054.00 (services.core.wording); the import said "gross weight 0.95" beside the window's 95.00%."""
    code = main(["preview", "--snapshot", NOV20, "--portfolio-value", "100000"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert out.splitlines()[0] == ("momentum_2026-11-20.csv: portfolio 100,000.00, budget 100,000.00, target value 95,095.85, "
                                   "10 orders, estimated commission 10.00 (fixed)")
    aapl = next(line.split() for line in out.splitlines() if " AAPL " in line)
    assert aapl[1:6] == ["AAPL", "BUY", "44", "MKT", "228.50"] and aapl[6] == "10,054.00", aapl


def test_preview_rebalances_with_positions_prices_and_limit_orders(capsys):
    code, out = run_json(capsys, [
        "preview", "--snapshot", NOV21, "--portfolio-value", "100000",
        "--positions", str(SAMPLES / "positions_demo.csv"), "--prices", str(SAMPLES / "prices_2026-11-21.csv"),
        "--liquidate-unlisted", "--order-type", "LMT", "--limit-bps", "10", "--json",
    ])
    assert code == EXIT_OK
    orders = {o["symbol"]: o for o in out["orders"]}
    assert (orders["SPY"]["side"], orders["SPY"]["quantity"], orders["SPY"]["target_weight"]) == ("SELL", "12", None)
    assert (orders["AAPL"]["side"], orders["AAPL"]["quantity"], orders["AAPL"]["limit_price"]) == ("SELL", "1", "229.73")
    assert (orders["QQQ"]["side"], orders["QQQ"]["quantity"], orders["QQQ"]["limit_price"]) == ("BUY", "12", "508.80")
    assert [o["side"] for o in out["orders"]] == ["SELL"] * 9 + ["BUY"] * 5


def test_preview_blocked_by_risk_exits_3(capsys):
    code, out = run_json(capsys, ["preview", "--snapshot", NOV20, "--portfolio-value", "100000",
                                  "--risk", "max_order_notional=10000", "max_orders_per_run=5", "--json"])
    assert code == EXIT_BLOCKED
    assert out["risk"]["verdict"] == "blocked"
    assert [b["code"] for b in out["risk"]["run"]] == ["max_orders_per_run"]
    blocked = [r["symbol"] for r in out["risk"]["results"] if r["status"] == "block"]
    assert blocked == ["AAPL", "AMZN", "META", "MSFT", "NVDA"]

    # for people: each block in the risk panel's words, its symbol once ("blocked AAPL: AAPL: ..." before)
    assert main(["preview", "--snapshot", NOV20, "--portfolio-value", "100000",
                 "--risk", "max_order_notional=10000", "max_orders_per_run=5"]) == EXIT_BLOCKED
    said = capsys.readouterr().out.splitlines()
    aapl = [line for line in said if line.startswith("blocked AAPL")]
    assert aapl and aapl[0].startswith("blocked AAPL: order value ") and aapl[0].endswith(" (max_order_notional)"), said
    assert any(line.startswith("run blocked: ") and line.endswith(" (max_orders_per_run)") for line in said), said


def test_preview_missing_price_blocks(capsys, tmp_path):
    snap = tmp_path / "s.csv"
    snap.write_text("symbol,weight\nAAPL,0.1\n")
    code, out = run_json(capsys, ["preview", "--snapshot", str(snap), "--portfolio-value", "1000", "--json"])
    assert code == EXIT_BLOCKED
    assert out["orders"] == [] and out["risk"]["run"][0]["code"] == "missing_price"
    assert main(["preview", "--snapshot", str(snap), "--portfolio-value", "1000"]) == EXIT_BLOCKED
    said = capsys.readouterr().out.splitlines()
    assert "skipped AAPL: no price" in said, said  # the symbol once: it read "skipped AAPL: AAPL: no price"


def test_preview_bad_input_lists_every_problem(capsys, tmp_path):
    prices = tmp_path / "p.csv"
    prices.write_text("symbol,price\nAAPL,1\nMSFT,-3\n")
    code = main(["preview", "--snapshot", MALFORMED, "--portfolio-value", "1000", "--prices", str(prices), "--risk", "nope=1"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "malformed_example.csv, line 3, column weight: weight 'twenty' is not a finite number" in err
    assert "malformed_example.csv, line 8, column weight: gross weight reaches 110.00% on this row, above the maximum 100.00%" in err
    assert "p.csv, line 3, column price: price -3 is zero or negative" in err
    assert "--risk: unknown risk parameter 'nope'" in err
    assert err.startswith("trading-console: 8 problems in the input\n"), err  # as every command's failure begins
    code, out = run_json(capsys, ["preview", "--snapshot", "no/such/file.csv", "--portfolio-value", "1000", "--json"])
    assert code == EXIT_BAD_INPUT and out["errors"][0]["message"].startswith("--snapshot 'no/such/file.csv' is neither")
    main(["preview", "--snapshot", NOV20])  # offline without a portfolio value: the option named once
    assert "--portfolio-value: needed offline (or preview against the broker with --save)" in capsys.readouterr().err


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_snapshot_import_list_and_preview_by_id(capsys, db_url, tmp_path):
    code = main(["--db-url", db_url, "snapshot", "import", NOV20, "--project", "momentum"])
    captured = capsys.readouterr()
    assert code == EXIT_OK
    snapshot_id = int(captured.out.strip())
    assert "imported as snapshot" in captured.err and "10 items, gross weight 95.00%" in captured.err  # as the window says it

    code, again = run_json(capsys, ["--db-url", db_url, "snapshot", "import", NOV20, "--project", "momentum", "--json"])
    assert code == EXIT_OK and (again["id"], again["created"], again["items"]) == (snapshot_id, False, 10)
    copy = tmp_path / "copy_of_nov20.csv"
    copy.write_bytes(Path(NOV20).read_bytes())
    code, renamed = run_json(capsys, ["--db-url", db_url, "snapshot", "import", str(copy), "--project", "other", "--json"])
    assert code == EXIT_OK and renamed["created"] is True and renamed["content_hash"] == again["content_hash"]
    code, second = run_json(capsys, ["--db-url", db_url, "snapshot", "import", NOV21, "--project", "momentum", "--json"])
    assert code == EXIT_OK and second["created"] is True and second["gross_weight"] == "0.97"

    code, rows = run_json(capsys, ["--db-url", db_url, "snapshot", "list", "--project", "momentum", "--json"])
    assert [(r["id"], r["items"], r["source"]) for r in rows] == [
        (second["id"], 12, "momentum_2026-11-21.json"), (snapshot_id, 10, "momentum_2026-11-20.csv")]
    code, everything = run_json(capsys, ["--db-url", db_url, "snapshot", "list", "--json"])
    # newest first by a snapshot's date (console_queries.snapshot_recency): copy_of_nov20.csv, named
    # without a date, is dated the day it was stored, after momentum's 2026-11-21 and 2026-11-20
    assert [r["project"] for r in everything] == ["other", "momentum", "momentum"]
    assert main(["--db-url", db_url, "snapshot", "list"]) == EXIT_OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["id", "project", "created", "(UTC)", "items", "hash", "source"] and len(table) == 4

    code, out = run_json(capsys, ["--db-url", db_url, "preview", "--snapshot", str(snapshot_id), "--portfolio-value", "100000", "--json"])
    assert code == EXIT_OK
    assert out["orders"][0]["reference_price"] == "228.5" and out["orders"][0]["quantity"] == "44"
    assert out["target_value"] == "95095.85"


def test_a_file_imported_again_is_its_stored_snapshot_though_a_copy_of_it_came_since(capsys, db_url, tmp_path, database):
    """The check looked only at the newest snapshot of the same content: once a copy under another
    name was imported into the project, the first file imported again was stored once more, a new
    snapshot, so ``execute --snapshot`` of it started a new run of the day and sent every order a
    second time. The same file is its stored snapshot; a backtest's inputs are found alike."""
    from services.db.repositories import SnapshotRepository
    from services.db.repositories.snapshots import NewSnapshot

    copy = tmp_path / "copy_of_nov20.csv"
    copy.write_bytes(Path(NOV20).read_bytes())
    imported = {}
    for path in (NOV20, str(copy), NOV20, str(copy)):
        code, out = run_json(capsys, ["--db-url", db_url, "snapshot", "import", path, "--project", "momentum", "--json"])
        assert code == EXIT_OK
        imported.setdefault(path, out["id"])
        assert out["id"] == imported[path]
    assert imported[NOV20] != imported[str(copy)]
    with database.unit_of_work() as session:
        project_id = session.execute(select(Snapshot.project_id).where(Snapshot.id == imported[NOV20])).scalar_one()
        again = SnapshotRepository(session).store_once([NewSnapshot(project_id, name, hash_, ()) for name, hash_ in (
            ("momentum_2026-11-20.csv", out["content_hash"]), ("copy_of_nov20.csv", out["content_hash"]))])
    assert again == [imported[NOV20], imported[str(copy)]]


def test_snapshot_import_with_errors_stores_nothing(capsys, db_url):
    code, out = run_json(capsys, ["--db-url", db_url, "snapshot", "import", MALFORMED, "--project", "momentum", "--json"])
    assert code == EXIT_BAD_INPUT
    assert [(e["line"], e["code"]) for e in out["errors"]] == [
        (3, "weight_not_number"), (4, "duplicate_symbol"), (5, "malformed_symbol"), (6, "negative_weight"),
        (7, "price_not_positive"), (8, "gross_weight_above_max")]
    # the window's activity-log words for a refused file (services.console_queries.refused_import_line):
    # the message said only "6 problems"
    assert out["message"] == "malformed_example.csv: 6 problems; nothing was stored"
    assert main(["--db-url", db_url, "snapshot", "import", MALFORMED, "--project", "momentum"]) == EXIT_BAD_INPUT
    said = capsys.readouterr().err.splitlines()
    assert said[0] == "trading-console: malformed_example.csv: 6 problems; nothing was stored" and len(said) == 7, said
    code, rows = run_json(capsys, ["--db-url", db_url, "snapshot", "list", "--json"])
    assert rows == []
    assert main(["--db-url", db_url, "snapshot", "list", "--project", "nope"]) == EXIT_BAD_INPUT


def test_preview_uses_stored_risk_defaults_and_trading_state(capsys, db_url):
    from services.db import Database
    from services.db.repositories import SettingsRepository

    assert main(["--db-url", db_url, "snapshot", "import", NOV20, "--project", "p"]) == EXIT_OK
    snapshot_id = capsys.readouterr().out.strip()
    db = Database(db_url)
    with db.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_quantity": 50})
        SettingsRepository(session).set_trading_state("HALTED")
    db.dispose()
    code, out = run_json(capsys, ["--db-url", db_url, "preview", "--snapshot", snapshot_id, "--portfolio-value", "100000", "--json"])
    assert code == EXIT_BLOCKED
    nvda = next(r for r in out["risk"]["results"] if r["symbol"] == "NVDA")
    assert [b["code"] for b in nvda["blocks"]] == ["trading_halted", "max_order_quantity"]


def test_preview_by_id_counts_orders_sent_today(capsys, db_url):
    from services.db import Database
    from services.db.repositories import OrderRepository
    from services.domain import OrderState

    assert main(["--db-url", db_url, "snapshot", "import", NOV20, "--project", "p"]) == EXIT_OK
    snapshot_id = capsys.readouterr().out.strip()
    db = Database(db_url)
    with db.unit_of_work() as session:
        orders = OrderRepository(session)
        orders.create("X-1", "AAPL", "BUY", 1, status=OrderState.FILLED)
        orders.create("X-2", "AAPL", "BUY", 1, status=OrderState.SUBMITTED)
        orders.create("X-3", "AAPL", "BUY", 1, status=OrderState.BLOCKED)  # never sent: not counted
    db.dispose()
    code, out = run_json(capsys, ["--db-url", db_url, "preview", "--snapshot", snapshot_id, "--portfolio-value", "100000",
                                  "--risk", "max_daily_orders=10", "--json"])
    assert code == EXIT_BLOCKED and out["orders_sent_today"] == 2
    assert [(r["symbol"], [b["code"] for b in r["blocks"]]) for r in out["risk"]["results"] if r["blocks"]] == [
        ("V", ["daily_order_count"]), ("XOM", ["daily_order_count"])]


def test_snapshot_import_is_audited_and_needs_a_project_name(tmp_path, db_url):
    from app.cli import main
    from services.audit import AuditLog
    from services.db import Database

    sample = Path(__file__).resolve().parents[2] / "resources" / "samples" / "momentum_2026-11-20.csv"
    with pytest.raises(SystemExit) as blank:
        main(["--db-url", db_url, "snapshot", "import", str(sample), "--project", "   "])
    assert blank.value.code == 2
    assert main(["--db-url", db_url, "snapshot", "import", str(sample), "--project", "audited"]) == 0
    database = Database(db_url)
    try:
        [entry] = AuditLog(database).list(action="snapshot.import")
        assert entry.payload["project"] == "audited" and entry.payload["items"] == 10
        assert AuditLog(database).verify().ok
    finally:
        database.dispose()


def test_preview_sizes_a_foreign_row_with_the_given_rate_and_blocks_without_one(capsys, tmp_path):
    snapshot = tmp_path / "eur.csv"
    snapshot.write_text("symbol,weight,price,exchange,currency\nSAP,0.1,200,IBIS,EUR\n")
    code, out = run_json(capsys, ["preview", "--snapshot", str(snapshot), "--portfolio-value", "100000", "--fx", "EUR=1.10", "--json"])
    assert code == EXIT_OK
    [order] = out["orders"]
    assert (order["symbol"], order["exchange"], order["currency"], order["quantity"], order["notional"], order["fx_rate"]) == (
        "SAP", "IBIS", "EUR", "45", "9900.00", "1.10")
    code, out = run_json(capsys, ["preview", "--snapshot", str(snapshot), "--portfolio-value", "100000", "--json"])
    assert code == EXIT_BLOCKED and out["orders"] == []
    assert [(s["symbol"], s["reason"]) for s in out["skipped"]] == [("SAP@IBIS:EUR", "missing_rate")]


def test_snapshot_import_refuses_an_option_row_with_its_line(capsys, tmp_path, isolated_user_dirs):
    snapshot = tmp_path / "opt.csv"
    snapshot.write_text("symbol,weight,sec_type\nAAPL,0.1,STK\nSPY,0.1,OPT\n")
    code = main(["preview", "--snapshot", str(snapshot), "--portfolio-value", "100000"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "line 3, column sec_type: SPY: security type OPT is not supported" in err


def test_a_limit_offset_with_market_orders_is_refused_not_ignored(capsys):
    """`preview --limit-bps 20` (the order type left at MKT) built market orders and said nothing
    of the offset it ignored: refused, exit 2, with what to do."""
    code = main(["preview", "--snapshot", NOV20, "--portfolio-value", "100000", "--limit-bps", "20"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "a limit offset (20 bps) is for LMT orders: MKT orders would ignore it (choose LMT, or a limit offset of 0)" in err, err
    assert main(["preview", "--snapshot", NOV20, "--portfolio-value", "100000", "--limit-bps", "0", "--json"]) == EXIT_OK


@pytest.mark.parametrize("given", [["--demo"], ["--profile", "demo"]])
def test_a_broker_command_given_demo_is_refused_before_anything_is_opened(capsys, isolated_user_dirs, given):
    """Given the demo profile a command opens the demo window's database (app.settings.Settings.
    demo_given), whose orders went to that window's built-in simulator, which no command reaches:
    sent through TWS / IB Gateway instead, a paper account's orders would land among the demo's.
    Refused, exit 2, before any database is opened or any connection tried (the port here is
    closed: tried, it was exit 5)."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code, out = run_json(capsys, [*given, "reconcile", "--ib-port", str(port), "--connect-timeout", "2", "--json"])
    assert (code, out["error"]) == (EXIT_BAD_INPUT, "demo_sends_nothing"), out
    assert not (isolated_user_dirs / "data" / "demo.sqlite3").exists()


def test_a_demo_backtest_from_the_broker_is_told_to_use_the_cached_bars(capsys, isolated_user_dirs, tmp_path):
    """A trader's walk: `--demo backtest --from-broker` was refused in the words for sending
    orders ("trades only in the demo window ... sends nothing"), which told a backtest, which
    sends nothing, nothing it could do. It says to give --cached (the bars the demo window's
    Backtest panel downloaded) or --prices."""
    weights = tmp_path / "w.csv"
    weights.write_text("date,symbol,weight\n2024-12-02,AAPL,0.1\n", encoding="utf-8")
    code, out = run_json(capsys, ["--demo", "backtest", "--from-broker", "--snapshots", str(weights), "--project", "p",
                                  "--json"])
    assert code == EXIT_BAD_INPUT, out
    assert out["message"].startswith("--from-broker with --demo: ") and "give --cached" in out["message"], out
