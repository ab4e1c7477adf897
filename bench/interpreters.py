"""The sandbox path (zygote and children) on each CPython >= 3.11 this machine has, side by side.

The host stays on this interpreter; only the zygote, and so every child, runs on the other one
(`WarmPool(python=...)`). A zygote needs RestrictedPython, greenlet and pyseccomp: for each
other interpreter a small venv under .cache/bench-python/<version> gets the versions this one
has (made once, reused by later runs). An interpreter whose venv cannot be made is reported,
not measured.
"""

from __future__ import annotations

import asyncio
import glob
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".cache" / "bench-python"
ZYGOTE_DEPS = ("RestrictedPython", "greenlet", "pyseccomp")


@dataclass
class Figures:
    version: str
    python: str
    note: str = ""
    zygote_ms: float = float("nan")
    child_ms: float = float("nan")
    host_ms: float = float("nan")
    wall_ms: float = float("nan")
    refilled_ms: list[float] = field(default_factory=list)
    warm_uss_kb: float = float("nan")

    @property
    def total_ms(self) -> float:
        return self.zygote_ms + self.child_ms + self.host_ms


def _version(python: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor, micro = (int(x) for x in out.split())
    return major, minor, micro


def interpreters() -> list[tuple[str, str]]:
    """(version, executable) of this interpreter and of every other CPython >= 3.11 found
    (pyenv's versions, python3.N on PATH), one per minor version, newest micro first. A build
    of this interpreter's own minor version found elsewhere (a distribution's, often built
    with profile-guided optimization and link-time optimization) is measured too, under its
    path: the build, not only the version, sets the CPU a child costs."""
    mine = ".".join(map(str, sys.version_info[:3]))
    found: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}
    same_minor: dict[tuple[int, int, int], str] = {}
    own_build = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    for minor in range(11, 20):
        candidates += [f"/usr/bin/python3.{minor}", f"/usr/local/bin/python3.{minor}"]
    for python in candidates:
        if not os.access(python, os.X_OK):
            continue
        v = _version(python)
        if v is None or v < (3, 11):
            continue
        if v[:2] == sys.version_info[:2]:
            if os.path.realpath(python) != own_build and v != sys.version_info[:3]:
                same_minor.setdefault(v, python)
            continue
        if v[:2] not in found or found[v[:2]][0] < v:
            found[v[:2]] = (v, python)
    out = [(mine, sys.executable)]
    out += [(".".join(map(str, v)), python) for v, python in sorted(same_minor.items())]
    out += [(".".join(map(str, v)), python) for v, python in sorted(found.values())]
    return out


def zygote_python(version: str, base: str) -> str:
    """An interpreter of `base`'s version that can run the zygote: this one, or a venv."""
    if base == sys.executable:
        return base
    venv = VENVS / version
    python = str(venv / "bin" / "python")
    check = [python, "-c", "import RestrictedPython, greenlet, pyseccomp"]
    if os.access(python, os.X_OK) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    pins = [f"{name}=={metadata.version(name)}" for name in ZYGOTE_DEPS]
    subprocess.run([python, "-m", "pip", "install", "-q", *pins], check=True, timeout=600,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    subprocess.run(check, check=True, capture_output=True, timeout=60)
    return python


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(spec: dict[str, Any], figures: Figures, python: str, n: int) -> None:
    from bench import memory
    from sandbox.pool import WarmPool

    pool = WarmPool(spec, python=python)
    await pool.start()

    async def refill() -> None:
        end = time.monotonic() + 10
        while len(pool._idle) < pool.warm and time.monotonic() < end:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)

    try:
        await refill()
        for _ in range(20):
            await pool.execute("x = 1 + 1")
        await refill()
        await asyncio.sleep(0.3)
        figures.warm_uss_kb = statistics.median(
            memory.rollup(c.pid).get("uss", 0) for c in list(pool._idle)
        )
        assert pool._proc is not None
        zygote = pool._proc.pid
        # The zygote holds exit reports until it next sends children: ask for them, so the
        # warm-up's figures are in before the clear and every measured child's before the read.
        pool.ask_for_exit_reports()
        await asyncio.sleep(0.05)
        pool.child_cpu_ms.clear()
        z0, h0, t0 = _proc_cpu_s(zygote), time.process_time(), time.perf_counter()
        for _ in range(n):
            result = await pool.execute("x = 1 + 1")
            assert result.status == "ok", result.error
        wall = time.perf_counter() - t0
        await refill()
        pool.ask_for_exit_reports()
        await asyncio.sleep(0.05)
        z1, h1 = _proc_cpu_s(zygote), time.process_time()
        child = list(pool.child_cpu_ms)
        figures.zygote_ms = (z1 - z0) / n * 1000
        figures.child_ms = statistics.median(child) if child else float("nan")
        figures.host_ms = (h1 - h0) / n * 1000
        figures.wall_ms = wall / n * 1000
        for _ in range(max(10, n // 5)):
            await refill()
            t = time.perf_counter()
            await pool.execute("x = 1 + 1")
            figures.refilled_ms.append((time.perf_counter() - t) * 1000)
    finally:
        await pool.stop()


def measure(spec: dict[str, Any], n: int, others: bool = True) -> list[Figures]:
    """One row per interpreter (only the running one unless `others`); the pools run one after
    another."""
    rows = []
    for version, base in interpreters():
        if not others and base != sys.executable:
            continue
        figures = Figures(version, base)
        try:
            python = zygote_python(version, base)
        except (OSError, subprocess.SubprocessError) as exc:
            figures.note = f"no venv with the zygote's dependencies: {type(exc).__name__}"
            rows.append(figures)
            continue
        asyncio.run(_measure(spec, figures, python, n))
        rows.append(figures)
    return rows
