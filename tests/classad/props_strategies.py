"""Hypothesis strategies for ClassAd texts, shared by test_props_*.py.

Expressions are generated as text (the parser then builds the tree), because
HTCondor's printer reproduces the parentheses the parser kept rather than
inserting them: a tree built by hand without ``Paren`` nodes need not
survive printing, while any parsed text must.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["ATTR_NAMES", "ads", "expressions", "literals", "scope_text", "string_values"]

_RESERVED = {"true", "false", "undefined", "error", "is", "isnt", "parent", "my", "target",
             "root", "toplevel", "self", "other", "left", "right", "currenttime"}

#: The attributes the scope ad of the properties defines.
ATTR_NAMES = ["x", "y", "s", "l", "r", "Memory"]

#: A scope giving generated references something to find.
scope_text = '[x = 5; y = 2.5; s = "Str"; l = {1, 2, 3}; r = [a = 7; b = "q"]; Memory = 1024]'

_ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n.lower() not in _RESERVED)

#: Strings of any characters the language can hold (no NUL: HTCondor
#: rejects it), escaped for the new syntax.
string_values = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace(
        "\t", "\\t").replace("\r", "\\r") + '"'


def _exact_real(m: int, k: int) -> str:
    # m / 2**k prints exactly in HTCondor's 16 significant digits, so a
    # printed real parses back to the same double.
    text = repr(m / (1 << k))
    return text if ("." in text or "e" in text) else text + ".0"


literals = st.one_of(
    st.integers(-(2**63) + 1, 2**63 - 1).map(str),
    st.builds(_exact_real, st.integers(-(2**16), 2**16), st.integers(0, 10)),
    st.sampled_from(["1e20", "1e-5", "0.0", "-0.0", "1e300"]),
    string_values.map(_quote),
    st.sampled_from(["true", "false", "undefined", "error", "TRUE", "Undefined"]),
)

_refs = st.one_of(
    st.sampled_from(ATTR_NAMES),
    _ident,
    st.builds(lambda sc, n: f"{sc}.{n}", st.sampled_from(["MY", "TARGET", "my", "self", "parent", "root"]),
              st.sampled_from(ATTR_NAMES)),
    st.sampled_from(["r.a", "r.b", ".x", "'quoted name'", "l[1]", 'r["a"]']),
)

_BINARY = ["*", "/", "%", "+", "-", "<<", ">>", ">>>", "<", "<=", ">", ">=", "==", "!=", "=?=",
           "=!=", "is", "isnt", "&", "^", "|", "&&", "||", "?:"]
_FUNCTIONS = ["strcat", "size", "int", "real", "string", "floor", "member", "ifThenElse",
              "isUndefined", "toUpper", "substr", "sum", "max", "regexp", "pow", "join"]


def _binary(a: str, op: str, b: str) -> str:
    # HTCondor's grammar takes no unary operator right after "?:"
    # (`x ?: -y` is a syntax error there, and in ours).
    if op == "?:" and b[:1] in "-+!~":
        b = f"({b})"
    return f"{a} {op} {b}"


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(_binary, children, st.sampled_from(_BINARY), children),
        st.builds(lambda op, a: f"{op}{a}", st.sampled_from(["-", "+", "!", "~", "- "]), children),
        st.builds(lambda c, a, b: f"{c} ? {a} : {b}", children, children, children),
        children.map(lambda a: f"({a})"),
        st.builds(lambda f, args: f"{f}({', '.join(args)})", st.sampled_from(_FUNCTIONS),
                  st.lists(children, max_size=3)),
        st.lists(children, max_size=3).map(lambda items: "{" + ", ".join(items) + "}"),
        st.lists(st.tuples(_ident, children), max_size=3).map(
            lambda kv: "[" + "; ".join(f"{k} = {v}" for k, v in kv) + "]"),
        st.builds(lambda a, i: f"{a}[{i}]", children, children),
        st.builds(lambda a, n: f"{a}.{n}", children.map(lambda t: f"({t})"), _ident),
    )


#: Valid expression texts, nested a few levels.
expressions = st.recursive(st.one_of(literals, _refs), _compound, max_leaves=12)


def ads(values: st.SearchStrategy[str] = expressions) -> st.SearchStrategy[dict[str, str]]:
    """Attribute name -> expression text, names unique case-insensitively."""
    return st.dictionaries(_ident, values, max_size=6).map(
        lambda d: {k: v for k, v in {n.lower(): (n, v) for n, v in d.items()}.values()})
