"""userMap() with HTCondor's map-file rules (CLASSAD_USER_MAPFILE format)."""

from __future__ import annotations

import logging

import pytest
from builtins_table import call

from classad._builtins import UserMap, register_user_map
from classad._values import ERROR, UNDEFINED

MAP_TEXT = r"""
# method  principal        canonical
*         alice            physics,chem
*         "bob smith"      "art, music"
*         /^(\w+)@lab\.org$/  \1_lab,lab
*         /^CAROL$/i       chem
*         /^d/             \2first
batch     alice            batchers
*         /[/              broken
justtwo   fields
*         /x/U             ungreedy
@include  other.map
"""


@pytest.fixture
def groups_map(caplog):
    with caplog.at_level(logging.WARNING, logger="classad._usermap"):
        umap = UserMap.parse(MAP_TEXT, source="test.map")
    register_user_map("groups", umap)
    yield umap, caplog.records
    register_user_map("groups", None)


def test_unreadable_lines_are_skipped_with_warnings(groups_map):
    umap, records = groups_map
    assert len(umap) == 6
    text = " ".join(r.getMessage() for r in records)
    for expected in ("line 9: bad regular expression", "line 10: expected", "line 11: the U",
                     "line 12: @include"):
        assert f"test.map {expected}" in text


@pytest.mark.parametrize(
    "args,want",
    [
        (("groups", "alice"), "physics,chem"),
        (("groups", "alice", "CHEM"), "chem"),
        (("groups", "alice", "bio"), "physics"),
        (("groups", "alice", "bio", "none"), "physics"),
        (("groups", "bob smith"), "art, music"),
        (("groups", "bob smith", "music"), "music"),
        (("groups", "eve@lab.org"), "eve_lab,lab"),
        (("groups", "eve@lab.org", "lab"), "lab"),
        (("groups", "carol"), "chem"),
        (("groups", "dave"), "\\2first"),  # no group 2: the text stays
        (("groups", "zed"), UNDEFINED),
        (("groups", "zed", "x", "default"), "default"),
        (("groups.batch", "alice"), "batchers"),
        (("groups.batch", "bob smith"), UNDEFINED),
        (("nomap", "alice"), UNDEFINED),
        (("groups", UNDEFINED), UNDEFINED),
        (("groups", ERROR), ERROR),
    ],
)
def test_lookups(groups_map, args, want):
    got = call("userMap", *args)
    assert got == want and type(got) is type(want)


def test_map_file_from_disk(tmp_path):
    path = tmp_path / "users.map"
    path.write_text("* /^u(\\d+)$/ group\\1\n", encoding="utf-8")
    register_user_map("disk", UserMap.from_file(str(path)))
    try:
        assert call("userMap", "disk", "u42") == "group42"
        assert call("userMap", "disk", "x42") is UNDEFINED
    finally:
        register_user_map("disk", None)
    with pytest.raises(OSError):
        UserMap.from_file(str(tmp_path / "missing.map"))
