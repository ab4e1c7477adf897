"""A compromised sandbox child, for driving the host with arbitrary frames.

`script(body)` is unrestricted CPython for a raw-mode child (sandbox/selftest.py's RawSandbox):
it finds its own channel object through `gc`, as an escaped script would, and then writes
whatever bytes `body` says on the channel's socket. `CountingHost` is a host function that counts
the calls the host actually served, so a test reads the limit on the host's side.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

from runtime.executions.outcome import ExecuteResponse
from sandbox.result import ExecutionResult

PRELUDE = """
import gc, json, os, struct, time
channel = next(o for o in gc.get_objects() if type(o).__name__ == "Channel")
sock = channel.sock

def send(body):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    sock.sendall(struct.pack(">I", len(body)) + body)

def call(i, args=None, wait=True):
    send(json.dumps({"t": "call", "id": i, "fn": "client", "args": args}))
    return channel.reader.recv() if wait else None

def done(**fields):
    send(json.dumps({"t": "done", "status": "ok", **fields}, allow_nan=True))

def vanish():  # nothing more from this child: the host decides on what it has
    os._exit(0)
"""


def script(body: str) -> str:
    return PRELUDE + "\n" + body


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def send_bodies(*bodies: bytes) -> str:
    """A script that sends these frame bodies, as they are, then exits."""
    return script("".join(f"send({b!r})\n" for b in bodies) + "vanish()\n")


class CountingHost:
    """A host function that counts what the host served (the limit is read here, not in the
    child)."""

    def __init__(self) -> None:
        self.served = 0

    async def __call__(self, args: Any) -> Any:
        self.served += 1
        await asyncio.sleep(0)
        return {"n": self.served}


class InstantHost(CountingHost):
    """A host function that returns without waiting: the host answers it in the callback that
    read the call, not in the execution's task. `args['pad']` characters pad the reply."""

    async def __call__(self, args: Any) -> Any:
        self.served += 1
        pad = args.get("pad", 0) if isinstance(args, dict) else 0
        return {"n": self.served, "pad": "x" * int(pad)}


def assert_strict_result(result: ExecutionResult) -> None:
    """What the host hands on is strict JSON and a valid API response: never a 500 downstream."""
    body = {**result.to_json(), "execution_id": "exe_test"}
    json.dumps(body, allow_nan=False).encode("utf-8")  # no NaN, no lone surrogate
    ExecuteResponse.model_validate(body)
