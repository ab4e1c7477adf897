"""OS-level isolation layers for sandbox children: the boundary below RestrictedPython.

Each execution runs in a child forked from the zygote. This module puts the zygote into an
empty network namespace once (`enter_zygote`), then confines each fresh child before it ever
sees a script (`enter_child`), and applies the per-request memory and CPU limits when the
script arrives (`apply_limits`). Every layer is independent of the others, so each one holds
even if the one above it fails; a layer the kernel or the privileges at hand do not allow is
reported as inactive with the reason, never silently skipped (see `describe`, `check_required`).

Layers, in the order a child applies them:

- rlimits:  RLIMIT_NOFILE 16, RLIMIT_FSIZE 0, RLIMIT_CORE 0 (soft = hard), RLIMIT_NPROC 0 once
            the child runs as its own unprivileged uid; per request RLIMIT_AS and RLIMIT_CPU.
- landlock: a ruleset that handles every filesystem right of the running ABI with no rule, so
            no path can be opened, read, written, executed, created or removed; on ABI >= 4 TCP
            bind/connect handled with no rule; on ABI >= 6 abstract unix sockets and signals
            scoped to the child's own domain (it cannot signal the zygote, host or siblings).
- privdrop: as root, setgroups([]) + setgid/setuid(65534): every capability is cleared and hard
            rlimits can no longer be raised. In a user namespace (non-root host) the capabilities
            the namespace grants are dropped with capset instead.
- seccomp:  a deny list on top of default-allow (see `_DENY`): no exec, no new processes or
            threads, no sockets, no opening for write, no filesystem mutation, no namespace,
            mount, module, bpf, perf, keyring, io_uring, SysV IPC or ptrace-like calls.
            Denied calls fail with EPERM (ENOSYS for clone3/openat2, so libc falls back to the
            filtered clone/openat) rather than killing the process: the call never executes
            either way, and the script gets an ordinary PermissionError it can report. Calls
            from a foreign ABI (i386 int 0x80, x32) kill the process (libseccomp's bad-arch
            action). kill/tkill/tgkill are left to Landlock signal scoping plus privdrop.
            The list is loaded as two stacked filters: most of it once in the zygote after
            its probe (every child inherits it from its fork, and the zygote runs under it),
            and the calls the zygote itself needs (fork, socketpair, pidfd_open, the identity
            calls, chmod/rmdir of its working directory) plus write-mode opens by each child,
            at the point where it used to load the whole list; where the zygote cannot load
            its part, each child loads the whole list in one filter.
            Per-request limits only ever go down: a child without CAP_SYS_RESOURCE (every
            child once privdrop is active) cannot raise a hard limit; a child that still holds
            capabilities gets a second filter from `apply_limits` that denies setrlimit and
            prlimit64 with a new limit.
- netns:    the zygote (and so every child) lives in a new network namespace whose only
            interface is a loopback that is down: there is no route anywhere, even if a socket
            could be made.

PR_SET_NO_NEW_PRIVS is set right before Landlock (not after privdrop) because
landlock_restrict_self needs it when the process lacks CAP_SYS_ADMIN; it does not affect
setuid/setgid, so the drop that follows is unchanged.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import json
import math
import os
import resource
import signal
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the checker only: nothing more is imported in the zygote
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any, Literal, TypedDict

    # A compiled seccomp filter: the buffer holding the BPF code, and the sock_fprog naming it.
    _Filter = tuple[ctypes.Array[ctypes.c_char], "_SockFprog"]
    # Adds the rules to a pyseccomp SyscallFilter (untyped); returns the rules it had to skip.
    _Build = Callable[[ModuleType, Any], list[str]]

    class _State(TypedDict):
        zygote_pid: int | None
        workdir: str | None
        landlock_abi: int
        seccomp_main: _Filter | None
        seccomp_limits: _Filter | None
        seccomp_zygote: _Filter | None
        seccomp_child: _Filter | None
        zygote_filtered: bool
        privdrop: Literal["setuid", "capset"] | None
        as_bytes: int | None
        limits_filter: bool


LAYERS = ("rlimits", "seccomp", "landlock", "netns", "privdrop")

NOBODY = 65534
NOFILE_LIMIT = 16

# --- kernel constants -------------------------------------------------------------------------
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1

# Syscall numbers shared by x86_64 and aarch64 in the unified (>= 424) range.
_NR_LANDLOCK_CREATE_RULESET = 444
_NR_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
# Arch-specific numbers for the older calls.
_ARCH_NR = {
    "x86_64": {"seccomp": 317, "capset": 126},
    "aarch64": {"seccomp": 277, "capset": 91},
}

# Landlock filesystem rights by the ABI that introduced them.
_LL_FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
_LL_FS_REFER = 1 << 13  # ABI 2
_LL_FS_TRUNCATE = 1 << 14  # ABI 3
_LL_FS_IOCTL_DEV = 1 << 15  # ABI 5
_LL_NET_BIND_TCP = 1 << 0  # ABI 4
_LL_NET_CONNECT_TCP = 1 << 1  # ABI 4
_LL_SCOPE_ABSTRACT_UNIX = 1 << 0  # ABI 6
_LL_SCOPE_SIGNAL = 1 << 1  # ABI 6

_OPEN_WRITE_FLAGS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND)

# Denied with EPERM unless listed in _ENOSYS. Unknown names (old libseccomp) are skipped and
# reported in the seccomp status detail.
_DENY = (
    # new programs, processes, threads
    "execve", "execveat", "fork", "vfork", "clone",
    # looking into or controlling other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "process_madvise", "process_mrelease", "move_pages", "migrate_pages",
    # networking: the channel to the host already exists
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # filesystem mutation (opening for write is filtered by flags below)
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
    "rmdir", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat",
    "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate", "mknod", "mknodat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "utime", "utimes", "utimensat", "futimesat", "name_to_handle_at", "open_by_handle_at",
    "fanotify_init", "fanotify_mark",
    # mounts and namespaces
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "mount_setattr",
    "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    # identity
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
    "setfsgid", "setgroups", "capset",
    # kernel, modules and system state
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "personality", "reboot", "swapon", "swapoff",
    "sethostname", "setdomainname", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "acct", "quotactl", "syslog", "iopl", "ioperm", "vhangup", "lookup_dcookie",
    # SysV and POSIX IPC: a channel between siblings outside the host's view
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget",
    "semop", "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr", "memfd_secret",
)  # fmt: skip
_ENOSYS = ("clone3", "openat2")
# Calls newer than some libseccomp releases know by name (same number on x86_64 and aarch64).
_DENY_NUMBERS = {
    "setxattrat": 463,
    "removexattrat": 466,
    "open_tree_attr": 467,
    "file_setattr": 469,
}
_TIOCSTI = 0x5412
# Denied to every child, but used after the zygote loads its part of the deny list: by the
# zygote (forking a child, its socket and pidfd; chmod and rmdir of the working directory when
# it exits) and by a child before it loads the rest (dropping privileges; /dev/null is opened
# for write, so the write-mode open rules are the child's too). Each child denies them in the
# filter it stacks on the zygote's, so a child is under the whole deny list, as with one filter.
_ZYGOTE_USES = frozenset({
    "fork", "vfork", "clone", "clone3", "socketpair", "pidfd_open",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
    "setfsgid", "setgroups", "capset",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "rmdir", "unlinkat",
})  # fmt: skip


@dataclass
class LayerStatus:
    name: str
    active: bool
    detail: str  # says why when inactive


# --- state prepared in the zygote, inherited by every child -----------------------------------
_state: _State = {
    "zygote_pid": None,
    "workdir": None,
    "landlock_abi": 0,
    "seccomp_main": None,  # (buffer, sock_fprog) kept alive for the children
    "seccomp_limits": None,
    "seccomp_zygote": None,  # the deny list but for _ZYGOTE_USES, loaded in the zygote
    "seccomp_child": None,  # _ZYGOTE_USES and write-mode opens, stacked by each child
    "zygote_filtered": False,  # the zygote loaded its part: children stack seccomp_child
    "privdrop": None,  # "setuid" | "capset"
    "as_bytes": None,  # address-space size captured in enter_child
    "limits_filter": False,  # apply_limits must also deny setrlimit (capabilities remain)
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = (
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
)
_libc.unshare.argtypes = (ctypes.c_int,)
_clearenv = _libc.clearenv
_kept: list[dict[str, str]] = []  # old environment mappings, never freed


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _LandlockRulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _oserror(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _arch_nr(name: str) -> int | None:
    return _ARCH_NR.get(os.uname().machine, {}).get(name)


def _prctl(option: int, arg2: int = 0) -> None:
    if _libc.prctl(option, arg2, 0, 0, 0) != 0:
        raise _oserror(f"prctl({option})")


# --- netns ------------------------------------------------------------------------------------
def _loopback_state() -> str:
    names = [name for _, name in socket.if_nameindex()]
    flags = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack_from("16sH", ifr)[1]
    state = "up" if flags & 1 else "down"
    return f"interfaces {names}, lo {state}"


def _enter_netns() -> LayerStatus:
    if _libc.unshare(_CLONE_NEWNET) == 0:
        return LayerStatus("netns", True, f"new network namespace; {_loopback_state()}")
    first = os.strerror(ctypes.get_errno())
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        err = os.strerror(ctypes.get_errno())
        return LayerStatus(
            "netns",
            False,
            f"unshare(CLONE_NEWNET) failed ({first}) and so did "
            f"unshare(CLONE_NEWUSER|CLONE_NEWNET) ({err}): children share the host network",
        )
    try:
        for path, text in (
            ("/proc/self/setgroups", "deny"),
            ("/proc/self/uid_map", f"{uid} {uid} 1"),
            ("/proc/self/gid_map", f"{gid} {gid} 1"),
        ):
            with open(path, "w") as fh:
                fh.write(text)
    except OSError as exc:
        # The namespaces exist already; without maps the uid shows as overflow but the
        # network namespace still holds.
        return LayerStatus(
            "netns",
            True,
            f"new user+network namespace (not root; id maps failed: {exc}); {_loopback_state()}",
        )
    return LayerStatus("netns", True, f"new user+network namespace (not root); {_loopback_state()}")


# --- seccomp ----------------------------------------------------------------------------------
def _report_of(pid: int, r: int) -> bytes:
    """All a throwaway fork wrote to the pipe `r` before it exited, once it is reaped."""
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def _compile(*builds: _Build) -> list[tuple[_Filter, list[str]]]:
    """The filters `builds` describe, as BPF ready to load, each with the rules it skipped.

    libseccomp compiles them in a throwaway fork: pyseccomp imports ctypes.util, which imports
    subprocess and threading, and threading's after-fork hook would then run in every child
    the zygote forks (about 120 more pages written per child, ~0.35 ms).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the throwaway child
        try:
            os.close(r)
            try:
                done = [_compile_here(build) for build in builds]
                report: dict[str, Any] = {"filters": [[c.hex(), s] for c, s in done]}
            except BaseException as exc:  # noqa: BLE001 - reported, then raised in the parent
                report = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            data = json.dumps(report).encode()
            while data:
                data = data[os.write(w, data) :]
        finally:
            os._exit(0)
    os.close(w)
    raw = _report_of(pid, r)
    try:
        report = json.loads(raw)
    except ValueError:
        raise RuntimeError("the filter compiler exited without a filter") from None
    if "error" in report:
        raise RuntimeError(report["error"])
    out: list[tuple[_Filter, list[str]]] = []
    for hexcode, skipped in report["filters"]:
        code = bytes.fromhex(hexcode)
        buf = ctypes.create_string_buffer(code, len(code))
        prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
        out.append(((buf, prog), list(skipped)))
    return out


def _compile_here(build: _Build) -> tuple[bytes, list[str]]:
    import pyseccomp as seccomp  # imported here so a missing libseccomp only disables a layer

    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    try:  # a binary tree of syscall numbers: the same rules, half the kernel's work to load
        f.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)  # (each child loads it: ~0.35 -> ~0.18 ms)
    except (AttributeError, OSError, RuntimeError, ValueError):
        pass  # libseccomp < 2.5: the linear filter, as strong
    skipped = build(seccomp, f)
    import tempfile  # here, in the throwaway fork: it imports shutil, zlib, bz2 and lzma

    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)
        fh.seek(0)
        return fh.read(), skipped


def _build_main(seccomp: ModuleType, f: Any) -> list[str]:
    """The whole deny list in one filter (probed in the zygote; loaded by a child whose zygote
    could not load its own part)."""
    return _build_deny(seccomp, f, lambda name: True, write_opens=True)


def _build_zygote(seccomp: ModuleType, f: Any) -> list[str]:
    """The deny list but for what the zygote and a child before its own filter still use."""
    return _build_deny(seccomp, f, lambda name: name not in _ZYGOTE_USES, write_opens=False)


def _build_child(seccomp: ModuleType, f: Any) -> list[str]:
    """The rest of the deny list, stacked by each child on the zygote's filter."""
    return _build_deny(seccomp, f, lambda name: name in _ZYGOTE_USES, write_opens=True)


def _build_deny(
    seccomp: ModuleType, f: Any, keep: Callable[[str], bool], write_opens: bool
) -> list[str]:
    skipped: list[str] = []

    def deny(name: str | int, err: int, *args: Any) -> None:
        try:
            f.add_rule(seccomp.ERRNO(err), name, *args)
        except (OSError, ValueError, RuntimeError):
            skipped.append(str(name))

    for name in _DENY:
        if keep(name):
            deny(name, errno.EPERM)
    for name in _ENOSYS:
        if keep(name):
            deny(name, errno.ENOSYS)
    for name, number in _DENY_NUMBERS.items():
        if keep(name):
            deny(number, errno.EPERM)
    if write_opens:
        for flag in _OPEN_WRITE_FLAGS:
            deny("open", errno.EPERM, seccomp.Arg(1, seccomp.MASKED_EQ, flag, flag))
            deny("openat", errno.EPERM, seccomp.Arg(2, seccomp.MASKED_EQ, flag, flag))
    if keep("ioctl"):
        deny("ioctl", errno.EPERM, seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    return skipped


def _build_limits(seccomp: ModuleType, f: Any) -> list[str]:
    f.add_rule(seccomp.ERRNO(errno.EPERM), "setrlimit")
    f.add_rule(seccomp.ERRNO(errno.EPERM), "prlimit64", seccomp.Arg(2, seccomp.NE, 0))
    return []


def _load_filter(compiled: _Filter) -> None:
    nr = _arch_nr("seccomp")
    _buf, prog = compiled
    if nr is not None:
        rc = _libc.syscall(nr, _SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(prog))
    else:  # prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog)
        rc = _libc.prctl(22, 2, ctypes.addressof(prog), 0, 0)
    if rc != 0:
        raise _oserror("seccomp(SECCOMP_SET_MODE_FILTER)")


# --- landlock ---------------------------------------------------------------------------------
def _landlock_abi() -> int:
    rc = _libc.syscall(
        _NR_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION
    )
    return -1 if rc < 0 else int(rc)


def _landlock_attr(abi: int) -> tuple[_LandlockRulesetAttr, int]:
    fs = _LL_FS_ABI1
    if abi >= 2:
        fs |= _LL_FS_REFER
    if abi >= 3:
        fs |= _LL_FS_TRUNCATE
    if abi >= 5:
        fs |= _LL_FS_IOCTL_DEV
    net = _LL_NET_BIND_TCP | _LL_NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _LL_SCOPE_ABSTRACT_UNIX | _LL_SCOPE_SIGNAL if abi >= 6 else 0
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    return _LandlockRulesetAttr(fs, net, scoped), size


def _landlock_restrict(abi: int) -> None:
    attr, size = _landlock_attr(abi)
    fd = _libc.syscall(_NR_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if fd < 0:
        raise _oserror("landlock_create_ruleset")
    try:
        if _libc.syscall(_NR_LANDLOCK_RESTRICT_SELF, ctypes.c_int(fd), 0) != 0:
            raise _oserror("landlock_restrict_self")
    finally:
        os.close(fd)


def _landlock_detail(abi: int) -> str:
    parts = ["all filesystem access denied"]
    if abi >= 4:
        parts.append("TCP bind/connect denied")
    else:
        parts.append("no TCP rules (ABI < 4)")
    if abi >= 6:
        parts.append("abstract unix sockets and signals scoped to the child")
    else:
        parts.append("no signal scoping (ABI < 6)")
    return f"ABI {abi}: " + ", ".join(parts)


# --- privdrop ---------------------------------------------------------------------------------
def _cap_eff() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _capset_zero() -> None:
    nr = _arch_nr("capset")
    if nr is None:
        raise OSError(errno.ENOSYS, "capset: unknown syscall number for this architecture")
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if _libc.syscall(nr, ctypes.byref(header), ctypes.byref(data)) != 0:
        raise _oserror("capset")


def _drop_privileges(mode: str) -> None:
    if mode == "setuid":
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        if os.geteuid() == 0 or os.getegid() == 0:
            raise OSError(errno.EPERM, "privilege drop left uid/gid 0")
    else:
        _capset_zero()


# --- rlimits ----------------------------------------------------------------------------------
def _set_hard(res: int, value: int) -> None:
    resource.setrlimit(res, (value, value))


def _baseline_rlimits() -> None:
    _set_hard(resource.RLIMIT_NOFILE, NOFILE_LIMIT)
    _set_hard(resource.RLIMIT_FSIZE, 0)
    _set_hard(resource.RLIMIT_CORE, 0)


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _address_space_bytes() -> int:
    fd = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        return int(os.read(fd, 256).split()[0]) * _PAGE_SIZE
    finally:
        os.close(fd)


def _clear_environment() -> None:
    # Same effect as os.environ.clear() (which unsetenv()s key by key, ~300 us in a fresh
    # child): empty the C environment in one call, then the mapping that mirrors it.
    # The old dict is kept, not freed: freeing touches (and so copies) every page holding an
    # entry. The strings stay in memory either way (the initial environment block on the
    # stack is never erased); what matters is that nothing reachable by name still holds them.
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and _clearenv() == 0:
        _kept.append(data)
        os.environ._data = {}  # type: ignore[attr-defined]  # CPython's private mapping
    else:
        os.environ.clear()


# --- probing ----------------------------------------------------------------------------------
def _probe(workdir: str) -> dict[str, tuple[bool, str]]:
    """Try each layer in a throwaway fork and report what worked."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the probe child
        out: dict[str, tuple[bool, str]] = {}
        try:
            os.close(r)
            try:
                _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                os.chdir(workdir)
                _baseline_rlimits()
                out["rlimits"] = (True, "")
            except OSError as exc:
                out["rlimits"] = (False, f"setrlimit failed: {exc}")
            try:
                _prctl(_PR_SET_NO_NEW_PRIVS, 1)
            except OSError:
                pass
            abi = _state["landlock_abi"]
            if abi > 0:
                try:
                    _landlock_restrict(abi)
                    try:
                        open("/proc/self/status", "rb").close()
                        out["landlock"] = (False, "ruleset applied but a file could still open")
                    except PermissionError:
                        out["landlock"] = (True, "")
                except OSError as exc:
                    out["landlock"] = (False, str(exc))
            mode = _state["privdrop"]
            if mode:
                try:
                    _drop_privileges(mode)
                    out["privdrop"] = (True, "")
                except OSError as exc:
                    out["privdrop"] = (False, f"{mode} failed: {exc}")
            if _state["seccomp_main"] is not None:
                try:
                    _load_filter(_state["seccomp_main"])
                    try:
                        socket.socket().close()
                        out["seccomp"] = (False, "filter loaded but socket() still allowed")
                    except PermissionError:
                        out["seccomp"] = (True, "")
                except OSError as exc:
                    out["seccomp"] = (False, str(exc))
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    raw = _report_of(pid, r)
    if not raw:
        return {}
    return {k: tuple(v) for k, v in json.loads(raw).items()}


def _make_workdir() -> str:
    """A new empty directory of ours under /tmp, as tempfile.mkdtemp makes one (0700, a random
    name, never an existing path), without importing tempfile into the zygote: it brings
    shutil, zlib, bz2 and lzma, whose pages every fork copies and every child unmaps."""
    for _attempt in range(100):
        path = os.path.join("/tmp", f"terrarium-empty-{os.urandom(8).hex()}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError:  # no writable /tmp: the places tempfile knows (TMPDIR, /var/tmp, ...)
            break
        return path
    import tempfile

    return tempfile.mkdtemp(prefix="terrarium-empty-")


def _remove_workdir(path: str, owner: int) -> None:
    if os.getpid() == owner:
        try:
            os.chmod(path, 0o700)
            os.rmdir(path)
        except OSError:
            pass


def enter_zygote() -> dict[str, LayerStatus]:
    """Enter the network namespace, create the children's working directory, probe layers.

    Called once in the zygote, before any fork. Returns the status of every layer in LAYERS.
    """
    return _enter_zygote(unshare_net=True)


def _enter_zygote(unshare_net: bool, zygote_filter: bool = True) -> dict[str, LayerStatus]:
    statuses: dict[str, LayerStatus] = {}
    host_uid = os.getuid()  # before a user namespace can change how it reads
    if unshare_net:
        statuses["netns"] = _enter_netns()
    else:
        statuses["netns"] = LayerStatus("netns", False, "not requested")
    _state["zygote_pid"] = os.getpid()

    workdir = _make_workdir()
    os.chmod(workdir, 0o555)
    _state["workdir"] = workdir
    atexit.register(_remove_workdir, workdir, os.getpid())

    abi = _landlock_abi()
    _state["landlock_abi"] = max(abi, 0)
    landlock_why = "" if abi > 0 else f"landlock unavailable: {os.strerror(ctypes.get_errno())}"

    euid = os.geteuid()
    if euid == 0:
        _state["privdrop"] = "setuid"
        privdrop_why = ""
    elif _cap_eff():
        _state["privdrop"] = "capset"
        privdrop_why = ""
    else:
        _state["privdrop"] = None
        privdrop_why = (
            f"not root (uid {euid}) and no capabilities to drop: children keep the host's uid"
        )

    seccomp_why = ""
    skipped: list[str] = []
    try:
        built = _compile(_build_main, _build_limits, _build_zygote, _build_child)
        (_state["seccomp_main"], skipped), (_state["seccomp_limits"], _) = built[:2]
        _state["seccomp_zygote"], _state["seccomp_child"] = built[2][0], built[3][0]
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        _state["seccomp_main"] = _state["seccomp_limits"] = None
        _state["seccomp_zygote"] = _state["seccomp_child"] = None
        seccomp_why = f"could not build the filter: {type(exc).__name__}: {exc}"

    probed = _probe(workdir)

    def status(name: str, why: str, active_detail: str) -> LayerStatus:
        if why:
            return LayerStatus(name, False, why)
        ok, err = probed.get(name, (False, "probe child reported nothing"))
        return LayerStatus(name, ok, active_detail if ok else err)

    if _state["privdrop"] == "setuid" and probed.get("privdrop", (False,))[0]:
        nproc = f"NPROC 0 as uid {NOBODY}"
    elif host_uid == 0:
        nproc = "NPROC not enforced (children keep real uid 0, which the kernel exempts)"
    else:
        nproc = f"NPROC 0 (counted for the host's uid {host_uid})"
    statuses["rlimits"] = status(
        "rlimits", "", f"NOFILE {NOFILE_LIMIT}, FSIZE 0, CORE 0, {nproc}; AS/CPU per request"
    )
    statuses["landlock"] = status("landlock", landlock_why, _landlock_detail(abi))
    privdrop_detail = (
        f"setgroups([]), setgid/setuid({NOBODY}): no capability remains"
        if _state["privdrop"] == "setuid"
        else "capset: all user-namespace capabilities dropped"
    )
    statuses["privdrop"] = status("privdrop", privdrop_why, privdrop_detail)
    seccomp_detail = (
        f"deny list ({len(_DENY) + len(_ENOSYS) + len(_DENY_NUMBERS) - len(skipped)} calls, "
        "write-mode opens, TIOCSTI) -> EPERM; setrlimit/prlimit64 also denied after apply_limits "
        "where a child keeps capabilities"
    )
    if skipped:
        seccomp_detail += f"; unknown to libseccomp, not filtered: {', '.join(skipped)}"
    statuses["seccomp"] = status("seccomp", seccomp_why, seccomp_detail)
    if not statuses["privdrop"].active:
        _state["privdrop"] = None
    _state["zygote_filtered"] = False
    if zygote_filter and statuses["seccomp"].active and _state["seccomp_zygote"] is not None:
        try:  # once here, inherited by every child from its fork; never removed
            _prctl(_PR_SET_NO_NEW_PRIVS, 1)  # needed without CAP_SYS_ADMIN; it never execs
            _load_filter(_state["seccomp_zygote"])
            _state["zygote_filtered"] = True
            statuses["seccomp"].detail += (
                "; two stacked filters: most of the list loaded once in the zygote (every "
                "child inherits it from its fork), the rest loaded by each child"
            )
        except OSError:
            pass  # each child loads the whole list itself, as strong
    return {name: statuses[name] for name in LAYERS}


def enter_child(channel_fd: int, statuses: dict[str, LayerStatus]) -> None:
    """Confine a freshly forked child before it waits for its script.

    Inactive layers are skipped (their status says why); an active layer that fails to apply
    raises, and the caller must kill the child.
    """

    def on(name: str) -> bool:
        st = statuses.get(name)
        return bool(st and st.active)

    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    zygote = _state["zygote_pid"]
    if zygote is not None and os.getppid() != zygote:
        raise RuntimeError("zygote exited before the child armed PR_SET_PDEATHSIG")

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if devnull != fd:
            os.dup2(devnull, fd)
    if channel_fd < 3:
        raise ValueError(f"channel_fd {channel_fd} collides with stdio")
    os.closerange(3, channel_fd)
    os.closerange(channel_fd + 1, 1 << 20)

    _clear_environment()
    if _state["workdir"] is not None:
        os.chdir(_state["workdir"])

    _state["as_bytes"] = _address_space_bytes()  # /proc is unreadable from here on

    if on("rlimits"):
        _baseline_rlimits()
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if on("landlock"):
        _landlock_restrict(_state["landlock_abi"])
    if on("privdrop") and _state["privdrop"]:
        _drop_privileges(_state["privdrop"])
        # commit_creds() clears the parent-death signal when the euid/egid change: arm it again.
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if zygote is not None and os.getppid() != zygote:
            raise RuntimeError("zygote exited while the child dropped privileges")
    if on("rlimits"):
        # Counted per real uid, and ignored for uid 0, so it only bites once the uid has
        # been dropped (or when the host itself is not root): then no child can fork.
        _set_hard(resource.RLIMIT_NPROC, 0)
    if on("seccomp"):
        # With the zygote's part inherited, the rest; else the whole list in one filter.
        key = "seccomp_child" if _state["zygote_filtered"] else "seccomp_main"
        child_filter = _state[key]  # type: ignore[literal-required]
        if child_filter is None:  # an active layer that cannot apply fails, never skips
            raise RuntimeError("seccomp is active but its filter was never built")
        _load_filter(child_filter)
        # Without CAP_SYS_RESOURCE a hard limit cannot be raised, so the filter that denies
        # setrlimit is only needed where capabilities remain (privdrop switched off).
        dropped = bool(on("privdrop") and _state["privdrop"]) or _state["privdrop"] is None
        _state["limits_filter"] = not dropped


def apply_limits(memory_mb: int, cpu_s: float) -> None:
    """Cap the child's address space and CPU time for the script that just arrived.

    RLIMIT_AS = address space at enter_child + memory_mb; RLIMIT_CPU soft = ceil(cpu_s)
    (SIGXCPU), hard = soft + 1 (SIGKILL). Soft = hard for AS. Without CAP_SYS_RESOURCE (privdrop)
    hard limits cannot be raised afterwards; where capabilities remain, setrlimit/prlimit64 with
    a new limit are denied by a second seccomp filter loaded here.
    """
    base = _state["as_bytes"]
    if base is None:
        base = _address_space_bytes()
    limit = base + int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    soft = max(1, math.ceil(cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    if _state["seccomp_limits"] is not None and _state["limits_filter"]:
        _load_filter(_state["seccomp_limits"])


def describe(statuses: dict[str, LayerStatus]) -> dict[str, dict[str, bool | str]]:
    """JSON-ready status of every layer, for /healthz."""
    return {
        name: {"active": st.active, "detail": st.detail}
        for name, st in ((n, statuses.get(n)) for n in LAYERS)
        if st is not None
    }


def check_required(statuses: dict[str, LayerStatus], required: str) -> None:
    """Raise RuntimeError naming each required layer that is not active, and why.

    `required` is a comma-separated list such as "seccomp,netns" (TERRARIUM_REQUIRE_ISOLATION);
    "all" means every layer.
    """
    names = [n.strip() for n in (required or "").split(",") if n.strip()]
    if names == ["all"]:
        names = list(LAYERS)
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        raise RuntimeError(
            f"TERRARIUM_REQUIRE_ISOLATION names unknown layer(s) {', '.join(unknown)}; "
            f"valid layers: {', '.join(LAYERS)}"
        )
    missing = []
    for name in names:
        st = statuses.get(name)
        if st is None:
            missing.append(f"{name} (not reported)")
        elif not st.active:
            missing.append(f"{name} ({st.detail})")
    if missing:
        raise RuntimeError("required isolation layer(s) unavailable: " + "; ".join(missing))
