"""A real HTTPS server on 127.0.0.1 (port 0) serving MTA-STS policies per Host header, with a trustme CA.

`PolicyServer({host: Reply})` answers `GET /.well-known/mta-sts.txt` for each policy host with the
given status, headers and body (after `delay` seconds); hosts not in the certificate's names get
the same certificate, so a client that verifies sees a hostname mismatch.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import trustme


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (body cap) or reject the certificate are expected here."""

    def handle_error(self, request: object, client_address: object) -> None:
        return


@dataclass(frozen=True)
class Reply:
    """What the server sends for one policy host."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})
    delay: float = 0.0


class PolicyServer:
    """Context-managed HTTPS server; `ca_file` is the PEM a client must trust."""

    def __init__(self, replies: dict[str, Reply], cert_hosts: list[str], tmp_dir: Path) -> None:
        self.replies = replies
        self.requests: list[str] = []
        ca = trustme.CA()
        self.ca_file = tmp_dir / "policy-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*cert_hosts).configure_cert(context)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so a client could reuse a connection

            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                server.requests.append(host)
                reply = server.replies.get(host) if self.path == "/.well-known/mta-sts.txt" else None
                if reply is None:
                    reply = Reply(b"not found", 404)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def __enter__(self) -> PolicyServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
