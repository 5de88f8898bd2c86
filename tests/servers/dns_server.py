"""A real, in-process, authoritative DNS server for tests.

Why this exists: sendready's auditor talks DNS, and mocking the resolver hides exactly the
behaviour we need to test (truncation and TCP fallback, CNAME chains, NXDOMAIN vs NODATA,
SERVFAIL/timeouts, how many queries a run really sends).  Instead, tests start this server on
127.0.0.1, point a resolver at ``server.host``/``server.port`` and get genuine wire-format
answers, built with dnspython's message API from BIND master-file zone text.

It is deliberately small (no delegations/referrals, no zone transfers) but follows
authoritative-server semantics for everything it does answer:

* the zone chosen is the one whose origin is the longest suffix of the query name; names in
  no loaded zone get REFUSED;
* answers carry AA; CNAMEs are chased through any loaded zone (at most 8 hops);
* NXDOMAIN and NODATA (including empty non-terminals) carry the zone SOA in AUTHORITY; a zone
  without SOA gets a synthesised one for that purpose;
* over UDP, responses larger than the client's limit (512, or its EDNS payload capped at 4096)
  are sent with TC=1 and no records; over TCP the full answer is always sent;
* wildcards are expanded as RFC 4592 §4.3 says: a name that does not exist is answered from
  `*.<closest encloser>` when that exists, with the queried name as owner (no NSEC proofs);
* faults (SERVFAIL, REFUSED, silent drop, forced truncation) can be injected per name/type at
  runtime, and every query received is recorded so tests can count them;
* signed zones (dnspython's ``sign_zone``) are served as a validating resolver would see them:
  DS is answered from the parent zone when both are loaded (RFC 4035 §3.1.4.1), and with the DO
  bit set each answer RRset comes with its RRSIGs and a negative answer with the SOA's RRSIG and
  the NSEC (or NSEC3) records that prove it, signed.

It can also be run by hand::

    python -m tests.servers.dns_server --zone-dir DIR [--port N]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ipaddress
import logging
import re
import selectors
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

__all__ = ["FAULTS", "LoopbackDnsServer", "QueryRecord"]

log = logging.getLogger(__name__)

#: Fault kinds accepted by :meth:`LoopbackDnsServer.set_fault`.
FAULTS: frozenset[str] = frozenset({"servfail", "refused", "timeout", "truncate"})

#: One received query: ``(transport, qname lower-case without trailing dot, rdtype text)``.
QueryRecord = tuple[str, str, str]

_MAX_CNAME_HOPS = 8
_UDP_DEFAULT_LIMIT = 512
_UDP_MAX_PAYLOAD = 4096
_TCP_LIMIT = 65535
_TCP_IDLE_TIMEOUT = 30.0
_BIND_ATTEMPTS = 10
_JOIN_TIMEOUT = 2.0
_ORIGIN_RE = re.compile(r"^[ \t]*\$ORIGIN[ \t]+(\S+)", re.IGNORECASE | re.MULTILINE)

_Answer = tuple[int, list[dns.rrset.RRset], list[dns.rrset.RRset]]


class _Stopped(Exception):
    """Raised inside a connection thread when the server is shutting down."""


class _LoadedZone:
    """A zone plus the derived facts the answering logic needs (SOA, existing names)."""

    def __init__(self, zone: dns.zone.Zone) -> None:
        assert zone.origin is not None
        self.zone = zone
        self.origin: dns.name.Name = zone.origin
        soa = zone.get_rdataset(self.origin, dns.rdatatype.SOA)
        if soa is None:
            soa = dns.rdataset.from_text(
                dns.rdataclass.IN,
                dns.rdatatype.SOA,
                300,
                "ns.invalid. hostmaster.invalid. 1 3600 600 86400 300",
            )
        self.soa: dns.rdataset.Rdataset = soa
        # Every owner name plus every ancestor up to the origin: the latter are the
        # empty non-terminals, which exist (NODATA) even though they own no records.
        self.names: set[dns.name.Name] = set()
        for name in zone.nodes:
            n = name
            while n.is_subdomain(self.origin) and n not in self.names:
                self.names.add(n)
                if n == self.origin:
                    break
                n = n.parent()

    def negative_soa(self) -> dns.rrset.RRset:
        """The SOA for AUTHORITY, with TTL min(SOA TTL, SOA MINIMUM) as RFC 2308 asks."""
        rrset = dns.rrset.RRset(self.origin, dns.rdataclass.IN, dns.rdatatype.SOA)
        rrset.update(self.soa)
        rrset.update_ttl(min(self.soa.ttl, self.soa[0].minimum))  # type: ignore[attr-defined]
        return rrset


def _name(text: str | dns.name.Name) -> dns.name.Name:
    """An absolute name from user text; a missing trailing dot is implied."""
    if isinstance(text, dns.name.Name):
        return text if text.is_absolute() else text.concatenate(dns.name.root)
    return dns.name.from_text(text)


def _name_key(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _load_zone_file(path: Path) -> dns.zone.Zone:
    """Load a BIND zone file; origin from its first ``$ORIGIN``, else the file name."""
    text = path.read_text(encoding="utf-8")
    match = _ORIGIN_RE.search(text)
    origin = match.group(1) if match else path.name[: -len(".zone")]
    return dns.zone.from_file(str(path), origin=_name(origin), relativize=False, check_origin=False)


class LoopbackDnsServer:
    """Authoritative DNS server on a loopback address, UDP and TCP on one port.

    Use it as a context manager (or call :meth:`start`/:meth:`stop`)::

        with LoopbackDnsServer({"example.com": ZONE_TEXT}) as server:
            resolver.nameservers = [server.host]
            resolver.port = server.port

    Serving happens in daemon threads (one UDP loop, one TCP accept loop, one thread per TCP
    connection); :meth:`stop` wakes and joins all of them and closes every socket, so a test
    leaves nothing behind.  Faults and counters may be used from any thread.
    """

    def __init__(
        self,
        zones: Mapping[str, str] | None = None,
        zone_dir: Path | str | None = None,
        *,
        zone_objects: Iterable[dns.zone.Zone] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        shuffle: bool = True,
    ) -> None:
        """Load the zones (errors surface here, not in a server thread).

        :param zones: origin -> zone text in BIND master-file format.
        :param zone_dir: directory whose ``*.zone`` files are loaded as zones.
        :param zone_objects: zones built in code, for owner names and data that master-file
            text cannot spell plainly (labels with spaces, arbitrary TXT bytes); a zone for
            the root (``.``) makes the server answer every name, NXDOMAIN for unknown ones.
        :param shuffle: send the records of an RRset in random order, as dnspython (and BIND's
            default rrset-order) do; False keeps the zone's order, for tests whose expected
            result depends on it (RFC 7208's "first 10 PTR names").
        :param host: loopback address to bind (``127.0.0.1`` or ``::1``).
        :param port: port for both UDP and TCP; 0 picks a free one at each :meth:`start`.
        """
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"refusing to bind non-loopback address {host!r}")
        self._host = host
        self._shuffle = shuffle
        self._requested_port = port
        self._port: int | None = None
        self._zones: dict[dns.name.Name, _LoadedZone] = {}
        for origin, text in (zones or {}).items():
            self._add_zone(
                dns.zone.from_text(text, origin=_name(origin), relativize=False, check_origin=False)
            )
        if zone_dir is not None:
            for path in sorted(Path(zone_dir).iterdir()):
                if path.name.endswith(".zone") and path.is_file():
                    self._add_zone(_load_zone_file(path))
        for zone in zone_objects:
            self._add_zone(zone)

        self._lock = threading.Lock()
        self._faults: dict[tuple[dns.name.Name, int | None], str] = {}
        self._queries: list[QueryRecord] = []

        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()

    def _add_zone(self, zone: dns.zone.Zone) -> None:
        loaded = _LoadedZone(zone)
        if loaded.origin in self._zones:
            raise ValueError(f"zone {loaded.origin} loaded twice")
        self._zones[loaded.origin] = loaded

    # ------------------------------------------------------------------ properties

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return self._host

    @property
    def port(self) -> int:
        """The UDP/TCP port (valid once started; kept after :meth:`stop`)."""
        if self._port is None:
            raise RuntimeError("server has not been started")
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` (``[::1]:port`` for IPv6)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    @property
    def origins(self) -> list[str]:
        """The loaded zone origins, without trailing dot."""
        return sorted(_name_key(origin) for origin in self._zones)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._udp is not None

    # ------------------------------------------------------------------ counters

    @property
    def queries(self) -> list[QueryRecord]:
        """Snapshot of every query received so far, in arrival order.

        Each entry is ``(transport, qname, rdtype)``, e.g. ``("udp", "mailgun.org", "TXT")``;
        transport is ``"udp"`` or ``"tcp"``.  Faulted and dropped queries are included.
        It is a copy: use :meth:`reset_counters` to clear.
        """
        with self._lock:
            return list(self._queries)

    def query_count(self, name: str, rdtype: str | None = None, transport: str | None = None) -> int:
        """How many queries for ``name`` (any case, trailing dot optional) were received,
        optionally only of one rdtype and/or over one transport."""
        key = _name_key(_name(name))
        wanted_type = dns.rdatatype.to_text(dns.rdatatype.from_text(rdtype)) if rdtype else None
        return sum(
            1
            for t, n, r in self.queries
            if n == key
            and (wanted_type is None or r == wanted_type)
            and (transport is None or t == transport)
        )

    def reset_counters(self) -> None:
        """Forget all recorded queries."""
        with self._lock:
            self._queries.clear()

    # ------------------------------------------------------------------ faults

    def set_fault(self, name: str | dns.name.Name, fault: str, rdtype: str | None = None) -> None:
        """Inject a fault for queries of exactly ``name`` (optionally only type ``rdtype``).

        ``fault`` is ``"servfail"``/``"refused"`` (that rcode), ``"timeout"`` (the query is
        dropped, never answered, on either transport) or ``"truncate"`` (UDP answers always
        have TC=1 and no records; TCP gets the real answer).  A type-specific fault wins over
        a name-wide one.  Setting a fault for the same name/type again replaces it.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULTS)}")
        key = (_name(name), dns.rdatatype.from_text(rdtype) if rdtype else None)
        with self._lock:
            self._faults[key] = fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def _fault_for(self, qname: dns.name.Name, rdtype: int) -> str | None:
        with self._lock:
            return self._faults.get((qname, rdtype)) or self._faults.get((qname, None))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LoopbackDnsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind UDP and TCP on the same port and start serving in background threads."""
        if self.running:
            raise RuntimeError("server already running")
        udp, tcp = self._bind()
        self._udp, self._tcp = udp, tcp
        self._port = udp.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping.clear()
        self._spawn(self._udp_loop, "udp")
        self._spawn(self._tcp_accept_loop, "tcp-accept")

    def stop(self) -> None:
        """Stop serving: wake and join all threads, close all sockets.  Idempotent."""
        if not self.running:
            return
        self._stopping.set()
        assert self._wake_w is not None
        with contextlib.suppress(OSError):  # the pair is ours; this should not fail
            self._wake_w.send(b"x")
        current = threading.current_thread()
        while True:
            with self._lock:
                threads = [t for t in self._threads if t is not current]
            if not threads:
                break
            for thread in threads:
                thread.join(_JOIN_TIMEOUT)
                if thread.is_alive():  # pragma: no cover - would be a bug
                    log.error("dns server thread %s did not stop", thread.name)
                with self._lock:
                    self._threads.discard(thread)
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = self._wake_r = self._wake_w = None

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        attempts = _BIND_ATTEMPTS if self._requested_port == 0 else 1
        last_error: OSError | None = None
        for _ in range(attempts):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((self._host, self._requested_port))
                port = udp.getsockname()[1]
                tcp = socket.socket(family, socket.SOCK_STREAM)
                try:
                    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    tcp.bind((self._host, port))
                    tcp.listen(64)
                except OSError:
                    tcp.close()
                    raise
            except OSError as e:
                udp.close()
                last_error = e
                continue
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        assert last_error is not None
        raise last_error

    def _spawn(self, target: Callable[..., None], label: str, *args: object) -> None:
        thread = threading.Thread(
            target=self._run_thread,
            args=(target, *args),
            name=f"LoopbackDnsServer-{self._port}-{label}",
            daemon=True,
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run_thread(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        except Exception:  # pragma: no cover - the loops catch their own errors
            log.exception("dns server thread crashed")
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    # ------------------------------------------------------------------ transports

    def _udp_loop(self) -> None:
        udp, wake = self._udp, self._wake_r
        assert udp is not None and wake is not None
        with selectors.DefaultSelector() as sel:
            sel.register(udp, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is wake:
                        return
                    try:
                        wire, peer = udp.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:  # e.g. ICMP port unreachable from a previous send
                        continue
                    reply = self._handle(wire, "udp")
                    if reply is not None:
                        try:
                            udp.sendto(reply, peer)
                        except OSError as e:
                            log.debug("udp send to %s failed: %s", peer, e)

    def _tcp_accept_loop(self) -> None:
        tcp, wake = self._tcp, self._wake_r
        assert tcp is not None and wake is not None
        with selectors.DefaultSelector() as sel:
            sel.register(tcp, selectors.EVENT_READ)
            sel.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is wake:
                        return
                    try:
                        conn, _peer = tcp.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as e:
                        log.debug("tcp accept failed: %s", e)
                        continue
                    self._spawn(self._tcp_connection, "tcp-conn", conn)

    def _tcp_connection(self, conn: socket.socket) -> None:
        wake = self._wake_r
        assert wake is not None
        conn.setblocking(False)
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(conn, selectors.EVENT_READ)
                sel.register(wake, selectors.EVENT_READ)
                while True:
                    header = self._recv_exact(conn, sel, 2, eof_ok=True)
                    if header is None:
                        return
                    (length,) = struct.unpack("!H", header)
                    wire = self._recv_exact(conn, sel, length, eof_ok=False)
                    if wire is None:
                        return
                    reply = self._handle(wire, "tcp")
                    if reply is not None:
                        conn.setblocking(True)
                        conn.settimeout(5.0)
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
                        conn.setblocking(False)
        except (_Stopped, OSError):
            return
        finally:
            conn.close()

    def _recv_exact(
        self, conn: socket.socket, sel: selectors.BaseSelector, count: int, *, eof_ok: bool
    ) -> bytes | None:
        """Read exactly ``count`` bytes; None on EOF/idle timeout, _Stopped on shutdown."""
        buf = bytearray()
        while len(buf) < count:
            events = sel.select(_TCP_IDLE_TIMEOUT)
            if not events:
                return None
            for key, _ in events:
                if key.fileobj is self._wake_r:
                    raise _Stopped
            try:
                chunk = conn.recv(count - len(buf))
            except (BlockingIOError, InterruptedError):
                continue
            if not chunk:
                if buf or not eof_ok:
                    log.debug("tcp peer closed mid-message")
                return None
            buf += chunk
        return bytes(buf)

    # ------------------------------------------------------------------ DNS logic

    def _handle(self, wire: bytes, transport: str) -> bytes | None:
        """Turn one query into the wire response to send, or None to send nothing."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return _formerr(wire)
        if query.flags & dns.flags.QR:
            return None  # never answer responses
        try:
            return self._respond(query, transport)
        except Exception:
            log.exception("dns server failed to answer %s", query.question)
            try:
                response = dns.message.make_response(query, our_payload=_UDP_MAX_PAYLOAD)
                response.set_rcode(dns.rcode.SERVFAIL)
                return response.to_wire()
            except Exception:
                return None

    def _respond(self, query: dns.message.Message, transport: str) -> bytes | None:
        response = dns.message.make_response(query, our_payload=_UDP_MAX_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        qname, rdtype, rdclass = question.name, question.rdtype, question.rdclass
        with self._lock:
            self._queries.append((transport, _name_key(qname), dns.rdatatype.to_text(rdtype)))

        fault = self._fault_for(qname, rdtype)
        if fault == "timeout":
            return None
        if fault in ("servfail", "refused"):
            response.set_rcode(dns.rcode.SERVFAIL if fault == "servfail" else dns.rcode.REFUSED)
            return response.to_wire()

        if rdclass != dns.rdataclass.IN:
            rcode, answer, authority = dns.rcode.REFUSED, [], []
        elif dns.rdatatype.is_metatype(rdtype) and rdtype != dns.rdatatype.ANY:
            rcode, answer, authority = dns.rcode.NOTIMP, [], []  # AXFR, IXFR, OPT, ...
        else:
            rcode, answer, authority = self._resolve(qname, rdtype)
            if query.ednsflags & dns.flags.DO and rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                response.ednsflags |= dns.flags.DO
                answer, authority = self._signed(qname, rdtype, answer, authority)
        response.set_rcode(rcode)
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            response.flags |= dns.flags.AA
        response.answer = answer
        response.authority = authority

        if transport == "tcp":
            try:
                return response.to_wire(max_size=_TCP_LIMIT, want_shuffle=self._shuffle)
            except dns.exception.TooBig:
                return _truncated(query, response)
        if fault == "truncate":
            return _truncated(query, response)
        limit = _UDP_DEFAULT_LIMIT
        if query.edns >= 0:
            limit = max(_UDP_DEFAULT_LIMIT, min(query.payload, _UDP_MAX_PAYLOAD))
        try:
            return response.to_wire(max_size=limit, want_shuffle=self._shuffle)
        except dns.exception.TooBig:
            return _truncated(query, response)

    def _zone_for(self, name: dns.name.Name) -> _LoadedZone | None:
        """The zone whose origin is the longest suffix of ``name``."""
        while True:
            zone = self._zones.get(name)
            if zone is not None:
                return zone
            if name == dns.name.root or name == dns.name.empty:
                return None
            name = name.parent()

    def _zone_answering(self, qname: dns.name.Name, rdtype: int) -> _LoadedZone | None:
        """The zone for ``qname``; for DS at a loaded zone's apex, the parent's (RFC 4035 §3.1.4.1)."""
        if rdtype == dns.rdatatype.DS and qname in self._zones and qname != dns.name.root:
            parent = self._zone_for(qname.parent())
            if parent is not None:
                return parent
        return self._zone_for(qname)

    def _signed(
        self,
        qname: dns.name.Name,
        rdtype: int,
        answer: list[dns.rrset.RRset],
        authority: list[dns.rrset.RRset],
    ) -> tuple[list[dns.rrset.RRset], list[dns.rrset.RRset]]:
        """The sections with DNSSEC records added (DO was set): RRSIGs, and NSEC/NSEC3 denials."""
        signed_answer: list[dns.rrset.RRset] = []
        for rrset in answer:
            signed_answer.append(rrset)
            zone = self._zone_answering(rrset.name, rrset.rdtype)
            signed_answer.extend(_signatures(zone, rrset.name, rrset.rdtype))
        signed_authority: list[dns.rrset.RRset] = []
        for rrset in authority:
            signed_authority.append(rrset)
            signed_authority.extend(_signatures(self._zone_for(rrset.name), rrset.name, rrset.rdtype))
        if authority:  # a negative answer: prove it for the last name of the chain
            denied = answer[-1][0].target if answer and answer[-1].rdtype == dns.rdatatype.CNAME else qname
            zone = self._zone_answering(denied, rdtype)
            if zone is not None:
                for rrset in _denial(zone, denied):
                    signed_authority.append(rrset)
                    signed_authority.extend(_signatures(zone, rrset.name, rrset.rdtype))
        return signed_answer, signed_authority

    def _resolve(self, qname: dns.name.Name, rdtype: int) -> _Answer:
        """Authoritative lookup with in-zone (any loaded zone) CNAME chasing."""
        zone = self._zone_answering(qname, rdtype)
        if zone is None:
            return dns.rcode.REFUSED, [], []
        answer: list[dns.rrset.RRset] = []
        name = qname
        seen: set[dns.name.Name] = set()
        while True:
            seen.add(name)
            node = zone.zone.get_node(name)
            if node is None and name not in zone.names:
                node = _wildcard(zone, name)
            if node is None:
                if name in zone.names:  # empty non-terminal
                    return dns.rcode.NOERROR, answer, [zone.negative_soa()]
                return dns.rcode.NXDOMAIN, answer, [zone.negative_soa()]
            if rdtype == dns.rdatatype.ANY:
                rdatasets: list[dns.rdataset.Rdataset] = list(node.rdatasets)
                if rdatasets:
                    answer.extend(_rrsets(name, rdatasets))
                    return dns.rcode.NOERROR, answer, []
                return dns.rcode.NOERROR, answer, [zone.negative_soa()]
            found = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if found is not None:
                answer.extend(_rrsets(name, [found]))
                return dns.rcode.NOERROR, answer, []
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.CNAME:
                return dns.rcode.NOERROR, answer, [zone.negative_soa()]
            answer.extend(_rrsets(name, [cname]))
            target: dns.name.Name = cname[0].target  # type: ignore[attr-defined]
            next_zone = self._zone_for(target)
            hops = len(seen)
            if next_zone is None or target in seen or hops >= _MAX_CNAME_HOPS:
                return dns.rcode.NOERROR, answer, []
            zone, name = next_zone, target


def _wildcard(zone: _LoadedZone, name: dns.name.Name) -> dns.node.Node | None:
    """The node `*.<closest encloser>` that answers for `name`, which does not exist (RFC 4592)."""
    encloser = name.parent()
    while encloser not in zone.names and encloser != zone.origin:
        encloser = encloser.parent()
    return zone.zone.get_node(dns.name.Name((b"*", *encloser.labels)))


def _signatures(zone: _LoadedZone | None, name: dns.name.Name, rdtype: int) -> list[dns.rrset.RRset]:
    """The RRSIGs over ``name``/``rdtype`` in ``zone`` (none in an unsigned zone)."""
    if zone is None:
        return []
    node = zone.zone.get_node(name)
    sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype) if node else None
    return list(_rrsets(name, [sigs])) if sigs is not None else []


def _denial(zone: _LoadedZone, name: dns.name.Name) -> list[dns.rrset.RRset]:
    """The NSEC (or NSEC3) records proving NODATA/NXDOMAIN for ``name`` in a signed ``zone``."""
    params = zone.zone.get_rdataset(zone.origin, dns.rdatatype.NSEC3PARAM)
    if params is not None:
        return _nsec3_denial(zone, name, params[0])
    node = zone.zone.get_node(name)
    nsec = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC) if node else None
    if nsec is not None:
        return list(_rrsets(name, [nsec]))
    for owner, other in zone.zone.nodes.items():  # the NSEC covering the name
        found = other.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC)
        if found is None:
            continue
        following: dns.name.Name = found[0].next  # type: ignore[attr-defined]
        if owner < name < following or (following <= owner and (name > owner or name < following)):
            return list(_rrsets(owner, [found]))
    return []


def _nsec3_denial(zone: _LoadedZone, name: dns.name.Name, params: object) -> list[dns.rrset.RRset]:
    """A matching NSEC3, or the closest encloser's plus the one covering the next closer name."""
    chain: dict[str, tuple[dns.name.Name, dns.rdataset.Rdataset]] = {}
    for owner, node in zone.zone.nodes.items():
        found = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3)
        if found is not None:
            chain[owner.labels[0].decode().upper()] = (owner, found)

    def hashed(n: dns.name.Name) -> str:
        return dns.dnssec.nsec3_hash(n, params.salt, params.iterations, params.algorithm).upper()  # type: ignore[attr-defined]

    def covering(digest: str) -> list[dns.rrset.RRset]:
        for owner_hash, (owner, found) in chain.items():
            following = base64.b32hexencode(found[0].next).decode().upper()  # type: ignore[attr-defined]
            if owner_hash < digest < following or (
                following <= owner_hash and (digest > owner_hash or digest < following)
            ):
                return list(_rrsets(owner, [found]))
        return []

    if hashed(name) in chain:
        return list(_rrsets(*chain[hashed(name)]))
    next_closer, encloser = name, name.parent()
    while encloser.is_subdomain(zone.origin):
        if hashed(encloser) in chain:
            return list(_rrsets(*chain[hashed(encloser)])) + covering(hashed(next_closer))
        next_closer, encloser = encloser, encloser.parent()
    return []


def _rrsets(name: dns.name.Name, rdatasets: Iterable[dns.rdataset.Rdataset]) -> Iterator[dns.rrset.RRset]:
    for rdataset in rdatasets:
        rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype, rdataset.covers)
        rrset.update(rdataset)
        yield rrset


def _truncated(query: dns.message.Message, full: dns.message.Message) -> bytes:
    """The TC=1 reply: header flags and rcode of ``full``, question echoed, no records."""
    response = dns.message.make_response(query, our_payload=_UDP_MAX_PAYLOAD)
    response.flags = full.flags | dns.flags.TC
    response.set_rcode(full.rcode())
    return response.to_wire()


def _formerr(wire: bytes) -> bytes | None:
    """A bare FORMERR header for an unparseable query, or None if not even that is possible."""
    if len(wire) < 12:
        return None
    qid, flags = struct.unpack("!HH", wire[:4])
    if flags & dns.flags.QR:
        return None
    # Keep the opcode and RD bits, set QR, rcode FORMERR, all section counts zero.
    flags = (flags & (0x7800 | dns.flags.RD)) | dns.flags.QR | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    """Serve a directory of ``*.zone`` files until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.servers.dns_server",
        description="Loopback authoritative DNS server for manual testing.",
    )
    parser.add_argument("--zone-dir", type=Path, required=True, help="directory of *.zone files")
    parser.add_argument("--port", type=int, default=0, help="UDP+TCP port (default: any free)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    args = parser.parse_args(argv)
    server = LoopbackDnsServer(zone_dir=args.zone_dir, host=args.host, port=args.port)
    # Ctrl-C may come as soon as the address is printed (a test sends SIGINT right after one
    # query), so the interrupt is caught from before the first print, not only during the wait.
    with server, contextlib.suppress(KeyboardInterrupt):
        print(f"zones: {', '.join(server.origins) or '(none)'}", file=sys.stderr, flush=True)
        print(f"listening on {server.address}", flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
