"""Render connection URLs without their password: for logs, error messages and the UI.

The one redaction used everywhere a database URL can appear (stderr, the log file, the window).
It must hold for URLs that are not valid too, because those are exactly the ones that end up in
error messages:

* ``mysql+pymysql://trader:Top@Secret@127.0.0.1/x`` (a raw ``@`` in the password): everything up
  to the LAST ``@`` is user information, so the whole password is hidden, never just its head;
* ``trader:secret@nowhere`` (no scheme) is redacted like a URL with one;
* ``?password=secret`` (or ``passwd=``/``pwd=``) in the query string is hidden;
* a string that does not parse as a database URL is not shown at all beyond its scheme.

A driver's error text can quote a piece of a mis-parsed URL on its own (``Can't connect to MySQL
server on 'Secret@127.0.0.1'``), where no URL pattern can recognise it. So every database URL the
console is given is also *registered* (:func:`remember_url_secrets`): its password, decoded and
encoded, and the pieces of it between ``@`` signs are replaced in every text passed to
:func:`redact_text`.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

MASK = "***"
# Pieces shorter than this are not replaced in free text (replacing "ab" everywhere would
# garble messages); the URL-shaped redaction still hides them inside URLs.
_MIN_SECRET_PIECE = 4

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_QUERY_PASSWORD = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass)=)[^&\s'\"]*")
# In free text: scheme://user:anything-without-whitespace@ (greedy: up to the LAST '@' of the
# whitespace-free run, so a raw '@' in the password does not leave its tail visible).
_TEXT_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s'\"]*):(?P<password>\S*)@")

_secrets: set[str] = set()
_lock = threading.Lock()


def _split_userinfo(url: str) -> tuple[str, str | None, str | None, str]:
    """``(scheme, user, password, rest)`` by the rules above; user/password ``None`` when the URL
    has no user information."""
    match = _SCHEME.match(url)
    scheme = match.group(0) if match else ""
    body = url[len(scheme):]
    at = body.rfind("@")
    if at < 0:
        return scheme, None, None, body
    userinfo, rest = body[:at], body[at + 1:]
    user, sep, password = userinfo.partition(":")
    return scheme, user, (password if sep else None), rest


def _parses(url: str) -> bool:
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a non-numeric port fails here
    except Exception:  # noqa: BLE001 - any parse failure means "do not show it"
        return False
    return True


def redact_url(url: str | None) -> str:
    """``mysql+pymysql://root:secret@db/x`` -> ``mysql+pymysql://root:***@db/x``; a URL that does
    not parse -> its scheme and a note, nothing of the rest."""
    if not url:
        return ""
    text = str(url).strip()
    if not _parses(text):
        match = _SCHEME.match(text)
        return f"{match.group(0) if match else ''}<unparseable URL, hidden>"
    scheme, user, password, rest = _split_userinfo(text)
    if user is None:
        shown = scheme + rest
    elif password is None:
        shown = f"{scheme}{user}@{rest}"
    else:
        shown = f"{scheme}{user}:{MASK}@{rest}"
    return redact_text(_QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, shown))


def database_name(url: str | None) -> str:
    """A short name of a database URL for a narrow place (the status bar, beside the connection):
    a SQLite file's name, else the database on its host; the redacted URL when it is neither."""
    from pathlib import PureWindowsPath

    from sqlalchemy.engine import make_url

    shown = redact_url(url)  # read from the redacted URL only: no part of a password can come through
    if not shown or not _parses(shown):
        return shown
    parsed = make_url(shown)
    if parsed.get_backend_name() == "sqlite":
        # PureWindowsPath: a file name after either separator
        return PureWindowsPath(parsed.database).name if parsed.database else "in-memory SQLite"
    if parsed.database and parsed.host:
        return redact_text(f"{parsed.database} on {parsed.host}")
    return shown


def has_password(url: str | None) -> bool:
    """Whether ``url`` carries a password (in its user information or its query string)."""
    if not url:
        return False
    text = str(url).strip()
    return bool(_split_userinfo(text)[2]) or bool(_QUERY_PASSWORD.search(text))


def url_secrets(url: str | None) -> set[str]:
    """The strings of ``url`` that must never be shown: the password (raw and percent-decoded),
    its pieces between ``@`` signs, and a query-string password."""
    if not url:
        return set()
    text = str(url).strip()
    found: set[str] = set()
    _scheme, _user, password, _rest = _split_userinfo(text)
    if password:
        found.add(password)
        found.update(password.split("@"))
    for match in _QUERY_PASSWORD.finditer(text):
        found.add(match.group(0)[len(match.group(1)):])
    if "://" not in text and "@" not in text and ":" in text:
        # Garbage such as "user:password" alone: treat what follows the colon as secret.
        found.add(text.partition(":")[2])
    decoded = {unquote(piece) for piece in found}
    found |= decoded
    for piece in decoded:
        found.update(piece.split("@"))
    return {piece for piece in found if len(piece) >= _MIN_SECRET_PIECE}


def remember_url_secrets(url: str | None) -> None:
    """Register the secrets of a database URL the console was given, for :func:`redact_text`."""
    pieces = url_secrets(url)
    if pieces:
        with _lock:
            _secrets.update(pieces)


def redact_text(text: str) -> str:
    """Redact every URL password inside free text (exception messages, log lines), and every
    registered secret wherever it appears."""
    if not text:
        return text
    text = _TEXT_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", str(text))
    text = _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
