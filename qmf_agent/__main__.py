"""``qmf-agent``: run the scheduler and serve it over AMQP 1.0.

::

    qmf-agent [--listen HOST:PORT] [--broker URL] [--state-dir DIR]
              [--config FILE] [--name NAME] [--backend local|slurm] [--log-level LEVEL]

(also ``python3 -m qmf_agent``).  The assembly is the one of
docs/internals.md: configuration -> :class:`~qmf_agent.grid.Grid` (the queue
and the roles) -> :class:`~qmf_agent.agent.Agent` named
``redhat.com:qmf-grid:<SCHEDD_NAME>`` with the queue's epoch ->
:class:`~qmf_agent.transport.AgentServer` on a direct listener (default
``127.0.0.1:5672``) or through a broker.

Signals: SIGTERM and SIGINT shut down gracefully -- the roles stop
(running jobs get SIGTERM, then SIGKILL after ``KILLING_TIMEOUT``, and go
back to the queue as Idle), calls under way finish and their changes are
committed, the transport closes, the queue is closed -- within
``SHUTDOWN_TIMEOUT`` seconds (8 by default); past that, or on a second
signal, the process exits at once and the next start recovers the queue
(nothing acknowledged is lost: every change was committed before it was
answered).  SIGHUP re-reads the configuration, as the master's Reconfig.

Exit status: 0 after a clean shutdown, 1 when the agent cannot start (one
line on stderr says why: a bad configuration line with its number, a port
in use, a broker that does not answer), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from qmf_agent.agent import Agent
from qmf_agent.errors import QmfError
from qmf_agent.schema import Schema
from qmf_agent.security import AUDIT_LOGGER, AccessPolicy
from qmf_agent.transport import AgentServer, Security
from qmf_agent.transport.listener import parse_listen

from .grid import AgentAddress, Grid, agent_name
from .grid.config import CONFIG_FILE_NAME, Config, ConfigError, default_state_dir
from .grid.daemon import condor_version

__all__ = ["main", "build_parser"]

log = logging.getLogger("qmf_agent")

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build_parser() -> argparse.ArgumentParser:
    """The command line (exposed for the docs and the tests)."""
    parser = argparse.ArgumentParser(
        prog="qmf-agent",
        description="Run the qmf-grid scheduler and serve it as a QMF agent over AMQP 1.0.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--listen", metavar="HOST:PORT",
        help="serve consoles directly on this address (default 127.0.0.1:5672)",
    )
    where.add_argument(
        "--broker", metavar="URL",
        help="connect to an AMQP 1.0 broker instead of listening (amqp://user:pass@host:port)",
    )
    parser.add_argument(
        "--state-dir", metavar="DIR",
        help="queue, job files and default config (default $QMF_STATE_DIR or ~/.local/state/qmf-grid)",
    )
    parser.add_argument(
        "--config", metavar="FILE",
        help=f"configuration file (default <state dir>/{CONFIG_FILE_NAME}, if present)",
    )
    parser.add_argument(
        "--name", metavar="NAME",
        help="the scheduler's and agent's instance name (overrides SCHEDD_NAME)",
    )
    parser.add_argument(
        "--backend", choices=("local", "slurm"), default=None,
        help="what runs jobs: local, or slurm (an existing Slurm cluster); default BACKEND, local"
    )
    parser.add_argument(
        "--log-level", choices=_LEVELS, type=str.upper, default="INFO",
        help="log verbosity on stderr (default INFO)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {condor_version()}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent until SIGTERM/SIGINT; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.name is not None and (not args.name.strip() or ":" in args.name):
        parser.error("--name: give a non-empty name without ':' (it becomes part of the agent name)")
    if args.listen is not None:
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            parser.error(f"--listen: {exc}")
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except (ConfigError, QmfError, OSError, ValueError) as exc:
        text = exc.text if isinstance(exc, QmfError) else str(exc)
        log.debug("start-up failed", exc_info=True)
        sys.stderr.write(f"qmf-agent: error: {text}\n")
        return 1


def _load_config(args: argparse.Namespace, state_dir: Path) -> Config:
    overrides = {"SCHEDD_NAME": args.name.strip()} if args.name else {}
    if args.config is not None:
        path = Path(args.config).expanduser()
        if not path.is_file():
            raise ConfigError("configuration file not found", source=str(path))
    else:
        path = state_dir / CONFIG_FILE_NAME
    return Config(path, overrides=overrides)


def _advertised_url(url: str, config: Config) -> str:
    """*url* with a wildcard listen address (0.0.0.0, ::) replaced by the
    host's name, since daemon ads must say where consoles can connect."""
    parts = urlsplit(url)
    if parts.hostname not in ("0.0.0.0", "::", ""):
        return url
    host = config.get("FULL_HOSTNAME") or "localhost"
    return urlunsplit((parts.scheme, f"{host}:{parts.port}" if parts.port else host, "", "", ""))


def _security(config: Config) -> Security:
    """TLS and SASL settings from the ``QMF_SSL_*`` and ``QMF_SASL_*`` variables."""

    def setting(name: str) -> str | None:
        return (config.get(name) or "").strip() or None

    anonymous = (config.get("QMF_ALLOW_ANONYMOUS") or "auto").strip().lower()
    try:
        return Security(
            cert_file=setting("QMF_SSL_CERTFILE"),
            key_file=setting("QMF_SSL_KEYFILE"),
            ca_file=setting("QMF_SSL_CAFILE"),
            verify_peer=config.get_bool("QMF_SSL_VERIFY_PEER"),
            allowed_mechs=setting("QMF_SASL_MECHANISMS"),
            sasl_config_path=setting("QMF_SASL_CONFIG_PATH"),
            sasl_config_name=setting("QMF_SASL_CONFIG_NAME"),
            allow_anonymous=None if anonymous == "auto" else config.get_bool("QMF_ALLOW_ANONYMOUS"),
        )
    except ValueError as exc:
        raise ConfigError(f"TLS/SASL settings (QMF_SSL_*, QMF_SASL_*): {exc}") from None


def _policy(config: Config) -> AccessPolicy:
    """Admins, identity requirement and limits from ``QMF_*`` (docs/security.md)."""
    try:
        return AccessPolicy(
            admins=config.get_list("QMF_ADMINS"),
            require_identity=config.get_bool("QMF_REQUIRE_IDENTITY"),
            max_in_flight=config.get_int("QMF_MAX_IN_FLIGHT"),
            max_submits_per_second=config.get_float("QMF_MAX_SUBMITS_PER_SECOND"),
        )
    except ValueError as exc:
        raise ConfigError(
            f"access settings (QMF_MAX_IN_FLIGHT, QMF_MAX_SUBMITS_PER_SECOND): {exc}"
        ) from None


def _max_message_size(config: Config) -> int:
    size = config.get_int("QMF_MAX_MESSAGE_SIZE")
    if size < 1024:
        raise ConfigError(f"QMF_MAX_MESSAGE_SIZE = {size}: give at least 1024 bytes")
    return size


def _open_audit_log(config: Config, state_dir: Path) -> logging.Handler | None:
    """Write the audit lines to ``QMF_AUDIT_LOG`` (relative: in the state
    directory), and only there: one line per request would drown stderr.
    The file is reopened when logrotate moves it away."""
    name = (config.get("QMF_AUDIT_LOG") or "").strip()
    if not name:
        return None
    path = state_dir / Path(name).expanduser()
    try:
        handler: logging.Handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise OSError(f"QMF_AUDIT_LOG: cannot open {path}: {exc.strerror or exc}") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    audit = logging.getLogger(AUDIT_LOGGER)
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False
    return handler


def _run(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the state directory {state_dir}: {exc.strerror or exc}") from None
    config = _load_config(args, state_dir)
    name = agent_name(config)
    security = _security(config)
    policy = _policy(config)
    max_message_size = _max_message_size(config)
    audit_handler = _open_audit_log(config, state_dir)
    try:
        return _serve(args, config, state_dir, name, security, policy, max_message_size)
    finally:
        if audit_handler is not None:
            _close_audit_log(audit_handler)


def _serve(
    args: argparse.Namespace,
    config: Config,
    state_dir: Path,
    name: str,
    security: Security,
    policy: AccessPolicy,
    max_message_size: int,
) -> int:
    """Build the grid and the agent, serve until a signal, shut down."""
    if args.broker:
        server = AgentServer(listen=None, broker=args.broker, security=security)
    else:
        server = AgentServer(listen=args.listen or "127.0.0.1:5672", security=security)
    address = AgentAddress(_advertised_url(server.url, config), name)
    grid = Grid(config, state_dir, None, args.backend, address=address)
    try:
        agent = Agent(
            name,
            Schema.load(),
            server.send,
            epoch=grid.epoch,
            heartbeat_interval=config.get_float("HEARTBEAT_INTERVAL"),
            data_interval=config.get_float("QMF_UPDATE_INTERVAL"),
            policy=policy,
            max_request_bytes=max_message_size,
        )
    except (ConfigError, ValueError) as exc:
        grid.close()
        raise ConfigError(f"agent settings (HEARTBEAT_INTERVAL, QMF_UPDATE_INTERVAL): {exc}") from None
    try:
        for class_name, binding in grid.bindings().items():
            agent.bind(class_name, binding)
        grid.attach(agent)

        def apply(new: Config) -> None:
            agent.heartbeat_interval = new.get_float("HEARTBEAT_INTERVAL")
            agent.data_interval = new.get_float("QMF_UPDATE_INTERVAL")
            try:
                fresh, size = _policy(new), _max_message_size(new)
            except ConfigError as exc:  # the rest of the file applies; these stay as they were
                log.error("reconfig: %s; the previous access settings and limits stay", exc)
                return
            policy.admins = fresh.admins
            policy.require_identity = fresh.require_identity
            policy.max_in_flight = fresh.max_in_flight
            policy.max_submits_per_second = fresh.max_submits_per_second
            agent.max_request_bytes = size

        grid.master.add_listener(apply)
        server.serve(agent)
    except BaseException:
        agent.close()
        grid.close()
        raise
    log.info(
        "agent %s (epoch %d) serving on %s; state in %s; configuration %s",
        name, grid.epoch, server.url, state_dir, config.path,
    )
    grid.start()
    _wait_for_signals(grid)
    _shutdown(grid, agent, server, config.get_float("SHUTDOWN_TIMEOUT"))
    return 0


def _close_audit_log(handler: logging.Handler) -> None:
    """Undo :func:`_open_audit_log`, so that a ``main()`` run inside a
    larger program (the tests) leaves the audit logger as it found it."""
    audit = logging.getLogger(AUDIT_LOGGER)
    audit.removeHandler(handler)
    audit.propagate = True
    handler.close()


def _wait_for_signals(grid: Grid) -> None:
    """Block until SIGTERM/SIGINT; run SIGHUP's reconfig on this thread."""
    requests: queue.SimpleQueue[str] = queue.SimpleQueue()
    stopping = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            log.warning("second %s: exiting now; the queue is recovered at the next start",
                        signal.Signals(signum).name)
            os._exit(1)
        stopping.set()
        requests.put("stop")

    def on_hup(signum: int, frame: FrameType | None) -> None:
        requests.put("reconfig")

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    while True:
        request = requests.get()
        if request == "stop":
            log.info("shutting down")
            return
        try:
            grid.master.reconfig()
        except QmfError as exc:
            log.error("SIGHUP: %s", exc.text)


def _shutdown(grid: Grid, agent: Agent, server: AgentServer, timeout: float) -> None:
    """Stop roles, finish calls, close the transport and the queue, in time."""
    def too_slow() -> None:
        log.error("shutdown took more than %.0f s: exiting now; jobs still running "
                  "are recovered at the next start", timeout)
        logging.shutdown()
        os._exit(1)

    watchdog = threading.Timer(timeout, too_slow)
    watchdog.daemon = True
    watchdog.start()
    try:
        grid.stop("graceful")
        agent.close()
        server.stop()
        grid.close()
    finally:
        watchdog.cancel()
    log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
