"""The tokenizer (classad._lexer): every token kind, the contextual rules,
error positions, the bounded tables it shares nodes from, and agreement with
a plain reference tokenizer (one regex group per kind, the pre-table design)
on the differential corpus.
"""

from __future__ import annotations

import gc
import re
from typing import Any

import pytest
from test_core_parser_fast import _corpus_texts

import classad
from classad import ClassAdSyntaxError, _lexer
from classad._ast import AttrRef, Literal
from classad._lexer import tokenize
from classad._parser import parse_expression
from classad._values import ERROR, UNDEFINED

# ---------------------------------------------------------------- reference

_REF = re.compile(
    r"""(\s*)(
      (?://[^\n]*|/\*.*?\*/)
    | ([A-Za-z_][A-Za-z0-9_]*)
    | (>>>|>>|<<|<=|>=|==|!=|=\?=|=!=|&&|\|\||\?\s*:|[-+*/%<>&|^!~?:,;=(){}\[\]])
    | ((?:\d+\.\d+|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
    | (\d+\.(?!\d)|\d+[eE](?![+-]?\d))
    | (0[xX][0-9A-Fa-f]+|\d+)
    | (\.\.?)
    | ("(?:[^"\\]|\\.)*")
    | ('(?:[^'\\]|\\.)*')
    | (\S)
    )""",
    re.VERBOSE | re.DOTALL,
)
_KINDS = {
    "+": "ADDOP", "-": "ADDOP", "!": "NOTOP", "~": "NOTOP", "?": "QMARK", ":": "COLON",
    ",": "COMMA", ";": "SEMI", "=": "ASSIGN", "(": "LPAR", ")": "RPAR", "{": "LBRACE",
    "}": "RBRACE", "[": "LBRACK", "]": "RBRACK",
}
_WORDS = {"true": True, "false": False, "undefined": UNDEFINED, "error": ERROR}


def _reference_tokens(text: str, strict: bool = False) -> list[tuple[str, Any, int, int]]:
    """Tokens as (kind, plain value, start, end), computed the simple way."""
    out: list[tuple[str, Any, int, int]] = []
    pos = 0
    glue = False  # the previous token was a string literal
    for m in _REF.finditer(text):
        start, end = m.span(2)
        name, op, real, badreal, int_, dot, string, qname, bad = m.groups()[2:]
        if bad or badreal:
            raise ClassAdSyntaxError("bad", text, start)
        if name:
            low = name.lower()
            if low in _WORDS:
                out.append(("CONST", _WORDS[low], start, end))
            elif low in ("is", "isnt"):
                out.append(("BINOP", low, start, end))
            else:
                out.append(("NAME", name, start, end))
        elif op:
            if op[0] == "?" and len(op) > 1:
                out.append(("ELVIS", "?:", start, end))
            else:
                spelled = {"=?=": "is", "=!=": "isnt"}.get(op, op)
                out.append((_KINDS.get(op, "BINOP"), spelled, start, end))
        elif int_ or real:
            prev = out[-1] if out else None
            if prev and prev[1] == "-" and prev[3] == start \
                    and (len(out) < 2 or out[-2][0] not in ("CONST", "NAME", "RPAR", "RBRACK", "RBRACE")):
                start = out.pop()[2]
                raw = "-" + (int_ or real)
            else:
                raw = int_ or real
            if int_:
                digits = raw.lstrip("-")
                if len(digits) > 1 and digits[0] == "0" and not strict:
                    raise ClassAdSyntaxError("bad", text, start)
                value: Any = 0 if digits[:2].lower() == "0x" else int(raw)
                if not -2**63 <= value < 2**63:
                    value = 0
            else:
                value = float(raw)
            out.append(("CONST", value, start, end))
        elif string or qname:
            body = _lexer.unescape_string((string or qname)[1:-1])
            if body is None:
                raise ClassAdSyntaxError("bad", text, start)
            if qname:
                out.append(("NAME", body, start, end))
            elif glue:
                prev = out.pop()
                out.append(("CONST", prev[1] + body, prev[2], end))
            else:
                out.append(("CONST", body, start, end))
        elif dot:
            out.append(("DOT", ".", start, end))
        glue = bool(string)
        pos = end
    del pos
    return out


def _plain(toks: list[Any]) -> list[tuple[str, Any, int, int]]:
    return [(k, v.value if isinstance(v, Literal) else v, s, e) for k, v, s, e in toks]


def _same(a: Any, b: Any) -> bool:
    if type(a) is float and a != a:
        return type(b) is float and b != b
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize(("text", "kinds"), [
    ("* / % << >> >>> < <= > >= == != =?= =!= & ^ | && ||",
     ["BINOP"] * 19),
    ("+ - ! ~ ? , : ; = ( ) { } [ ]",
     ["ADDOP", "ADDOP", "NOTOP", "NOTOP", "QMARK", "COMMA", "COLON", "SEMI", "ASSIGN",
      "LPAR", "RPAR", "LBRACE", "RBRACE", "LBRACK", "RBRACK"]),
    ("a ?: b ? : c", ["NAME", "ELVIS", "NAME", "ELVIS", "NAME"]),
    ("x.y x..y .z", ["NAME", "DOT", "NAME", "NAME", "DOT", "NAME", "DOT", "NAME"]),
    ("TRUE False uNdEfInEd ERROR Is ISNT", ["CONST"] * 4 + ["BINOP"] * 2),
    ("'a b' 'true' _x1 x_Y9", ["NAME"] * 4),
    ('1 2.5 .5 1e3 1.5E-2 0x1F "s"', ["CONST"] * 7),
    ("a // comment\n/* block\n */ b", ["NAME", "NAME"]),
])
def test_every_token_kind(text: str, kinds: list[str]) -> None:
    toks = tokenize(text, strict=True)
    assert [t[0] for t in toks] == kinds
    assert all(text[t[2]:t[3]].strip() for t in toks)  # positions cover the token text


@pytest.mark.parametrize(("text", "values"), [
    ("=?= =!= is ISNT", ["is", "isnt", "is", "isnt"]),
    ("tRuE fAlSe", [True, False]),
    ("'a b' 'x\\'y'", ["a b", "x'y"]),
    ("1 - 2", [1, "-", 2]),
    ("1 -2", [1, "-", 2]),  # after an operand '-' is binary
    ("(-2) - -3", ["(", -2, ")", "-", -3]),
    ("x[-1]", ["x", "[", -1, "]"]),
    ("- 2", ["-", 2]),  # not glued: a unary minus
    ("-9223372036854775808 9223372036854775808", [-2**63, 0]),
    ("0x1F 1e309", [0, float("inf")]),
    ('"a" "b"  "c"', ["abc"]),
    ('"\\101\\n\\q" "\\x41"', ["A\nqx41"]),
    ('"é"', ["é"]),
])
def test_token_values(text: str, values: list[Any]) -> None:
    got = [v.value if isinstance(v, Literal) else v for _, v, _, _ in tokenize(text, strict=True)]
    assert len(got) == len(values) and all(_same(a, b) for a, b in zip(got, values)), got


def test_negative_number_keeps_the_sign_position() -> None:
    assert tokenize("a * -12")[2][2:] == (4, 7)
    assert tokenize('"a"  "bc"')[0][2:] == (0, 9)


@pytest.mark.parametrize(("text", "reason", "line", "column"), [
    ("a + @", "unexpected character '@'", 1, 5),
    ('x = "abc', "unterminated quoted text", 1, 5),
    ("x\n  'abc", "unterminated quoted text", 2, 3),
    ('"a\\0b"', "NUL character in a string literal", 1, 1),
    ("'a\\000'", "NUL character in a quoted attribute name", 1, 1),
    ("1 + 5.", "malformed number '5.'", 1, 5),
    ("1e + 2", "malformed number '1e'", 1, 1),
    ("a\n\n    012", "leading zero", 3, 5),
    ("a + é", "unexpected character 'é'", 1, 5),
    ("x # y", "unexpected character '#'", 1, 3),
])
def test_lexical_errors_name_the_position(text: str, reason: str, line: int, column: int) -> None:
    with pytest.raises(ClassAdSyntaxError) as info:
        tokenize(text)
    err = info.value
    assert reason in err.reason
    assert (err.line, err.column) == (line, column)
    assert err.excerpt.endswith("\n" + " " * (column - 1) + "^")


def test_leading_zero_is_decimal_in_strict_mode() -> None:
    assert tokenize("010", strict=True)[0][1].value == 10
    with pytest.raises(ClassAdSyntaxError, match="leading zero"):
        tokenize("010")


def test_agrees_with_the_reference_tokenizer_on_the_corpus() -> None:
    problems = []
    for text in _corpus_texts():
        for strict in (False, True):
            try:
                ref = _reference_tokens(text, strict)
            except ClassAdSyntaxError:
                ref = None
            try:
                ours = _plain(tokenize(text, strict))
            except ClassAdSyntaxError:
                ours = None
            if ref is None or ours is None:
                if (ref is None) != (ours is None):
                    problems.append(f"{text!r} strict={strict}: ours {ours!r}, reference {ref!r}")
            elif len(ref) != len(ours) or not all(
                    a[0] == b[0] and a[2:] == b[2:] and _same(a[1], b[1]) for a, b in zip(ours, ref)):
                problems.append(f"{text!r} strict={strict}: ours {ours!r}, reference {ref!r}")
    assert not problems, "\n".join(problems[:20])


# ---------------------------------------------------------------- sharing


def test_common_leaves_are_shared_nodes() -> None:
    a = parse_expression("TARGET.Memory >= RequestMemory && Arch == \"X86_64\" && Cpus > 4")
    b = parse_expression("(TARGET.Memory > 1) || RequestMemory + 4 || \"X86_64\"")
    assert a.left.left.left is b.left.left.expr.left  # TARGET.Memory
    assert a.left.left.right is b.left.right.left  # RequestMemory
    assert a.left.right.right is b.right  # "X86_64"
    assert a.right.right is b.left.right.right  # 4


def test_long_strings_are_not_kept_in_the_table() -> None:
    text = '"' + "x" * 100 + '"'
    assert tokenize(text)[0][1] is not tokenize(text)[0][1]
    assert tokenize(text)[0][1].value == "x" * 100
    assert tokenize('"short"')[0][1] is tokenize('"short"')[0][1]


def test_shared_leaves_compile_and_evaluate_alike_in_every_ad() -> None:
    job = classad.ClassAd({"RequestMemory": 100, "x": classad.ExprTree("RequestMemory * 2")})
    other = classad.ClassAd({"RequestMemory": 7, "y": classad.ExprTree("RequestMemory * 3")})
    machine = classad.ClassAd({"Memory": 512})
    assert job.eval("x") == 200 and other.eval("y") == 21
    req = classad.ExprTree("TARGET.Memory >= RequestMemory")
    assert req.eval(job, machine) is True
    assert classad.ExprTree("TARGET.Memory < RequestMemory").eval(other, classad.ClassAd({"Memory": 5}))


def test_tables_stay_bounded_and_correct_past_their_limit() -> None:
    limit = _lexer._KNOWN_LIMIT + len(_lexer._STATIC)
    for i in range(_lexer._KNOWN_LIMIT + 50):
        text = f"name_{i} + 'q{i}' + \"s{i}\" + {i + 5000} - TARGET.t_{i}"
        node = parse_expression(text)
        assert repr(node) == f"<BinaryOp name_{i} + q{i} + \"s{i}\" + {i + 5000} - TARGET.t_{i}>"
    assert len(_lexer._KNOWN) <= limit
    assert len(_lexer._STRINGS) <= _lexer._CONST_LIMIT and len(_lexer._INTS) <= _lexer._CONST_LIMIT
    assert tokenize("is")[0][:2] == ("BINOP", "is")  # the static part survives a reset
    assert isinstance(parse_expression("name_0"), AttrRef)


def test_parsing_leaves_no_garbage_for_the_collector() -> None:
    """A parse frees everything it does not return by reference counting:
    with thousands of trees in the parse cache, every object left for the
    collector makes each collection longer."""
    valid = [f"(TARGET.Disk >= {i}) && f(x, {{1, 2}}) ? [a = {i}; b = a[0] ?: c] : -.r" for i in range(50)]
    invalid = [f"(((a + {i}" for i in range(50)]  # declined, then refused by the reference parser
    gc.collect()
    gc.disable()
    try:
        for text in valid:
            parse_expression(text)
        for text in invalid:
            with pytest.raises(ClassAdSyntaxError):
                parse_expression(text)
        assert gc.collect() == 0
    finally:
        gc.enable()
