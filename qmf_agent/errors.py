"""The errors of the QMF layer, each carrying the code it has on the wire.

::

    QmfError (code 7, EXCEPTION)            base: anything a request can fail with
    ├── UnknownObject          1            no object with that id / key
    ├── UnknownMethod          2            the class has no such method
    ├── NotImplementedByAgent  3            the opcode is not one we serve
    ├── ParameterInvalid       4            a bad argument, body or field (names which)
    ├── FeatureNotImplemented  5            valid request, the backend cannot do it
    ├── Forbidden              6            the caller's identity may not do this
    ├── InternalError          7            a bug: logged with traceback, text generic
    └── SchedulerError    0x10000           scheduler-level failures (ours), below:
        ├── JobNotFound        0x10001
        ├── JobStateError      0x10002      e.g. release of a job that is not held
        ├── QueueFull          0x10003      also: rate and size limits exceeded
        └── StoreError         0x10004      the durable store refused a change (disk full)

    RequestTimeout (client side)            no answer within the timeout

Codes live on the classes; the agent turns an exception into an
``_exception`` body at one boundary (:func:`to_wire`) and the console turns
the body back into the same class (:func:`from_wire`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "QmfError",
    "UnknownObject",
    "UnknownMethod",
    "NotImplementedByAgent",
    "ParameterInvalid",
    "FeatureNotImplemented",
    "Forbidden",
    "InternalError",
    "SchedulerError",
    "JobNotFound",
    "JobStateError",
    "QueueFull",
    "StoreError",
    "RequestTimeout",
    "Unreachable",
    "to_wire",
    "from_wire",
]


class QmfError(Exception):
    """A request failed; ``code`` is its ``error_code`` on the wire."""

    code = 7

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class UnknownObject(QmfError):
    code = 1


class UnknownMethod(QmfError):
    code = 2


class NotImplementedByAgent(QmfError):
    code = 3


class ParameterInvalid(QmfError):
    code = 4


class FeatureNotImplemented(QmfError):
    code = 5


class Forbidden(QmfError):
    code = 6


class InternalError(QmfError):
    code = 7


class SchedulerError(QmfError):
    code = 0x10000


class JobNotFound(SchedulerError):
    code = 0x10001


class JobStateError(SchedulerError):
    code = 0x10002


class QueueFull(SchedulerError):
    code = 0x10003


class StoreError(SchedulerError):
    code = 0x10004


class RequestTimeout(QmfError):
    """Raised by clients only: the agent gave no final answer in time."""

    code = -1


class Unreachable(RequestTimeout):
    """Raised by clients only: the request can get no answer.  The peer
    refused it outright (the direct listener knows no agent of that name),
    or the connection dropped while it waited (its answer, if any, went to
    a reply address that died with the connection).  Raised at once instead
    of after the timeout; a :class:`RequestTimeout`, so code handling "no
    answer" handles it too."""


_BY_CODE: dict[int, type[QmfError]] = {
    cls.code: cls
    for cls in (
        UnknownObject,
        UnknownMethod,
        NotImplementedByAgent,
        ParameterInvalid,
        FeatureNotImplemented,
        Forbidden,
        InternalError,
        SchedulerError,
        JobNotFound,
        JobStateError,
        QueueFull,
        StoreError,
    )
}


def to_wire(err: QmfError) -> dict[str, Any]:
    """The ``_exception`` body for *err*."""
    return {"_values": {"error_code": err.code, "error_text": err.text}}


def from_wire(body: Any) -> QmfError:
    """Rebuild the error an ``_exception`` body describes (never raises)."""
    values = body.get("_values", {}) if isinstance(body, dict) else {}
    code = values.get("error_code", 7) if isinstance(values, dict) else 7
    text = values.get("error_text", "") if isinstance(values, dict) else ""
    cls = _BY_CODE.get(code, QmfError) if isinstance(code, int) else QmfError
    err = cls(str(text) or f"error code {code}")
    if cls is QmfError and isinstance(code, int):
        err.code = code
    return err
