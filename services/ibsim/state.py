"""Durable state and the execution ledger: JSON files written atomically (temp file in the
same folder, fsync, rename), so a crash never leaves half a file behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# 2: a ledger (cash, positions) per managed account under "accounts"; 1 (still read): one ledger at
# the top, the first account's
STATE_FORMAT = 2
READABLE_FORMATS = (1, STATE_FORMAT)


def check_folder(what: str, path: str | Path) -> None:
    """ValueError when the folder of ``path`` (the ``what``: state file, ledger) does not exist:
    refused, not created, as the console refuses an SQLite database in a missing folder (a typo
    in ``--state`` made a new folder and an empty simulator, silently)."""
    folder = Path(path).expanduser().parent
    if not folder.is_dir():
        raise ValueError(f"the folder of the {what} {path} does not exist: create it (mkdir -p {folder}) or correct the path")


def write_json_atomic(path: str | Path, data: Any) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; others may read the ledger
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def read_json(path: str | Path) -> Any:
    with Path(path).open(encoding="utf-8") as handle:
        return json.load(handle)
