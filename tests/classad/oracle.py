"""Run differential ClassAd cases through HTCondor's ``classad2`` and through ours.

Why a separate process for the oracle: classad2 keeps its semantics mode
(compat or strict) and its compat-layer functions in process-global state that
is fixed when the HTCondor configuration loads, and a later ``repr()`` of an
ad-valued expression can load it lazily and flip the mode mid-run.  So each
mode gets its own child process, started with a pinned ``CONDOR_CONFIG``
(``STRICT_CLASSAD_EVALUATION``), ``TZ=UTC`` and ``htcondor2`` imported before
anything is evaluated.  The child reads cases as JSON on stdin and writes
results as JSON on stdout; the test process computes our library's results in
process with the same code (:func:`execute`) and compares the two as data.

A case is a dict with ``id``, ``op`` and op-specific fields:

``expr``       ``expr`` (text), optional ``scope``/``target`` (new-syntax ad
               texts), optional ``volatile`` (compare the value's type only:
               ``time()``, ``random()``...).  Result: ``parse`` ("ok" or
               "error"), ``unparse`` (one-line new syntax), ``pretty``
               (``str()``, when no record is involved) and ``value``.
``parse``      ``text`` and ``parser`` ("new", "old", "json").  Result:
               ``parse`` and ``ad`` (attribute name -> unparse text).
``match``      ``left`` and ``right`` ad texts.  Result: ``value`` =
               [left.matches(right), right.matches(left), symmetric].
``api``        ``text`` (an ad) and optional ``expr``: ``flatten``,
               ``external``/``internal`` refs of the expression, or without
               ``expr`` the Python value of every ``ad[key]`` (``items``).
``quote``      ``string`` (quote it, then unquote the result) or ``text``
               (unquote it).
``stream``     ``text`` and ``parser`` (a ParserType name, Auto included):
               ``ads`` from parseAds and ``one`` from parseOne.
``roundtrip``  ``text`` (a new-syntax ad).  Result: ``ad``, ``old_lines``
               (sorted lines of ``printOld``), ``from_old`` (the old text
               parsed back), ``json`` (``printJson`` decoded) and
               ``from_json`` (the JSON text parsed back).

Values are canonical JSON data (see :func:`canon`): a tagged list per type, so
that int, real, bool, reltime and abstime stay distinct, floats compare
exactly (hex) with NaN equal to NaN, lists elementwise and ads as maps.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "PARSERS",
    "OracleError",
    "canon",
    "execute",
    "ours_adapter",
    "run_oracle",
]

#: Parser names used in cases -> ParserType member names of both libraries.
PARSERS = {"new": "New", "old": "Old", "json": "JSON"}

#: Environment the oracle child runs in (besides CONDOR_CONFIG).
_ORACLE_TZ = "UTC"


class OracleError(RuntimeError):
    """The classad2 child process failed (not a case disagreement)."""


class Adapter:
    """What :func:`execute` needs from a ClassAd library.

    ``parse_expr(text)`` returns an expression or raises :class:`SyntaxFail`;
    ``parse_ad(text, parser)`` returns an ad (``None`` for an empty old-syntax
    text) or raises :class:`SyntaxFail`; everything else is the common
    bindings API both libraries share (``eval``, ``simplify``, ``lookup``,
    ``matches``, ``symmetricMatch``, ``printOld``, ``printJson``).
    """

    def __init__(
        self,
        lib: Any,
        parse_expr: Callable[[str], Any],
        parse_ad: Callable[[str, str], Any],
        is_oracle: bool = False,
    ) -> None:
        self.lib = lib
        self.is_oracle = is_oracle
        self.parse_expr = parse_expr
        self.parse_ad = parse_ad


class SyntaxFail(Exception):
    """The library rejected the text (the canonical form of a parse error)."""


# ---------------------------------------------------------------- canon


def _scan_to(text: str, i: int, stops: str) -> int:
    """Index of the first char of *stops* at nesting depth 0 from *i*,
    skipping strings and quoted names (len(text) if none)."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i += 1
            while i < len(text) and text[i] != c:
                i += 2 if text[i] == "\\" else 1
        elif depth == 0 and c in stops:
            return i
        elif c in "[{(":
            depth += 1
        elif c in "]})":
            depth -= 1
        i += 1
    return len(text)


def sort_records(text: str) -> str:
    """*text* (a one-line new-syntax unparse) with the attributes of every
    record literal sorted by name.

    HTCondor prints a record's attributes in hash order, which no other
    implementation can (or should) reproduce; everything else in the text
    is compared exactly.  In canonical unparse text a record opens with
    ``"[ "`` while a subscript's ``[`` is never followed by a space.
    """
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("[ ", i):
            end = _scan_to(text, i + 1, "]")
            body = text[i + 2:end].rstrip()
            entries, k = [], 0
            while k < len(body):
                stop = _scan_to(body, k, ";")
                entries.append(sort_records(body[k:stop].strip()))
                k = stop + 1
            entries.sort(key=lambda e: e.split(" = ", 1)[0].lower())
            out.append("[ " + "; ".join(entries) + (" ]" if entries else "]"))
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _real(x: float) -> str:
    return "nan" if x != x else x.hex()


def canon(lib: Any, v: Any, simplified: str | None = None) -> Any:
    """Canonical JSON data for a Python value returned by ``eval``.

    *simplified* is ``repr(expr.simplify(...))`` for a top-level float: the
    bindings return RelTime as a float, and only the simplified text tells
    ``relTime(...)`` from a Real.  AbsTime compares by its simplified text too,
    because the datetime the bindings return has lost the zone offset.
    """
    Value = lib.Value
    if isinstance(v, Value):
        return "undefined" if v == Value.Undefined else "error"
    if isinstance(v, bool):
        return ["bool", v]
    if isinstance(v, int):
        return ["int", v]
    if isinstance(v, float):
        if simplified is not None and simplified.startswith("relTime("):
            return ["reltime", _real(v)]
        return ["real", _real(v)]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, datetime.datetime):
        if simplified is not None:
            return ["abstime", simplified]
        return ["abstime", int(v.timestamp())]
    if isinstance(v, lib.ExprTree):
        return ["expr", sort_records(repr(v))]
    if isinstance(v, lib.ClassAd):
        return ["ad", canon_ad(v)]
    if isinstance(v, list):
        return ["list", [canon(lib, x) for x in v]]
    return ["python", type(v).__name__, repr(v)]


def canon_ad(ad: Any) -> list[list[str]]:
    """An ad as a map: sorted ``[name, unparse text]`` pairs (order is hash
    order in HTCondor, so never compare printed attribute order)."""
    if ad is None:
        return []
    return sorted(([k, sort_records(repr(ad.lookup(k)))] for k in ad.keys()),
                  key=lambda p: p[0].lower())


def _type_only(value: Any) -> Any:
    return value if isinstance(value, str) else value[0]


# ---------------------------------------------------------------- execute


def _exc(e: BaseException) -> dict[str, Any]:
    return {"raised": True, "detail": f"{type(e).__name__}: {e}"[:300]}


#: relTime(<number>) as diff_cases.unfold_reltime writes it, in printed text.
_REWRITTEN_CALL = re.compile(r"relTime\(-?\d")


def _exec_expr(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        expr = ad.parse_expr(case["expr"])
    except SyntaxFail as e:
        return {"parse": "error", "detail": str(e)[:300]}
    out["parse"] = "ok"
    out["unparse"] = sort_records(repr(expr))
    if "[ " not in out["unparse"]:
        # The multi-line str() form; records are left out (hash order).
        out["pretty"] = str(expr)
    scope = ad.parse_ad(case["scope"], "new") if case.get("scope") else None
    target = ad.parse_ad(case["target"], "new") if case.get("target") else None
    if ad.is_oracle and "oracle_expr" in case:
        # The value to expect comes from an equivalent text that avoids an
        # HTCondor bug we deliberately do not copy (see diff_cases.py) --
        # unless the value holds unevaluated text (in a list or a record)
        # where the rewritten call would show through.
        alternative = ad.parse_expr(case["oracle_expr"])
        try:
            shown = json.dumps(canon(ad.lib, alternative.eval(scope=scope, target=target)))
        except Exception:  # noqa: BLE001 - then the alternative's failure is the answer
            shown = ""
        if not _REWRITTEN_CALL.search(shown):
            expr = alternative
    try:
        v = expr.eval(scope=scope, target=target)
        simplified = None
        if isinstance(v, (float, datetime.datetime)):
            simplified = repr(expr.simplify(scope=scope, target=target))
        value = canon(ad.lib, v, simplified)
    except Exception as e:  # noqa: BLE001 - a raising evaluation is a result too
        out["value"] = "raised"
        out["detail"] = _exc(e)["detail"]
        return out
    out["value"] = _type_only(value) if case.get("volatile") else value
    return out


def _exec_parse(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = ad.parse_ad(case["text"], case["parser"])
    except SyntaxFail as e:
        return {"parse": "error", "detail": str(e)[:300]}
    return {"parse": "ok", "ad": canon_ad(parsed)}


def _exec_match(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    left = ad.parse_ad(case["left"], "new")
    right = ad.parse_ad(case["right"], "new")
    return {"value": [left.matches(right), right.matches(left), left.symmetricMatch(right)]}


def _exec_roundtrip(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    src = ad.parse_ad(case["text"], "new")
    out: dict[str, Any] = {"ad": canon_ad(src)}
    old = src.printOld()
    out["old_lines"] = sorted(sort_records(line) for line in old.splitlines() if line.strip())
    try:
        out["from_old"] = canon_ad(ad.parse_ad(old, "old"))
    except SyntaxFail:
        out["from_old"] = "parse error"
    js = src.printJson()
    try:
        out["json"] = json.loads(js)
    except ValueError:
        out["json"] = ["invalid json", js]
    try:
        out["from_json"] = canon_ad(ad.parse_ad(js, "json"))
    except SyntaxFail:
        out["from_json"] = "parse error"
    return out


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a raising call is a result too
        return ["raised", type(e).__name__ if isinstance(e, (TypeError, KeyError)) else "error"]


def _exec_api(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    """ClassAd methods: flatten, externalRefs/internalRefs, and ad[key]
    (a Python value for a literal, else an ExprTree)."""
    src = ad.parse_ad(case["text"], "new")
    out: dict[str, Any] = {}
    if "expr" in case:
        expr = ad.parse_expr(case["expr"])
        # flatten gives an ExprTree, or a Python value when nothing is left.
        out["flatten"] = _guard(lambda: canon(ad.lib, src.flatten(expr)))
        for key, method in (("external", src.externalRefs), ("internal", src.internalRefs)):
            refs = _guard(lambda m=method: m(expr))
            if isinstance(refs, list) and all(isinstance(r, str) for r in refs):
                # HTCondor lists an empty name for some expressions: its own
                # field, so that deviation "refs-empty-name" can name it.
                out[key] = sorted(set(refs) - {""})
                out[key + "_empty_name"] = "" in refs
            else:
                out[key] = refs
    else:
        out["items"] = {k: _guard(lambda k=k: canon(ad.lib, src[k])) for k in src.keys()}
    return out


def _exec_quote(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    """quote() of a Python string and unquote() of a text."""
    lib = ad.lib
    if "string" in case:
        quoted = _guard(lambda: lib.quote(case["string"]))
        return {"quote": quoted,
                "back": _guard(lambda: lib.unquote(quoted)) if isinstance(quoted, str) else None}
    return {"unquote": _guard(lambda: lib.unquote(case["text"]))}


def _exec_stream(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    """parseAds (every ad of a text) and parseOne (all merged into one)."""
    lib = ad.lib
    ptype = getattr(lib.ParserType, case["parser"])
    return {
        "ads": _guard(lambda: [canon_ad(a) for a in lib.parseAds(case["text"], ptype)]),
        "one": _guard(lambda: canon_ad(lib.parseOne(case["text"], ptype))),
    }


_OPS: dict[str, Callable[[Adapter, dict[str, Any]], dict[str, Any]]] = {
    "stream": _exec_stream,
    "api": _exec_api,
    "quote": _exec_quote,
    "expr": _exec_expr,
    "parse": _exec_parse,
    "match": _exec_match,
    "roundtrip": _exec_roundtrip,
}


def execute(ad: Adapter, case: dict[str, Any]) -> dict[str, Any]:
    """Run one case through the library behind *ad*; never raises.

    An unexpected exception becomes ``{"raised": True, ...}`` so that it shows
    up as a disagreement naming the exception instead of aborting a run.
    """
    try:
        return _OPS[case["op"]](ad, case)
    except Exception as e:  # noqa: BLE001 - reported as the case's result
        return _exc(e)


# ---------------------------------------------------------------- adapters


def _classad2_adapter() -> Adapter:
    """classad2 with whole-text parsing (its ExprTree(str) ignores trailing text)."""
    import classad2
    import htcondor2  # noqa: F401  - loads the config: pins mode and compat functions
    from classad2.classad2_impl import _classad_parse_next

    def parse_ad(text: str, parser: str) -> Any:
        ptype = int(getattr(classad2.ParserType, PARSERS[parser]))
        try:
            parsed, offset = _classad_parse_next(text, ptype, 0)
        except Exception as e:  # ValueError for folded-literal failures
            raise SyntaxFail(str(e)) from e
        if parsed is None:
            if parser == "old" or _is_empty_ad(text, parser):
                return None
            raise SyntaxFail("classad2 parsed nothing")
        if text[offset:].strip():
            raise SyntaxFail(f"trailing text at offset {offset}")
        return parsed

    def parse_expr(text: str) -> Any:
        wrapped = "[__e = " + text + "\n]"
        parsed = parse_ad(wrapped, "new")
        if parsed is None or list(parsed.keys()) != ["__e"]:
            raise SyntaxFail("not one expression")
        return parsed.lookup("__e")

    return Adapter(classad2, parse_expr, parse_ad, is_oracle=True)


def _is_empty_ad(text: str, parser: str) -> bool:
    """``[]`` / ``{}``: classad2 returns (None, 0) for an empty ad."""
    return "".join(text.split()) == {"new": "[]", "json": "{}"}.get(parser)


def ours_adapter() -> Adapter:
    """Our library; its parse functions raise ClassAdSyntaxError on bad text."""
    import classad

    def parse_ad(text: str, parser: str) -> Any:
        ptype = getattr(classad.ParserType, PARSERS[parser])
        try:
            parsed, offset = classad.parse_next(text, parser=ptype)
        except classad.ClassAdSyntaxError as e:
            raise SyntaxFail(str(e)) from e
        if parsed is None:
            if parser == "old" or _is_empty_ad(text, parser):
                return None
            raise SyntaxFail("parsed nothing")
        if text[offset:].strip():
            raise SyntaxFail(f"trailing text at offset {offset}")
        if len(parsed) == 0:
            return None
        return parsed

    def parse_expr(text: str) -> Any:
        try:
            return classad.ExprTree(text)
        except classad.ClassAdSyntaxError as e:
            raise SyntaxFail(str(e)) from e

    return Adapter(classad, parse_expr, parse_ad)


# ---------------------------------------------------------------- the child


def _oracle_main() -> None:
    """Child entry point: cases on stdin, results on stdout (both JSON)."""
    cases = json.load(sys.stdin)
    adapter = _classad2_adapter()
    # The bindings' `None` for an empty old-syntax ad is the same as ours
    # returning an empty ad: both canonicalise to [].
    results = {c["id"]: execute(adapter, c) for c in cases}
    json.dump(results, sys.stdout)


def run_oracle(cases: Iterable[dict[str, Any]], strict: bool) -> dict[str, dict[str, Any]]:
    """classad2's results for *cases* in one mode, computed in a child process."""
    payload = json.dumps(list(cases))
    with tempfile.TemporaryDirectory(prefix="classad-oracle-") as tmp:
        config = os.path.join(tmp, "condor_config")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"STRICT_CLASSAD_EVALUATION = {'true' if strict else 'false'}\n")
        env = dict(os.environ, CONDOR_CONFIG=config, TZ=_ORACLE_TZ)
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__)],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            check=False,
        )
    if proc.returncode != 0:
        raise OracleError(f"classad2 oracle failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    return result


if __name__ == "__main__":
    _oracle_main()
