"""Files the agent opens on a job owner's behalf, and who that owner is here.

An agent running as root runs each job as its Owner when that user exists
on this machine, and opens the job's files (In, Out, Err, the UserLog)
itself.  Opening a path a user named, as root, must not become a way to
read or clobber files that user could not: so a file is opened only if the
user could have opened it -- an existing file to write must be theirs (or
``/dev/null``), a new file needs a directory they may write, a file to read
needs their read permission -- and a file created here is given to them.
``O_NOFOLLOW`` keeps a symlink planted at the last component from
redirecting the open.

When the agent is not root, or the owner is the agent's own user, or no
such user exists here, jobs run as the agent's user and no check is needed
beyond the operating system's own.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
import threading
import time

__all__ = ["Identity", "identity", "run_uid", "open_for", "UserFileError"]

log = logging.getLogger(__name__)

#: (uid, gid, supplementary groups) of a local user
Identity = tuple[int, int, list[int]]

_CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, Identity | None]] = {}
_cache_lock = threading.Lock()


class UserFileError(OSError):
    """The user may not open that file (or it cannot be opened); says which."""


def identity(owner: str) -> Identity | None:
    """Who a job of *owner* runs as, or ``None`` for "the agent's own user".

    Cached for a minute: a burst of short jobs asks for the same owner
    hundreds of times a second, and group lookups can be slow.
    """
    if os.geteuid() != 0:
        return None
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(owner)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        pw = pwd.getpwnam(owner)
    except KeyError:
        ident = None
    else:
        try:
            groups = os.getgrouplist(owner, pw.pw_gid)
        except OSError:
            groups = [pw.pw_gid]
        ident = (pw.pw_uid, pw.pw_gid, groups)
        if pw.pw_uid == os.geteuid() and pw.pw_gid == os.getegid():
            ident = None
    with _cache_lock:
        _cache[owner] = (now + _CACHE_SECONDS, ident)
    return ident


def run_uid(owner: str) -> int:
    """The uid a job of *owner* runs as here."""
    ident = identity(owner)
    return ident[0] if ident else os.geteuid()


def _allowed(st: os.stat_result, ident: Identity, user_bit: int, group_bit: int,
             other_bit: int) -> bool:
    uid, gid, groups = ident
    if st.st_uid == uid:
        return bool(st.st_mode & user_bit)
    if st.st_gid == gid or st.st_gid in groups:
        return bool(st.st_mode & group_bit)
    return bool(st.st_mode & other_bit)


def _check(path: str, write: bool, ident: Identity) -> None:
    if path == os.devnull:
        return
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UserFileError(f"cannot open {path}: {exc.strerror}") from None
    if st is None:
        if not write:
            raise UserFileError(f"{path} does not exist")
        parent = os.path.dirname(path) or "."
        try:
            parent_st = os.stat(parent)
        except OSError as exc:
            raise UserFileError(f"cannot create {path}: {exc.strerror}") from None
        if not _allowed(parent_st, ident, stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH):
            raise UserFileError(f"user {ident[0]} may not create files in {parent}")
    elif write:
        if st.st_uid != ident[0] or not stat.S_ISREG(st.st_mode):
            raise UserFileError(f"{path} is not a file of user {ident[0]}")
    elif not _allowed(st, ident, stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH):
        raise UserFileError(f"user {ident[0]} may not read {path}")


def open_for(path: str, flags: int, ident: Identity | None) -> int:
    """``os.open`` *path* on behalf of *ident* (``None``: the agent's user).

    *flags* are ``os.open`` flags; the file is writable when they ask for
    it.  Raises :class:`UserFileError` with a sentence naming the path.
    """
    write = bool(flags & (os.O_WRONLY | os.O_RDWR))
    if ident is not None:
        _check(path, write, ident)
    try:
        fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise UserFileError(f"cannot open {path}: {exc.strerror}") from None
    if write and ident is not None and path != os.devnull:
        try:
            if os.fstat(fd).st_uid != ident[0]:
                os.fchown(fd, ident[0], ident[1])
        except OSError as exc:
            log.warning("cannot give %s to uid %d: %s", path, ident[0], exc)
    return fd
