"""Every limit holds, says which limit it was, and leaves the server healthy."""

from __future__ import annotations

import time

BENIGN = "1 + 1"


def assert_healthy(run):
    assert run(BENIGN)["result"] == 2


def test_wall_clock_kill_survives_except_baseexception(run):
    code = "while True:\n    try:\n        pass\n    except BaseException:\n        pass"
    started = time.monotonic()
    body = run(code, timeout_s=1)
    assert time.monotonic() - started < 5
    assert body["status"] == "timeout"
    assert body["error"]["line"] in (1, 2, 3, 4, 5)
    assert_healthy(run)


def test_sleep_counts_against_the_wall_clock(run):
    started = time.monotonic()
    body = run("import time\nprint('before')\ntime.sleep(100)", timeout_s=1)
    assert time.monotonic() - started < 5
    assert body["status"] == "timeout"
    assert body["stdout"] == "before\n"
    assert body["error"]["line"] == 3
    assert_healthy(run)


def test_memory_limit_is_reported_as_memory(run):
    body = run("x = [0] * (10**9)", memory_mb=64)
    assert body["status"] == "limit_exceeded"
    assert body["error"]["limit"] == "memory"
    assert_healthy(run)


def test_memory_limit_caught_by_the_script_still_counts(run):
    code = "try:\n    x = 'a' * (10**10)\nexcept BaseException:\n    pass\n'survived'"
    body = run(code, memory_mb=64)
    assert body["status"] in ("ok", "limit_exceeded")
    assert_healthy(run)


def test_cpu_limit_is_reported_as_cpu(run):
    body = run("while True:\n    pass", cpu_s=1, timeout_s=20)
    assert body["status"] == "limit_exceeded"
    assert body["error"]["limit"] == "cpu"
    assert_healthy(run)


def test_cpu_limit_holds_in_c_code(run):
    body = run("10**10**8", cpu_s=1, timeout_s=20)
    assert body["status"] in ("limit_exceeded", "timeout")
    assert_healthy(run)


def test_stdout_is_truncated_and_says_so(run, api):
    body = run("for i in range(20000):\n    print('line', i)\n'done'")
    assert body["stdout_truncated"] is True
    assert len(body["stdout"]) <= 64 * 1024
    assert body["status"] == "ok"
    assert body["result"] == "done"


def test_print_flood_is_stopped_as_output_limit(run):
    body = run("while True:\n    print('x' * 10000)", timeout_s=20)
    assert body["status"] == "limit_exceeded"
    assert body["error"]["limit"] == "output"
    assert_healthy(run)


def test_result_size_limit(run):
    body = run("'x' * (2 * 1024 * 1024)")
    assert body["status"] == "limit_exceeded"
    assert body["error"]["limit"] == "result_size"
    assert body["result"] is None


def test_client_call_limit(run):
    code = "def run(client):\n    for i in range(10):\n        client.workspaces.list()"
    body = run(code, max_calls=3)
    assert body["status"] == "limit_exceeded"
    assert body["error"]["limit"] == "calls"
    assert len(body["calls"]) == 3


def test_calls_caught_past_the_limit_still_end_as_over_the_limit(run):
    code = (
        "n = 0\nfor i in range(10):\n    try:\n        client.workspaces.list()\n"
        "    except CallLimitExceeded:\n        n += 1\nn"
    )
    body = run(code, max_calls=3)
    assert body["status"] == "limit_exceeded"
    assert body["error"]["limit"] == "calls"
    assert len(body["calls"]) == 3


def test_a_script_that_keeps_calling_past_its_limit_is_stopped_at_once(run):
    # `except BaseException` in an endless loop: the script is ended from the call itself,
    # long before its 20 s deadline, and the line it was on is named.
    code = (
        "while True:\n    try:\n        client.workspaces.list()\n"
        "    except BaseException:\n        pass"
    )
    started = time.monotonic()
    body = run(code, max_calls=2, timeout_s=20)
    assert time.monotonic() - started < 10
    assert body["status"] == "limit_exceeded"
    assert body["error"]["limit"] == "calls"
    assert "kept calling" in body["error"]["message"]
    assert body["error"]["line"] == 3
    assert len(body["calls"]) == 2
    assert_healthy(run)


def test_code_over_the_size_limit_is_a_413(api):
    response = api.post("/v1/execute", json={"code": "x = 1\n" * 50_000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "code_too_large"


def test_timeout_above_the_maximum_is_a_422_naming_it(api):
    response = api.post("/v1/execute", json={"code": "1", "timeout_s": 10_000})
    assert response.status_code == 422
    assert "maximum" in response.json()["error"]["message"]
    assert response.json()["error"]["fields"][0]["field"] == "timeout_s"


def test_malformed_json_is_a_400(api):
    response = api.post(
        "/v1/execute", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_missing_code_is_a_422_naming_the_field(api):
    response = api.post("/v1/execute", json={"timeout_s": 1})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "code"


def test_compile_bombs_never_hurt_the_server(run, api):
    too_big = "(" * 100_000 + ")" * 100_000
    assert api.post("/v1/execute", json={"code": too_big}).status_code == 413
    deep = "(" * 50_000 + ")" * 50_000
    body = run(deep)
    assert body["status"] == "rejected"
    long_expr = "+".join(["1"] * 200_000)
    body = run(f"x = {long_expr}"[: 100 * 1024 - 10] + "+1")
    assert body["status"] in ("rejected", "error", "limit_exceeded", "ok")
    assert_healthy(run)


def test_healthz_reports_the_pool(api):
    body = api.get("/healthz").json()
    assert body["pool"]["zygote_alive"] is True
    assert "seccomp" in body["isolation"]
