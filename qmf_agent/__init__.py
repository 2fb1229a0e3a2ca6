"""qmf-grid's agent side: a generic QMFv2 agent and the scheduler it manages.

Layers (see docs/internals.md): :mod:`qmf_agent.protocol` (sans-IO codec),
:mod:`qmf_agent.schema` (the model as data), :mod:`qmf_agent.agent` (managed
objects, queries, methods, indications), :mod:`qmf_agent.transport` (the
only proton code) and :mod:`qmf_agent.grid` (the scheduler, which knows jobs
but not AMQP).  The most used names are re-exported here lazily, so that
importing a leaf module such as :mod:`qmf_agent.errors` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Agent", "Schema", "Message", "__version__"]

__version__ = "0.1.0"

_LAZY = {"Agent": "qmf_agent.agent", "Schema": "qmf_agent.schema", "Message": "qmf_agent.message"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qmf_agent' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
