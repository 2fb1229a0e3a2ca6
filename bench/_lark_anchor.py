"""A plain lark LALR parser of ClassAd expressions, with a transformer: the
anchor issue #2 names for cold parsing ("a plain lark LALR parse with a
transformer does about 10,000/s of that expression here").

Written the way one would start with lark: lark's own lexer, one rule per
precedence level, keywords told apart in the transformer, the transformer
given to ``Lark`` so trees are built during the parse (lark's fast path).
It builds plain tuples, cheaper than our nodes, so the anchor is not
handicapped.  It covers the expression language the benchmark parses (and
more), not ClassAd's lexical quirks; it is a yardstick, never a parser the
project uses.
"""

from __future__ import annotations

from typing import Any

from lark import Lark, Transformer, v_args

__all__ = ["parse"]

_GRAMMAR = r"""
?start: expr
?expr: or_expr
     | or_expr "?" expr ":" expr   -> cond
     | or_expr "?:" expr           -> elvis
?or_expr: and_expr | or_expr OR and_expr           -> binop
?and_expr: bor_expr | and_expr AND bor_expr        -> binop
?bor_expr: xor_expr | bor_expr BOR xor_expr        -> binop
?xor_expr: band_expr | xor_expr XOR band_expr      -> binop
?band_expr: eq_expr | band_expr BAND eq_expr       -> binop
?eq_expr: rel_expr | eq_expr EQ rel_expr           -> binop
?rel_expr: shift_expr | rel_expr REL shift_expr    -> binop
?shift_expr: add_expr | shift_expr SHIFT add_expr  -> binop
?add_expr: mul_expr | add_expr ADD mul_expr        -> binop
?mul_expr: unary | mul_expr MUL unary              -> binop
?unary: postfix | UNARY unary -> unop | ADD unary -> unop
?postfix: primary
        | postfix "." NAME        -> select
        | postfix "[" expr "]"    -> subscript
?primary: NAME                    -> name
        | NAME "(" [args] ")"     -> call
        | INT                     -> integer
        | REAL                    -> real
        | STRING                  -> string
        | "(" expr ")"
        | "{" [args] "}"          -> list
        | "[" [attrs] "]"         -> record
args: expr ("," expr)*
attrs: attr (";" attr)* ";"?
attr: NAME "=" expr

OR: "||"
AND: "&&"
BOR: "|"
XOR: "^"
BAND: "&"
EQ: "==" | "!=" | "=?=" | "=!="
REL: "<=" | ">=" | "<" | ">"
SHIFT: ">>>" | ">>" | "<<"
ADD: "+" | "-"
MUL: "*" | "/" | "%"
UNARY: "!" | "~"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
REAL: /\d+\.\d*([eE][+-]?\d+)?/
INT: /\d+/
STRING: /"(?:[^"\\]|\\.)*"/
%ignore /\s+/
"""

_KEYWORDS = {"true": True, "false": False, "undefined": "UNDEFINED", "error": "ERROR"}


@v_args(inline=True)
class _Build(Transformer):  # type: ignore[misc]
    def binop(self, left: Any, op: Any, right: Any) -> Any:
        return ("op", str(op), left, right)

    def unop(self, op: Any, operand: Any) -> Any:
        return ("op", str(op), operand)

    def cond(self, test: Any, yes: Any, no: Any) -> Any:
        return ("?:", test, yes, no)

    def elvis(self, left: Any, right: Any) -> Any:
        return ("elvis", left, right)

    def select(self, base: Any, name: Any) -> Any:
        return ("select", base, str(name))

    def subscript(self, base: Any, index: Any) -> Any:
        return ("subscript", base, index)

    def name(self, token: Any) -> Any:
        text = str(token)
        keyword = _KEYWORDS.get(text.lower(), token)
        return ("lit", keyword) if keyword is not token else ("attr", text)

    def call(self, name: Any, args: Any) -> Any:
        return ("call", str(name), args or [])

    def integer(self, token: Any) -> Any:
        return ("lit", int(token))

    def real(self, token: Any) -> Any:
        return ("lit", float(token))

    def string(self, token: Any) -> Any:
        return ("lit", token[1:-1])

    def list(self, args: Any) -> Any:
        return ("list", args or [])

    def record(self, attrs: Any) -> Any:
        return ("record", attrs or [])

    @v_args(inline=False)
    def args(self, items: list[Any]) -> list[Any]:
        return items

    @v_args(inline=False)
    def attrs(self, items: list[Any]) -> list[Any]:
        return items

    def attr(self, name: Any, value: Any) -> Any:
        return (str(name), value)


_LARK = Lark(_GRAMMAR, parser="lalr", lexer="basic", transformer=_Build())


def parse(text: str) -> Any:
    """The tuple tree of one ClassAd expression."""
    return _LARK.parse(text)
