"""Batch scripts for Slurm from resolved jobs.

The schedd has already evaluated every per-proc expression into a
:class:`~qmf_agent.grid.backend.JobSpec`, so procs of one cluster may differ
in anything (arguments, files, environment, even Iwd).  One ``sbatch`` of a
job array still covers them: the script holds one ``case`` branch per array
task with that proc's own settings.  What all procs share (usually the whole
environment but ``CONDOR_ID``) is written once, above the ``case``.

The script does the redirections itself rather than through ``--input`` /
``--output`` (which take only Slurm's ``%a``-style patterns), and so that a
file that cannot be opened, or an Iwd that is not a directory, ends the job
with a distinct status (:data:`SETUP_FAILED`) instead of running it
elsewhere.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..backend import JobSpec

__all__ = ["batch_script", "BatchRequest", "SETUP_FAILED", "ScriptError"]

#: Exit status of a job whose Iwd or files could not be set up.
SETUP_FAILED = 125
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


#: A job sees only its own environment (and Slurm's SLURM_* variables), as
#: with the local backend, not whatever slurmd's environment holds.
_CLEAN_ENV = ("for _v in $(env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p'); do "
              'case "$_v" in SLURM_*) ;; *) unset "$_v" 2>/dev/null ;; esac; done; unset _v')


class ScriptError(ValueError):
    """A job cannot be expressed as a batch script (named in the message)."""


def _exports(items: Sequence[tuple[str, str]], job_id: str) -> list[str]:
    lines = []
    for name, value in items:
        if not _NAME.match(name):
            raise ScriptError(f"job {job_id}: environment variable name {name!r} cannot be "
                              "passed to a Slurm batch job (letters, digits and _ only)")
        lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def _body(spec: JobSpec, env: Sequence[tuple[str, str]]) -> list[str]:
    """Commands that run one proc: its own environment, Iwd, files, then exec."""
    q = shlex.quote
    if not spec.argv:
        raise ScriptError(f"job {spec.job_id} has no command")
    err = "2>&1" if spec.stderr == spec.stdout else f"2>{q(spec.stderr)}"
    files = f"<{q(spec.stdin)} >{q(spec.stdout)} {err}"
    lines = _exports(env, spec.job_id)
    lines += [
        f"cd {q(spec.iwd)} 2>/dev/null || exit {SETUP_FAILED}",
        "unset OLDPWD PWD",   # set by cd, not the job's (unless it asks for them)
        *_exports(sorted((k, v) for k, v in spec.env.items() if k in ("OLDPWD", "PWD")),
                  spec.job_id),
        # a regular builtin: a redirection that fails returns instead of exiting
        f"true {files} || exit {SETUP_FAILED}",
        f"exec {files}",
        "exec " + " ".join(q(arg) for arg in spec.argv),
    ]
    return lines


def batch_script(specs: Sequence[JobSpec]) -> str:
    """One script for *specs*: a plain job for one, array tasks 0..n-1 for more."""
    if not specs:
        raise ScriptError("no jobs to submit")
    envs = [spec.env for spec in specs]
    common = {k: v for k, v in envs[0].items() if all(e.get(k) == v for e in envs[1:])}
    lines = ["#!/bin/sh", f"# qmf-grid jobs {specs[0].job_id}..{specs[-1].job_id}", _CLEAN_ENV]
    lines += _exports(sorted(common.items()), specs[0].job_id)
    if len(specs) == 1:
        return "\n".join(lines + _body(specs[0], [])) + "\n"
    lines.append('case "$SLURM_ARRAY_TASK_ID" in')
    for task, spec in enumerate(specs):
        own = sorted((k, v) for k, v in spec.env.items() if k not in common)
        lines.append(f"{task})")
        lines += ["  " + line for line in _body(spec, own)]
        lines.append("  ;;")
    lines.append("esac")
    lines.append('echo "qmf-grid: no job for array task $SLURM_ARRAY_TASK_ID" >&2')
    lines.append(f"exit {SETUP_FAILED}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BatchRequest:
    """One Slurm batch job to create: its script and what it asks of Slurm.

    Both ways of submitting render it: :meth:`options` for ``sbatch`` and
    :meth:`rest_job` for slurmrestd, so the two cannot drift apart.  The
    job's own files, directory and environment are in the script; Slurm's
    are fixed (``/`` and ``/dev/null``: see :func:`batch_script`).
    """

    name: str
    script: str
    cpus: int = 1
    memory_mib: int | None = None
    nice: int = 0
    held: bool = False
    count: int = 1                       #: more than 1: a job array 0..count-1
    partition: str = ""
    ident: tuple[int, int] | None = None  #: (uid, gid) to run as; None: the submitter's

    def options(self) -> list[str]:
        """``sbatch``'s options for it."""
        # ALL of sbatch's bare environment (see SlurmCli.sbatch): NONE and NIL make
        # Slurm build a login environment per job, which costs it seconds per job;
        # the script sets the job's own environment itself
        options = ["--export=ALL", "--output=/dev/null", "--error=/dev/null", "--chdir=/",
                   f"--job-name={self.name}", "--ntasks=1", f"--cpus-per-task={self.cpus}"]
        if self.memory_mib is not None:
            options.append(f"--mem={self.memory_mib}")
        if self.nice:
            options.append(f"--nice={self.nice}")
        if self.held:
            options.append("--hold")
        if self.count > 1:
            options.append(f"--array=0-{self.count - 1}")
        if self.partition:
            options.append(f"--partition={self.partition}")
        if self.ident is not None:
            options += [f"--uid={self.ident[0]}", f"--gid={self.ident[1]}"]
        return options

    def rest_job(self, environment: Mapping[str, str]) -> dict[str, Any]:
        """slurmrestd's ``job`` object (openapi v0.0.38) for it, run with
        *environment* (what ``--export=ALL`` gives sbatch's jobs).  It has no
        user: slurmrestd submits as itself (see ``_rest.Slurmrestd``)."""
        job: dict[str, Any] = {
            # slurmrestd refuses an empty environment ("environment must be
            # set") where sbatch takes one; the script clears it anyway
            "name": self.name, "environment": dict(environment) or {"PATH": "/usr/bin:/bin"},
            "current_working_directory": "/", "standard_output": "/dev/null",
            "standard_error": "/dev/null", "tasks": 1, "cpus_per_task": self.cpus}
        if self.memory_mib is not None:
            job["memory_per_node"] = self.memory_mib
        if self.nice:
            job["nice"] = self.nice
        if self.held:
            job["hold"] = True
        if self.count > 1:
            job["array"] = f"0-{self.count - 1}"
        if self.partition:
            job["partition"] = self.partition
        return job
