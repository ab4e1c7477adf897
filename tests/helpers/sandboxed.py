"""`sandboxed(code)`: one execution in this process, as a child runs it (the policy, the guards
and the facades; no fork, no confinement), for tests that compare the language with CPython's."""

from __future__ import annotations

import json
from typing import Any

from sandbox import runner
from sandbox.limits import Limits
from sandbox.messages import Reply, Run
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json({})


def sandboxed(code: str) -> tuple[Any, str, str | None]:
    """(result, stdout, error type) of `code`; host calls answer None."""
    request = Run(op="run", code=code, inputs={}, limits=Limits(), host_functions=[])
    state = runner.RunState(code, request.limits)
    done = runner.execute(request, SPEC, lambda name, payload: Reply(id=0, ok=True), state)
    assert done.status != "rejected", done.error
    error = done.error.type if done.error is not None else None
    return json.loads(done.result or "null"), done.stdout, error
