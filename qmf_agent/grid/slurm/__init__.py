"""The ``slurm`` backend: jobs become Slurm batch jobs, Slurm's nodes are the slots.

See :mod:`qmf_agent.grid.slurm._backend` for how the queue and Slurm are
kept in step, :mod:`._cli` for the commands and their parsing,
:mod:`._script` for the batch scripts (one job array per cluster) and what
a submission asks of Slurm, and :mod:`._rest` for submitting through
slurmrestd.
"""

from __future__ import annotations

from ._backend import SlurmBackend, SlurmConfig, job_kind
from ._cli import Completion, JobCompLog, JobRow, NodeRow, SlurmCli, SlurmError
from ._script import SETUP_FAILED, ScriptError, batch_script

__all__ = ["SlurmBackend", "SlurmConfig", "SlurmCli", "SlurmError", "JobRow", "NodeRow",
           "Completion", "JobCompLog", "batch_script", "ScriptError", "SETUP_FAILED", "job_kind"]
