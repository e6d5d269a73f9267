"""`serve`: one page to draw a digit on and one JSON endpoint that runs the network on it (standard library only).

GET / is the page; POST /predict takes {"image": "data:image/png;base64,..."} (the canvas) and answers the 28x28
input, the class probabilities and every hidden layer's activations. Any other path is 404; a body over MAX_BODY
is refused (413) unread; each request must arrive within TIMEOUT seconds.
"""

import base64
import binascii
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

from mnist_scratch.use.image import ImageError, prepare
from mnist_scratch.use.predict import Predictor

MAX_BODY = 2 << 20  # a 280x280 canvas as PNG is ~10 KB; base64 of a full-colour one stays far below this
TIMEOUT = 10.0  # seconds a client may take to send its request
PNG_URL = "data:image/png;base64,"
PAGE_PATHS = ("/", "/index.html")


def page() -> bytes:
    """The drawing page (one HTML file with its script inline)."""
    return resources.files("mnist_scratch.use").joinpath("page.html").read_bytes()


def answer(predictor: Predictor, lock: threading.Lock, data: bytes) -> dict:
    """The network's view of one image: input pixels, probabilities (or the MSE output), hidden activations."""
    digit = prepare(data)
    with lock:  # the model keeps each layer's output on itself: one forward pass at a time
        g = predictor(digit.image[None])[0]
    return {"input": [[round(v, 3) for v in row] for row in digit.image.tolist()],
            "classes": list(predictor.classes), "probs": predictor.probs(g), "output": g.output,
            "top": [{"class": predictor.classes[c], "index": c, "prob": p} for c, p in g.top],
            "hidden": [[round(v, 4) for v in h] for h in g.hidden], "inverted": digit.inverted}


class Handler(BaseHTTPRequestHandler):
    """The page at /, the network at POST /predict, 404 anywhere else."""

    timeout = TIMEOUT  # socket timeout: a client that stalls mid-request is dropped
    server_version = "mnist-scratch"
    predictor: Predictor
    lock: threading.Lock
    html: bytes

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # no line per request on the terminal running the server

    def reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def error(self, code: int, message: str) -> None:
        self.close_connection = True
        self.reply(code, json.dumps({"error": message}).encode())

    def do_GET(self):
        if urlsplit(self.path).path not in PAGE_PATHS:
            return self.error(404, "not found: this server has only its page (/) and POST /predict")
        self.reply(200, self.html, "text/html; charset=utf-8")

    def do_POST(self):
        if urlsplit(self.path).path != "/predict":
            return self.error(404, "not found: POST only to /predict")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self.error(411, "a Content-Length is required")
        if int(length) > MAX_BODY:
            return self.error(413, f"request body over {MAX_BODY:,} bytes")
        body = self.rfile.read(int(length))
        try:
            req = json.loads(body)
            url = req["image"] if isinstance(req, dict) else None
            if not isinstance(url, str) or not url.startswith(PNG_URL):
                raise ValueError(f"expected {{\"image\": \"{PNG_URL}...\"}}")
            data = base64.b64decode(url[len(PNG_URL):], validate=True)
        except (ValueError, KeyError, binascii.Error, RecursionError) as e:
            return self.error(400, f"bad request: {str(e)[:200]}")
        try:
            out = answer(self.predictor, self.lock, data)
        except ImageError as e:
            return self.error(422, str(e))
        self.reply(200, json.dumps(out).encode())


class Server(ThreadingHTTPServer):
    """A thread per request; a client gone mid-answer is no error, anything else one line on stderr."""

    daemon_threads = True  # Ctrl-C never waits on a slow client

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if not isinstance(e, (ConnectionError, TimeoutError)):
            sys.stderr.write(f"error: a request from {client_address[0]} failed: {type(e).__name__}: {e}\n")


def make_server(predictor: Predictor, host: str, port: int) -> Server:
    """A server bound to host:port (0: a free port) serving predictor; call serve_forever, then server_close."""
    handler = type("BoundHandler", (Handler,), {"predictor": predictor, "lock": threading.Lock(), "html": page()})
    return Server((host, port), handler)
