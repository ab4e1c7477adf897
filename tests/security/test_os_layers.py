"""Payloads that assume the policy was bypassed: unrestricted CPython (sandbox.selftest's raw
mode) in a normal child with every OS layer on. Each checks its effect from the host side."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time

import pytest

from sandbox.limits import Limits

LIMITS = Limits(timeout_s=10, cpu_s=5, memory_mb=128)


def attempt(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"try:\n{lines}\nexcept BaseException as exc:\n    result = 'refused ' + repr(exc)\n"


def refused(result) -> bool:
    return result.status == "ok" and str(result.result).startswith("refused")


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def got_connection(sock: socket.socket) -> bool:
    time.sleep(0.05)
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize(
    "body",
    [
        "import socket\ns = socket.socket()\ns.connect((b'127.0.0.1', PORT))\nresult = 'ok'",
        "import _socket\ns = _socket.socket(2, 1)\ns.connect((b'127.0.0.1', PORT))\nresult = 'ok'",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(b'x', (b'127.0.0.1', PORT))\nresult = 'ok'",
        "import socket\nsocket.socketpair()\nresult = 'ok'",
    ],
    ids=["tcp", "raw_socket_module", "udp", "socketpair"],
)
def test_sockets_reach_no_listener(raw, listener, body):
    port = listener.getsockname()[1]
    result = raw.run(attempt(body.replace("PORT", str(port))), LIMITS)
    assert refused(result), result
    assert not got_connection(listener)


def test_execve(raw):
    result = raw.run(attempt("import os\nos.execv('/bin/true', ['/bin/true'])"), LIMITS)
    assert refused(result), result


def test_posix_spawn(raw):
    result = raw.run(attempt("import os\nresult = os.posix_spawn('/bin/true', ['t'], {})"))
    assert refused(result), result


def test_fork(raw):
    result = raw.run(
        attempt("import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nresult = pid"), LIMITS
    )
    assert refused(result), result


def test_ptrace_the_host(raw):
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"rc = libc.ptrace(16, {os.getpid()}, 0, 0)\n"  # PTRACE_ATTACH
        "result = 'refused' if rc != 0 else 'attached'"
    )
    result = raw.run(attempt(code), LIMITS)
    assert refused(result), result


@pytest.mark.parametrize("where", ["tmp", "cwd", "home"])
def test_write_files(raw, where):
    name = f"terrarium-sec-{secrets.token_hex(6)}"
    path = {"tmp": os.path.join(tempfile.gettempdir(), name), "cwd": name,
            "home": os.path.join(os.path.expanduser("~"), name)}[where]  # fmt: skip
    result = raw.run(attempt(f"open({path!r}, 'w').write('x')\nresult = 'written'"), LIMITS)
    assert refused(result), result
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.join("/", name))


@pytest.mark.parametrize("target", ["passwd", "db", "host_file"])
def test_read_files(raw, server, target, tmp_path):
    secret = secrets.token_hex(12)
    host_file = tmp_path / "secret.txt"
    host_file.write_text(secret)
    os.chmod(tmp_path, 0o755)
    os.chmod(host_file, 0o644)
    db = server.executions.settings.data_dir / "terrarium.db"
    path = {"passwd": "/etc/passwd", "db": str(db), "host_file": str(host_file)}[target]
    result = raw.run(attempt(f"result = open({path!r}, 'rb').read()[:200]"), LIMITS)
    assert refused(result), result
    assert secret not in str(result) and "root:" not in str(result)


def test_read_host_environ(raw):
    from security_helpers import CANARY

    code = (
        "import os\nout = [repr(dict(os.environ))]\n"
        f"for p in ('/proc/{os.getpid()}/environ', '/proc/1/environ', '/proc/self/environ'):\n"
        "    try:\n        out.append(open(p, 'rb').read().decode('latin-1'))\n"
        "    except OSError as e:\n        out.append(repr(e))\nresult = out"
    )
    result = raw.run(code, LIMITS)
    assert result.status == "ok", result
    assert CANARY not in str(result)


def test_kill_the_host(raw):
    result = raw.run(attempt(f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)"))
    assert refused(result), result  # and we are still here to assert it


def test_raise_own_limits(raw):
    result = raw.run(
        attempt("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\nresult = 1"),
        LIMITS,
    )
    assert refused(result), result


def test_raw_mode_is_not_reachable_from_the_api(server):
    # The runtime's pool never enables raw: a raw request to it runs under the policy.
    result = server.pool_execute("import os\nresult = os.getpid()", raw=True)
    # The sandbox's `__import__` refused it (a raw child would have imported the real os).
    assert result.status == "error", result
    assert result.error["type"] in ("ImportError", "ModuleNotFoundError"), result
