"""The sessions the HTCondor-style API shares, one per URL.

HTCondor's bindings reuse a security session per daemon, which is what
makes them cheaper than forking condor_q; we reuse one
:class:`~console.session.Session` (one AMQP connection) per URL for the
same reason.  :meth:`SecMan.invalidateAllSessions` drops them, so the next
call reconnects (after a password change or an agent restart, say).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

import classad

from .session import Session, default_url

__all__ = ["session_for", "url_of", "SecMan", "forget_sessions", "ads_from_wire", "ad_from_wire"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_sessions: dict[str, Session] = {}


def url_of(location: str | Mapping[str, Any] | None) -> str:
    """A URL from what HTCondor's constructors accept: nothing (the
    default), a URL, a ``host[:port]``, a sinful string ``<host:port>``, or
    a daemon's location ad (its ``QmfUrl`` or ``MyAddress``)."""
    if location is None:
        return default_url()
    if isinstance(location, Mapping):
        for key in ("QmfUrl", "MyAddress"):
            value = location.get(key)
            if isinstance(value, str) and value:
                return url_of(value)
        raise ValueError("the location ad has neither QmfUrl nor MyAddress")
    text = str(location).strip()
    if not text:
        return default_url()
    if "://" in text:
        return text
    m = re.fullmatch(r"<([^:>?]+)(?::(\d+))?[^>]*>", text)
    if m:
        return f"amqp://{m.group(1)}:{m.group(2) or 5672}"
    if re.fullmatch(r"[A-Za-z0-9._\-\[\]]+(:\d+)?", text):
        return f"amqp://{text}" if ":" in text.replace("[", "").rsplit("]", 1)[-1] else f"amqp://{text}:5672"
    raise ValueError(f"cannot use {text!r} as a location: give a URL, host[:port] or a location ad")


def session_for(location: str | Mapping[str, Any] | None) -> Session:
    """The shared session for *location* (connecting on first use)."""
    url = url_of(location)
    with _lock:
        session = _sessions.get(url)
        if session is None:
            session = _sessions[url] = Session(url)
    return session


def forget_sessions() -> int:
    """Close and drop every shared session; returns how many there were."""
    with _lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for s in sessions:
        s.close()
    return len(sessions)


class SecMan:
    """The security manager: owns the cached connections."""

    def invalidateAllSessions(self) -> None:
        """Drop every cached connection; the next call reconnects."""
        count = forget_sessions()
        log.debug("invalidated %d session(s)", count)

    invalidate_all_sessions = invalidateAllSessions

    def __enter__(self) -> SecMan:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def ads_from_wire(items: Any) -> list[classad.ClassAd]:
    """ClassAds from a list of wire maps (any of the three encodings)."""
    if not isinstance(items, list):
        return []
    return [ad_from_wire(item) for item in items if isinstance(item, Mapping)]


def ad_from_wire(item: Mapping[str, Any]) -> classad.ClassAd:
    ad, _encoding = classad.decode_job_ad(dict(item))
    return ad
