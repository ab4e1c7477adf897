"""Frames on the child's socket: whole, split, several per read, oversized, truncated."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from sandbox import protocol


def test_reader_takes_frames_split_across_reads_and_several_in_one():
    host, child = socket.socketpair()
    reader = protocol.Reader(child)
    one, two = protocol.frame(b'{"t":"reply","id":1}'), protocol.frame(b'{"t":"reply","id":2}')
    host.sendall(one[:3])  # not even a whole header yet

    def rest() -> None:
        host.sendall(one[3:] + two)

    threading.Timer(0.05, rest).start()
    assert reader.recv() == {"t": "reply", "id": 1}
    assert reader.recv() == {"t": "reply", "id": 2}
    host.close()
    with pytest.raises(EOFError):
        reader.recv()


def test_frame_buffer_says_when_a_frame_is_incomplete_and_hands_out_raw_bodies():
    buffer = protocol.FrameBuffer(max_frame=64)
    data = protocol.frame(b'{"t":"done"}')
    assert buffer.feed(data[:-1]) == [] and buffer.partial
    assert buffer.feed(data[-1:]) == [b'{"t":"done"}'] and not buffer.partial


def test_an_oversized_frame_is_refused_from_its_header_before_its_body_is_buffered():
    buffer = protocol.FrameBuffer(max_frame=64)
    with pytest.raises(protocol.ProtocolError, match="over the 64-byte cap"):
        buffer.feed(protocol.HEADER.pack(65))  # the header alone: no body was sent or kept


def test_only_a_done_frame_may_be_larger_than_the_small_frame_cap():
    body = b'{"t":"done","stdout":"' + b"x" * 200 + b'"}'
    whole = protocol.HEADER.pack(len(body)) + body
    assert protocol.FrameBuffer(max_frame=1024, max_small=64).feed(whole) == [body]
    for kind in (b"call", b"ready", b"don", b"donex"):
        other = body.replace(b'"done"', b'"' + kind + b'"', 1)
        frame = protocol.HEADER.pack(len(other)) + other
        buffer = protocol.FrameBuffer(max_frame=1024, max_small=64)
        with pytest.raises(protocol.ProtocolError, match="other than 'done'"):
            buffer.feed(frame[:20])  # refused from its opening bytes, before the rest arrives


def test_the_childs_reader_refuses_a_frame_that_is_not_json():
    host, child = socket.socketpair()
    host.sendall(protocol.HEADER.pack(3) + b"{x}")
    with pytest.raises(protocol.ProtocolError, match="not valid JSON"):
        protocol.Reader(child).recv()


@pytest.mark.parametrize("body", [b"", b" ", b'{"t":"reply"} ', b'{"t":"reply"}{}', b"nul",
                                  b'{"a":1', b"\xff", b' {"t":"reply"}'])  # fmt: skip
def test_the_childs_decoder_takes_one_whole_value_and_nothing_else(body):
    with pytest.raises(protocol.ProtocolError, match="not valid JSON"):
        protocol.decode_body(body)


def test_the_childs_decoder_reads_what_the_host_encodes():
    body = b'{"t":"reply","id":1,"ok":true,"value":{"a":[1,2.5,"\\u00e9",null,false]}}'
    assert protocol.decode_body(body) == json.loads(body)


@pytest.mark.parametrize("body", [b'{"a":', b"[1,", b'{"a":x}', b"", b"[", b'{"t":"reply"}{}'])
def test_the_childs_decoder_says_what_json_says_and_where(body):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(body.decode())
    with pytest.raises(protocol.ProtocolError) as got:
        protocol.decode_body(body)
    assert str(got.value) == f"frame is not valid JSON: {expected.value}"
