"""The qmf-grid console: a QMF session, an HTCondor-style API, and the CLI.

Programs written for HTCondor's Python bindings or the classic QMF console
run against a qmf-grid agent with only their imports changed::

    import console as htcondor            # Collector, Schedd, JobAction, ...
    from console import classad           # the ClassAd language
    from console import Session           # the QMF console

Public surface: :class:`Session` (module :mod:`console.session`),
:class:`Collector`, :class:`Schedd`, :class:`Submit`, :func:`send_command`,
:data:`param`, :func:`reload_config`, :class:`SecMan`, the enums, and
:func:`version`.  The ``qmf`` command line lives in :mod:`console.cli`.
"""

from __future__ import annotations

import classad

from ._collector import Collector
from ._connection import SecMan
from ._master import param, reload_config, send_command
from ._schedd import Schedd
from .enums import (
    AdType,
    AdTypes,
    DaemonCommand,
    DaemonCommands,
    DaemonType,
    DaemonTypes,
    JobAction,
    JobStatus,
)
from .session import Agent, Event, Handler, MethodResult, QmfObject, Session
from .submit import Submit, SubmitError

__all__ = [
    "classad",
    "Session",
    "Handler",
    "Agent",
    "Event",
    "MethodResult",
    "QmfObject",
    "Collector",
    "Schedd",
    "Submit",
    "SubmitError",
    "SecMan",
    "send_command",
    "param",
    "reload_config",
    "version",
    "AdTypes",
    "AdType",
    "DaemonTypes",
    "DaemonType",
    "DaemonCommands",
    "DaemonCommand",
    "JobAction",
    "JobStatus",
]

__version__ = "0.1.0"


def version() -> str:
    """The version string, in the shape HTCondor's ``version()`` has."""
    return f"$CondorVersion: {__version__} qmf-grid $"
