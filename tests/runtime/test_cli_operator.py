"""The `terrarium` command as an operator meets it: a busy port, bad configuration, a missing
script, --version, `terrarium config`, and what `serve` announces (auth on and off)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from served import ServedTerrarium, clean_env

from runtime.adapters.cli.main import main
from runtime.app import create_app
from runtime.settings import Settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(__import__("os").environ):
        if name.startswith(("TERRARIUM_", "FLORA_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TERRARIUM_DATA_DIR", str(tmp_path))
    return monkeypatch


def test_serve_on_a_busy_port_says_so_in_one_line_and_prints_no_key(env, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # neither "listening" nor a key
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err
    assert "Address already in use" in err and "--port" in err


def test_serve_announces_listening_then_the_key_once_it_is_bound_and_started(tmp_path):
    with ServedTerrarium(clean_env(TERRARIUM_BACKEND_SPEED="0"), tmp_path / "data") as served:
        log = Path(served.log.name).read_text()
        key = served.key
    lines = log.splitlines()
    listening = next(i for i, line in enumerate(lines) if "listening on" in line)
    assert f"http://127.0.0.1:{served.port}" in lines[listening]
    assert key and f"Runtime API key (tenant default): {key}" == lines[listening + 1]
    assert lines[listening + 2].startswith(f"Console: http://127.0.0.1:{served.port}/console")


def test_a_configuration_error_names_the_variable_and_the_expected_form(env, capsys):
    env.setenv("TERRARIUM_PORT", "eighty")
    env.setenv("TERRARIUM_AUTH", "maybe")
    env.setenv("TERRARIUM_RETENTION_DAYS", "1e9")  # past any date: the hourly prune would overflow
    assert main(["config"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and "validation error" not in err
    assert "TERRARIUM_PORT='eighty' is not valid: expected a whole number" in err
    assert "TERRARIUM_AUTH='maybe' is not valid: expected true or false" in err
    assert "TERRARIUM_RETENTION_DAYS='1e9' is not valid" in err and "<= 36525" in err


def test_exec_of_a_missing_file_says_so_with_exit_2(env, capsys, tmp_path):
    assert main(["exec", str(tmp_path / "missing.py")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"terrarium exec: no such file: {tmp_path / 'missing.py'}\n"


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "terrarium 0.1.0"


def test_config_prints_the_effective_settings_with_secrets_masked(env, capsys):
    env.setenv("FLORA_API_KEY", "fk_very_secret")
    env.setenv("TERRARIUM_SECRET_KEY", "fernet-secret")
    env.setenv("DATABASE_URL", "postgresql://terrarium:pg-password@db:5432/terrarium")
    env.setenv("TERRARIUM_MAX_BODY_BYTES", "12345")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "fk_very_secret" not in out and "fernet-secret" not in out and "pg-password" not in out
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert (
        "(set, hidden)" in rows["FLORA_API_KEY"] and "(set, hidden)" in rows["TERRARIUM_SECRET_KEY"]
    )
    assert "postgresql://terrarium:****@db:5432/terrarium" in rows["DATABASE_URL"]
    assert rows["TERRARIUM_MAX_BODY_BYTES"].split()[1] == "12345"
    assert (
        "(default)" in rows["TERRARIUM_PORT"]
        and "(default)" not in rows["TERRARIUM_MAX_BODY_BYTES"]
    )
    assert "TERRARIUM_MAX_INPUTS_BYTES" in rows


def _started(tmp_path: Path, auth: bool) -> None:
    settings = Settings(data_dir=tmp_path, backend_speed=0, pool_warm=1, auth=auth)
    app = create_app(settings)
    app.state.announce = "http://127.0.0.1:1"
    with TestClient(app):
        pass


def test_with_auth_off_a_loud_warning_and_no_key(tmp_path, capsys):
    _started(tmp_path, auth=False)
    out, err = capsys.readouterr()
    assert "TERRARIUM_AUTH is off" in err and "!!!!" in err
    assert "listening on" in out and "trk_" not in out and "API key" not in out


def test_with_auth_on_the_key_and_no_warning(tmp_path, capsys):
    _started(tmp_path, auth=True)
    out, err = capsys.readouterr()
    assert "TERRARIUM_AUTH is off" not in err
    assert "Runtime API key (tenant default): trk_" in out
