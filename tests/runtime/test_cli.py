"""`terrarium exec FILE|-` and `terrarium keys create`, as an operator runs them."""

from __future__ import annotations

import json
import subprocess

from served import TERRARIUM, clean_env


def exec_script(tmp_path, code: str, *args: str) -> subprocess.CompletedProcess:
    env = clean_env(TERRARIUM_DATA_DIR=str(tmp_path), TERRARIUM_BACKEND_SPEED="0")
    return subprocess.run(
        [TERRARIUM, "exec", *args], input=code, env=env, capture_output=True, text=True, timeout=60
    )


def test_exec_from_stdin_prints_json_and_exits_0_when_ok(tmp_path):
    done = exec_script(tmp_path, "print('hi')\n{'n': len(client.models.list().models) > 0}", "-")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "ok"
    assert body["result"] == {"n": True}
    assert body["stdout"] == "hi\n"


def test_exec_of_a_file_exits_1_when_the_script_fails(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("def run(client):\n    return 1 / 0\n")
    done = exec_script(tmp_path, "", str(script))
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["status"] == "error"
    assert body["error"]["type"] == "ZeroDivisionError" and body["error"]["line"] == 2


def test_exec_of_empty_code_is_refused_with_exit_2(tmp_path):
    done = exec_script(tmp_path, "   \n", "-")
    assert done.returncode == 2
    assert json.loads(done.stderr)["error"]["code"] == "empty_code"


def test_keys_create_makes_a_working_backend_key(tmp_path):
    env = clean_env(TERRARIUM_DATA_DIR=str(tmp_path))
    made = subprocess.run(
        [TERRARIUM, "keys", "create"], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk_")
    assert key != (tmp_path / "dev-key").read_text().strip()


def test_exec_timeout_hint_names_only_what_the_cli_offers(tmp_path):
    env = clean_env(
        TERRARIUM_DATA_DIR=str(tmp_path), TERRARIUM_BACKEND_SPEED="0", TERRARIUM_TIMEOUT_S="1"
    )
    done = subprocess.run(
        [TERRARIUM, "exec", "-"], input="while True:\n    pass\n", env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    body = json.loads(done.stdout)
    assert body["status"] == "timeout", body
    assert "timeout_s" in body["error"]["hint"]
    assert "/v1/executions" not in body["error"]["hint"] and "submit" not in body["error"]["hint"]
