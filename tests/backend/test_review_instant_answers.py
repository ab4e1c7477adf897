"""What a create answers does not depend on whether its run was completed in the transaction
that started it (an instant backend, an output that draws nothing) or is finalized afterwards:
`techniques.runs.create` answers the Run as it started (pending, to poll), as docs/flora.md says,
and a poll shows its outcome."""

from __future__ import annotations

BODY = {"inputs": [{"id": "product", "type": "text", "value": "a blue mug"}], "mode": "async"}


async def test_a_technique_run_completed_as_it_starts_is_answered_pending(new_backend, raw_for):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        first = await raw.post("techniques/product-shot/runs", json=BODY)
        assert first.status_code == 200, first.text
        await backend.run_engine().finalize(first.json()["run_id"])  # its file is made now
        second = await raw.post("techniques/product-shot/runs", json=BODY)  # the same inputs
        assert second.status_code == 200, second.text
        answers = [first.json(), second.json()]
        for answer in answers:
            assert answer["status"] == "pending" and answer["progress"] == 0, answer
            assert "outputs" not in answer and "completed_at" not in answer, answer
        assert set(answers[0]) == set(answers[1])
        polled = (await raw.get(f"runs/{answers[1]['run_id']}")).json()
        assert polled["status"] == "completed" and polled["outputs"], polled
        assert polled["created_at"] == answers[1]["created_at"]
