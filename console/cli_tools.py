"""``qmf classad``: the ClassAd language from the shell (no agent needed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import classad

from .cli import CliError, Context, register
from .cli_format import emit_json, plain

__all__ = ["evaluate"]


@register
def _add(sub: Any) -> None:
    p = sub.add_parser("classad", help="ClassAd tools")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    e = verbs.add_parser("eval", help="evaluate expressions, optionally in the scope of an ad")
    e.add_argument("expressions", nargs="+", metavar="EXPR")
    e.add_argument("--ad", help="an ad (new or old syntax) as text, or @FILE, or @- for stdin")
    e.add_argument("--target", help="the TARGET ad, same forms as --ad")
    e.set_defaults(func=cmd_eval)


def _read_ad(spec: str | None, what: str) -> classad.ClassAd | None:
    if spec is None:
        return None
    if spec.startswith("@"):
        path = spec[1:]
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        except OSError as e:
            raise CliError(f"cannot read {what} from {path}: {e.strerror}") from None
    else:
        text = spec
    try:
        return classad.parse_one(text)
    except ValueError as e:
        raise CliError(f"bad {what}: {e}") from None


def evaluate(expressions: list[str], scope: classad.ClassAd | None = None,
             target: classad.ClassAd | None = None) -> list[Any]:
    values = []
    for text in expressions:
        try:
            expr = classad.ExprTree(text)
        except ValueError as e:
            raise CliError(f"bad expression {text!r}: {e}") from None
        values.append(expr.eval(scope=scope, target=target))
    return values


def _show(value: Any) -> str:
    if isinstance(value, classad.Value):
        return value.name.lower()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return classad.quote(value)
    if isinstance(value, classad.ClassAd):
        return repr(value)
    if isinstance(value, list):
        return "{ " + ", ".join(_show(v) for v in value) + " }"
    return str(value)


def cmd_eval(ctx: Context, args: argparse.Namespace) -> int:
    values = evaluate(args.expressions, _read_ad(args.ad, "ad"), _read_ad(args.target, "target ad"))
    if ctx.json:
        emit_json([plain(v) for v in values])
    else:
        for v in values:
            ctx.out.write(_show(v) + "\n")
    return 0
