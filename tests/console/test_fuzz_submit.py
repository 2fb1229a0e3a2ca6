"""Fuzzing the submit-description parser (console.Submit).

Descriptions are built line by line from the pieces real ones are made
of -- commands, macros (``$(Process)``, ``$(Item)``, ``$ENV(...)``,
``$(name:default)``), continuation lines, comments, every form of
``queue`` (count, ``in``, ``from`` inline and from a file, ``matching``)
-- mixed with broken pieces and random text.  Parsing and producing the
jobs may only ever raise ``SubmitError``; one tied to a line names a line
that exists, as ``line N: ...``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import classad
from console import Submit, SubmitError

NAMES = st.sampled_from(["executable", "arguments", "output", "error", "log", "request_memory",
                         "request_cpus", "requirements", "rank", "universe", "environment", "+MyAttr",
                         "MY.Other", "hold", "priority", "transfer_input_files", "input", "initialdir",
                         "x", "Item", "bad name", "1abc", "+", "notify_user", "getenv"])
MACROS = st.sampled_from(["$(Process)", "$(Cluster)", "$(Item)", "$(x)", "$(x:def)", "$ENV(HOME)",
                          "$(ProcId)", "$(Step)", "$(Row)", "$(", "$ENV(", "$(undefined_macro)",
                          "$$(Memory)", "$(ItemIndex)"])
WORDS = st.sampled_from(["/bin/true", "1", "1024", "2GB", "true", "false", "a b c", '"quoted"', "x == 1",
                         "TARGET.Memory > 10", "vanilla", "(", ")", ",", "=", "#", "\\", "'", "ñ"])
VALUE = st.lists(st.one_of(MACROS, WORDS, st.text(max_size=6)), max_size=4).map(" ".join)
QUEUE = st.one_of(
    st.just("queue"),
    st.integers(0, 4).map(lambda n: f"queue {n}"),
    st.lists(st.sampled_from(["a", "b", "c d", "1"]), max_size=4).map(lambda xs: f"queue Item in ({', '.join(xs)})"),
    st.just("queue x, y from (\n1 2\n3 4\n)"),
    st.just("queue Item from items.txt"),
    st.just("queue Item from missing.txt"),
    st.just("queue matching files *.dat"),
    st.just("queue matching dirs"),
    st.just("queue 2 Item in (a"),
    st.just("queue 1 bad-name in (a)"),
    # no digits: "queue 99999999" is a legitimate, enormous submission, not a fuzz case
    st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=12).map(lambda t: f"queue {t}"),
)
LINE = st.one_of(
    st.tuples(NAMES, VALUE).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.tuples(NAMES, VALUE).map(lambda kv: f"{kv[0]} = {kv[1]} \\"),
    st.just("# a comment"), st.just(""), QUEUE,
    st.text(max_size=20),
)
DESCRIPTIONS = st.lists(LINE, max_size=12).map("\n".join)


def check_error(err: SubmitError, text: str) -> None:
    assert err.reason and str(err)
    assert isinstance(err.line, int) and err.line >= 0
    if err.line:
        assert str(err).startswith(f"line {err.line}: ")
        assert err.line <= max(1, len(text.splitlines())), (err.line, text)


# bench/fuzz_long.py raises the count (and varies the seed)
CASES = int(os.environ.get("QMF_FUZZ_CASES", "2000"))


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=DESCRIPTIONS, cluster=st.integers(1, 10**6))
def test_only_submit_errors_escape_with_a_line_number(tmp_path_factory, text: str, cluster: int) -> None:
    base = tmp_path_factory.getbasetemp() / "fuzz_submit_base"
    if not base.exists():
        base.mkdir()
        (base / "items.txt").write_text("one\ntwo\n# skipped\nthree\n")
        (base / "a.dat").write_text("")
        (base / "sub").mkdir()
    try:
        sub = Submit(text, base_dir=str(base))
    except SubmitError as err:
        check_error(err, text)
        assert err.line >= 1, f"a parse error without its line: {err}"
        return
    try:
        ads = sub.jobs(cluster=cluster)
        first, own = sub.submit_ads()
        str(sub)
    except SubmitError as err:
        check_error(err, text)
        return
    assert len(own) == len(ads) == sub.job_count()
    assert isinstance(first, classad.ClassAd) and all(isinstance(o, classad.ClassAd) for o in own)
    for proc, ad in enumerate(ads):
        assert ad.eval("ClusterId") == cluster and ad.eval("ProcId") == proc


def test_an_error_names_its_line(tmp_path: Path) -> None:
    try:
        Submit("executable = /bin/true\n\nthis is not a command\nqueue", base_dir=str(tmp_path))
    except SubmitError as err:
        assert err.line == 3 and str(err).startswith("line 3: ")
    else:
        raise AssertionError("a line with no '=' was accepted")


def test_a_nul_character_is_a_submit_error(tmp_path: Path) -> None:
    """Found by bench/fuzz_long.py (seed 35618945): a NUL joined into the
    executable by a line continuation escaped as the ClassAd parser's error."""
    with pytest.raises(SubmitError, match="line 2: a NUL character") as err:
        Submit("executable =  \\\nqueue \x00", base_dir=str(tmp_path))
    assert err.value.line == 2
    with pytest.raises(SubmitError, match="arguments: a NUL character"):
        Submit({"executable": "/bin/true", "arguments": "a\x00b"}, base_dir=str(tmp_path))
    (tmp_path / "items.txt").write_text("fine\nbad\x00item\n")
    sub = Submit("executable = /bin/echo\narguments = $(x)\nqueue x from items.txt",
                 base_dir=str(tmp_path))
    with pytest.raises(SubmitError, match="would not be a ClassAd expression: NUL character"):
        sub.jobs()
