"""Render connection URLs without their password: for logs, error messages and the UI."""

from __future__ import annotations

import re

_USERINFO_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@")


def redact_url(url: str | None) -> str:
    """``mysql+pymysql://root:secret@db/x`` -> ``mysql+pymysql://root:***@db/x``."""
    if not url:
        return ""
    return _USERINFO_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(url))


def redact_text(text: str) -> str:
    """Redact every URL password inside free text (exception messages, log lines)."""
    return _USERINFO_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
