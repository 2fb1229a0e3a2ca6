"""ClassAds: HTCondor's ClassAd language (25.x semantics) in pure Python.

The public surface follows HTCondor's v2 Python bindings (``classad2``)::

    import classad
    ad = classad.ClassAd('[ a = 1; b = a + 1 ]')
    ad.eval("b")                                   # 2
    classad.ExprTree("TARGET.Memory > 10").eval(target=machine)
    job.matches(machine); job.symmetric_match(machine); classad.rank(job, machine)
    classad.parse_ads(open("ads.txt"))             # old, new or JSON syntax

UNDEFINED and ERROR are values (``classad.Value.Undefined``/``Error``);
exceptions are for bad input (:class:`ClassAdSyntaxError`) and API misuse.
Semantics are HTCondor's compat mode unless ``classad.set_strict(True)``.
"""

from __future__ import annotations

from ._ast import Node
from ._classad import ClassAd, ExprTree
from ._errors import ClassAdError, ClassAdEvaluationError, ClassAdSyntaxError
from ._match import matches, rank, symmetric_match
from ._mode import is_strict, set_strict
from ._parser import parse_expression
from ._reading import ParserType, parse_ads, parse_next, parse_one, quote, unquote
from ._unparse import unparse, unparse_old
from ._values import AbsTime, RelTime, Value
from ._wire import WireFormatError, decode_job_ad, encode_job_ad

__all__ = [
    "ClassAd",
    "ExprTree",
    "Value",
    "ParserType",
    "ClassAdError",
    "ClassAdSyntaxError",
    "ClassAdEvaluationError",
    "parse_one",
    "parse_ads",
    "parse_next",
    "parse_expression",
    "parseOne",
    "parseAds",
    "parseNext",
    "quote",
    "unquote",
    "version",
    "set_strict",
    "is_strict",
    "matches",
    "symmetric_match",
    "rank",
    "unparse",
    "unparse_old",
    "Node",
    "AbsTime",
    "RelTime",
    "decode_job_ad",
    "encode_job_ad",
    "WireFormatError",
]

#: The HTCondor release whose ClassAd semantics this library implements.
HTCONDOR_VERSION = "25.14.1"


def version() -> str:
    """The HTCondor version whose ClassAd language this implements."""
    return HTCONDOR_VERSION


# camelCase names from HTCondor's bindings, which the seed tutorial uses.
parseOne = parse_one
parseAds = parse_ads
parseNext = parse_next
