"""How every engine of the console connects to its database: the ``Database``'s, the
migrations', the schema check's. One place, so that a rule about the link holds for all of them.

TLS on a loopback link. PyMySQL 1.2 tries TLS on every connection unless told otherwise
("preferred": used when the server offers it, the certificate not verified) and, to do so,
builds a fresh default SSL context for each connection, which reads the system's certificate
store: about 20 ms of CPU per connection on this project's machines (``ssl.create_default_context``
timed alone), more than most statements a command runs. On a loopback address or a Unix socket
the traffic never leaves the machine, so TLS there protects nothing and the console turns it off.
Anywhere else the driver's own default stands, and a URL that names any TLS option of its own
(``?ssl_ca=...``, ``?ssl_disabled=...``) is left exactly as written.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy.engine import make_url


def connect_args(url: str) -> dict[str, Any]:
    """The driver's connection arguments the console adds to ``url``'s own (none for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("mysql", "mariadb"):
        return {}
    if any(key.startswith("ssl") for key in parsed.query):
        return {}  # the operator chose: their URL's options stand
    return {"ssl_disabled": True} if on_loopback(parsed.host, "unix_socket" in parsed.query) else {}


def on_loopback(host: str | None, unix_socket: bool = False) -> bool:
    """Whether a server at ``host`` is reached without leaving this machine (no host is the
    driver's ``localhost``)."""
    if unix_socket or not host or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere
