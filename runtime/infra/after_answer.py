"""What a `/v1` request's answer does not wait for: run at the door once the answer is sent.

An execution's figures and its "execution finished" line (runtime/executions/recorder.py) are
`defer`red while a `/v1` request is at the door (runtime/adapters/http/door.py), which runs them
once the app has sent its answer (`terrarium serve` writes an answer as soon as its last byte is
written: runtime/adapters/http/serving.py), before its own access line and HTTP metrics: the
lines keep their order (the execution's, then the request's) and the figures are counted before
the request ends. Where no door waits (MCP, a queued run, an in-process caller), or once the door
has run what was deferred (a task the request started may outlive it), deferred work runs at
once. Everything here happens on the event loop's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar

log = logging.getLogger("terrarium.http")


class AfterAnswer:
    """One request's deferred work, run once by `run`."""

    __slots__ = ("_work", "_open")

    def __init__(self) -> None:
        self._work: list[Callable[[], None]] = []
        self._open = True

    def run(self) -> None:
        """Run what was deferred, in order; what is deferred from now on runs at once."""
        self._open = False
        work, self._work = self._work, []
        for each in work:
            try:
                each()
            except Exception:  # never a reason to lose the others, or the access line
                log.exception("work deferred after an answer failed")


# The request at the door whose answer deferred work waits for (set by the door).
waiting: ContextVar[AfterAnswer | None] = ContextVar("terrarium_after_answer", default=None)


def defer(work: Callable[[], None]) -> None:
    """`work` once the request's answer is sent (at the door), or now when no door waits."""
    after = waiting.get()
    if after is not None and after._open:
        after._work.append(work)
    else:
        work()
