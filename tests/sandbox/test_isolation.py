"""Each isolation layer, tested alone and together, in real forked children.

Layout of every test: the pytest process forks a stand-in zygote (so pytest itself never
enters a network namespace), the zygote calls enter_zygote and forks a child, the child calls
enter_child (with only the layers under test switched on) and then tries the forbidden thing,
reporting over a socketpair as JSON. The test then checks on the host side that the effect did
not happen.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from sandbox import isolation
from sandbox.isolation import LAYERS, LayerStatus

ALL = frozenset(LAYERS)


def run_child(fn, *, layers=ALL, netns=True, limits=None, timeout=10.0) -> dict:
    """Run fn() in a confined child; return its report plus zygote-side facts.

    Keys: "statuses" (describe() of the zygote), "payload" (what fn returned, or the
    exception it raised, or None if the child died), "signal" / "exitcode" of the child,
    "elapsed" seconds from fork to exit as seen by the zygote, "zygote_pid".
    """
    host_end, child_end = socket.socketpair()
    rep_r, rep_w = os.pipe()
    zpid = os.fork()
    if zpid == 0:  # stand-in zygote
        try:
            host_end.close()
            os.close(rep_r)
            # Like the real zygote, which starts with only its control socket: whatever the
            # pytest process has open (other tests' sockets, pools) is not the zygote's, and
            # counts against the file limit the layers' probes run under.
            _close_all_but(child_end.fileno(), rep_w)
            # The zygote's part of the seccomp filter is inherited by every child: only where
            # the test keeps seccomp on (another layer is tested alone without it).
            statuses = isolation._enter_zygote(unshare_net=netns, zygote_filter="seccomp" in layers)
            used = {
                n: s if n in layers else LayerStatus(n, False, "switched off by the test")
                for n, s in statuses.items()
            }
            t0 = time.monotonic()
            cpid = os.fork()
            if cpid == 0:
                payload: dict
                try:
                    isolation.enter_child(child_end.fileno(), used)
                    if limits:
                        isolation.apply_limits(*limits)
                    payload = {"ok": True, "result": fn()}
                except BaseException as exc:  # noqa: BLE001 - reported to the test
                    payload = {"ok": False, "error": type(exc).__name__, "msg": str(exc)}
                try:
                    child_end.sendall(json.dumps(payload).encode())
                finally:
                    os._exit(0)
            child_end.close()
            _, status = os.waitpid(cpid, 0)
            report = {
                "statuses": isolation.describe(statuses),
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                "exitcode": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                "elapsed": time.monotonic() - t0,
                "zygote_pid": os.getpid(),
            }
            os.write(rep_w, json.dumps(report).encode())
        finally:
            if isolation._state["workdir"]:
                isolation._remove_workdir(isolation._state["workdir"], os.getpid())
            os._exit(0)
    child_end.close()
    os.close(rep_w)
    try:
        data = _read_all(host_end.fileno(), timeout)
        report = json.loads(_read_all(rep_r, timeout) or b"{}")
    finally:
        host_end.close()
        os.close(rep_r)
        os.waitpid(zpid, 0)
    report["payload"] = json.loads(data) if data else None
    return report


def _close_all_but(*keep: int) -> None:
    low = 3  # stdin, stdout and stderr stay
    for fd in sorted(k for k in keep if k >= low):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _read_all(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("child did not finish")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


@pytest.fixture(scope="module")
def statuses() -> dict:
    return run_child(lambda: None)["statuses"]


def need(statuses: dict, *names: str) -> None:
    for name in names:
        if not statuses[name]["active"]:
            pytest.skip(f"{name} unavailable here: {statuses[name]['detail']}")


def denied(report: dict) -> None:
    """The child ran to the end and its attempt raised an OSError-family exception."""
    payload = report["payload"]
    assert payload is not None, f"child died: {report}"
    assert payload["ok"] is False, f"forbidden action succeeded: {payload}"
    assert payload["error"] in {
        "PermissionError",
        "OSError",
        "BlockingIOError",
        "FileNotFoundError",
    }, payload


# --- reporting ---------------------------------------------------------------------------------
def test_every_layer_reported_with_detail(statuses):
    assert set(statuses) == set(LAYERS)
    for name, st in statuses.items():
        assert isinstance(st["active"], bool) and st["detail"], name
    json.dumps(statuses)


def test_check_required_names_missing_layers_and_why():
    fake = {n: LayerStatus(n, True, "ok") for n in LAYERS}
    fake["seccomp"] = LayerStatus("seccomp", False, "libseccomp not found")
    fake["netns"] = LayerStatus("netns", False, "unshare: Operation not permitted")
    isolation.check_required(fake, "")
    isolation.check_required(fake, "landlock, rlimits")
    with pytest.raises(RuntimeError) as err:
        isolation.check_required(fake, "seccomp,netns,landlock")
    msg = str(err.value)
    assert "seccomp (libseccomp not found)" in msg
    assert "netns (unshare: Operation not permitted)" in msg
    assert "landlock" not in msg
    with pytest.raises(RuntimeError, match="privdrop"):
        isolation.check_required({n: s for n, s in fake.items() if n != "privdrop"}, "all")
    with pytest.raises(RuntimeError, match="unknown layer.*secomp"):
        isolation.check_required(fake, "secomp")


def test_describe_is_json():
    fake = {n: LayerStatus(n, n != "netns", "why") for n in LAYERS}
    out = isolation.describe(fake)
    assert out["netns"] == {"active": False, "detail": "why"}
    assert json.loads(json.dumps(out)) == out


# --- writing files -----------------------------------------------------------------------------
@pytest.mark.parametrize("layers", [ALL, {"seccomp"}, {"landlock"}], ids=["all", "seccomp", "ll"])
def test_cannot_create_file(tmp_path, statuses, layers):
    need(statuses, *layers)
    tmp_path.chmod(0o777)  # so that only the layer under test can be what stops it
    target = tmp_path / "created.txt"

    def attempt():
        with open(target, "w") as fh:
            fh.write("x")

    denied(run_child(attempt, layers=layers))
    assert not target.exists()


def need_nobody(statuses: dict) -> None:
    need(statuses, "privdrop")
    if not statuses["privdrop"]["detail"].startswith("setgroups"):
        pytest.skip("not root: children keep the host's uid, so a uid change cannot be tested")


def test_cannot_create_file_as_nobody(tmp_path, statuses):
    need_nobody(statuses)
    target = tmp_path / "created.txt"  # tmp_path is root-owned 0o700/0o755

    def attempt():
        with open(target, "w") as fh:
            fh.write("x")

    denied(run_child(attempt, layers={"privdrop"}))
    assert not target.exists()


# --- reading files -----------------------------------------------------------------------------
@pytest.mark.parametrize("layers", [ALL, {"landlock"}], ids=["all", "ll"])
def test_cannot_read_file(tmp_path, statuses, layers):
    need(statuses, *layers)
    tmp_path.chmod(0o755)
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    secret.chmod(0o644)

    def attempt():
        with open(secret) as fh:
            return fh.read()

    denied(run_child(attempt, layers=layers))


def test_proc_and_etc_unreadable(statuses):
    need(statuses, "landlock")

    def attempt():
        out = {}
        for path in ("/etc/passwd", "/proc/self/environ", "/proc/1/cmdline", "/"):
            try:
                if path == "/":
                    os.listdir(path)
                else:
                    open(path, "rb").close()
                out[path] = "opened"
            except OSError as exc:
                out[path] = type(exc).__name__
        return out

    result = run_child(attempt)["payload"]["result"]
    assert all(v == "PermissionError" for v in result.values()), result


# --- network -----------------------------------------------------------------------------------
@pytest.fixture
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    yield srv
    srv.close()


def _assert_no_connection(srv):
    with pytest.raises(TimeoutError):
        conn, _ = srv.accept()
        conn.close()


@pytest.mark.parametrize(
    "layers,netns",
    [(ALL, True), ({"seccomp"}, False), ({"landlock"}, False), (set(), True)],
    ids=["all", "seccomp", "ll", "netns"],
)
def test_cannot_connect(listener, statuses, layers, netns):
    need(statuses, *layers, *(["netns"] if netns else []))
    if layers == {"landlock"} and "TCP" not in statuses["landlock"]["detail"].split(":")[1]:
        pytest.skip("Landlock ABI < 4 has no TCP rules")
    port = listener.getsockname()[1]

    def attempt():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(("127.0.0.1", port))
        return "connected"

    denied(run_child(attempt, layers=layers, netns=netns))
    _assert_no_connection(listener)


def test_netns_has_only_a_down_loopback(statuses):
    need(statuses, "netns")
    assert statuses["netns"]["detail"].endswith("interfaces ['lo'], lo down")

    def attempt():
        return [name for _, name in socket.if_nameindex()]

    assert run_child(attempt, layers=set())["payload"]["result"] == ["lo"]


# --- exec and fork -----------------------------------------------------------------------------
@pytest.mark.parametrize("layers", [ALL, {"seccomp"}, {"landlock"}], ids=["all", "seccomp", "ll"])
def test_cannot_exec(statuses, layers):
    need(statuses, *layers)

    def attempt():
        os.execv("/bin/true", ["/bin/true"])

    report = run_child(attempt, layers=layers)
    denied(report)


@pytest.mark.parametrize(
    "layers", [ALL, {"seccomp"}, {"rlimits", "privdrop"}], ids=["all", "seccomp", "nproc"]
)
def test_cannot_fork(statuses, layers):
    need(statuses, *layers)
    if "privdrop" in layers and "NPROC 0" not in statuses["rlimits"]["detail"]:
        pytest.skip(statuses["rlimits"]["detail"])

    def attempt():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        return "forked"

    denied(run_child(attempt, layers=layers))


# --- process state ----------------------------------------------------------------------------
def test_environment_cleared_and_fds_closed(monkeypatch, statuses):
    monkeypatch.setenv("TERRARIUM_CANARY", "s3cret")
    extra = os.open(os.devnull, os.O_RDONLY)  # an fd the child must not inherit

    def attempt():
        open_fds = []
        for fd in range(64):
            try:
                os.fstat(fd)
                open_fds.append(fd)
            except OSError:
                pass
        return {
            "env": dict(os.environ),
            "canary": os.getenv("TERRARIUM_CANARY"),
            "fds": open_fds,
            "cwd": os.getcwd(),
            "uid": os.getuid(),
        }

    try:
        result = run_child(attempt)["payload"]["result"]
    finally:
        os.close(extra)
    assert result["env"] == {} and result["canary"] is None
    assert len(result["fds"]) == 4 and result["fds"][:3] == [0, 1, 2], result["fds"]
    assert "terrarium-empty-" in result["cwd"]
    if statuses["privdrop"]["active"] and os.geteuid() == 0:
        assert result["uid"] == 65534


def test_cannot_signal_zygote(statuses):
    need(statuses, "landlock")
    if "signals scoped" not in statuses["landlock"]["detail"]:
        pytest.skip("Landlock ABI < 6 has no signal scoping")

    def attempt():
        os.kill(os.getppid(), signal.SIGTERM)

    report = run_child(attempt, layers={"landlock"})
    denied(report)
    assert report["zygote_pid"]  # the zygote lived to report


def test_child_dies_with_zygote():
    host_end, child_end = socket.socketpair()
    zpid = os.fork()
    if zpid == 0:
        try:
            statuses = isolation._enter_zygote(unshare_net=False)
            if os.fork() == 0:
                try:
                    isolation.enter_child(child_end.fileno(), statuses)
                    child_end.sendall(str(os.getpid()).encode())
                    time.sleep(30)
                finally:
                    os._exit(0)
            time.sleep(30)  # until the test kills the zygote
        finally:
            os._exit(0)
    child_end.close()
    host_end.settimeout(5)
    cpid = int(host_end.recv(32))  # the child is confined now
    os.kill(zpid, signal.SIGKILL)
    os.waitpid(zpid, 0)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{cpid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state in ("Z", "X"):  # dead; its new parent has not reaped it yet
            break
        time.sleep(0.01)
    else:
        os.kill(cpid, signal.SIGKILL)
        pytest.fail("child outlived its zygote")
    host_end.close()


# --- what must keep working --------------------------------------------------------------------
def test_allowed_operations_still_work():
    def attempt():
        blob = bytearray(10 * 1024 * 1024)
        blob[-1] = 1
        t = time.monotonic()
        time.sleep(0.01)
        slept = time.monotonic() - t
        fired = []
        signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.005)
        while not fired and time.monotonic() - t < 1:
            time.sleep(0.001)
        data = json.loads(json.dumps({"a": [1, 2.5, "x", None]}))
        return {
            "len": len(blob),
            "slept": slept,
            "alarm": bool(fired),
            "json": data,
            "rlimit": resource.getrlimit(resource.RLIMIT_NOFILE),
        }

    report = run_child(attempt, limits=(256, 5.0))
    result = report["payload"]["result"]
    assert result["len"] == 10 * 1024 * 1024
    assert result["slept"] >= 0.01
    assert result["alarm"] is True
    assert result["json"] == {"a": [1, 2.5, "x", None]}


# --- per-request limits -------------------------------------------------------------------------
def test_memory_limit_raises_memory_error():
    def attempt():
        small = bytearray(16 * 1024 * 1024)  # within the budget
        try:
            bytearray(256 * 1024 * 1024)
        except MemoryError:
            return {"small": len(small), "big": "MemoryError"}
        return {"small": len(small), "big": "allocated"}

    result = run_child(attempt, limits=(64, 5.0))["payload"]["result"]
    assert result == {"small": 16 * 1024 * 1024, "big": "MemoryError"}


def test_cpu_limit_kills_spin_loop():
    def attempt():
        while True:
            pass

    report = run_child(attempt, limits=(64, 0.5), timeout=6)
    assert report["payload"] is None
    assert report["signal"] in (signal.SIGXCPU, signal.SIGKILL), report
    # Killed by its CPU limit, not by the harness's timeout: how soon on a loaded machine says
    # nothing about the limit, so only that bound is asserted.
    assert report["elapsed"] < 6


@pytest.mark.parametrize(
    "layers", [ALL, {"seccomp"}, {"privdrop"}], ids=["all", "seccomp", "nobody"]
)
def test_limits_cannot_be_raised(statuses, layers):
    need(statuses, *layers)

    def attempt():
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        out = {}
        for name, res, value in (
            ("as", resource.RLIMIT_AS, (hard * 2, hard * 2)),
            ("as_inf", resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)),
            ("cpu", resource.RLIMIT_CPU, (100, 100)),
            ("nofile", resource.RLIMIT_NOFILE, (nofile + 1, nofile + 1)),
        ):
            try:
                resource.setrlimit(res, value)
                out[name] = "raised"
            except (OSError, ValueError) as exc:
                out[name] = type(exc).__name__
        out["after"] = resource.getrlimit(resource.RLIMIT_AS)[1] == hard
        return out

    result = run_child(attempt, layers=layers, limits=(64, 5.0))["payload"]["result"]
    assert "raised" not in result.values(), result
    assert result["after"] is True


def test_the_setrlimit_filter_is_loaded_exactly_where_a_child_keeps_capabilities(statuses):
    """Without privdrop a root child keeps capabilities (CAP_SYS_RESOURCE on most hosts), so
    apply_limits must add the filter that denies setrlimit; once privileges are dropped no hard
    limit can be raised and the filter is skipped."""
    need(statuses, "seccomp", "privdrop")
    with_caps = run_child(lambda: isolation._state["limits_filter"], layers={"seccomp"})
    dropped = run_child(lambda: isolation._state["limits_filter"], layers=ALL)
    assert with_caps["payload"]["result"] is True
    assert dropped["payload"]["result"] is False


# --- degrading where a layer is missing -----------------------------------------------------------
def test_missing_layers_reported_and_skipped_without_raising():
    """Simulate a container without namespaces, Landlock or seccomp: a filter on the stand-in
    zygote makes unshare fail, reports Landlock as absent and refuses new seccomp filters.
    enter_zygote must say so per layer, and enter_child must still run (and not raise)."""
    pyseccomp = pytest.importorskip("pyseccomp")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            f = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
            f.add_rule(pyseccomp.ERRNO(1), "unshare")  # EPERM
            f.add_rule(pyseccomp.ERRNO(38), "landlock_create_ruleset")  # ENOSYS
            f.add_rule(pyseccomp.ERRNO(22), "seccomp")  # EINVAL
            f.load()
            statuses = isolation._enter_zygote(unshare_net=True)
            host_end, child_end = socket.socketpair()
            cpid = os.fork()
            if cpid == 0:
                try:
                    isolation.enter_child(child_end.fileno(), statuses)
                    isolation.apply_limits(64, 5.0)
                    child_end.sendall(b"confined")
                finally:
                    os._exit(0)
            child_end.close()
            host_end.settimeout(5)
            got = host_end.recv(16).decode()
            os.waitpid(cpid, 0)
            os.write(w, json.dumps({"s": isolation.describe(statuses), "got": got}).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = json.loads(_read_all(r, 10))
    os.close(r)
    os.waitpid(pid, 0)
    s = out["s"]
    assert out["got"] == "confined"
    assert s["netns"]["active"] is False and "Operation not permitted" in s["netns"]["detail"]
    assert s["landlock"]["active"] is False and "not implemented" in s["landlock"]["detail"]
    assert s["seccomp"]["active"] is False and "Invalid argument" in s["seccomp"]["detail"]
    assert s["rlimits"]["active"] is True
    with pytest.raises(RuntimeError, match=r"netns \(.*landlock \(.*seccomp \("):
        isolation.check_required(
            {n: LayerStatus(n, v["active"], v["detail"]) for n, v in s.items()},
            "netns,landlock,seccomp",
        )


def test_building_the_seccomp_filter_leaves_threading_out_of_the_zygote():
    # threading's after-fork hook would run in every child the zygote forks.
    code = (
        "import sys\n"
        "from sandbox import isolation, zygote\n"
        "isolation._compile(isolation._build_main)\n"
        "print(sorted(m for m in ('threading', 'subprocess') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
