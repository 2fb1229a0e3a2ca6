"""What Schedd, Collector and the master helpers share: finding one managed
object at a location and calling its methods with errors raised, not
returned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from qmf_agent.errors import UnknownObject, from_wire

from ._connection import session_for, url_of
from .session import PACKAGE, QmfObject, Session

__all__ = ["DaemonObject"]

log = logging.getLogger(__name__)


class DaemonObject:
    """A handle on the one object of class ``_qmf_class`` at a location.

    The location is what HTCondor's constructors take (None, URL, host, or
    a location ad); a location ad's ``Name`` picks among several objects
    of the class (several agents on one broker).
    """

    _qmf_class = ""

    def __init__(self, location: str | Mapping[str, Any] | None = None) -> None:
        self._url = url_of(location)
        self._name = str(location.get("Name")) if isinstance(location, Mapping) and location.get("Name") else None
        self._object: QmfObject | None = None

    @property
    def url(self) -> str:
        return self._url

    @property
    def session(self) -> Session:
        return session_for(self._url)

    def _target(self) -> QmfObject:
        if self._object is None:
            objects = self.session.getObjects(_class=self._qmf_class, _package=PACKAGE)
            if self._name is not None:
                objects = [o for o in objects if self._name in (o.values().get("Name"), o.key)]
            if not objects:
                where = f" named {self._name}" if self._name else ""
                raise UnknownObject(f"no {self._qmf_class}{where} at {self._url}")
            self._object = objects[0]
        return self._object

    def _invoke(self, method: str, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Call *method*; a failure raises the agent's error class."""
        target = self._target()
        result = target.invokeMethod(method, {k: v for k, v in args.items() if v is not None}, timeout)
        if result.status:
            raise from_wire({"_values": {"error_code": result.status, "error_text": result.text}})
        return result.outArgs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._url}>"
