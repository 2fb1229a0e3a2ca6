"""`qmf-agent`'s command line and start-up decisions, in process."""

from __future__ import annotations

from pathlib import Path

import pytest
from qmf_testing import free_port

from qmf_agent.__main__ import _advertised_url, _security, build_parser, main
from qmf_agent.grid.config import Config, ConfigError


def test_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.listen, args.broker, args.backend, args.log_level) == (None, None, None, "INFO")
    args = build_parser().parse_args(["--log-level", "debug", "--name", "n1"])
    assert (args.log_level, args.name) == ("DEBUG", "n1")


@pytest.mark.parametrize(
    "argv, text",
    [
        (["--listen", "127.0.0.1"], "expected HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "expected HOST:PORT"),
        (["--name", ""], "--name"),
        (["--name", "a:b"], "without ':'"),
        (["--backend", "pbs"], "invalid choice"),
        (["--listen", "127.0.0.1:1", "--broker", "amqp://h"], "not allowed with"),
        (["--no-such-flag"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert text in capsys.readouterr().err


def test_a_missing_config_file_is_an_error_not_a_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--state-dir", str(tmp_path / "s"), "--config", str(tmp_path / "absent.conf"),
                 "--listen", "127.0.0.1:1"])
    assert code == 1
    assert capsys.readouterr().err.strip().endswith("absent.conf: configuration file not found")


def test_an_unusable_state_dir_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["--state-dir", str(blocker / "sub"), "--listen", "127.0.0.1:1"])
    assert code == 1
    assert "cannot create the state directory" in capsys.readouterr().err


def test_wildcard_listen_addresses_are_advertised_by_host_name() -> None:
    config = Config.from_text("FULL_HOSTNAME = h.example\n")
    assert _advertised_url("amqp://0.0.0.0:5672", config) == "amqp://h.example:5672"
    assert _advertised_url("amqps://[::]:5671", config) == "amqps://h.example:5671"
    assert _advertised_url("amqp://127.0.0.1:5672", config) == "amqp://127.0.0.1:5672"


def test_security_settings_from_the_configuration(tmp_path: Path) -> None:
    security = _security(Config.from_text(""))
    assert (security.cert_file, security.allow_anonymous, security.allowed_mechs) == (None, None, None)
    sasl = tmp_path / "sasl"
    sasl.mkdir()
    security = _security(Config.from_text(
        f"QMF_SASL_MECHANISMS = PLAIN\nQMF_SASL_CONFIG_PATH = {sasl}\nQMF_ALLOW_ANONYMOUS = false\n"
    ))
    assert (security.allowed_mechs, security.sasl_config_path, security.allow_anonymous) == (
        "PLAIN", str(sasl), False)
    with pytest.raises(ConfigError, match="cert_file and key_file must be given together"):
        _security(Config.from_text(f"QMF_SSL_CERTFILE = {__file__}\n"))
    with pytest.raises(ConfigError, match="QMF_ALLOW_ANONYMOUS: expected true or false"):
        _security(Config.from_text("QMF_ALLOW_ANONYMOUS = perhaps\n"))


def test_a_bad_agent_setting_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.conf"
    config.write_text("HEARTBEAT_INTERVAL = 0\n")
    code = main(["--state-dir", str(tmp_path / "s"), "--config", str(config),
                 "--listen", f"127.0.0.1:{free_port()}"])
    assert code == 1
    assert "agent settings (HEARTBEAT_INTERVAL, QMF_UPDATE_INTERVAL)" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("qmf-agent $CondorVersion: ")
