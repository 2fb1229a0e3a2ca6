"""The ClassAd built-in function library (HTCondor 25 semantics).

This is the evaluator's entry point: ``BUILTINS`` maps a lower-case function
name to a :class:`Builtin` (the function and the argument counts it takes).
Each function receives already-evaluated arguments in the representation of
:mod:`classad._values` (lists as tuples, records as :class:`Record`), returns
a value (a ``dict`` for a record) and never raises.

The functions live in one module per family, each registering itself:
:mod:`classad._builtins_core` (types, lists, conversions, arithmetic),
:mod:`classad._builtins_time`, :mod:`classad._builtins_strings` (strings,
versions, regular expressions) and :mod:`classad._builtins_compat`
(HTCondor's compatibility layer).  Functions that need unevaluated arguments
or the evaluation context (``eval``, ``unparse``, ``unresolved``,
``ifThenElse``, ``evalInEachContext``, ``countMatches``, ``debug``) belong
to the evaluator, which may register them here too.
"""

from __future__ import annotations

from classad import _builtins_compat, _builtins_core, _builtins_strings, _builtins_time
from classad._builtin_registry import BUILTINS, Builtin, builtin
from classad._builtins_compat import register_user_map
from classad._usermap import UserMap

__all__ = ["Builtin", "BUILTINS", "builtin", "register_user_map", "UserMap"]

# Imported for their registrations.
del _builtins_compat, _builtins_core, _builtins_strings, _builtins_time
