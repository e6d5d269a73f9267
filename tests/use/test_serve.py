"""`serve`'s HTTP surface against a server on 127.0.0.1: the page, the endpoint, and everything it refuses."""

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from userun import digit_image, png_bytes, save_run

from mnist_scratch.use import serve
from mnist_scratch.use.predict import Predictor


@pytest.fixture
def server(tmp_path):
    """A server of a small run on a free port, in a thread; stopped after the test."""
    srv = serve.make_server(Predictor(save_run(tmp_path, nh=(20, 10))), "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(5)


def call(srv, method, path, body=None, headers=None):
    """(status, body) of one request; the path is sent exactly as given."""
    c = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def image_json(img) -> bytes:
    return json.dumps({"image": serve.PNG_URL + base64.b64encode(png_bytes(img)).decode()}).encode()


def test_the_page_and_a_prediction(server):
    status, body = call(server, "GET", "/")
    assert status == 200 and b"<canvas id=\"pad\"" in body and b"fetch(\"predict\"" in body
    status, body = call(server, "POST", "/predict", image_json(digit_image()))
    assert status == 200
    out = json.loads(body)
    assert len(out["input"]) == 28 and all(len(r) == 28 for r in out["input"])
    assert sum(out["probs"]) == pytest.approx(1, abs=1e-5) and len(out["classes"]) == 10
    assert out["top"][0]["prob"] == pytest.approx(max(out["probs"]), abs=1e-6)
    assert [len(h) for h in out["hidden"]] == [20, 10] and min(min(h) for h in out["hidden"]) >= 0


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/page.html", "/serve.py",
                                  "//etc/passwd", "/predict/../", "/favicon.ico", "/index.html/.."])
def test_nothing_but_the_page_is_served(server, path):
    status, body = call(server, "GET", path)
    assert status == 404 and b"root:" not in body and b"import" not in body


@pytest.mark.parametrize("body, why", [
    (b"{not json", "bad request"),
    (b"[1, 2]", "expected"),
    (b'{"image": 3}', "expected"),
    (b'{"image": "data:image/png;base64,@@@@"}', "bad request"),
    (b"{" * 100_000 + b"}" * 100_000, "bad request"),  # nested past the recursion limit
])
def test_malformed_requests_get_400(server, body, why):
    status, out = call(server, "POST", "/predict", body)
    assert status == 400 and why in json.loads(out)["error"]


def test_a_blank_canvas_is_422_and_posting_elsewhere_404(server):
    status, out = call(server, "POST", "/predict", image_json(digit_image(ink=255)))
    assert status == 422 and "one flat colour" in json.loads(out)["error"]
    assert call(server, "POST", "/", image_json(digit_image()))[0] == 404


def test_oversized_or_unsized_bodies_are_refused_unread(server):
    s = socket.create_connection(server.server_address[:2], timeout=10)
    with s:  # a length over the limit, and no body: the answer comes without waiting for one
        s.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {serve.MAX_BODY + 1}\r\n\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.0 413")
    s = socket.create_connection(server.server_address[:2], timeout=10)
    with s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.0 411")


def test_a_client_that_stalls_is_dropped(server, monkeypatch):
    monkeypatch.setattr(serve.Handler, "timeout", 0.5)
    s = socket.create_connection(server.server_address[:2], timeout=10)
    with s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # 99 bytes never come
        t = time.monotonic()
        assert s.recv(100) == b""  # closed by the server
        assert time.monotonic() - t < 5
    assert call(server, "GET", "/")[0] == 200  # and it still serves others


def test_cli_prints_its_url_serves_and_stops_on_ctrl_c_with_130(tmp_path):
    save_run(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, "-m", "mnist_scratch", "serve", str(tmp_path / "run")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("serving ") and "http://127.0.0.1:" in line, p.stderr.read() if not line else line
        url = line.split(" at ")[1].split()[0]
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/")
        assert c.getresponse().status == 200
        c.close()
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 130 and p.stderr.read().strip() == "interrupted"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
