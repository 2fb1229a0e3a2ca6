"""The process-wide semantics mode: compat (HTCondor's default) or strict.

HTCondor applies ``SetOldClassAdSemantics(!STRICT_CLASSAD_EVALUATION)`` once
per process; we do the same with :func:`set_strict`.  The mode is read when an
expression is parsed (leading-zero integers) and when it is compiled (scope
fallback, ``MY``, ``CurrentTime``), so compiled closures are cached per mode.
"""

from __future__ import annotations

import logging

__all__ = ["set_strict", "is_strict"]

_log = logging.getLogger(__name__)

_state = {"strict": False}


def set_strict(strict: bool) -> None:
    """Select strict (``True``) or compat (``False``, the default) semantics
    for the whole process, as HTCondor's ``STRICT_CLASSAD_EVALUATION`` does."""
    if not isinstance(strict, bool):
        raise TypeError(f"set_strict() needs a bool, not {type(strict).__name__}")
    if strict != _state["strict"]:
        _log.debug("ClassAd semantics switched to %s", "strict" if strict else "compat")
    _state["strict"] = strict


def is_strict() -> bool:
    """True when strict semantics are in force."""
    return _state["strict"]
