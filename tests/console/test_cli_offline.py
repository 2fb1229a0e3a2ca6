"""The qmf CLI where no agent is needed: usage errors, classad eval,
submit -dump, and a clear failure when nothing answers."""

from __future__ import annotations

import json

import pytest
from console_agent_process import free_port

from console.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, words",
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["q", "--bogus-option"], "unrecognized arguments"),
        (["daemon", "explode"], "invalid choice: 'explode'"),
        (["--timeout", "soon", "q"], "invalid float value"),
        (["call", "scheduler", "Query", "not-a-pair"], "expected NAME=VALUE"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, words):
    code, out, err = run(capsys, "--url", f"amqp://127.0.0.1:{free_port()}", *argv)
    assert code == 2
    assert words in err
    assert out == ""


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "submit" in out and "watch" in out


def test_classad_eval(capsys):
    code, out, _ = run(capsys, "classad", "eval", 'strcat("a", "b")', "1 + 2", "undefined_attr", "{1, 2}")
    assert code == 0
    assert out.splitlines() == ['"ab"', "3", "undefined", "{ 1, 2 }"]
    code, out, _ = run(capsys, "classad", "eval", "--ad", "[ x = 20; y = x * 2 ]", "y + 2")
    assert (code, out) == (0, "42\n")
    code, out, _ = run(capsys, "--json", "classad", "eval", "MY.x", "--ad", "[x = \"t\"]")
    assert json.loads(out) == ["t"]


def test_classad_eval_errors(capsys, tmp_path):
    code, out, err = run(capsys, "classad", "eval", "1 +")
    assert code == 1 and err.startswith("qmf classad: bad expression '1 +'") and len(err.splitlines()) == 1
    code, _, err = run(capsys, "classad", "eval", "x", "--ad", f"@{tmp_path}/none.ad")
    assert code == 1 and "cannot read ad from" in err


def test_submit_dump_prints_job_ads(capsys, tmp_path):
    f = tmp_path / "job.sub"
    f.write_text("executable = /bin/echo\narguments = $(x)\nqueue x in (a, b)\n")
    code, out, err = run(capsys, "--json", "submit", str(f), "-dump")
    assert code == 0, err
    ads = json.loads(out)
    assert [a["Args"] for a in ads] == ["a", "b"]
    assert [a["ProcId"] for a in ads] == [0, 1]
    assert ads[0]["Iwd"] == str(tmp_path)


def test_submit_errors_are_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "submit", str(tmp_path / "missing.sub"))
    assert code == 1 and "cannot read submit file" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.sub"
    bad.write_text("executable = /bin/true\nuniverse = moon\nqueue\n")
    code, _, err = run(capsys, "submit", str(bad), "-dump")
    assert code == 1
    assert err.strip() == "qmf submit: line 2: unknown universe 'moon' " \
        "(one of container, docker, grid, java, local, parallel, scheduler, standard, vanilla, vm)"


def test_no_agent_is_one_clear_line(capsys):
    url = f"amqp://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "--url", url, "--timeout", "2", "q")
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("qmf q: ") and url.split("//")[1] in err


def test_debug_adds_the_traceback(capsys):
    code, _, err = run(capsys, "--debug", "--url", f"amqp://127.0.0.1:{free_port()}", "--timeout", "2", "agents")
    assert code == 1
    assert "Traceback" in err


def test_submit_from_stdin_with_appended_commands(capsys, monkeypatch, tmp_path):
    import io

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("executable = /bin/echo\nqueue 2\n"))
    code, out, err = run(capsys, "--json", "submit", "-", "-dump", "-append", "arguments = hi $(Process)")
    assert code == 0, err
    ads = json.loads(out)
    assert [a["Args"] for a in ads] == ["hi 0", "hi 1"]
    assert ads[0]["Iwd"] == str(tmp_path)
