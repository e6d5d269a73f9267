"""A local HTTP server on 127.0.0.1 (port 0) serving fake mirrors and a simple package index, for tests."""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path answers: body with status, or a body cut after drop_after bytes (connection dropped), or a
    hostile body: one byte every drip seconds, or body followed by zeros without end (endless, no Content-Length);
    either stops after LIMIT_S seconds or LIMIT_BYTES bytes so a test against a client without bounds ends too."""

    body: bytes = b""
    status: int = 200
    drop_after: int | None = None
    content_type: str = "application/octet-stream"
    drip: float | None = None
    endless: bool = False
    headers: dict = field(default_factory=dict)  # extra headers, e.g. {"Content-Encoding": "gzip"}


LIMIT_S, LIMIT_BYTES = 30.0, 64 << 20


class MirrorServer:
    """Serves routes {path: Route}; counts hits; use as a context manager."""

    def __init__(self, routes: dict[str, Route] | None = None):
        self.routes: dict[str, Route] = dict(routes or {})
        self.hits: Counter = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                server.hits[path] += 1
                route = server.routes.get(path)
                if route is None or route.status != 200:
                    self.send_error(404 if route is None else route.status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                if not route.endless:
                    self.send_header("Content-Length", str(len(route.body)))
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if route.drip is not None or route.endless:
                    self._hostile(route)
                elif route.drop_after is None:
                    self.wfile.write(route.body)
                else:
                    self.wfile.write(route.body[: route.drop_after])
                    self.wfile.flush()
                    self.close_connection = True

            def _hostile(self, route: Route) -> None:
                """Drip the body a byte at a time, or send it and then zeros, until a limit or the client leaves."""
                end, sent = time.monotonic() + LIMIT_S, 0
                pieces = (route.body[i : i + 1] for i in range(len(route.body))) if route.drip is not None else \
                    iter([route.body])
                try:
                    while time.monotonic() < end and sent < LIMIT_BYTES:
                        piece = next(pieces, None)
                        if piece is None:
                            if not route.endless:
                                return
                            piece = bytes(64 << 10)
                        self.wfile.write(piece)
                        self.wfile.flush()
                        sent += len(piece)
                        if route.drip is not None:
                            time.sleep(route.drip)
                except OSError:  # the client went away: what a bounded client does
                    pass
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "/") -> str:
        """Absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def add_index(self, project: str, filename: str, body: bytes, sha256: str | None) -> str:
        """Serve a PEP 503 simple-index page for project listing filename, and the file; return the index URL."""
        frag = f"#sha256={sha256}" if sha256 else ""
        norm = project.lower().replace("_", "-")
        page = f'<html><body><a href="/files/{filename}{frag}">{filename}</a></body></html>'
        self.routes[f"/simple/{norm}/"] = Route(page.encode(), content_type="text/html")
        self.routes[f"/files/{filename}"] = Route(body)
        return self.url("/simple/")

    def __enter__(self) -> "MirrorServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
