"""Bad input never crashes the schedd: whatever a console sends, the answer
is a result or a QmfError naming the problem (property tests)."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jobpath_helpers import ALICE, ROOT, JobPath, job_ad

from qmf_agent.errors import QmfError

_names = st.sampled_from(["Cmd", "Requirements", "JobUniverse", "Iwd", "Owner", "Args",
                          "Arguments", "Environment", "Count", "In", "JobStatus", "weird name",
                          "", "!!descriptors", "Rank", "x"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                     st.floats(allow_nan=True), st.text(max_size=20))
_typed = st.fixed_dictionaries({"TYPE": st.sampled_from(
    ["STRING", "INTEGER", "FLOAT", "BOOLEAN", "EXPR", "expression", "UNDEFINED", "ERROR", "BLOB", ""]),
    "VALUE": st.text(max_size=20)})
_values = st.recursive(st.one_of(_scalars, _typed),
                       lambda inner: st.lists(inner, max_size=3) |
                       st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)



@pytest.fixture(scope="module")
def jp():
    with tempfile.TemporaryDirectory(prefix="qmf-grid-fuzz-") as state:
        path = JobPath(state)
        path.schedd.submit(job_ad(state), 1, ALICE)
        yield path
        path.stop()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(ad=st.dictionaries(_names, _values, max_size=8), count=st.integers(-5, 5))
def test_submit_answers_or_names_the_problem(jp, ad, count):
    base = job_ad(jp.state_dir)
    base.update(ad)
    for candidate in (ad, base):
        try:
            jp.schedd.submit(candidate, count, ROOT)
        except QmfError as exc:
            assert exc.text


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(max_size=30), value=st.text(max_size=30))
def test_set_attribute_and_constraints_never_crash(jp, name, value):
    for call in (lambda: jp.schedd.set_attribute("1.0", name, value, ALICE),
                 lambda: jp.schedd.query(value),
                 lambda: jp.schedd.act("hold", ALICE, constraint=value),
                 lambda: jp.schedd.edit(ALICE, name, value, constraint="ProcId == 0"),
                 lambda: jp.schedd.act(name, ALICE, ids=[value])):
        try:
            call()
        except QmfError as exc:
            assert exc.text
