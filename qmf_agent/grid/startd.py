"""The local backend: slots on this machine that run jobs as real processes.

Slots follow HTCondor's static layout: by default one per CPU, with memory
and disk divided evenly.  Each slot has a machine ad (Arch, OpSys, Cpus,
Memory in MiB, Disk in KiB, Start, Requirements, Rank, State, Activity) that
the negotiator matches jobs against.

A run is a ``subprocess.Popen`` in a new session (so hold and remove can
signal the whole process group), in the job's Iwd, with its own stdin,
stdout and stderr files, as the job's Owner when the agent runs as root and
that user exists.  One reaper thread waits on Linux pidfds with a selector
-- no polling -- and collects the exit status and resource usage with
``wait4``; the same thread delivers every :class:`ExitResult` (failed
starts included) to the schedd, so the schedd's lock is never re-entered
from inside :meth:`Startd.run`.
"""

from __future__ import annotations

import logging
import os
import platform
import queue
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import classad

from ..binding import AgentSink
from . import userfiles
from .backend import ExitCallback, ExitResult, JobSpec, SlotView, slot_values
from .config import Config

__all__ = ["Startd", "SlotConfig", "HoldCode"]

log = logging.getLogger(__name__)

#: threads creating processes (creation releases the GIL: two overlap)
_LAUNCHERS = 2


class HoldCode:
    """HTCondor's HoldReasonCode values the scheduler uses."""

    USER_REQUEST = 1
    JOB_POLICY = 3
    FAILED_TO_CREATE_PROCESS = 6
    UNABLE_TO_OPEN_OUTPUT = 7
    UNABLE_TO_OPEN_INPUT = 8
    IWD_ERROR = 14


@dataclass
class SlotConfig:
    """How the machine is divided; zero means "detect"."""

    count: int = 0
    cpus_per_slot: int = 1
    memory_mib: int = 0
    disk_kib: int = 0
    start: str = "true"
    rank: str = "0.0"
    kill_grace: float = 5.0
    execute_dir: str = "/tmp"
    host: str = field(default_factory=socket.getfqdn)

    @classmethod
    def from_config(cls, config: Config) -> SlotConfig:
        return cls(count=config.get_int("NUM_SLOTS"), cpus_per_slot=config.get_int("SLOT_CPUS"),
                   memory_mib=config.get_int("SLOT_MEMORY"), disk_kib=config.get_int("SLOT_DISK"),
                   start=config.get("START") or "true", rank=config.get("RANK") or "0",
                   kill_grace=config.get_float("KILLING_TIMEOUT"),
                   execute_dir=config.get("LOCAL_DIR") or "/tmp",
                   host=config.get("FULL_HOSTNAME") or socket.getfqdn())


class _StartFailure(Exception):
    def __init__(self, text: str, code: int) -> None:
        super().__init__(text)
        self.code = code


@dataclass
class _Run:
    spec: JobSpec
    slot: str | None
    popen: subprocess.Popen[bytes]
    pidfd: int
    start: float
    killed: bool = False
    kill_deadline: float | None = None


def _arch() -> str:
    machine = platform.machine()
    return "X86_64" if machine in ("x86_64", "AMD64") else machine.upper()


def _total_memory_mib() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        log.warning("cannot read /proc/meminfo; assuming 1024 MiB")
    return 1024


class _Slot:
    __slots__ = ("name", "slot_id", "cpus", "memory", "disk", "state", "activity",
                 "entered_state", "entered_activity", "job_id", "owner", "total_run",
                 "run_started", "ad")

    def __init__(self, slot_id: int, host: str, cpus: int, memory: int, disk: int) -> None:
        self.name = f"slot{slot_id}@{host}"
        self.slot_id = slot_id
        self.cpus, self.memory, self.disk = cpus, memory, disk
        now = int(time.time())
        self.state, self.activity = "Unclaimed", "Idle"
        self.entered_state = self.entered_activity = now
        self.job_id: str | None = None
        self.owner: str | None = None
        self.total_run = 0.0
        self.run_started = 0.0
        self.ad: classad.ClassAd = classad.ClassAd()


class Startd:
    """The local execution backend (``backend="local"``)."""

    name = "startd"
    backend_name = "local"

    def __init__(self, sink: AgentSink, config: SlotConfig | None = None) -> None:
        self.config = config or SlotConfig()
        self._sink = sink
        self._lock = threading.Lock()
        self._callback: ExitCallback | None = None
        self._runs: dict[str, _Run] = {}
        self._done: list[ExitResult] = []
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._accepting = True
        #: runs registered but whose process is not created yet, with the
        #: controls (kill, suspend, resume) asked for meanwhile
        self._pending: dict[str, list[str]] = {}
        self._launch_queue: queue.SimpleQueue[tuple[JobSpec, str | None] | None] = (
            queue.SimpleQueue())
        self._launchers: list[threading.Thread] = []
        #: the state of a slot with no job: Owner when START is plainly false
        self._idle = self._idle_state()
        self._slots = self._make_slots()

    # --- slots -------------------------------------------------------------

    def _make_slots(self) -> dict[str, _Slot]:
        cfg = self.config
        count = cfg.count or max(1, (os.cpu_count() or 1) // max(1, cfg.cpus_per_slot))
        memory = cfg.memory_mib or max(1, _total_memory_mib() // count)
        if cfg.disk_kib:
            disk = cfg.disk_kib
        else:
            try:
                disk = max(1, shutil.disk_usage(cfg.execute_dir).free // 1024 // count)
            except OSError:
                disk = 1
        slots = {}
        for i in range(1, count + 1):
            slot = _Slot(i, cfg.host, cfg.cpus_per_slot, memory, disk)
            slot.state = self._idle
            slot.ad = self._slot_ad(slot)
            slots[slot.name] = slot
        return slots

    def _idle_state(self) -> str:
        """``Owner`` when START is false whatever the job (HTCondor's owner
        state: the machine is not available), else ``Unclaimed``."""
        try:
            value = classad.ExprTree(self.config.start).eval()
        except ValueError:
            log.error("START %r does not parse: slots stay in the Owner state", self.config.start)
            return "Owner"
        return "Owner" if value is False else "Unclaimed"

    def _slot_ad(self, slot: _Slot) -> classad.ClassAd:
        cfg = self.config
        ad = classad.ClassAd({
            "MyType": "Machine",
            "Name": slot.name,
            "Machine": cfg.host,
            "SlotID": slot.slot_id,
            "Arch": _arch(),
            "OpSys": "LINUX",
            "Cpus": slot.cpus,
            "TotalCpus": slot.cpus * len(getattr(self, "_slots", {}) or [0]),
            "Memory": slot.memory,
            "Disk": slot.disk,
            "State": slot.state,
            "Activity": slot.activity,
            "EnteredCurrentState": slot.entered_state,
            "EnteredCurrentActivity": slot.entered_activity,
            "LoadAvg": 1.0 if slot.activity == "Busy" else 0.0,
            "TotalJobRunTime": int(slot.total_run),
        })
        ad["Start"] = classad.ExprTree(cfg.start)
        ad["Requirements"] = classad.ExprTree("START")
        ad["Rank"] = classad.ExprTree(cfg.rank)
        if slot.job_id is not None:
            ad["JobId"] = slot.job_id
            ad["RemoteOwner"] = slot.owner or ""
        return ad

    def slots(self) -> list[SlotView]:
        with self._lock:
            return [SlotView(s.name, s.ad, s.state == "Unclaimed") for s in self._slots.values()]

    def slot_values(self, name: str) -> dict[str, Any] | None:
        """The slot's properties and statistics for the managed object."""
        with self._lock:
            slot = self._slots.get(name)
            if slot is None:
                return None
            ad = slot.ad
        return slot_values(ad, ("JobId", "RemoteOwner"))

    def slot_names(self) -> list[str]:
        with self._lock:
            return list(self._slots)

    def _set_state(self, slot: _Slot, state: str, activity: str, job_id: str | None,
                   owner: str | None) -> None:
        """Change a slot's state (caller holds the lock); returns nothing, tells the sink."""
        now = time.time()
        if state != slot.state:
            slot.entered_state = int(now)
        if activity != slot.activity:
            slot.entered_activity = int(now)
        if slot.activity == "Busy" and activity != "Busy" and slot.run_started:
            slot.total_run += now - slot.run_started
            slot.run_started = 0.0
        if activity == "Busy" and slot.activity != "Busy":
            slot.run_started = now
        slot.state, slot.activity, slot.job_id, slot.owner = state, activity, job_id, owner
        slot.ad = self._slot_ad(slot)

    def _announce(self, slot_name: str, old_state: str, state: str, activity: str,
                  job_id: str | None, owner: str | None) -> None:
        self._sink.changed("slot", slot_name)
        self._sink.event("SlotStateChanged", {
            "Name": slot_name, "From": old_state, "To": state, "Activity": activity,
            "JobId": job_id or "", "Owner": owner or "",
        })

    # --- life cycle --------------------------------------------------------

    def set_exit_callback(self, callback: ExitCallback) -> None:
        self._callback = callback

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._accepting = True
        self._thread = threading.Thread(target=self._reap_loop, name="startd-reaper", daemon=True)
        self._thread.start()
        self._launchers = [
            threading.Thread(target=self._launch_loop, name=f"startd-launcher-{i}", daemon=True)
            for i in range(_LAUNCHERS)]
        for thread in self._launchers:
            thread.start()

    def stop(self, mode: str = "graceful") -> None:
        """Kill every run (``fast``: KILL at once) and stop the reaper.

        From here on :meth:`run` refuses new runs (the job goes back to
        Idle), so nothing can start behind the kill.
        """
        with self._lock:
            self._accepting = False
        for _ in self._launchers:
            self._launch_queue.put(None)
        for thread in self._launchers:     # queued runs are refused (back to Idle)
            thread.join(timeout=10)
        self._launchers = []
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            self._signal(run, signal.SIGKILL if mode == "fast" else signal.SIGTERM)
            run.killed = True
            run.kill_deadline = time.monotonic() + (0 if mode == "fast" else self.config.kill_grace)
        deadline = time.monotonic() + self.config.kill_grace + 2
        while self._runs and time.monotonic() < deadline and self.running:
            self._wake()
            time.sleep(0.05)
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def reconfig(self, config: Config) -> None:
        """Take new Start/Rank expressions and kill grace (the slot layout stays)."""
        fresh = SlotConfig.from_config(config)
        moved = []
        with self._lock:
            self.config.start, self.config.rank = fresh.start, fresh.rank
            self.config.kill_grace = fresh.kill_grace
            idle_state = self._idle = self._idle_state()
            for slot in self._slots.values():
                if slot.state in ("Owner", "Unclaimed") and slot.state != idle_state:
                    moved.append((slot.name, slot.state))
                    self._set_state(slot, idle_state, "Idle", None, None)
                else:
                    slot.ad = self._slot_ad(slot)
        for name, old in moved:
            self._announce(name, old, idle_state, "Idle", None, None)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass

    # --- running jobs ------------------------------------------------------

    def run(self, spec: JobSpec, slot: str | None) -> None:
        """Start *spec* on *slot*; the outcome arrives through the callback.

        Returns at once: the slot is claimed and the run registered here
        (so a kill or suspend that follows is never lost), and a launcher
        thread creates the process.  Process creation releases the GIL, so
        two launchers start short jobs about twice as fast as one.
        """
        slot_obj = None
        with self._lock:
            accepting = self._accepting
            if slot is not None and accepting:
                slot_obj = self._slots.get(slot)
                if slot_obj is not None and slot_obj.state == "Unclaimed":
                    self._set_state(slot_obj, "Claimed", "Busy", spec.job_id, spec.owner)
                else:
                    slot_obj = None
            if accepting and (slot is None or slot_obj is not None):
                self._pending[spec.job_id] = []
        if not accepting or (slot is not None and slot_obj is None):
            # stopping, or lost a race for the slot: the job goes back to Idle (no hold code)
            why = "the startd is stopping" if not accepting else f"slot {slot} is not available"
            self._finish_later(ExitResult(spec.job_id, time.time(), time.time(), error=why))
            return
        if slot_obj is not None:
            self._announce(slot_obj.name, "Unclaimed", "Claimed", "Busy", spec.job_id, spec.owner)
        self._launch_queue.put((spec, slot))

    def _launch_loop(self) -> None:
        while True:
            item = self._launch_queue.get()
            if item is None:
                return
            try:
                self._launch(*item)
            except Exception:
                log.exception("launching job %s failed", item[0].job_id)

    def _launch(self, spec: JobSpec, slot: str | None) -> None:
        with self._lock:
            requests = self._pending.get(spec.job_id, [])
            refused = not self._accepting or "kill" in requests
            if refused:
                self._pending.pop(spec.job_id, None)
        if refused:
            # stopped before it started: "killed" (the schedd keeps it held,
            # removes it, or requeues it, by its status)
            self._release_slot(slot)
            now = time.time()
            self._finish_later(ExitResult(spec.job_id, now, now, killed=True))
            return
        started = time.time()
        try:
            popen = self._spawn(spec)
        except _StartFailure as exc:
            log.info("job %s failed to start: %s", spec.job_id, exc)
            with self._lock:
                self._pending.pop(spec.job_id, None)
            self._release_slot(slot)
            self._finish_later(ExitResult(spec.job_id, started, time.time(),
                                          error=str(exc), error_code=exc.code))
            return
        pidfd = os.pidfd_open(popen.pid)
        with self._lock:
            requests = self._pending.pop(spec.job_id, [])
            self._runs[spec.job_id] = _Run(spec, slot, popen, pidfd, started)
            self._selector.register(pidfd, selectors.EVENT_READ, spec.job_id)
        log.debug("job %s started as pid %d", spec.job_id, popen.pid)
        for request in requests:     # asked for while the process was being created
            {"kill": self.kill, "suspend": self.suspend, "resume": self.resume}[request](
                spec.job_id)

    def _finish_later(self, result: ExitResult) -> None:
        with self._lock:
            self._done.append(result)
        self._wake()

    def _release_slot(self, slot: str | None) -> None:
        if slot is None:
            return
        with self._lock:
            slot_obj = self._slots[slot]
            idle_state = self._idle
            self._set_state(slot_obj, idle_state, "Idle", None, None)
        self._announce(slot, "Claimed", idle_state, "Idle", None, None)

    def run_uid(self, owner: str) -> int:
        """The uid a job of *owner* runs as (Fetch reads only its files)."""
        return userfiles.run_uid(owner)

    @staticmethod
    def _open(path: str, flags: int, ident: userfiles.Identity | None, code: int) -> int:
        try:
            return userfiles.open_for(path, flags, ident)
        except userfiles.UserFileError as exc:
            raise _StartFailure(str(exc), code) from None

    def _spawn(self, spec: JobSpec) -> subprocess.Popen[bytes]:
        if not os.path.isdir(spec.iwd):
            raise _StartFailure(f"Iwd {spec.iwd} is not a directory", HoldCode.IWD_ERROR)
        ident = userfiles.identity(spec.owner)
        out_flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fds: list[int] = []
        try:
            fds.append(self._open(spec.stdin, os.O_RDONLY, ident, HoldCode.UNABLE_TO_OPEN_INPUT))
            fds.append(self._open(spec.stdout, out_flags, ident, HoldCode.UNABLE_TO_OPEN_OUTPUT))
            if spec.stderr == spec.stdout:
                fds.append(fds[1])
            else:
                fds.append(self._open(spec.stderr, out_flags, ident,
                                      HoldCode.UNABLE_TO_OPEN_OUTPUT))
            kwargs: dict[str, Any] = {}
            if ident is not None:
                kwargs = {"user": ident[0], "group": ident[1], "extra_groups": ident[2]}
            try:
                return subprocess.Popen(
                    spec.argv, executable=spec.argv[0], cwd=spec.iwd, env=spec.env,
                    stdin=fds[0], stdout=fds[1], stderr=fds[2],
                    start_new_session=True, close_fds=True, **kwargs)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise _StartFailure(
                    f"cannot execute {spec.argv[0]}: {reason}",
                    HoldCode.FAILED_TO_CREATE_PROCESS) from None
            except (ValueError, TypeError) as exc:
                raise _StartFailure(f"cannot execute {spec.argv[0]}: {exc}",
                                    HoldCode.FAILED_TO_CREATE_PROCESS) from None
        finally:
            for fd in set(fds):
                os.close(fd)

    def _signal(self, run: _Run, sig: int) -> bool:
        try:
            os.killpg(run.popen.pid, sig)
            return True
        except ProcessLookupError:
            return False
        except PermissionError as exc:
            log.warning("cannot signal job %s: %s", run.spec.job_id, exc)
            return False

    def _defer(self, job_id: str, request: str) -> bool:
        """Queue *request* for a run whose process is not created yet (lock held)."""
        pending = self._pending.get(job_id)
        if pending is None:
            return False
        pending.append(request)
        return True

    def kill(self, job_id: str) -> bool:
        with self._lock:
            if self._defer(job_id, "kill"):
                return True
            run = self._runs.get(job_id)
            if run is None:
                return False
            run.killed = True
            run.kill_deadline = time.monotonic() + self.config.kill_grace
        self._signal(run, signal.SIGCONT)
        self._signal(run, signal.SIGTERM)
        self._wake()
        return True

    def _suspend_resume(self, job_id: str, sig: int, activity: str) -> bool:
        with self._lock:
            if self._defer(job_id, "suspend" if sig == signal.SIGSTOP else "resume"):
                return True
            run = self._runs.get(job_id)
            if run is None or not self._signal(run, sig):
                return False
            slot = self._slots.get(run.slot) if run.slot else None
            if slot is not None:
                self._set_state(slot, "Claimed", activity, slot.job_id, slot.owner)
        if slot is not None:
            self._announce(slot.name, "Claimed", "Claimed", activity, job_id, run.spec.owner)
        return True

    def suspend(self, job_id: str) -> bool:
        return self._suspend_resume(job_id, signal.SIGSTOP, "Suspended")

    def resume(self, job_id: str) -> bool:
        return self._suspend_resume(job_id, signal.SIGCONT, "Busy")

    # --- the reaper --------------------------------------------------------

    def _reap_loop(self) -> None:
        while not self._stopping:
            timeout = self._next_deadline()
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                else:
                    self._reap(key.data)
            self._enforce_kills()
            self._deliver()

    def _next_deadline(self) -> float | None:
        with self._lock:
            deadlines = [r.kill_deadline for r in self._runs.values() if r.kill_deadline]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _enforce_kills(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [r for r in self._runs.values() if r.kill_deadline and r.kill_deadline <= now]
        for run in late:
            log.info("job %s ignored TERM for %.1fs: KILL", run.spec.job_id, self.config.kill_grace)
            self._signal(run, signal.SIGKILL)
            run.kill_deadline = None

    def _reap(self, job_id: str) -> None:
        with self._lock:
            run = self._runs.pop(job_id, None)
            if run is None:
                return
            self._selector.unregister(run.pidfd)
        try:
            _, status, usage = os.wait4(run.popen.pid, 0)
        except ChildProcessError:
            status, usage = 0, None
        os.close(run.pidfd)
        run.popen.returncode = os.waitstatus_to_exitcode(status)
        # the process group may outlive its leader: end the stragglers too
        if run.killed:
            self._signal(run, signal.SIGKILL)
        end = time.time()
        code = sig = None
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        self._release_slot(run.slot)
        self._finish_later(ExitResult(
            job_id, run.start, end, exit_code=code, signal=sig,
            user_cpu=usage.ru_utime if usage else 0.0,
            sys_cpu=usage.ru_stime if usage else 0.0,
            image_size_kib=usage.ru_maxrss if usage else 0,
            killed=run.killed,
        ))

    def _deliver(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        if not done or self._callback is None:
            return
        try:
            self._callback(done)
        except Exception:
            log.exception("the schedd failed to take %d job exits", len(done))

    def active_jobs(self) -> list[str]:
        with self._lock:
            return list(self._runs)
