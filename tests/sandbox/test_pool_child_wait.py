"""An execution cancelled while it waits for a child: if the child is handed over in the same
turn as the cancellation, the cancellation still ends the wait, and the child, nobody's now, is
killed and its descriptors closed."""

from __future__ import annotations

import asyncio
import subprocess

from descriptors import children_message, copies, fake_zygote


async def test_a_child_handed_over_as_its_waiter_is_cancelled_is_killed_and_closed() -> None:
    stand_in = subprocess.Popen(["sleep", "60"])  # the child's process, ours to kill
    with fake_zygote() as z:
        taking = asyncio.create_task(z.pool._take_child())
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            assert z.pool._child_waiters  # it waits for a child
            z.says(children_message(b"%d" % stand_in.pid), 1)  # the child is handed over ...
            taking.cancel()  # ... and the execution is cancelled in the same turn
            done, _ = await asyncio.wait([taking], timeout=10)  # a guard against hanging
            assert taking in done and taking.cancelled()
            assert copies(z.channel) == 1  # the host's end it was handed is closed
            assert await asyncio.to_thread(stand_in.wait, 10) == -9  # killed
        finally:
            if not taking.done():
                taking.cancel()
            stand_in.kill()
            stand_in.wait()


async def test_a_waiter_that_gave_up_no_longer_counts_as_a_child_missing() -> None:
    # Cancelled (its client went away) or timed out: the pool must not go on asking for a
    # child for it.
    with fake_zygote() as z:
        z.pool.warm = 0
        taking = asyncio.create_task(z.pool._take_child())
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(z.pool._child_waiters) == 1 and z.pool._missing() == 1
        taking.cancel()
        done, _ = await asyncio.wait([taking], timeout=10)  # a guard against hanging
        assert taking in done and taking.cancelled()
        assert not z.pool._child_waiters and z.pool._missing() == 0
