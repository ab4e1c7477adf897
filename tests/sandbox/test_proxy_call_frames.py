"""The call frames the client proxy sends are the bytes the standard encoder makes of the call:
a call with no arguments (its payload encoded once, `messages.EncodedArgs`) as well as any
other, through a compiled script (`runner.execute`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from client_surface.table import sandbox_spec
from sandbox import runner
from sandbox.limits import Limits
from sandbox.messages import EncodedArgs, Reply, Run, encode_call
from sandbox.surface import SurfaceSpec

SPEC = SurfaceSpec.from_json(sandbox_spec())
BARE = [
    name
    for name, m in SPEC.methods.items()
    if not m.filled and not any(p.required for p in m.params)
]


def _standard(call_id: int, payload: Any) -> bytes:
    message = {"t": "call", "id": call_id, "fn": "client", "args": payload}
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def _frames(code: str, value: Any = None) -> list[tuple[bytes, Any]]:
    """Each call frame a script's calls made, and the payload it was made from."""
    sent: list[tuple[bytes, Any]] = []

    def host_call(name: str, payload: Any) -> Reply:
        sent.append((encode_call(len(sent) + 1, name, payload), payload))
        return Reply(id=len(sent), ok=True, value=value)

    request = Run(op="run", code=code, inputs={}, limits=Limits(), host_functions=[])
    done = runner.execute(request, SPEC, host_call, runner.RunState(code, request.limits))
    assert done.status == "ok", done.error
    return sent


@pytest.mark.parametrize("name", BARE)
def test_a_call_with_no_arguments_sends_what_the_standard_encoder_makes(name: str) -> None:
    sent = _frames(f"client.{name}()\nclient.{name}()\n")
    assert len(sent) == 2
    for call_id, (body, payload) in enumerate(sent, 1):
        assert payload == {"method": name, "arguments": {}}
        assert body == _standard(call_id, {"method": name, "arguments": {}})


def test_calls_with_arguments_are_encoded_as_they_are_made() -> None:
    code = (
        "client.workspaces.list()\n"
        "client.generations.retrieve('run_abc123')\n"
        "client.projects.list(workspace_id='ws_\u00e9', limit=3)\n"
        "client.workspaces.list()\n"
    )
    sent = _frames(code)
    payloads = [
        {"method": "workspaces.list", "arguments": {}},
        {"method": "generations.retrieve", "arguments": {"run_id": "run_abc123"}},
        {"method": "projects.list", "arguments": {"workspace_id": "ws_\u00e9", "limit": 3}},
        {"method": "workspaces.list", "arguments": {}},
    ]
    assert [p for _, p in sent] == payloads
    assert [b for b, _ in sent] == [_standard(i, p) for i, p in enumerate(payloads, 1)]
    assert type(sent[1][1]) is dict and type(sent[0][1]) is EncodedArgs


def test_a_page_asked_for_by_cursor_sends_its_arguments_with_the_cursor() -> None:
    page = {"models": [{"model_id": "m"}], "meta": {"next_cursor": "c2"}}
    sent = _frames("p = client.models.list()\np.get_next_page()\n", value=page)
    assert [p for _, p in sent] == [
        {"method": "models.list", "arguments": {}},
        {"method": "models.list", "arguments": {"cursor": "c2"}},
    ]
    assert sent[1][0] == _standard(2, {"method": "models.list", "arguments": {"cursor": "c2"}})


def test_encoded_args_carry_the_standard_text() -> None:
    values: list[dict[str, Any]] = [
        {},
        {"method": "a.b", "arguments": {}},
        {"s": '\u00e9\n"\u2028', "n": None},
    ]
    for value in values:
        encoded = EncodedArgs(value)
        assert encoded == value
        assert encode_call(3, "client", encoded, True) == encode_call(3, "client", value, True)


def test_encoded_args_refuse_every_change() -> None:
    """Its JSON text is made once: a change would leave the text sent out of date, so every
    way of changing a dict raises and the value stays as it was made."""
    encoded = EncodedArgs({"method": "a.b", "arguments": {}})
    changes = [
        lambda: encoded.__setitem__("method", "c.d"),
        lambda: encoded.__delitem__("method"),
        lambda: encoded.update(method="c.d"),
        lambda: encoded.setdefault("x", 1),
        lambda: encoded.pop("method"),
        lambda: encoded.popitem(),
        lambda: encoded.clear(),
        lambda: encoded.__ior__({"method": "c.d"}),
    ]
    for change in changes:
        with pytest.raises(TypeError, match="cannot change"):
            change()
    assert encoded == {"method": "a.b", "arguments": {}}
    assert encode_call(1, "client", encoded) == _standard(1, {"method": "a.b", "arguments": {}})


def test_encoded_args_are_copied_whole_and_the_proxys_inner_arguments_refuse_change() -> None:
    import copy
    import pickle

    encoded = EncodedArgs({"method": "a.b", "arguments": EncodedArgs({})})
    for twin in (copy.copy(encoded), copy.deepcopy(encoded), pickle.loads(pickle.dumps(encoded))):
        assert type(twin) is EncodedArgs and twin == encoded and twin.text == encoded.text
    frames = _frames("client.workspaces.list()\nclient.workspaces.list()", {"workspaces": []})
    sent = [payload for _, payload in frames]
    assert all(type(p["arguments"]) is EncodedArgs for p in sent), sent
    with pytest.raises(TypeError, match="cannot change"):
        sent[0]["arguments"]["workspace_id"] = "x"
