"""Built-ins of HTCondor's compatibility layer, against values checked with
classad2 (with the HTCondor configuration loaded, where they exist)."""

from __future__ import annotations

import os
import pwd

import pytest
from builtins_table import call, same

from classad._builtins import register_user_map
from classad._values import ERROR, UNDEFINED

U, E = UNDEFINED, ERROR

CASES = [
    # string list sizes and sums
    ("stringListSize", ("a, b,,c",), 3),
    ("stringListSize", ("a\tb",), 1),
    ("stringListSize", ("",), 0),
    ("stringListSize", (" , ,",), 0),
    ("stringListSize", ("a;b", ";"), 2),
    ("stringListSize", (U,), E),
    ("stringListSize", ("a", 1), E),
    ("stringListSum", ("1,2.5",), 3.5),
    ("stringListSum", ("1,2,3",), 6),
    ("stringListSum", ("",), 0.0),
    ("stringListSum", ("1,x",), E),
    ("stringListSum", ("1;2", ";"), 3),
    ("stringListAvg", ("1,2,4",), 2),
    ("stringListAvg", ("1,2,4.0",), 2.3333333333333335),
    ("stringListAvg", ("",), 0.0),
    ("stringListMin", ("3, 1, 2",), 1),
    ("stringListMin", ("",), U),
    ("stringListMin", ("1e39",), 3.4028234663852886e38),
    ("stringListMax", ("-1,-2",), 0),
    ("stringListMax", ("1, 7, 3",), 7),
    ("stringListMax", ("1.5",), 1.5),
    ("stringListMax", (U,), E),
    # membership
    ("stringListMember", ("b", "a, b, c"), True),
    ("stringListMember", ("B", "a, b, c"), False),
    ("stringListMember", ("b", "a\tb"), True),
    ("stringListMember", ("b", "a;b", ";"), True),
    ("stringListMember", ("", "a,,b"), False),
    ("stringListMember", (U, "a"), False),
    ("stringListMember", ("a", U), False),
    ("stringListMember", (U, U), U),
    ("stringListMember", (1, "1"), E),
    ("stringListMember", ("a", "a", U), True),
    ("stringListIMember", ("B", "a, b, c"), True),
    ("stringListIMember", ("d", "a, b, c"), False),
    ("stringListSubsetMatch", ("a, c", "a, b, c"), True),
    ("stringListSubsetMatch", ("a, d", "a, b, c"), False),
    ("stringListSubsetMatch", ("A", "a, b"), False),
    ("stringListSubsetMatch", ("", "a"), True),
    ("stringListSubsetMatch", (U, "a"), True),
    ("stringListSubsetMatch", (", ,", "a"), False),
    ("stringListSubsetMatch", ("a", U), False),
    ("stringListISubsetMatch", ("A, C", "a, b, c"), True),
    ("stringListISubsetMatch", ("A, D", "a, b, c"), False),
    ("stringListsIntersect", ("a,b", "c,b"), True),
    ("stringListsIntersect", ("a,b", "c,d"), False),
    ("stringListsIntersect", ("a, b", "b"), True),
    ("stringListsIntersect", ("a;b", "b", ";"), True),
    ("stringListsIntersect", ("a;b", "b", ""), False),
    ("stringListsIntersect", (U, "b"), U),
    ("stringListsIntersect", (E, U), E),
    ("stringListsIntersect", ("a", 1), E),
    ("stringList_regexpMember", ("A", "a,b", ",", "i"), True),
    ("stringList_regexpMember", ("A", "a,b", ",", "I"), True),
    ("stringList_regexpMember", ("a", "xa,b"), True),
    ("stringList_regexpMember", ("^a$", "xa, b"), False),
    ("stringList_regexpMember", ("a", ""), U),
    ("stringList_regexpMember", ("(", "a"), E),
    ("stringList_regexpMember", ("a", U), E),
    # split and names
    ("split", ("a, b,,c",), ("a", "b", "", "c")),
    ("split", ("a b\nc",), ("a", "b\nc")),
    ("split", ("  a  b  ",), ("a", "b")),
    ("split", ("a:b::c", ":"), ("a", "b", "", "c")),
    ("split", ("abc", ""), ("abc",)),
    ("split", ("",), ()),
    ("split", (U,), E),
    ("split", ("a", 1), E),
    ("splitUserName", ("bob",), ("bob", "")),
    ("splitUserName", ("bob@example.org",), ("bob", "example.org")),
    ("splitUserName", ("a@b@c",), ("a", "b@c")),
    ("splitSlotName", ("slot1@host",), ("slot1", "host")),
    ("splitSlotName", ("host",), ("", "host")),
    ("splitSlotName", (U,), E),
    # arguments
    ("argsToList", ("a 'b c' d",), ("a", "b c", "d")),
    ("argsToList", ("a b", 1), ("a", "b")),
    ("argsToList", ("a 'b c", 1), ("a", "'b", "c")),
    ("argsToList", ("'it''s' ''",), ("it's", "")),
    ("argsToList", ("a 'b",), E),
    ("argsToList", ("a", 3), E),
    ("argsToList", ("a", "2"), E),
    ("argsToList", (U,), E),
    ("argsToList", ("",), ()),
    ("listToArgs", (("a b", "c'd", ""),), "a' 'b c''''d ''"),
    ("listToArgs", (("a", "b"), 1), "a b"),
    ("listToArgs", (("a b",), 1), E),
    ("listToArgs", (("a", 1),), E),
    ("listToArgs", ("a",), E),
    ("listToArgs", ((),), ""),
    ("listToArgs", (("x  y",),), "x'  'y"),
    # environment
    ("envV1ToV2", ("A=1;B=2 3",), "A=1 B=2' '3"),
    ("envV1ToV2", ("",), ""),
    ("envV1ToV2", ("|A=1|B=2",), "A=1 B=2"),
    ("envV1ToV2", ("B=1\nA=2",), "A=2 B=1"),
    ("envV1ToV2", ("A",), E),
    ("envV1ToV2", ("=1",), E),
    ("envV1ToV2", ("$$(X)",), E),  # a leading "$" is taken as the delimiter
    ("envV1ToV2", ("A=1;$$(X)",), "$$(X) A=1"),
    ("envV1ToV2", (U,), U),
    ("envV1ToV2", (1,), E),
    ("mergeEnvironment", ("B=1 A=2", "C=3"), "A=2 B=1 C=3"),
    ("mergeEnvironment", ("A=1", U, "A=2"), "A=2"),
    ("mergeEnvironment", (), ""),
    ("mergeEnvironment", ("A='x y'",), "A=x' 'y"),
    ("mergeEnvironment", ("A",), E),
    ("mergeEnvironment", ("A='x",), E),
    ("mergeEnvironment", (1,), E),
    # users without a configured map
    ("userMap", ("nomap", "bob"), U),
    ("userMap", ("nomap", "bob", "g", "dflt"), "dflt"),
    ("userMap", (1, "bob"), U),
    ("userMap", (E, "bob"), E),
    ("userHome", (U,), U),
    ("userHome", (1,), E),
    ("userHome", (1, "/tmp"), "/tmp"),
]


@pytest.mark.parametrize("name,args,want", CASES, ids=lambda x: repr(x)[:60])
def test_function(name, args, want):
    assert same(call(name, *args), want)


def test_user_home_reads_the_password_database():
    me = pwd.getpwuid(os.getuid())
    assert call("userHome", me.pw_name) == me.pw_dir
    assert call("userHome", "no-such-user-qmf-grid") is U
    assert call("userHome", "no-such-user-qmf-grid", "/default") == "/default"


def test_user_map_uses_the_registered_map():
    register_user_map("groups", {"alice": ["physics", "chem"], "bob": []})
    try:
        assert call("userMap", "groups", "alice") == "physics,chem"
        assert call("userMap", "groups", "alice", "CHEM") == "chem"
        assert call("userMap", "groups", "alice", "bio") == "physics"
        assert call("userMap", "groups", "bob", "bio") is U
        assert call("userMap", "groups", "bob", "bio", "none") == "none"
        assert call("userMap", "groups", "carol") is U
    finally:
        register_user_map("groups", None)
    assert call("userMap", "groups", "alice") is U
