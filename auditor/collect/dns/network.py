"""DNS over the network: shared UDP sockets with responses matched to queries, TCP on truncation.

One connected UDP socket per nameserver carries every query of the run; responses are matched by
message id and question (what `Message.is_response` checks), so there is no per-query socket or
resolver set-up (the cost that caps a naive one-`resolve()`-per-query client near 1,400 queries/s
on one core). Queries and responses go through `auditor.protocol.dnswire`, which writes the query
bytes directly and parses only the answer section (dnspython's `Message` cost ~0.35 ms a query).
Timeouts and retries are per attempt; attempts rotate through the configured nameservers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from auditor.collect.dns.answers import ANSWERING_RCODES, AnswerStatus, DnsAnswer, name_text, rcode_failure
from auditor.collect.dns.signed import SignedAnswer, signed_answer
from auditor.protocol.dnswire import Question, Response, read_response

AnswerT = TypeVar("AnswerT", DnsAnswer, SignedAnswer)

_EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 size: avoids fragmentation, rarely truncates
_RECV_BUFFER = 4 << 20


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A resolver address: an IP literal and a port."""

    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """`1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353`; raises ValueError otherwise."""
        raw = text.strip()
        host, port = raw, 53
        if raw.startswith("["):
            host, sep, rest = raw[1:].partition("]")
            if not sep:
                raise ValueError(f"{text!r}: missing ']'")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"{text!r}: expected [ADDRESS]:PORT")
                port = _port(rest[1:], text)
        elif raw.count(":") == 1:
            host, _, port_text = raw.partition(":")
            port = _port(port_text, text)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{text!r}: nameserver must be an IP address") from None
        return cls(host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{whole!r}: port must be 1-65535")
    return int(text)


class _UdpChannel(asyncio.DatagramProtocol):
    """One connected UDP socket; in-flight queries keyed by message id."""

    def __init__(self, nameserver: Nameserver) -> None:
        self.nameserver = nameserver
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[Question, asyncio.Future[Response]]] = {}
        self._random = random.Random()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.nameserver.host else socket.AF_INET
        await loop.create_datagram_endpoint(
            lambda: self, remote_addr=(self.nameserver.host, self.nameserver.port), family=family
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < 12:
            return
        qid = int.from_bytes(data[:2], "big")
        entry = self.pending.get(qid)
        if entry is None:
            return
        question, future = entry
        try:
            response = read_response(data, question, qid)
        except dns.exception.DNSException:
            return  # garbage or a spoof attempt: keep waiting for the real answer
        if response is None:
            return  # not an answer to this question
        del self.pending[qid]
        if not future.done():
            future.set_result(response)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on a connected socket: nobody is listening at the nameserver.
        for _, future in list(self.pending.values()):
            if not future.done():
                future.set_exception(exc)
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error_received(exc or ConnectionError("socket closed"))

    async def exchange(self, question: Question, timeout: float) -> Response:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("UDP socket is closed")
        qid = self._random.getrandbits(16)
        while qid in self.pending:
            qid = self._random.getrandbits(16)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        self.pending[qid] = (question, future)
        # A timer on the future itself rather than asyncio.wait_for, which adds a waiter future
        # and two callbacks to every query.
        timer = loop.call_later(timeout, _expire, future)
        try:
            self.transport.sendto(question.query(qid))
            return await future
        finally:
            timer.cancel()
            entry = self.pending.get(qid)
            if entry is not None and entry[1] is future:
                del self.pending[qid]


def _expire(future: asyncio.Future[Response]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class NetworkBackend:
    """Asks recursive (or, in tests, authoritative) nameservers over UDP, TCP when truncated."""

    def __init__(
        self,
        nameservers: list[Nameserver],
        *,
        timeout: float = 2.0,
        attempts: int = 3,
    ) -> None:
        if not nameservers:
            raise ValueError("at least one nameserver is needed")
        self._nameservers = list(nameservers)
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._channels: dict[Nameserver, _UdpChannel] = {}
        self._opening: dict[Nameserver, asyncio.Task[_UdpChannel]] = {}
        self._sent = 0

    @property
    def queries_sent(self) -> int:
        return self._sent

    def describe(self) -> str:
        return "dns " + ", ".join(str(ns) for ns in self._nameservers)

    async def _channel(self, nameserver: Nameserver) -> _UdpChannel:
        channel = self._channels.get(nameserver)
        if channel is not None:
            return channel
        task = self._opening.get(nameserver)
        if task is None:
            task = asyncio.ensure_future(self._open(nameserver))
            self._opening[nameserver] = task
        return await task

    async def _open(self, nameserver: Nameserver) -> _UdpChannel:
        channel = _UdpChannel(nameserver)
        await channel.open()
        self._channels[nameserver] = channel
        return channel

    async def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> DnsAnswer:
        question = Question.make(name, rdtype)
        return await self._ask(
            question,
            lambda response, source: interpret(name, rdtype, question, response, source=source),
            lambda status, detail: DnsAnswer(name, rdtype, status, detail=detail),
        )

    async def query_signed(self, name: str, rdtype: dns.rdatatype.RdataType) -> SignedAnswer:
        """`query()` for DNSSEC validation: DO and CD set, RRSIGs and the authority section kept.

        Only the DNSSEC check asks this (a few questions per zone), so the fast path is untouched.
        """
        return await self._ask(
            Question.make(name, rdtype, dnssec=True),
            lambda response, source: signed_answer(name, rdtype, response, source=source),
            lambda status, detail: SignedAnswer(name, rdtype, status, detail=detail),
        )

    async def _ask(
        self,
        question: Question,
        read: Callable[[Response, str], AnswerT],
        failed: Callable[[AnswerStatus, str], AnswerT],
    ) -> AnswerT:
        """Ask `question`, rotating through the nameservers on timeouts, errors and SERVFAIL/REFUSED.

        `read` turns a response into the caller's answer type, `failed` builds one for a status
        without a response; a truncated UDP answer is asked again over TCP.
        """
        last = failed(AnswerStatus.TIMEOUT, "no answer")
        for attempt in range(self._attempts):
            nameserver = self._nameservers[attempt % len(self._nameservers)]
            self._sent += 1
            try:
                channel = await self._channel(nameserver)
                response = await channel.exchange(question, self._timeout)
                if response.truncated:
                    self._sent += 1
                    response = await _tcp(question, nameserver, self._timeout)
            except TimeoutError:
                last = failed(AnswerStatus.TIMEOUT, f"from {nameserver}")
                continue
            except dns.exception.Timeout:
                last = failed(AnswerStatus.TIMEOUT, f"TCP {nameserver}")
                continue
            except (OSError, EOFError, dns.exception.DNSException) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc)
                last = failed(AnswerStatus.ERROR, f"{nameserver}: {_reason(reason)}")
                continue
            answer = read(response, str(nameserver))
            if answer.status in (AnswerStatus.SERVFAIL, AnswerStatus.REFUSED) and (
                attempt + 1 < self._attempts and len(self._nameservers) > 1
            ):
                last = answer
                continue  # another nameserver may do better
            return answer
        return last

    async def close(self) -> None:
        for channel in self._channels.values():
            if channel.transport is not None:
                channel.transport.close()
        self._channels.clear()


def _reason(reason: object) -> str:
    return reason.__name__ if isinstance(reason, type) else str(reason)


async def _tcp(question: Question, nameserver: Nameserver, timeout: float) -> Response:
    """The same question over TCP (after a truncated UDP answer; rare, so dnspython's Message)."""
    query = dns.message.make_query(
        question.name, question.rdtype, use_edns=0, payload=_EDNS_PAYLOAD, want_dnssec=question.dnssec
    )
    if question.dnssec:
        query.flags |= dns.flags.CD
    reply = await dns.asyncquery.tcp(query, nameserver.host, timeout=timeout, port=nameserver.port)
    response = read_response(reply.to_wire(), question, query.id)
    if response is None:  # dnspython has already checked it answers the query
        raise dns.exception.FormError("TCP response does not answer the question")
    return response


def interpret(
    name: str, rdtype: dns.rdatatype.RdataType, question: Question, response: Response, *, source: str
) -> DnsAnswer:
    """Turn a response into a `DnsAnswer`, following CNAMEs present in the answer section."""
    rcode = response.rcode
    if rcode not in ANSWERING_RCODES:
        status, detail = rcode_failure(rcode, source)
        return DnsAnswer(name, rdtype, status, detail=detail)
    current = question.name
    cnames: list[str] = []
    for _ in range(16):
        rdatas = response.rdatas(current, rdtype)
        if rdatas:
            return DnsAnswer(name, rdtype, AnswerStatus.OK, rdatas, tuple(cnames))
        if rdtype == dns.rdatatype.CNAME:
            break
        alias = response.rdatas(current, dns.rdatatype.CNAME)
        if not alias:
            break
        current = alias[0].target
        cnames.append(name_text(current))
    # RFC 6604: the rcode speaks for the last name in the chain.
    status = AnswerStatus.NXDOMAIN if rcode == dns.rcode.NXDOMAIN else AnswerStatus.NODATA
    return DnsAnswer(name, rdtype, status, (), tuple(cnames))
