"""The Slurm backend's parts that need no cluster: scripts, state mapping, log parsing.

The batch scripts are run with /bin/sh here, as slurmd would run them, so
what is checked is what a job sees (argv, environment, files, exit status).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from qmf_agent.grid.backend import JobSpec
from qmf_agent.grid.slurm import (
    SETUP_FAILED,
    JobCompLog,
    ScriptError,
    SlurmCli,
    SlurmError,
    batch_script,
    job_kind,
)
from qmf_agent.grid.slurm._cli import completed_names, parse_time


def _spec(tmp: Path, proc: int, argv: list[str], **kw: object) -> JobSpec:
    values: dict[str, object] = {
        "job_id": f"7.{proc}", "owner": "root", "universe": 5, "argv": argv,
        "env": {"PATH": "/usr/bin:/bin", "CONDOR_ID": f"7.{proc}"}, "iwd": str(tmp),
        "stdin": os.devnull, "stdout": str(tmp / f"out.{proc}"), "stderr": str(tmp / f"err.{proc}"),
    }
    values.update(kw)
    return JobSpec(**values)  # type: ignore[arg-type]


def _run(script: str, task: int | None = None) -> int:
    env = {"PATH": "/usr/bin:/bin"}
    if task is not None:
        env["SLURM_ARRAY_TASK_ID"] = str(task)
    return subprocess.run(["/bin/sh", "-c", script], env=env, check=False).returncode


def test_one_job_runs_with_its_argv_environment_and_files(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 0, ["/bin/sh", "-c", "echo \"$1 $CONDOR_ID $HOME\"; echo e >&2; exit 4",
                               "sh", "it's a \"quoted\" $arg"],
                 env={"CONDOR_ID": "7.0", "HOME": "/x y", "PATH": "/usr/bin:/bin"})
    script = batch_script([spec])
    assert "SLURM_ARRAY_TASK_ID" not in script
    assert _run(script) == 4
    assert (tmp_path / "out.0").read_text() == "it's a \"quoted\" $arg 7.0 /x y\n"
    assert (tmp_path / "err.0").read_text() == "e\n"


def test_array_script_gives_each_task_its_own_proc(tmp_path: Path) -> None:
    specs = [_spec(tmp_path, p, ["/bin/sh", "-c", f"echo $CONDOR_ID {p}; exit {p}"])
             for p in range(3)]
    script = batch_script(specs)
    assert script.count("export PATH=") == 1          # shared: written once
    assert script.count("export CONDOR_ID=") == 3     # per proc
    for task in range(3):
        assert _run(script, task) == task
        assert (tmp_path / f"out.{task}").read_text() == f"7.{task} {task}\n"
    assert _run(script, 9) == SETUP_FAILED


def test_same_file_for_out_and_err(tmp_path: Path) -> None:
    both = str(tmp_path / "both")
    script = batch_script([_spec(tmp_path, 0, ["/bin/sh", "-c", "echo o; echo e >&2"],
                                 stdout=both, stderr=both)])
    assert _run(script) == 0
    assert sorted(Path(both).read_text().split()) == ["e", "o"]


def test_bad_iwd_or_unwritable_output_end_with_setup_failed(tmp_path: Path) -> None:
    assert _run(batch_script([_spec(tmp_path, 0, ["/bin/true"], iwd=str(tmp_path / "no")
                                    )])) == SETUP_FAILED
    bad_out = _spec(tmp_path, 0, ["/bin/true"], stdout=str(tmp_path / "no" / "out"))
    assert _run(batch_script([bad_out])) == SETUP_FAILED


def test_environment_names_the_shell_cannot_export_are_refused(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 0, ["/bin/true"], env={"A-B": "1"})
    with pytest.raises(ScriptError, match="'A-B'"):
        batch_script([spec])
    with pytest.raises(ScriptError, match="no jobs"):
        batch_script([])
    with pytest.raises(ScriptError, match="no command"):
        batch_script([_spec(tmp_path, 0, [])])


@pytest.mark.parametrize("state, reason, kind", [
    ("PENDING", "Priority", "idle"), ("PENDING", "JobHeldUser", "held"),
    ("PENDING", "JobHeldAdmin", "held"), ("PENDING", "job requeued in held state", "held"),
    ("REQUEUE_HOLD", "None", "held"), ("RUNNING", "None", "running"),
    ("COMPLETING", "None", "running"), ("SUSPENDED", "None", "suspended"),
    ("COMPLETED", "None", "done"), ("FAILED", "NonZeroExitCode", "done"),
    ("CANCELLED", "None", "cancelled"), ("TIMEOUT", "TimeLimit", "ended"),
    ("NODE_FAIL", "None", "ended"), ("OUT_OF_MEMORY", "None", "ended"),
])
def test_slurm_states_map_to_queue_states(state: str, reason: str, kind: str) -> None:
    assert job_kind(state, reason) == kind


def test_parse_time() -> None:
    assert parse_time("N/A") is None and parse_time("Unknown") is None
    stamp = parse_time("2026-11-22T01:02:21")
    assert stamp is not None
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp)) == "2026-11-22T01:02:21"


_RECORD = ("JobId={id} UserId=root(0) GroupId=root(0) Name=wrap JobState={state} Partition=debug "
           "TimeLimit=UNLIMITED StartTime=2026-11-22T01:02:21 EndTime=2026-11-22T01:02:24 "
           "NodeList=vm NodeCnt=1 ProcCnt=1 WorkDir=/tmp ReservationName= Tres=cpu=1 Account= "
           "QOS= WcKey= Cluster=unknown SubmitTime=2026-11-22T01:02:21 "
           "EligibleTime=2026-11-22T01:02:21 {array}DerivedExitCode=0:0 ExitCode={code} \n")


def test_completion_log_is_read_incrementally(tmp_path: Path) -> None:
    path = tmp_path / "jobcomp.log"
    path.write_text(_RECORD.format(id=4, state="FAILED", code="2:0",
                                   array="ArrayJobId=2 ArrayTaskId=1 ")
                    + _RECORD.format(id=5, state="COMPLETED", code="0:0", array=""))
    log = JobCompLog(str(path))
    found = log.read({"2_1", "5", "9"})
    assert set(found) == {"2_1", "5"}
    assert (found["2_1"].state, found["2_1"].exit_code, found["2_1"].signal) == ("FAILED", 2, 0)
    assert found["5"].end is not None and found["5"].nodes == "vm"
    assert log.read({"2_1", "5", "9"}) == {}        # nothing new
    with path.open("a") as fh:                      # a record written in two pieces
        text = _RECORD.format(id=9, state="CANCELLED", code="0:15", array="")
        fh.write(text[:40])
        fh.flush()
        assert log.read({"9"}) == {}
        fh.write(text[40:])
    again = log.read({"9"})
    assert again["9"].state == "CANCELLED" and again["9"].signal == 15
    path.write_text(_RECORD.format(id=11, state="TIMEOUT", code="0:0", array=""))  # rotated
    assert set(log.read({"11"})) == {"11"}
    assert JobCompLog(str(tmp_path / "missing.log")).read({"1"}) == {}


def test_completion_log_first_read_skips_what_ended_before_since(tmp_path: Path) -> None:
    """A cluster's log grows without bound: the first read bisects to the
    records that ended after the oldest waited-for job was queued, and parses
    only those (plus less than one SPAN of older ones)."""
    base = 1_800_000_000.0
    lines = []
    for i in range(20_000):                       # one record a second
        end = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(base + i))
        lines.append(_RECORD.format(id=i + 1, state="COMPLETED", code="0:0", array="")
                     .replace("EndTime=2026-11-22T01:02:24", f"EndTime={end}"))
    path = tmp_path / "jobcomp.log"
    path.write_text("".join(lines))
    since = base + 15_000
    log = JobCompLog(str(path))
    found = log.read({"10", "14000", "14990", "15001", "19999"}, since)
    # 14,990 ended within the slack before *since*; 10 and 14,000 long before
    assert set(found) == {"14990", "15001", "19999"}
    assert log.read({"20001"}) == {}               # later reads go on from the end
    with path.open("a") as fh:
        fh.write(_RECORD.format(id=20001, state="COMPLETED", code="0:0", array=""))
    assert set(log.read({"20001"})) == {"20001"}
    # without *since*, or with no older records, the whole log is read
    assert set(JobCompLog(str(path)).read({"10", "19999"})) == {"10", "19999"}
    assert set(JobCompLog(str(path)).read({"10"}, base - 10_000)) == {"10"}


def test_completion_log_bisection_survives_lines_without_end_time(tmp_path: Path) -> None:
    path = tmp_path / "jobcomp.log"
    path.write_text("garbage without fields\n" * 5_000
                    + _RECORD.format(id=7, state="COMPLETED", code="0:0", array=""))
    found = JobCompLog(str(path)).read({"7"}, time.time() - 3600 * 24 * 365 * 5)
    assert set(found) == {"7"}


def test_cli_errors_carry_the_tools_message(tmp_path: Path) -> None:
    with pytest.raises(SlurmError, match="sbatch is not installed"):
        SlurmCli(bin_dir=str(tmp_path)).sbatch("#!/bin/sh\n", [])
    tool = tmp_path / "squeue"
    tool.write_text("#!/bin/sh\necho 'squeue: error: Unable to contact slurm controller' >&2\n"
                    "exit 1\n")
    tool.chmod(0o755)
    with pytest.raises(SlurmError, match="Unable to contact slurm controller"):
        SlurmCli(bin_dir=str(tmp_path)).jobs()
    slow = tmp_path / "sinfo"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(SlurmError, match="did not answer within 0.2s"):
        SlurmCli(bin_dir=str(tmp_path), timeout=0.2).nodes()


def test_job_sees_only_its_environment_and_slurms(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 0, ["/usr/bin/env"], env={"MINE": "1"})
    env = {"PATH": "/usr/bin:/bin", "AGENT_SECRET": "x", "SLURM_JOB_ID": "12"}
    assert subprocess.run(["/bin/sh", "-c", batch_script([spec])], env=env,
                          check=False).returncode == 0
    seen = dict(line.split("=", 1) for line in (tmp_path / "out.0").read_text().splitlines())
    assert seen == {"MINE": "1", "SLURM_JOB_ID": "12"}


def _tool(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_sbatch_runs_while_the_caller_works_and_gets_all_of_a_big_script(
        tmp_path: Path) -> None:
    """start_sbatch returns at once with the script already fed (larger than a
    pipe holds); job_id waits.  A tool that stops reading early still fails
    with its own message, not a broken pipe."""
    _tool(tmp_path / "sbatch", f"cat > {tmp_path}/got\nsleep 0.5\necho 4242\n")
    script = "#!/bin/sh\n" + "# padding\n" * 20000     # 200 KB: more than a pipe buffer
    started = time.monotonic()
    pending = SlurmCli(bin_dir=str(tmp_path)).start_sbatch(script, ["--hold"])
    assert time.monotonic() - started < 0.5          # did not wait for the tool
    assert pending.job_id() == "4242"
    assert (tmp_path / "got").read_text() == script
    _tool(tmp_path / "sbatch", "echo 'sbatch: error: invalid partition specified: x' >&2\n"
                               "exit 1\n")
    with pytest.raises(SlurmError, match="invalid partition specified"):
        SlurmCli(bin_dir=str(tmp_path)).start_sbatch(script, []).job_id()
    _tool(tmp_path / "sbatch", "echo 'Submitted batch job 7'\n")
    with pytest.raises(SlurmError, match="instead of a job id"):
        SlurmCli(bin_dir=str(tmp_path)).sbatch(script, [])
    _tool(tmp_path / "sbatch", "sleep 5\n")
    with pytest.raises(SlurmError, match="did not answer within 0.3s"):
        SlurmCli(bin_dir=str(tmp_path), timeout=0.3).start_sbatch("x\n", []).job_id()


def test_jobs_are_found_by_name_in_squeue_and_the_completion_log(tmp_path: Path) -> None:
    sep = "\x1f"
    _tool(tmp_path / "squeue", f'echo "$*" > {tmp_path}/args\n'
                               f"printf '31{sep}qmf-t-1.0\\n31{sep}qmf-t-1.0\\n40{sep}qmf-t-2.0\\n"
                               f"41{sep}other\\nbad line\\n'\n")
    cli = SlurmCli(bin_dir=str(tmp_path))
    assert cli.ids_by_name({"qmf-t-1.0", "qmf-t-2.0", "qmf-t-3.0"}) == {
        "qmf-t-1.0": ["31"], "qmf-t-2.0": ["40"]}       # an array's tasks: one id
    assert "--name=qmf-t-1.0,qmf-t-2.0,qmf-t-3.0" in (tmp_path / "args").read_text()
    assert cli.ids_by_name(set()) == {}
    log = tmp_path / "jobcomp.log"
    log.write_text(
        _RECORD.format(id=51, state="COMPLETED", code="0:0", array="").replace(
            "Name=wrap", "Name=qmf-t-4.0")
        + _RECORD.format(id=53, state="FAILED", code="1:0",
                         array="ArrayJobId=52 ArrayTaskId=1 ").replace("Name=wrap", "Name=qmf-t-5.0")
        + _RECORD.format(id=54, state="COMPLETED", code="0:0", array=""))
    assert completed_names(str(log), {"qmf-t-4.0", "qmf-t-5.0", "qmf-t-6.0"}) == {
        "qmf-t-4.0": ["51"], "qmf-t-5.0": ["52"]}
    assert completed_names(str(tmp_path / "missing.log"), {"qmf-t-4.0"}) == {}


def _spare_tool(tmp: Path) -> None:
    """An sbatch that records its arguments at start and its script once it
    has read all of it, then answers its pid as the job id."""
    _tool(tmp / "sbatch", f'echo "$*" > {tmp}/args.$$\ncat > {tmp}/part.$$\n'
                          f'mv {tmp}/part.$$ {tmp}/script.$$\necho $$\n')


def _waiting(tmp: Path) -> list[int]:
    """Pids of the fake sbatch processes started and still without a script."""
    return sorted(int(p.name[5:]) for p in tmp.glob("args.*")
                  if not (tmp / f"script.{p.name[5:]}").exists())


def _wait(what: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_spare_sbatch_takes_the_next_script_with_its_options_as_directives(
        tmp_path: Path) -> None:
    _spare_tool(tmp_path)
    cli = SlurmCli(bin_dir=str(tmp_path), spare_sbatch=True)
    script = "#!/bin/sh\n# body\nexec /bin/true\n"
    options = ["--hold", "--job-name=qmf-t-1.0", "--array=0-2", "--nice=-3", "--chdir=/"]
    try:
        first = cli.sbatch(script, options)      # not kept yet: options on the command line
        assert (tmp_path / f"args.{first}").read_text() == "--parsable " + " ".join(options) + "\n"
        assert (tmp_path / f"script.{first}").read_text() == script
        time.sleep(0.2)
        assert _waiting(tmp_path) == []          # and no spare started
        cli.keep_spare()
        _wait(lambda: len(_waiting(tmp_path)) == 1)
        [spare] = _waiting(tmp_path)
        assert (tmp_path / f"args.{spare}").read_text() == "--parsable\n"
        second = cli.sbatch(script, options)
        assert second == str(spare)                # the spare took it
        assert (tmp_path / f"script.{second}").read_text() == (
            "#!/bin/sh\n" + "".join(f"#SBATCH {o}\n" for o in options) + "# body\nexec /bin/true\n")
        _wait(lambda: len(_waiting(tmp_path)) == 1)    # one new spare, never more
        # an option sbatch would split as a directive goes on a command line;
        # the spare keeps waiting for the next script
        [spare] = _waiting(tmp_path)
        odd = cli.sbatch(script, ["--partition=a b"])
        assert odd != str(spare) and "--partition=a b" in (tmp_path / f"args.{odd}").read_text()
        assert _waiting(tmp_path) == [spare]
        cli.keep_spare()                           # one waits already: nothing started
        assert _waiting(tmp_path) == [spare]
    finally:
        cli.close()
    # stopped unused: killed before it read anything, so it submitted nothing
    with pytest.raises(ProcessLookupError):
        os.kill(spare, 0)
    assert not (tmp_path / f"script.{spare}").exists()
    first_args = set(tmp_path.glob("args.*"))
    cli.sbatch(script, [])                         # closed: no spare is started again
    assert len(set(tmp_path.glob("args.*")) - first_args) == 1
    assert _waiting(tmp_path) == [spare]


def test_spare_sbatch_older_than_its_limit_is_replaced(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from qmf_agent.grid.slurm._cli import _Spares

    _spare_tool(tmp_path)
    cli = SlurmCli(bin_dir=str(tmp_path), spare_sbatch=True)
    try:
        cli.keep_spare()
        _wait(lambda: len(_waiting(tmp_path)) == 1)
        [old] = _waiting(tmp_path)
        monkeypatch.setattr(_Spares, "MAX_AGE", 0.0)
        cli.keep_spare()                           # too old: replaced
        with pytest.raises(ProcessLookupError):
            os.kill(old, 0)
        _wait(lambda: len(_waiting(tmp_path)) == 2)  # the old one's args stay, unanswered
        job = cli.sbatch("#!/bin/sh\ntrue\n", ["--hold"])   # the new one is too old as well
        assert "--hold" in (tmp_path / f"args.{job}").read_text()   # a cold sbatch
        assert not (tmp_path / f"script.{old}").exists()
    finally:
        cli.close()


def test_spare_sbatch_refusal_and_missing_tool(tmp_path: Path) -> None:
    _tool(tmp_path / "sbatch", "cat >/dev/null\n"
                               "echo 'sbatch: error: Batch job submission failed: x' >&2\nexit 1\n")
    cli = SlurmCli(bin_dir=str(tmp_path), spare_sbatch=True)
    try:
        cli.keep_spare()
        with pytest.raises(SlurmError, match="Batch job submission failed: x"):
            cli.sbatch("#!/bin/sh\ntrue\n", ["--hold"])       # the spare's own refusal
    finally:
        cli.close()
    cli = SlurmCli(bin_dir=str(tmp_path / "none"), spare_sbatch=True)
    cli.keep_spare()                                           # no tool: no spare, no error
    with pytest.raises(SlurmError, match="sbatch is not installed"):
        cli.sbatch("#!/bin/sh\ntrue\n", [])
    cli.close()
