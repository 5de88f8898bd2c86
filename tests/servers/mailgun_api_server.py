"""A stand-in for Mailgun's regional domains APIs, on loopback (HTTP, or HTTPS with a test CA).

`FakeDomainsApi` answers `GET /v4/domains/{name}` in the documented shapes (provider-facts §1.4):
a scripted reply per domain, otherwise the `404 Domain not found` the wrong region sends. It
records every request (path and Authorization header) so tests can check what was asked and how.
Used by the client's tests, the end-to-end account audit, and the README's credentials demo.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int
    body: bytes
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass
class Seen:
    path: str
    authorization: str | None


@dataclass
class FakeDomainsApi:
    """One regional API: `replies` maps a domain name to its reply; others get the 404 Mailgun sends."""

    region: str
    replies: dict[str, Reply] = field(default_factory=dict)
    queued: dict[str, list[Reply]] = field(default_factory=dict)
    """Replies given once each, in order, before `replies` (a 429 and then the answer, say)."""
    default: Reply | None = None
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    scheme: str = "http"

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def reply_for(self, path: str) -> Reply:
        prefix = "/v4/domains/"
        name = path[len(prefix) :] if path.startswith(prefix) else ""
        if self.queued.get(name):
            return self.queued[name].pop(0)
        if name in self.replies:
            return self.replies[name]
        if self.default is not None:
            return self.default
        return Reply(404, json.dumps({"message": f"Domain not found: {name}"}).encode())


def _handler(api: FakeDomainsApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            api.seen.append(Seen(self.path, self.headers.get("Authorization")))
            reply = api.reply_for(self.path)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def start(api: FakeDomainsApi, tls: ssl.SSLContext | None = None) -> threading.Thread:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        api.scheme = "https"
    api.server = server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def stop(api: FakeDomainsApi) -> None:
    assert api.server is not None
    api.server.shutdown()
    api.server.server_close()


@dataclass
class Apis:
    us: FakeDomainsApi
    eu: FakeDomainsApi

    @property
    def base_urls(self) -> dict[str, str]:
        return {"us": self.us.base_url, "eu": self.eu.base_url}


def as_json(body: dict[str, Any], status: int = 200, delay: float = 0.0) -> Reply:
    return Reply(status, json.dumps(body).encode(), delay)


def domain_body(
    name: str,
    *,
    sending: list[dict[str, Any]],
    receiving: list[dict[str, Any]] | None = None,
    state: str = "active",
    kind: str = "custom",
    is_disabled: bool = False,
    web_prefix: str = "email",
) -> dict[str, Any]:
    """A `GET /v4/domains/{name}` body in the documented shape, with the given record objects."""
    return {
        "domain": {
            "created_at": "Tue, 14 Jul 2015 19:13:04 GMT",
            "id": "55a55f40803267158aa113e8",
            "is_disabled": is_disabled,
            "name": name,
            "require_tls": False,
            "skip_verification": False,
            "smtp_login": f"postmaster@{name}",
            "spam_action": "disabled",
            "state": state,
            "type": kind,
            "web_prefix": web_prefix,
            "web_scheme": "https",
            "wildcard": False,
        },
        "receiving_dns_records": receiving or [],
        "sending_dns_records": sending,
    }
