"""``qmf``: the command line of qmf-grid.

Noun/verb subcommands (``qmf submit FILE``, ``qmf q``, ``qmf daemon
restart``), human tables by default and ``--json`` for programs.  The agent
is found from ``--url``, else ``$QMF_URL``, else ``amqp://127.0.0.1:5672``.

Exit status: 0 success, 1 the operation failed (one clear line on stderr;
``--debug`` adds the traceback), 2 the command line was wrong.

Each group of commands lives in its own module (``cli_jobs``, ``cli_pool``,
``cli_tools``) and registers itself through :func:`register`; this module
only parses, dispatches and turns exceptions into exit codes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from qmf_agent.errors import QmfError, RequestTimeout

from .session import default_url
from .submit import SubmitError

__all__ = ["main", "Context", "CliError", "register"]

log = logging.getLogger(__name__)

Command = Callable[["Context", argparse.Namespace], int]


class CliError(Exception):
    """An operation failed in a way the user can act on (exit status 1)."""


class Context:
    """What a command needs: the URL, output mode, and shared handles made
    on first use (so ``qmf classad eval`` never connects)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url = default_url(args.url)
        self.json = bool(args.json)
        self.timeout = float(args.timeout)
        self._session: Any = None
        self.out = sys.stdout
        self.err = sys.stderr

    @property
    def session(self) -> Any:
        if self._session is None:
            from .session import Session

            self._session = Session(self.url, timeout=self.timeout)
        return self._session

    def schedd(self) -> Any:
        from ._schedd import Schedd

        return Schedd(self.url)

    def collector(self) -> Any:
        from ._collector import Collector

        return Collector(self.url)

    def close(self) -> None:
        from ._connection import forget_sessions

        if self._session is not None:
            self._session.close()
        forget_sessions()


_REGISTRARS: list[Callable[[Any], None]] = []


def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """Decorator for a module function that adds subcommands to the parser."""
    _REGISTRARS.append(fn)
    return fn


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() returns 2."""

    def error(self, message: str) -> Any:
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    from . import cli_jobs, cli_pool, cli_tools  # noqa: F401  (they register their commands)

    parser = _Parser(prog="qmf", description="Drive and watch a qmf-grid agent.")
    parser.add_argument("--url", help="agent or broker URL (default: $QMF_URL or amqp://127.0.0.1:5672)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for registrar in _REGISTRARS:
        registrar(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qmf`` with *argv* (default ``sys.argv[1:]``); returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except _UsageError as e:
        sys.stderr.write(f"{e}\n")
        sys.stderr.write(f"{parser.format_usage()}")
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    elif not logging.getLogger().handlers:
        # the transport logs reconnect attempts as warnings; a command's
        # failure is reported once, by main(), not as a stream of log lines
        logging.getLogger().addHandler(logging.NullHandler())
    ctx = Context(args)
    try:
        return int(args.func(ctx, args) or 0)
    except KeyboardInterrupt:
        return 130
    except _UsageError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    except BrokenPipeError:
        return 0
    except Exception as e:  # one boundary: every failure is one clear line
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"qmf {args.command}: {describe(e, ctx.url)}\n")
        return 1
    finally:
        ctx.close()


def describe(e: BaseException, url: str) -> str:
    """One line a user can act on, for any failure (a ClassAd syntax
    error's excerpt-and-caret lines are left to ``--debug``)."""
    text = _describe(e, url)
    return text.splitlines()[0].rstrip(":") if text else type(e).__name__


def _describe(e: BaseException, url: str) -> str:
    if isinstance(e, RequestTimeout):
        return f"no answer from an agent at {url} ({e.text}); is the agent running?"
    if isinstance(e, QmfError):
        return e.text
    if isinstance(e, (SubmitError, CliError)):
        return str(e)
    if isinstance(e, ConnectionError):
        text = str(e) if url in str(e) else f"cannot connect to {url}: {e}"
        return f"{text}; is the agent running?"
    if isinstance(e, (ValueError, TypeError, KeyError, OSError)):
        return str(e) or type(e).__name__
    return f"{type(e).__name__}: {e} (use --debug for the traceback)"


def usage_error(message: str) -> _UsageError:
    """For commands that find a usage problem after parsing (exit 2)."""
    return _UsageError(f"qmf: {message}")
