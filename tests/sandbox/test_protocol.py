"""Frames on the child's socket: whole, split, several per read, oversized, truncated."""

from __future__ import annotations

import socket
import threading

import pytest

from sandbox import protocol


def test_reader_takes_frames_split_across_reads_and_several_in_one():
    host, child = socket.socketpair()
    reader = protocol.Reader(child)
    one, two = protocol.encode({"t": "reply", "id": 1}), protocol.encode({"t": "reply", "id": 2})
    host.sendall(one[:3])  # not even a whole header yet

    def rest() -> None:
        host.sendall(one[3:] + two)

    threading.Timer(0.05, rest).start()
    assert reader.recv() == {"t": "reply", "id": 1}
    assert reader.recv() == {"t": "reply", "id": 2}
    host.close()
    with pytest.raises(EOFError):
        reader.recv()


def test_frame_buffer_says_when_a_frame_is_incomplete_and_refuses_oversized_ones():
    buffer = protocol.FrameBuffer(max_frame=64)
    data = protocol.encode({"t": "done"})
    assert buffer.feed(data[:-1]) == [] and buffer.partial
    assert buffer.feed(data[-1:]) == [{"t": "done"}] and not buffer.partial
    with pytest.raises(protocol.ProtocolError, match="over the limit"):
        buffer.feed(protocol.HEADER.pack(65) + b" " * 65)


def test_a_frame_that_is_not_json_is_a_protocol_error():
    buffer = protocol.FrameBuffer()
    with pytest.raises(protocol.ProtocolError, match="not valid JSON"):
        buffer.feed(protocol.HEADER.pack(3) + b"{x}")
