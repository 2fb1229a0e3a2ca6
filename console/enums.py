"""The enumerations of HTCondor's Python bindings, with HTCondor's values.

The values are the wire codes HTCondor itself uses (checked against the
``htcondor2`` module of HTCondor 25), so code written for the real bindings
that stores or compares the numbers keeps working.  The plural names
(``AdTypes``, ``DaemonTypes``, ``DaemonCommands``) are the ones the 2013
tutorial uses; the singular spellings of ``htcondor2`` are aliases.
"""

from __future__ import annotations

import enum

__all__ = [
    "AdTypes",
    "AdType",
    "DaemonTypes",
    "DaemonType",
    "JobAction",
    "DaemonCommands",
    "DaemonCommand",
    "JobStatus",
]


class AdTypes(enum.IntEnum):
    """Kinds of ads a collector holds (``Collector.query``'s first argument)."""

    Startd = 0
    Schedd = 1
    Master = 2
    StartdPrivate = 5
    Submitter = 6
    Collector = 7
    License = 8
    Any = 10
    Negotiator = 13
    HAD = 14
    Generic = 15
    Credd = 16
    Grid = 19
    Defrag = 22
    Accounting = 23
    Slot = 24


class DaemonTypes(enum.IntEnum):
    """Kinds of daemons ``Collector.locate`` finds."""

    none = 0
    Any = 1
    Master = 2
    Schedd = 3
    Startd = 4
    Collector = 5
    Negotiator = 6
    Credd = 13
    HAD = 17
    Generic = 18


class JobAction(enum.IntEnum):
    """What ``Schedd.act`` does to the selected jobs."""

    Hold = 1
    Release = 2
    Remove = 3
    RemoveX = 4
    Vacate = 5
    VacateFast = 6
    Suspend = 8
    Continue = 9


class DaemonCommands(enum.IntEnum):
    """Commands ``send_command`` delivers to a daemon's master."""

    DaemonsOff = 454
    DaemonsOffFast = 461
    DaemonsOffPeaceful = 484
    DaemonsOn = 483
    DaemonOff = 467
    DaemonOffFast = 468
    DaemonOn = 469
    Restart = 453
    RestartPeaceful = 485
    Reconfig = 60004
    OffGraceful = 60005
    OffFast = 60006
    OffPeaceful = 60015
    SetPeacefulShutdown = 60016
    SetForceShutdown = 60041
    OffForce = 60042


class JobStatus(enum.IntEnum):
    """A job's ``JobStatus`` attribute."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5
    TRANSFERRING_OUTPUT = 6
    SUSPENDED = 7

    @property
    def label(self) -> str:
        """The word condor_q shows (``Idle``, ``Held``, ...)."""
        return self.name.replace("_", " ").title()


AdType = AdTypes
DaemonType = DaemonTypes
DaemonCommand = DaemonCommands
