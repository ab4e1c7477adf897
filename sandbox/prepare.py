"""A fresh child's preparation before it says `ready`: confinement, then a warm-up run.

Everything here runs after the fork and before the child's first `recv`, so it is off the
critical path of an execution but is still CPU each execution pays (mostly pages the child
writes, each copied on first write). `child.serve_one` calls `prepare_child` first.
"""

from __future__ import annotations

from typing import Any

from sandbox import isolation, runner
from sandbox.limits import Limits
from sandbox.messages import Reply, Run
from sandbox.surface import SurfaceSpec

# What every execution runs through: compile, the script's globals, run, result, `done` frame.
# The zygote already ran the full warm-up (runner.warm_up) once, so lazy imports and caches are
# in the pages every child shares; what a child pays here is the pages it writes, each copied
# on first write. This script writes only those of the path every script takes (about 250
# pages against 520 for the full warm-up): a script that uses more (async, json, the client)
# copies the rest when it runs.
_WARM_UP_SCRIPT = "x = [1 + 1]\nx"


def warm_up(spec: SurfaceSpec) -> None:
    request = Run(op="run", code=_WARM_UP_SCRIPT, inputs={}, limits=Limits(), host_functions=[])
    state = runner.RunState(request.code, request.limits)
    runner.execute(request, spec, lambda name, payload: Reply(id=0, ok=True), state).encode()


def prepare_child(fd: int, spec: SurfaceSpec, statuses: dict[str, Any]) -> None:
    """Confine the child on its channel `fd` (the only descriptor it keeps), then warm it."""
    isolation.enter_child(fd, statuses)
    warm_up(spec)
