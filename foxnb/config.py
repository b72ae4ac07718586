"""Where foxnb reads its settings, and how it keeps the API key out of sight.

``FOXAPI_API_KEY`` selects the real service; ``FOXAPI_BASE_URL`` overrides its address
(default ``https://api.foxapi.cc``). ``FOXNB_STORE`` names the runs store every session of a
team shares (``postgresql://…``, or a SQLite file; default: ``runs.db`` in the work folder).
``FOXNB_HOST`` names this machine in that store (default: its host name; set it where several
containers share one host name). This module is the only place that reads them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ValidationError

DEFAULT_BASE_URL = "https://api.foxapi.cc"
API_KEY_ENV = "FOXAPI_API_KEY"
BASE_URL_ENV = "FOXAPI_BASE_URL"
STORE_ENV = "FOXNB_STORE"
HOST_ENV = "FOXNB_HOST"


def mask_key(key: str | None) -> str:
    """Show a key as ``sk-…abcd``: enough to tell two keys apart, useless to an attacker."""
    if not key:
        return "<none>"
    prefix = key.split("-", 1)[0] + "-" if "-" in key[:8] else ""
    return f"{prefix}…{key[-4:]}" if len(key) > 8 else "…"


def scrub(text: str, key: str | None) -> str:
    """Replace every occurrence of ``key`` in ``text`` by its mask."""
    if key and key in text:
        return text.replace(key, mask_key(key))
    return text


def is_loopback(url: str) -> bool:
    """True for URLs whose host is a loopback address (127.0.0.0/8, ::1) or ``localhost``.

    Only literal addresses count: a name such as ``127.0.0.1.example.com`` is resolved by
    DNS to wherever its owner likes, so it is not loopback.
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Config:
    """Connection settings. ``repr`` never shows the key."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_key.strip():
            raise ValidationError("api_key", "is empty", f"a FoxAPI key, or set {API_KEY_ENV}")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("base_url", f"{self.base_url!r} is not an http(s) URL")
        # The key travels in a header: refuse to send it in clear text off this machine.
        if parts.scheme == "http" and not is_loopback(self.base_url):
            raise ValidationError(
                "base_url",
                f"{self.base_url!r} is plain http; the API key is only sent over https",
                "https://… or http://127.0.0.1:…",
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def __repr__(self) -> str:
        return f"Config(api_key={mask_key(self.api_key)!r}, base_url={self.base_url!r})"

    @property
    def host(self) -> str:
        """``host[:port]`` of the service, for the run ledger."""
        return urlsplit(self.base_url).netloc


def key_from_env() -> str | None:
    """The API key from the environment, or None when unset or blank."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    return key or None


def base_url_from_env() -> str:
    """The service address from the environment, or the public default."""
    return os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL


def store_from_env() -> str | None:
    """The runs store ``FOXNB_STORE`` names, or None (the work folder's own) when unset."""
    return os.environ.get(STORE_ENV, "").strip() or None


def owner_host() -> str:
    """This machine's name in the runs store: ``FOXNB_HOST``, else the host name. Leases of
    processes on the same named host that no longer exist are taken over at once."""
    name = os.environ.get(HOST_ENV, "").strip() or socket.gethostname()
    return name.replace(":", "_")  # owners are written host:pid:session
