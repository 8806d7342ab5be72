"""`taizhang serve` cuts off a client that sends its request head too slowly (slowloris), while
a normal request on the same server is answered. A real server on 127.0.0.1, a raw socket."""

import os
import pathlib
import socket
import subprocess
import sys

import pytest

from taizhang.datadir import DataDir, init

pytestmark = pytest.mark.fast
TAIZHANG = str(pathlib.Path(sys.executable).with_name("taizhang"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    data_dir = DataDir.resolve(tmp_path / "data")
    init(data_dir)
    port = _free_port()
    env = {**os.environ, "TAIZHANG_HEADER_TIMEOUT": "1"}
    process = subprocess.Popen([TAIZHANG, "serve", "--data-dir", str(data_dir.path), "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for line in process.stdout:   # uvicorn says when it listens
            if b"Uvicorn running" in line:
                break
        else:
            pytest.fail("the server did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _request(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /-/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return s.recv(64)


def test_a_client_trickling_its_headers_is_cut_off(server):
    assert _request(server).startswith(b"HTTP/1.1 200")
    head = b"GET /-/login HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 400
    with socket.create_connection(("127.0.0.1", server), timeout=0.05) as s:
        answer = b""
        for byte in head:   # bounded: 440 bytes, 50 ms apart at most — 22 s against a 1 s limit
            try:
                s.send(bytes([byte]))
                answer += s.recv(256)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not answer or answer.startswith(b"HTTP/1.1 408"):
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert _request(server).startswith(b"HTTP/1.1 200")   # the server still serves others
