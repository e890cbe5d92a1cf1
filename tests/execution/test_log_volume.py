"""The log at INFO: one line per event, not the IB client library's per-message dumps (kilobytes
per order update), and the file rotates by size."""

from __future__ import annotations

import logging
import logging.handlers
from decimal import Decimal

import pytest

from app.logs import LOG_BACKUPS, LOG_FILE_BYTES, QUIET_LOGGERS, configure_logging
from app.settings import Settings
from services.domain import TradeMode

from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def info_log(tmp_path):
    """configure_logging at INFO into tmp_path; the root handlers and logger levels restored."""
    root = logging.getLogger()
    before_handlers, before_level = list(root.handlers), root.level
    before_levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    configure_logging(Settings(log_dir=tmp_path / "logs", log_level="INFO"), stderr_level="CRITICAL")
    try:
        yield tmp_path / "logs" / "console.log"
    finally:
        for handler in list(root.handlers):
            if handler not in before_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(before_level)
        for name, level in before_levels.items():
            logging.getLogger(name).setLevel(level)


async def test_a_run_logs_a_few_short_lines_at_info(info_log, stack):
    _, snapshot_id = make_snapshot(stack.db, "quiet", {"AAPL": "0.01", "MSFT": "0.005", "NVDA": "0.002"})
    run = await stack.service.create_run("quiet", snapshot_id, TradeMode.PAPER, {})
    result = await stack.service.execute(run.id, portfolio_value=Decimal("100000"))
    assert len(result.sent) == 3
    assert await stack.service.wait_done(run.id, 10) == []
    await stack.writer.flush()
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = info_log.read_text(encoding="utf-8").splitlines()
    chatty = [line for line in lines if " ib_async.wrapper: " in line or " ib_async.ib: " in line]
    assert chatty == [], chatty[:3]
    simulator_per_order = [line for line in lines if "services.ibsim" in line and (" fill " in line or "order " in line)]
    assert simulator_per_order == []
    # 3 orders, each acknowledged and filled: the log stays a handful of lines, none a dump.
    assert len(lines) <= 40, "\n".join(lines)
    assert max((len(line) for line in lines), default=0) < 2000


def test_the_log_file_rotates_by_size(info_log):
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler))
    assert (handler.maxBytes, handler.backupCount) == (LOG_FILE_BYTES, LOG_BACKUPS)
    assert 0 < LOG_FILE_BYTES <= 10_000_000
