"""One proton Container on its own thread, and the one way into it.

proton's objects are not thread-safe: every connection, link and delivery
must be touched by the thread that runs the Container.  :class:`Loop` runs
that thread and offers :meth:`Loop.call_soon` (fire and forget) and
:meth:`Loop.call` (wait for the result), which queue a callable and wake
the container through a pipe it selects on; the callable then runs on the
container thread between two I/O events.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from proton import Handler
from proton.reactor import Container

__all__ = ["Loop", "LoopClosed", "guarded"]

log = logging.getLogger(__name__)

T = TypeVar("T")

PACE_BACKLOG = 1  # calls a paced producer may have waiting (see Loop.call_paced)
PACE_TIMEOUT = 0.5  # seconds it waits at most per call


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Log, instead of raising, what an event handler method raises.

    An exception escaping a proton handler ends ``Container.run()``: the
    thread serving every connection would die of one bad message.
    """

    @functools.wraps(method)
    def wrapper(*args: Any) -> None:
        try:
            method(*args)
        except Exception:
            log.exception("error in transport handler %s", method.__qualname__)

    return wrapper


class LoopClosed(RuntimeError):
    """The loop was stopped; nothing can be run on it any more."""


class _Wakeup:
    """The pipe that wakes the container: readable -> run the queued calls.

    proton's ``EventInjector`` does this by pushing an application event
    that the container then dispatches through every handler it has; a
    method call's request and its answer each cross a thread this way, so
    draining straight from the pipe's readable event saves that trip (and
    the injector's own locked queue) twice per call.  proton calls
    :meth:`close` itself when the selectable ends.
    """

    def __init__(self, drain: Callable[[], None]) -> None:
        self.pipe = os.pipe()
        self._drain = drain
        self._closed = False
        self._transport = None  # proton's I/O handler asks a selectable for one

    def fileno(self) -> int:
        return self.pipe[0]

    def wake(self) -> None:
        os.write(self.pipe[1], b"!")

    def close(self) -> None:
        """End the selectable once what is queued has run."""
        if not self._closed:
            self._closed = True
            self.wake()

    def on_selectable_init(self, event: Any) -> None:
        selectable = event.context
        selectable.reading = True
        selectable.update()

    def on_selectable_readable(self, event: Any) -> None:
        os.read(self.pipe[0], 512)
        self._drain()
        if self._closed:
            selectable = event.context
            selectable.terminate()
            selectable.update()


class Loop:
    """A Container running *handler* on a daemon thread named *name*.

    Exceptions raised by queued callables are logged and swallowed: one bad
    message must not stop the thread that serves every connection.
    """

    def __init__(self, handler: Handler, name: str, container_id: str | None = None) -> None:
        self.container = Container(handler)
        if container_id:
            self.container.container_id = container_id
        self._wakeup = _Wakeup(self._drain)
        self.container.selectable(self._wakeup)  # type: ignore[arg-type]  # duck-typed, as proton is
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._lock = threading.Lock()
        # Paced callers wait here while the container thread is behind
        # (see call_soon); _backlog counts calls queued and not yet run.
        self._caught_up = threading.Condition(self._lock)
        self._backlog = 0
        self._pacing = 0
        self._closed = False
        # _run closes the wake-up pipe when the container has ended; this
        # lock keeps a wake-up from writing to a closed (or, worse, reused)
        # descriptor
        self._wake_lock = threading.Lock()
        self._pipe_closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self) -> None:
        self._thread.start()

    def in_loop(self) -> bool:
        """True when called on the container thread itself."""
        return threading.current_thread() is self._thread

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the container thread (thread-safe, no wait).

        On the container thread itself *fn* runs at once: a callback that
        answers from inside an event (an agent replying in ``handle()``)
        costs no extra wake-up.
        """
        if self.in_loop():
            fn(*args)
            return
        with self._lock:
            idle = self._queue(functools.partial(fn, *args))
        if idle:
            self._wake()

    def call_paced(self, fn: Callable[..., Any], *args: Any) -> None:
        """:meth:`call_soon` for a thread that produces many calls in a row
        (an agent streaming a big answer): it then waits, at most
        ``PACE_TIMEOUT`` seconds, while more than ``PACE_BACKLOG`` of its
        calls wait for the container thread.

        Why: a CPU-bound producer keeps the GIL until the interpreter forces
        a switch (every 5 ms), and the container thread needs the GIL back
        after every system call it makes (the pipe, ``select``, each socket
        write).  Unpaced, a 100,000-object answer was encoded whole before
        its first batch reached the socket, so the console decoded nothing
        while the agent worked.  Waiting on a condition hands the GIL over
        at once, and the console decodes batch n while the agent encodes
        batch n + 1.  The wait is bounded, so a container thread that is
        stuck cannot stall the producer for long.
        """
        self.call_soon(fn, *args)
        if self.in_loop():
            return
        with self._lock:
            if self._backlog > PACE_BACKLOG:
                self._pacing += 1
                try:
                    self._caught_up.wait_for(
                        lambda: self._backlog <= PACE_BACKLOG or self._closed, PACE_TIMEOUT
                    )
                finally:
                    self._pacing -= 1

    def _queue(self, call: Callable[[], None]) -> bool:
        """Append *call* (under _lock); True when the caller must wake the
        container (outside the lock: the write may wait for the GIL).

        Only the call that finds the queue empty wakes the container: the
        drain it causes runs until it finds the queue empty (under this
        lock), so it also runs every call queued meanwhile.
        """
        if self._closed:
            raise LoopClosed(f"{self._thread.name} is stopped")
        idle = not self._calls
        self._calls.append(call)
        self._backlog += 1
        return idle

    def _wake(self) -> None:
        with self._wake_lock:
            if not self._pipe_closed:
                self._wakeup.wake()

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``fn(*args)`` on the container thread and return its result.

        Raises what *fn* raised, or :class:`TimeoutError` when the thread
        did not get to it within *timeout* seconds.
        """
        if self.in_loop():
            return fn(*args)
        if not self._thread.is_alive():  # never started, or already ended
            raise LoopClosed(f"{self._thread.name} is not running")
        done = threading.Event()
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome.append((False, exc))
            finally:
                done.set()

        self.call_soon(run)
        if not done.wait(timeout):
            raise TimeoutError(f"{self._thread.name} did not run the call within {timeout} s")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the container (after *on_stop* work queued before) and join."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._calls.append(self._shutdown)
            self._backlog += 1
            self._caught_up.notify_all()
        self._wake()
        if not self.in_loop() and self._thread.ident is not None:  # started
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s did not stop within %s s", self._thread.name, timeout)

    def _shutdown(self) -> None:
        self._wakeup.close()
        self.container.stop()

    def _drain(self) -> None:
        fn: Callable[[], None] | None = None
        while True:
            with self._lock:
                if fn is not None:
                    self._backlog -= 1
                    if self._pacing:
                        self._caught_up.notify_all()
                if not self._calls:
                    return
                fn = self._calls.popleft()
            try:
                fn()
            except Exception:
                log.exception("%s: a queued call failed", self._thread.name)

    def _run(self) -> None:
        try:
            self.container.run()
        except Exception:
            log.exception("%s: the proton container stopped with an error", self._thread.name)
        finally:
            with self._lock:
                self._closed = True
                self._caught_up.notify_all()
            with self._wake_lock:
                self._pipe_closed = True
                for fd in self._wakeup.pipe:
                    os.close(fd)
            log.debug("%s: stopped", self._thread.name)
