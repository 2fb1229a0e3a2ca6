"""Real processes on the local backend: files, exit codes, signals, environment,
Iwd, hold/release/remove/suspend of running jobs, policy expressions."""

from __future__ import annotations

import os
import pwd
import signal

import pytest
from jobpath_helpers import ROOT, JobPath, Recorder, expr, job_ad, wait_for

from qmf_agent.grid.backend import ExitResult, JobSpec
from qmf_agent.grid.jobs import JobStatus
from qmf_agent.grid.startd import SlotConfig, Startd


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"), slots=2, kill_grace=1.0).start()
    yield path
    path.stop()


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # the process may be reaped between the kill and the read
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_output_exit_code_iwd_and_environment(jp, tmp_path):
    script = "echo out:$PWD:$GREETING:$OLDSTYLE; echo err >&2; read line; echo in:$line; exit 7"
    (tmp_path / "input.txt").write_text("from stdin\n")
    ad = job_ad(str(tmp_path), cmd="/bin/sh", Arguments=f"-c '{script}'",
                Environment="GREETING='hello world'", Env="OLDSTYLE=ignored",
                In="input.txt", Out="job.out", Err="job.err")
    jp.schedd.submit(ad, 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED, what="job 1.0 to complete")
    out = (tmp_path / "job.out").read_text().splitlines()
    assert out == [f"out:{tmp_path}:hello world:", "in:from stdin"]
    assert (tmp_path / "job.err").read_text() == "err\n"
    hist = jp.history_ad("1.0")
    assert hist["ExitCode"] == 7 and hist["ExitBySignal"] is False
    assert hist["NumJobStarts"] == 1
    assert hist["JobStartDate"] <= hist["CompletionDate"]
    assert hist["RemoteWallClockTime"] > 0
    assert hist["ImageSize"] > 0
    done = jp.sink.named("JobCompleted")
    assert done and done[0]["ExitCode"] == 7 and done[0]["Owner"] == "root"


def test_old_syntax_args_and_env(jp, tmp_path):
    ad = job_ad(str(tmp_path), cmd="/usr/bin/env", Args="", Env="A=1;B=two words",
                Out="env.out")
    jp.schedd.submit(ad, 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
    lines = (tmp_path / "env.out").read_text().splitlines()
    assert "A=1" in lines and "B=two words" in lines
    ad = job_ad(str(tmp_path), cmd="/bin/echo", Args='a  b \\"c\\"', Out="args.out")
    jp.schedd.submit(ad, 1, ROOT)
    wait_for(lambda: jp.status("2.0") == JobStatus.COMPLETED)
    assert (tmp_path / "args.out").read_text() == 'a b "c"\n'


def test_relative_cmd_resolves_in_iwd_and_signal_exit(jp, tmp_path):
    script = tmp_path / "suicide.sh"
    script.write_text("#!/bin/sh\nkill -SEGV $$\n")
    script.chmod(0o755)
    jp.schedd.submit(job_ad(str(tmp_path), cmd="suicide.sh"), 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
    hist = jp.history_ad("1.0")
    assert hist["ExitBySignal"] is True and hist["ExitSignal"] == signal.SIGSEGV
    assert "ExitCode" not in hist


def test_missing_executable_is_held_with_reason(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/no/such/program"), 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.HELD)
    ad = jp.schedd.get_ad("1.0")
    assert ad["HoldReasonCode"] == 6 and "/no/such/program" in ad["HoldReason"]
    jp.schedd.submit(job_ad(str(tmp_path / "gone")), 1, ROOT)
    wait_for(lambda: jp.status("2.0") == JobStatus.HELD)
    assert jp.schedd.get_ad("2.0")["HoldReasonCode"] == 14


def test_hold_kills_process_group_release_reruns(jp, tmp_path):
    pidfile = tmp_path / "pids"
    body = f"sleep 60 & echo $$ $! > {pidfile}; wait"
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh", Arguments=f"-c '{body}'"), 1, ROOT)
    wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2)
    shell, child = map(int, pidfile.read_text().split())
    assert jp.status("1.0") == JobStatus.RUNNING
    jp.schedd.act_one("hold", "1.0", "pause", ROOT)
    assert jp.status("1.0") == JobStatus.HELD
    wait_for(lambda: not _alive(shell) and not _alive(child), what="the process group to die")
    wait_for(lambda: "1.0" not in jp.startd.active_jobs())
    assert jp.schedd.get_ad("1.0")["RemoteWallClockTime"] > 0
    pidfile.unlink()
    jp.schedd.act_one("release", "1.0", "", ROOT)
    wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2)
    assert jp.schedd.get_ad("1.0")["NumJobStarts"] == 2
    jp.schedd.act_one("remove", "1.0", "done", ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.REMOVED and jp.schedd.job("1.0") is None)
    shell2, child2 = map(int, pidfile.read_text().split())
    wait_for(lambda: not _alive(shell2) and not _alive(child2))


def test_term_ignoring_job_is_killed_after_grace(jp, tmp_path):
    ready = tmp_path / "ready"
    body = f"trap \"\" TERM; touch {ready}; while true; do sleep 0.1; done"
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh", Arguments=f"-c '{body}'"), 1, ROOT)
    wait_for(ready.exists)
    jp.schedd.act_one("remove", "1.0", "", ROOT)
    wait_for(lambda: jp.schedd.job("1.0") is None, what="KILL after the grace period")
    assert jp.history_ad("1.0")["JobStatus"] == JobStatus.REMOVED


def test_suspend_and_continue_stop_the_process(jp, tmp_path):
    ready = tmp_path / "ready"
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh",
                            Arguments=f"-c 'echo $$ > {ready}; exec sleep 60'"), 1, ROOT)
    wait_for(lambda: ready.exists() and ready.read_text().strip())
    pid = int(ready.read_text())

    def state() -> str:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0]

    jp.schedd.act_one("suspend", "1.0", "", ROOT)
    assert jp.status("1.0") == JobStatus.SUSPENDED
    wait_for(lambda: state() == "T", what="the job to stop")
    slot = jp.schedd.get_ad("1.0")["RemoteHost"]
    assert jp.startd.slot_values(slot)["Activity"] == "Suspended"
    jp.schedd.act_one("continue", "1.0", "", ROOT)
    assert jp.status("1.0") == JobStatus.RUNNING
    wait_for(lambda: state() == "S", what="the job to continue")
    jp.schedd.act_one("remove", "1.0", "", ROOT)
    wait_for(lambda: jp.schedd.job("1.0") is None)


def test_periodic_hold_release_and_remove(tmp_path):
    jp = JobPath(str(tmp_path / "state"), periodic=0.2).start()
    try:
        marker = tmp_path / "started"
        ad = job_ad(str(tmp_path), cmd="/bin/sh", Arguments=f"-c 'touch {marker}; sleep 60'",
                    PeriodicHold=expr("JobStatus == 2 && time() - EnteredCurrentStatus >= 0"),
                    PeriodicRelease=expr("NumJobStarts < 2"))
        jp.schedd.submit(ad, 1, ROOT)
        wait_for(lambda: jp.sink.named("JobHeld"), what="PeriodicHold to fire")
        held = jp.sink.named("JobHeld")[0]
        assert "PeriodicHold" in held["Reason"] and held["Code"] == 3
        wait_for(lambda: jp.sink.named("JobReleased"), what="PeriodicRelease to fire")
        wait_for(lambda: len(jp.sink.named("JobHeld")) >= 2, what="the second hold")
        # NumJobStarts is now 2: PeriodicRelease no longer fires
        assert jp.status("1.0") == JobStatus.HELD
        assert jp.schedd.get_ad("1.0")["HoldReasonCode"] == 3
        jp.schedd.submit(job_ad(str(tmp_path), PeriodicRemove=expr("JobStatus == 1"),
                                Requirements=expr("false")), 1, ROOT)
        wait_for(lambda: jp.schedd.job("2.0") is None, what="PeriodicRemove to fire")
        assert "PeriodicRemove" in jp.history_ad("2.0")["RemoveReason"]
    finally:
        jp.stop()


def test_on_exit_hold_and_on_exit_remove(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh", Arguments="-c 'exit 3'",
                            OnExitHold=expr("ExitCode == 3")), 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.HELD)
    ad = jp.schedd.get_ad("1.0")
    assert ad["HoldReasonCode"] == 3 and "OnExitHold" in ad["HoldReason"]
    counter = tmp_path / "runs"
    body = f"echo x >> {counter}; test $(wc -l < {counter}) -ge 3"
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh", Arguments=f"-c '{body}'",
                            OnExitRemove=expr("ExitCode == 0")), 1, ROOT)
    wait_for(lambda: jp.status("2.0") == JobStatus.COMPLETED, what="the third run to succeed")
    assert jp.history_ad("2.0")["NumJobStarts"] == 3
    assert len(counter.read_text().splitlines()) == 3


def test_local_universe_starts_without_matchmaking(tmp_path):
    jp = JobPath(str(tmp_path / "state"), start="false").start()
    try:
        jp.schedd.submit(job_ad(str(tmp_path), JobUniverse=12), 1, ROOT)
        jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
        wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
        assert jp.history_ad("1.0")["RemoteHost"] == "testhost"
        assert jp.status("2.0") == JobStatus.IDLE
    finally:
        jp.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root")
def test_runs_as_owner_when_root(jp, tmp_path):
    nobody = pwd.getpwnam("nobody")
    work = tmp_path / "shared"
    work.mkdir()
    work.chmod(0o777)
    tmp_path.chmod(0o755)
    jp.schedd.submit(job_ad(str(work), cmd="/usr/bin/id", Args="-u", Out="id.out",
                            Owner="nobody"), 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
    assert (work / "id.out").read_text().strip() == str(nobody.pw_uid)
    assert os.stat(work / "id.out").st_uid == nobody.pw_uid
    # Out pointing at a file nobody does not own is refused, not truncated
    secret = work / "root-owned"
    secret.write_text("keep")
    jp.schedd.submit(job_ad(str(work), Out="root-owned", Owner="nobody"), 1, ROOT)
    wait_for(lambda: jp.status("2.0") == JobStatus.HELD)
    assert jp.schedd.get_ad("2.0")["HoldReasonCode"] == 7
    assert secret.read_text() == "keep"


def test_slot_states_follow_the_job(jp, tmp_path):
    ready = tmp_path / "ready"
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh",
                            Arguments=f"-c 'touch {ready}; sleep 60'"), 1, ROOT)
    wait_for(ready.exists)
    slot = jp.schedd.get_ad("1.0")["RemoteHost"]
    values = jp.startd.slot_values(slot)
    assert values["State"] == "Claimed" and values["Activity"] == "Busy"
    assert values["JobId"] == "1.0" and values["RemoteOwner"] == "root"
    jp.schedd.act_one("remove", "1.0", "", ROOT)
    wait_for(lambda: jp.startd.slot_values(slot)["State"] == "Unclaimed")
    changes = [(e["From"], e["To"]) for e in jp.sink.named("SlotStateChanged")
               if e["Name"] == slot]
    assert ("Unclaimed", "Claimed") in changes and ("Claimed", "Unclaimed") in changes


def test_user_log_records_the_life_of_a_job(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh", Arguments="-c 'exit 2'",
                            UserLog="job.log", OnExitHold=expr("NumJobStarts < 2")), 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.HELD)
    assert jp.schedd.fetch("1.0", "Log", 0, 3, ROOT) == b"000"
    jp.schedd.act_one("release", "1.0", "try again", ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
    text = (tmp_path / "job.log").read_text()
    codes = [line[:3] for line in text.splitlines() if line[:3].isdigit()]
    assert codes == ["000", "001", "012", "013", "001", "005"]
    assert "(001.000.000)" in text.splitlines()[0]
    assert "\t(1) Normal termination (return value 2)" in text
    assert "\ttry again" in text
    assert text.count("...\n") == 6


def test_start_false_puts_slots_in_owner_state_until_reconfig(tmp_path):
    from qmf_agent.grid.config import Config

    jp = JobPath(str(tmp_path / "state"), slots=1, start="false").start()
    try:
        assert jp.startd.slot_values("slot1@testhost")["State"] == "Owner"
        jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
        jp.negotiator.cycle()
        assert jp.status("1.0") == JobStatus.IDLE
        jp.startd.reconfig(Config.from_text("START = TRUE\nNUM_SLOTS = 1\n"))
        assert jp.startd.slot_values("slot1@testhost")["State"] == "Unclaimed"
        moves = [(e["From"], e["To"]) for e in jp.sink.named("SlotStateChanged")]
        assert ("Owner", "Unclaimed") in moves
        jp.negotiator.poke()
        wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
    finally:
        jp.stop()


def test_controls_before_the_process_exists_are_not_lost(tmp_path):
    results: list[ExitResult] = []
    startd = Startd(Recorder(), SlotConfig(count=2, host="testhost", memory_mib=1, disk_kib=1))
    startd.set_exit_callback(results.extend)

    def spec(job_id: str, argv: list[str]) -> JobSpec:
        return JobSpec(job_id, "root", 5, argv, {"PATH": "/bin"}, str(tmp_path),
                       os.devnull, str(tmp_path / f"{job_id}.out"), os.devnull)

    # not started yet: the runs are registered, their processes not created
    startd.run(spec("1.0", ["/bin/sh", "-c", "echo ran"]), "slot1@testhost")
    startd.run(spec("2.0", ["/bin/sleep", "61.25"]), "slot2@testhost")
    assert startd.kill("1.0") and startd.suspend("2.0")
    startd.start()
    try:
        wait_for(lambda: any(r.job_id == "1.0" for r in results))
        (killed,) = [r for r in results if r.job_id == "1.0"]
        assert killed.killed and killed.exit_code is None
        assert not (tmp_path / "1.0.out").exists()       # never ran
        wait_for(lambda: "2.0" in startd.active_jobs())
        (pid,) = [int(p) for p in os.listdir("/proc") if p.isdigit()
                  and _cmdline(int(p)) == b"/bin/sleep\x0061.25\x00"]
        wait_for(lambda: open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "T",
                 what="the deferred suspend")
        assert startd.slot_values("slot2@testhost")["Activity"] == "Suspended"
    finally:
        startd.stop("fast")
