"""Property: any ad survives the typed and descriptor wire encodings with
every attribute evaluating to the same value."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from props_strategies import ads
from test_json_props import _agree, _values, evaluated, parsed_ad

from classad._wire import decode_job_ad, encode_job_ad


@pytest.mark.parametrize("encoding", ["typed", "descriptor"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attrs=ads())
def test_wire_round_trip_keeps_values(encoding, attrs):
    ad = parsed_ad(attrs)
    want = evaluated(ad)
    back, seen = decode_job_ad(encode_job_ad(ad, encoding))
    assert seen == encoding or (not attrs and seen == "plain")
    assert _agree(want, _values(back))
