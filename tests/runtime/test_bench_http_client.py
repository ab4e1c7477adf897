"""The throughput bench's raw client: a server closing the connection after an answer is an
error counted and a new connection, never a client that ends without printing its counts."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bench import http_client


def one_answer_per_connection(listener: socket.socket, stop: threading.Event) -> None:
    body = b'{"status": "ok"}'
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    listener.settimeout(0.05)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            data = b""
            while not data.endswith(b'"x = 1 + 1"}'):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(answer)


def test_a_closed_connection_is_an_error_and_the_client_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    server = threading.Thread(target=one_answer_per_connection, args=(listener, stop))
    server.start()
    try:
        port = listener.getsockname()[1]
        http_client.main([f"http://127.0.0.1:{port}", str(time.time()), "0.3", "", "raw"])
    finally:
        stop.set()
        server.join(5)
        listener.close()
    ok, errors = map(int, capsys.readouterr().out.split())
    assert ok >= 2 and errors >= 1
