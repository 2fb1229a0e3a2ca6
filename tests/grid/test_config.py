"""The configuration language (HTCondor's syntax) and its atomic write-back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmf_agent.grid.config import CONFIG_FILE_NAME, DEFAULTS, Config, ConfigError, default_state_dir


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- syntax -------------------------------------------------------------------


def test_assignments_comments_and_case_insensitive_names() -> None:
    config = Config.from_text(
        "# a comment\n"
        "   # an indented comment\n"
        "\n"
        "Foo = bar baz  \n"
        "URL=http://x/#anchor\n"
    )
    assert config.get("FOO") == "bar baz"
    assert config.get("foo") == "bar baz"
    # '#' inside a value is part of the value, as in HTCondor
    assert config.get("url") == "http://x/#anchor"
    assert config.get("NOT_THERE") is None
    assert config.get("NOT_THERE", "dflt") == "dflt"


def test_last_definition_wins_and_first_spelling_is_kept() -> None:
    config = Config.from_text("MyVar = 1\nMYVAR = 2\n")
    assert config.get("myvar") == "2"
    assert "MyVar" in config.names()


def test_line_continuation() -> None:
    config = Config.from_text("LIST = a, \\\n  b, \\\n  c\nAFTER = 1\n")
    assert config.get_list("LIST") == ["a", "b", "c"]
    assert config.get("AFTER") == "1"


def test_macros_expand_recursively_and_late() -> None:
    config = Config.from_text("A = $(B)/x\nB = $(C)-y\nC = base\n")
    # B and C are defined after A: expansion happens on read, as in HTCondor
    assert config.get("A") == "base-y/x"
    assert config.get_raw("A") == "$(B)/x"


def test_macro_defaults_env_and_match_time_macros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMF_TEST_VAR", "from-env")
    config = Config.from_text(
        "A = $(UNDEFINED_THING:fallback)\n"
        "B = $(UNDEFINED_THING)\n"
        "C = $(UNDEFINED_THING:$(D))\n"
        "D = nested\n"
        "E = $ENV(QMF_TEST_VAR)\n"
        "F = $$(Memory) stays\n"
        "G = cost $5\n"
    )
    assert config.get("A") == "fallback"
    assert config.get("B") == ""
    assert config.get("C") == "nested"
    assert config.get("E") == "from-env"
    assert config.get("F") == "$$(Memory) stays"
    assert config.get("G") == "cost $5"


def test_self_reference_appends_to_previous_value() -> None:
    config = Config.from_text("DAEMON_LIST = MASTER, SCHEDD\nDAEMON_LIST = $(DAEMON_LIST), STARTD\n")
    assert config.get_list("DAEMON_LIST") == ["MASTER", "SCHEDD", "STARTD"]
    # a self reference with no earlier definition in the file sees the default
    config = Config.from_text("DAEMON_LIST = $(DAEMON_LIST), EXTRA\n")
    assert config.get_list("DAEMON_LIST")[-1] == "EXTRA"
    assert "SCHEDD" in config.get_list("DAEMON_LIST")


def test_a_macro_loop_is_an_error_naming_the_chain() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_text("NUM_SLOTS = $(X)\nX = $(Y)\nY = $(X)\n")
    assert "expands into itself" in str(info.value)
    assert "X -> Y -> X" in str(info.value)


def test_bad_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "A = 1\n\n# fine\nthis is not an assignment\n")
    with pytest.raises(ConfigError) as info:
        Config(path)
    assert str(info.value).startswith(f"{path}:4: expected NAME = value")
    assert info.value.line == 4
    with pytest.raises(ConfigError, match="unbalanced parenthesis"):
        Config.from_text("A = $(B\n")


def test_values_of_the_wrong_kind_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "NUM_SLOTS = 4\nNEGOTIATOR_INTERVAL = soon\n")
    with pytest.raises(ConfigError) as info:
        Config(path)
    assert f"{path}:2: NEGOTIATOR_INTERVAL: expected a number, got 'soon'" == str(info.value)
    # through a macro: the definition that uses it is reported
    with pytest.raises(ConfigError, match="NUM_CPUS: expected an integer"):
        Config.from_text("NUM_CPUS = many\n")


def test_includes(tmp_path: Path) -> None:
    write(tmp_path / "inc.conf", "FROM_INCLUDE = yes\nNUM_SLOTS = 3\n")
    main = write(
        tmp_path / "main.conf",
        "DIR = " + str(tmp_path) + "\n"
        "include : inc.conf\n"
        "include ifexist : $(DIR)/missing.conf\n"
        "NUM_SLOTS = 5\n",
    )
    config = Config(main)
    assert config.get_bool("FROM_INCLUDE") is True
    assert config.get_int("NUM_SLOTS") == 5
    missing = write(tmp_path / "m.conf", "include : nope.conf\n")
    with pytest.raises(ConfigError, match="nope.conf: configuration file not found"):
        Config(missing)
    command = write(tmp_path / "cmd.conf", "include : /bin/echo A=1 |\n")
    with pytest.raises(ConfigError, match=r"cmd.conf:1: command includes"):
        Config(command)
    loop = write(tmp_path / "loop.conf", "include : loop.conf\n")
    with pytest.raises(ConfigError, match="nested deeper"):
        Config(loop)


# -- typed access and defaults ----------------------------------------------


def test_typed_getters() -> None:
    config = Config.from_text("I = 42\nF = 2.5\nB1 = True\nB2 = no\nL = a b,c\nBAD = x\n")
    assert config.get_int("I") == 42
    assert config.get_float("F") == 2.5
    assert config.get_float("I") == 42.0
    assert config.get_bool("B1") is True
    assert config.get_bool("B2") is False
    assert config.get_list("L") == ["a", "b", "c"]
    assert config.get_int("MISSING", 7) == 7
    with pytest.raises(ConfigError, match="BAD: expected an integer, got 'x'"):
        config.get_int("BAD")
    with pytest.raises(ConfigError, match="BAD: expected true or false"):
        config.get_bool("BAD")
    with pytest.raises(ConfigError, match="MISSING is not defined"):
        config.get_int("MISSING")


def test_defaults_cover_what_the_agent_uses() -> None:
    config = Config.from_text("")
    for name in (
        "NUM_SLOTS", "SLOT_MEMORY", "SLOT_DISK", "NEGOTIATOR_INTERVAL",
        "PERIODIC_EXPR_INTERVAL", "HEARTBEAT_INTERVAL", "QMF_ADMINS",
        "ANONYMOUS_OWNER", "COLLECTOR_HOST", "SCHEDD_NAME", "CLASSAD_LIFETIME",
    ):
        assert name in config
        assert config.get(name) not in (None, ""), name
    assert config.get_int("NUM_SLOTS") == (os.cpu_count() or 1)
    assert config.get_int("CLASSAD_LIFETIME") == 900
    # every default expands to a value of its kind
    for param in DEFAULTS.values():
        value = config.get(param.name)
        assert value is not None
        if param.kind == "int":
            config.get_int(param.name)
        elif param.kind == "float":
            config.get_float(param.name)


def test_computed_defaults_follow_the_operators_values() -> None:
    config = Config.from_text("MEMORY = 8000\nDISK = 1000000\nNUM_SLOTS = 4\n")
    assert config.get_int("SLOT_MEMORY") == 2000
    assert config.get_int("SLOT_DISK") == 250000
    config = Config.from_text("SCHEDD_NAME = alpha\n")
    assert config.get("MASTER_NAME") == "alpha"
    assert config.get("COLLECTOR_NAME") == "alpha"


def test_names_and_as_dict_list_defaults_and_definitions() -> None:
    config = Config.from_text("Custom_Thing = $(NUM_SLOTS)\n")
    names = config.names()
    assert "Custom_Thing" in names and "NUM_SLOTS" in names
    values = config.as_dict()
    assert values["Custom_Thing"] == values["NUM_SLOTS"]


def test_overrides_win_and_survive_reload(tmp_path: Path) -> None:
    path = write(tmp_path / CONFIG_FILE_NAME, "SCHEDD_NAME = from-file\n")
    config = Config(path, overrides={"SCHEDD_NAME": "from-flag"})
    assert config.get("SCHEDD_NAME") == "from-flag"
    write(path, "SCHEDD_NAME = changed\nNUM_SLOTS = 2\n")
    config.reload()
    assert config.get("SCHEDD_NAME") == "from-flag"
    assert config.get_int("NUM_SLOTS") == 2
    with pytest.raises(ConfigError, match="set by the agent or on its command line"):
        config.set_raw("SCHEDD_NAME", "x")
    with pytest.raises(ConfigError, match="bad variable name"):
        Config(path, overrides={"1BAD": "x"})


def test_reload_error_keeps_the_previous_values(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "NUM_SLOTS = 2\n")
    config = Config(path)
    write(path, "NUM_SLOTS = two\n")
    with pytest.raises(ConfigError, match=":1: NUM_SLOTS"):
        config.reload()
    assert config.get_int("NUM_SLOTS") == 2


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    config = Config(tmp_path / "absent.conf")
    assert config.get("NEGOTIATOR_INTERVAL") == "2"
    assert config.where("NEGOTIATOR_INTERVAL") is None


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QMF_STATE_DIR", str(tmp_path / "s"))
    assert default_state_dir() == tmp_path / "s"
    monkeypatch.delenv("QMF_STATE_DIR")
    assert default_state_dir() == Path.home() / ".local" / "state" / "qmf-grid"


# -- write-back ----------------------------------------------------------------


def test_set_raw_replaces_only_the_defining_line(tmp_path: Path) -> None:
    original = (
        "# operator's notes\n"
        "NUM_SLOTS = 2\n"
        "START = TARGET.Owner == \\\n"
        "   \"alice\"\n"
        "# trailing comment\n"
    )
    path = write(tmp_path / "c.conf", original)
    config = Config(path)
    config.set_raw("start", "TRUE")
    text = path.read_text()
    assert text == "# operator's notes\nNUM_SLOTS = 2\nSTART = TRUE\n# trailing comment\n"
    assert config.get("START") == "TRUE"
    assert config.where("START") == f"{path}:3"
    config.set_raw("NEW_ONE", "$(NUM_SLOTS)0")
    assert path.read_text().endswith("NEW_ONE = $(NUM_SLOTS)0\n")
    assert config.get_int("NEW_ONE") == 20
    # what was written reads back the same
    assert Config(path).as_dict() == config.as_dict()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "c.conf"]
    assert leftovers == []


def test_set_raw_creates_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / CONFIG_FILE_NAME
    config = Config(path)
    config.set_raw("NUM_SLOTS", "3")
    assert path.read_text() == "NUM_SLOTS = 3\n"
    os.chmod(path, 0o600)
    config.set_raw("NUM_SLOTS", "4")
    assert path.stat().st_mode & 0o777 == 0o600
    assert Config(path).get_int("NUM_SLOTS") == 4


def test_set_raw_refuses_bad_input_and_leaves_the_file_alone(tmp_path: Path) -> None:
    original = "NUM_SLOTS = 2\nLOOPY2 = $(LOOPY)\n"
    path = write(tmp_path / "c.conf", original)
    config = Config(path)
    with pytest.raises(ConfigError, match="NUM_SLOTS: expected an integer"):
        config.set_raw("NUM_SLOTS", "lots")
    with pytest.raises(ConfigError, match="single line"):
        config.set_raw("A", "x\nB = y")
    with pytest.raises(ConfigError, match="backslash"):
        config.set_raw("A", "x \\")
    with pytest.raises(ConfigError, match="bad variable name"):
        config.set_raw("A B", "x")
    with pytest.raises(ConfigError, match="expands into itself"):
        config.set_raw("LOOPY", "$(LOOPY2)")
    assert path.read_text() == original
    assert config.get_int("NUM_SLOTS") == 2
    with pytest.raises(ConfigError, match="not read from a file"):
        Config.from_text("").set_raw("A", "1")


def test_set_raw_reports_a_file_it_cannot_replace(tmp_path: Path) -> None:
    path = write(tmp_path / "c.conf", "A = 1\n")
    config = Config(path)
    path.unlink()
    path.mkdir()  # something that is not a file now sits where the file was
    (path / "x").write_text("")
    with pytest.raises(ConfigError, match=r"cannot (read|write) .*c\.conf"):
        config.set_raw("A", "2")
    assert config.get("A") == "1"


def test_config_is_a_read_only_mapping_of_expanded_values() -> None:
    config = Config.from_text("NUM_SLOTS = $(X)\nX = 3\n")
    assert config["num_slots"] == "3"
    assert "NUM_SLOTS" in config and "x" in config and "NOPE" not in config and 3 not in config
    with pytest.raises(KeyError):
        config["NOPE"]
    assert config.get("NOPE", "d") == "d"
    assert len(config) == len(list(config)) == len(config.names())
    assert dict(config)["X"] == "3"


def test_exponential_expansion_is_stopped() -> None:
    text = "".join(f"M{i} = $(M{i + 1})$(M{i + 1})\n" for i in range(40)) + "M40 = xxxxxxxx\n"
    with pytest.raises(ConfigError, match="expands to more than"):
        Config.from_text(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("AB_=$():#\\ \n\tx1.") + ["include :", "$ENV(", "$$(", "NUM_SLOTS"]),
                max_size=60).map("".join))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        config = Config.from_text(text)
    except ConfigError:
        return
    for name in config.names():
        try:
            config.get(name)
        except ConfigError:
            pass
