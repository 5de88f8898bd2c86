"""Tests for the loopback DNS test server, using dnspython as a real client over the wire.

The server is the foundation of every DNS-facing test in sendready, so its authoritative
semantics (rcodes, AA, SOA in AUTHORITY, truncation, CNAME chasing), fault injection and
counters are pinned down here against genuine UDP/TCP exchanges.
"""

from __future__ import annotations

import asyncio
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import dns.zone
import pytest

from tests.servers.dns_server import LoopbackDnsServer

REPO_ROOT = Path(__file__).resolve().parents[2]

BIG_STRINGS = [chr(ord("a") + i) * 250 for i in range(12)]  # 3000 bytes of TXT data

EXAMPLE_ZONE = f"""
$TTL 300
@               IN SOA  ns1.example.com. hostmaster.example.com. 2024010101 3600 600 86400 60
@               IN NS   ns1.example.com.
@               IN TXT  "v=spf1 include:mailgun.org ~all"
@               IN MX   10 mx1.example.com.
ns1             IN A    192.0.2.53
mx1             IN A    192.0.2.25
www             IN CNAME web
web             IN CNAME host.other.test.
ext             IN CNAME mail.elsewhere.invalid.
dangling        IN CNAME nothere
loop1           IN CNAME loop2
loop2           IN CNAME loop1
s1._domainkey   IN TXT  "v=DKIM1; k=rsa; p=MIGf"
big             IN TXT  {" ".join(f'"{s}"' for s in BIG_STRINGS)}
"""

# No SOA and no NS: the server must synthesise a SOA for negative answers.
OTHER_ZONE = """
host 600 IN A 192.0.2.80
"""

SUB_ZONE = """
$TTL 60
@ IN SOA ns.sub.example.com. admin.sub.example.com. 7 3600 600 86400 30
@ IN TXT "from the sub zone"
"""

MAILGUN_ZONE = """
@ 300 IN TXT "v=spf1 include:_spf.mailgun.org ~all"
"""

ZONES = {
    "example.com": EXAMPLE_ZONE,
    "other.test.": OTHER_ZONE,
    "sub.example.com": SUB_ZONE,
    "mailgun.org": MAILGUN_ZONE,
}

TIMEOUT = 2.0


@pytest.fixture
def server() -> Iterator[LoopbackDnsServer]:
    with LoopbackDnsServer(ZONES) as srv:
        yield srv


def ask(
    srv: LoopbackDnsServer,
    name: str,
    rdtype: str,
    *,
    tcp: bool = False,
    edns: int | None = None,
    timeout: float = TIMEOUT,
) -> dns.message.Message:
    if edns is None:
        query = dns.message.make_query(name, rdtype, use_edns=False)
    else:
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=edns)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, srv.host, timeout=timeout, port=srv.port)


def txt_strings(rrset: dns.rrset.RRset) -> list[bytes]:
    return [s for rdata in rrset for s in rdata.strings]


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("LoopbackDnsServer")]


# --------------------------------------------------------------------------- answers


def test_txt_over_udp(server: LoopbackDnsServer) -> None:
    response = ask(server, "example.com", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.TC
    assert len(response.answer) == 1
    assert txt_strings(response.answer[0]) == [b"v=spf1 include:mailgun.org ~all"]
    assert response.answer[0].ttl == 300
    assert server.address == f"127.0.0.1:{server.port}"


def test_other_types_and_case_insensitivity(server: LoopbackDnsServer) -> None:
    mx = ask(server, "EXAMPLE.com.", "MX")
    # Name compression may carry the question's case into the rdata; compare as names.
    assert [(r.preference, r.exchange) for r in mx.answer[0]] == [(10, dns.name.from_text("mx1.example.com"))]
    a = ask(server, "Mx1.Example.Com", "A", tcp=True)
    assert [r.address for r in a.answer[0]] == ["192.0.2.25"]
    soa = ask(server, "example.com", "SOA")
    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    any_ = ask(server, "example.com", "ANY", tcp=True)
    assert {rrset.rdtype for rrset in any_.answer} == {
        dns.rdatatype.SOA,
        dns.rdatatype.NS,
        dns.rdatatype.TXT,
        dns.rdatatype.MX,
    }


def test_big_txt_truncated_over_udp_complete_over_tcp(server: LoopbackDnsServer) -> None:
    udp = ask(server, "big.example.com", "TXT")
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    assert udp.question[0].name.to_text() == "big.example.com."
    assert udp.question[0].rdtype == dns.rdatatype.TXT

    tcp = ask(server, "big.example.com", "TXT", tcp=True)
    assert not tcp.flags & dns.flags.TC
    assert tcp.flags & dns.flags.AA
    assert txt_strings(tcp.answer[0]) == [s.encode() for s in BIG_STRINGS]


def test_edns_payload_controls_udp_limit(server: LoopbackDnsServer) -> None:
    small = ask(server, "big.example.com", "TXT", edns=1232)
    assert small.flags & dns.flags.TC
    assert small.answer == []
    assert small.edns == 0  # OPT echoed even on a truncated reply

    large = ask(server, "big.example.com", "TXT", edns=4096)
    assert not large.flags & dns.flags.TC
    assert large.edns == 0
    assert txt_strings(large.answer[0]) == [s.encode() for s in BIG_STRINGS]

    plain = ask(server, "example.com", "TXT")
    assert plain.edns == -1  # no OPT in, no OPT out


def test_cname_chase_across_loaded_zones(server: LoopbackDnsServer) -> None:
    response = ask(server, "www.example.com", "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    chain = [(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype)) for rrset in response.answer]
    assert chain == [
        ("www.example.com.", "CNAME"),
        ("web.example.com.", "CNAME"),
        ("host.other.test.", "A"),
    ]
    assert [r.address for r in response.answer[2]] == ["192.0.2.80"]


def test_cname_edge_cases(server: LoopbackDnsServer) -> None:
    only_cname = ask(server, "www.example.com", "CNAME")
    assert len(only_cname.answer) == 1
    assert only_cname.answer[0].rdtype == dns.rdatatype.CNAME
    assert only_cname.answer[0][0].target.to_text() == "web.example.com."

    external = ask(server, "ext.example.com", "TXT")
    assert external.rcode() == dns.rcode.NOERROR
    assert [rrset.rdtype for rrset in external.answer] == [dns.rdatatype.CNAME]

    dangling = ask(server, "dangling.example.com", "A")
    assert dangling.rcode() == dns.rcode.NXDOMAIN
    assert [rrset.rdtype for rrset in dangling.answer] == [dns.rdatatype.CNAME]
    assert dangling.authority[0].rdtype == dns.rdatatype.SOA

    loop = ask(server, "loop1.example.com", "A")
    assert loop.rcode() == dns.rcode.NOERROR
    assert [rrset.name.to_text() for rrset in loop.answer] == [
        "loop1.example.com.",
        "loop2.example.com.",
    ]


def test_nodata_vs_nxdomain(server: LoopbackDnsServer) -> None:
    nodata = ask(server, "mx1.example.com", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR
    assert nodata.flags & dns.flags.AA
    assert nodata.answer == []
    assert len(nodata.authority) == 1
    soa = nodata.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name.to_text() == "example.com."
    assert soa.ttl == 60  # min(SOA TTL 300, MINIMUM 60)

    ent = ask(server, "_domainkey.example.com", "TXT")  # empty non-terminal
    assert ent.rcode() == dns.rcode.NOERROR
    assert ent.answer == []
    assert ent.authority[0].rdtype == dns.rdatatype.SOA

    nx = ask(server, "nope.example.com", "TXT")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.flags & dns.flags.AA
    assert nx.answer == []
    assert nx.authority[0].rdtype == dns.rdatatype.SOA
    assert nx.authority[0].name.to_text() == "example.com."


WILD_ZONE = """
$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 60
*._report._dmarc IN TXT "v=DMARC1"
own._report._dmarc IN TXT "not a DMARC record"
*.deep IN A 192.0.2.9
deep.empty.deep IN A 192.0.2.10
"""


def test_wildcards_expand_only_for_names_that_do_not_exist() -> None:
    """RFC 4592 §4.3: `*.<closest encloser>` answers a missing name, with that name as owner."""
    with LoopbackDnsServer({"reports.test": WILD_ZONE}) as srv:
        hit = ask(srv, "mg.example.com._report._dmarc.reports.test", "TXT")
        assert hit.rcode() == dns.rcode.NOERROR
        assert hit.answer[0].name.to_text() == "mg.example.com._report._dmarc.reports.test."
        assert txt_strings(hit.answer[0]) == [b"v=DMARC1"]
        # An existing name is never answered by the wildcard (its own records, or NODATA).
        own = ask(srv, "own._report._dmarc.reports.test", "TXT")
        assert txt_strings(own.answer[0]) == [b"not a DMARC record"]
        assert ask(srv, "own._report._dmarc.reports.test", "MX").answer == []
        # The wildcard covers its own level only through the closest encloser: `empty.deep`
        # exists (an empty non-terminal), so `x.empty.deep` has no `*.empty.deep` to use.
        assert ask(srv, "x.deep.reports.test", "A").answer[0][0].address == "192.0.2.9"
        assert ask(srv, "x.empty.deep.reports.test", "A").rcode() == dns.rcode.NXDOMAIN
        assert ask(srv, "x._report.reports.test", "TXT").rcode() == dns.rcode.NXDOMAIN


def test_longest_suffix_zone_and_synthesised_soa(server: LoopbackDnsServer) -> None:
    sub = ask(server, "sub.example.com", "TXT")
    assert txt_strings(sub.answer[0]) == [b"from the sub zone"]
    nx = ask(server, "x.sub.example.com", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.authority[0].name.to_text() == "sub.example.com."

    no_soa_zone = ask(server, "missing.other.test", "A")
    assert no_soa_zone.rcode() == dns.rcode.NXDOMAIN
    assert no_soa_zone.authority[0].rdtype == dns.rdatatype.SOA
    assert no_soa_zone.authority[0].name.to_text() == "other.test."


def test_refused_out_of_zone(server: LoopbackDnsServer) -> None:
    for name in ("example.org", "com", "."):
        response = ask(server, name, "A")
        assert response.rcode() == dns.rcode.REFUSED, name
        assert not response.flags & dns.flags.AA
        assert response.answer == []


def test_asyncquery_udp_and_tcp(server: LoopbackDnsServer) -> None:
    async def run() -> tuple[dns.message.Message, dns.message.Message]:
        q1 = dns.message.make_query("mailgun.org", "TXT")
        q2 = dns.message.make_query("big.example.com", "TXT")
        return await asyncio.gather(
            dns.asyncquery.udp(q1, server.host, timeout=TIMEOUT, port=server.port),
            dns.asyncquery.tcp(q2, server.host, timeout=TIMEOUT, port=server.port),
        )

    udp, tcp = asyncio.run(run())
    assert txt_strings(udp.answer[0]) == [b"v=spf1 include:_spf.mailgun.org ~all"]
    assert len(b"".join(txt_strings(tcp.answer[0]))) == 3000


# --------------------------------------------------------------------------- faults


def test_fault_servfail_and_refused(server: LoopbackDnsServer) -> None:
    server.set_fault("example.com", "servfail")
    server.set_fault("MX1.example.com.", "refused")
    assert ask(server, "example.com", "TXT").rcode() == dns.rcode.SERVFAIL
    assert ask(server, "example.com", "MX", tcp=True).rcode() == dns.rcode.SERVFAIL
    assert ask(server, "mx1.example.com", "A").rcode() == dns.rcode.REFUSED
    # Exact name only: other names are unaffected.
    assert ask(server, "ns1.example.com", "A").rcode() == dns.rcode.NOERROR

    server.clear_faults()
    assert ask(server, "example.com", "TXT").rcode() == dns.rcode.NOERROR
    assert ask(server, "mx1.example.com", "A").rcode() == dns.rcode.NOERROR


def test_fault_limited_to_rdtype(server: LoopbackDnsServer) -> None:
    server.set_fault("example.com", "servfail", rdtype="TXT")
    assert ask(server, "Example.Com", "TXT").rcode() == dns.rcode.SERVFAIL
    assert ask(server, "example.com", "MX").rcode() == dns.rcode.NOERROR


def test_fault_timeout_drops_query(server: LoopbackDnsServer) -> None:
    server.set_fault("mailgun.org", "timeout", rdtype="TXT")
    with pytest.raises(dns.exception.Timeout):
        ask(server, "mailgun.org", "TXT", timeout=0.3)
    with pytest.raises(dns.exception.Timeout):
        ask(server, "mailgun.org", "TXT", tcp=True, timeout=0.3)
    # The server is still alive and other queries are answered.
    assert ask(server, "mailgun.org", "A").rcode() == dns.rcode.NOERROR
    assert server.query_count("mailgun.org", "TXT") == 2


def test_fault_truncate(server: LoopbackDnsServer) -> None:
    server.set_fault("example.com", "truncate")
    udp = ask(server, "example.com", "TXT", edns=4096)
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    tcp = ask(server, "example.com", "TXT", tcp=True)
    assert not tcp.flags & dns.flags.TC
    assert txt_strings(tcp.answer[0]) == [b"v=spf1 include:mailgun.org ~all"]


def test_set_fault_rejects_unknown_fault(server: LoopbackDnsServer) -> None:
    with pytest.raises(ValueError):
        server.set_fault("example.com", "explode")


# --------------------------------------------------------------------------- counters


def test_counters(server: LoopbackDnsServer) -> None:
    assert server.queries == []
    ask(server, "MailGun.ORG.", "TXT")
    ask(server, "example.com", "MX", tcp=True)
    ask(server, "nowhere.invalid", "A")
    assert server.queries == [
        ("udp", "mailgun.org", "TXT"),
        ("tcp", "example.com", "MX"),
        ("udp", "nowhere.invalid", "A"),
    ]
    assert server.query_count("mailgun.org", "TXT") == 1
    assert server.query_count("mailgun.org.", "TXT", transport="tcp") == 0
    assert server.query_count("example.com") == 1

    server.reset_counters()
    assert server.queries == []
    ask(server, "mailgun.org", "TXT")
    assert server.queries == [("udp", "mailgun.org", "TXT")]


# --------------------------------------------------------------------------- robustness


def test_malformed_packets_do_not_kill_server(server: LoopbackDnsServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(b"\x00", (server.host, server.port))  # too short: ignored
        garbage = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\xff\xfe"
        sock.sendto(garbage, (server.host, server.port))
        reply, _ = sock.recvfrom(512)
    qid, flags = struct.unpack("!HH", reply[:4])
    assert qid == 0x1234
    assert flags & dns.flags.QR
    assert flags & 0xF == dns.rcode.FORMERR

    # Garbage over TCP closes nothing but that exchange.
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as conn:
        conn.sendall(struct.pack("!H", 3) + b"abc")
    assert ask(server, "example.com", "TXT").rcode() == dns.rcode.NOERROR
    assert ask(server, "example.com", "TXT", tcp=True).rcode() == dns.rcode.NOERROR


def test_tcp_multiple_messages_per_connection(server: LoopbackDnsServer) -> None:
    q1 = dns.message.make_query("example.com", "TXT")
    q2 = dns.message.make_query("big.example.com", "TXT")
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as conn:
        dns.query.send_tcp(conn, q1)
        dns.query.send_tcp(conn, q2)
        r1, _ = dns.query.receive_tcp(conn)
        r2, _ = dns.query.receive_tcp(conn)
    assert r1.id == q1.id and r2.id == q2.id
    assert txt_strings(r1.answer[0]) == [b"v=spf1 include:mailgun.org ~all"]
    assert len(b"".join(txt_strings(r2.answer[0]))) == 3000
    assert [t for t, _, _ in server.queries] == ["tcp", "tcp"]


# --------------------------------------------------------------------------- loading


def test_zone_dir_with_origin_directive_and_file_name(tmp_path: Path) -> None:
    (tmp_path / "whatever.zone").write_text(
        '$ORIGIN acme.test.\n$TTL 120\n@ IN TXT "acme apex"\nmail IN A 192.0.2.7\n'
    )
    (tmp_path / "named.example.zone").write_text('@ 60 IN TXT "named by file"\n')
    (tmp_path / "ignored.txt").write_text("this is not a zone file {")
    with LoopbackDnsServer(zone_dir=tmp_path, zones={"inline.test": "@ 60 IN A 192.0.2.1"}) as srv:
        assert srv.origins == ["acme.test", "inline.test", "named.example"]
        assert txt_strings(ask(srv, "acme.test", "TXT").answer[0]) == [b"acme apex"]
        assert ask(srv, "mail.acme.test", "A").answer[0].ttl == 120
        assert txt_strings(ask(srv, "named.example", "TXT").answer[0]) == [b"named by file"]
        assert ask(srv, "inline.test", "A").rcode() == dns.rcode.NOERROR
        assert ask(srv, "whatever", "TXT").rcode() == dns.rcode.REFUSED


# --------------------------------------------------------------------------- lifecycle


def test_zone_objects_serve_names_zone_text_cannot_spell() -> None:
    """A zone built in code: a root zone answers everything, with labels holding any byte."""
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    odd = dns.name.Name([b"macro%percent  space", b"example", b"com", b""])
    node = zone.find_node(odd, create=True)
    rdataset = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT, create=True)
    rdataset.add(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [b"\x80\x0d raw"]), 60)
    with LoopbackDnsServer(zone_objects=[zone]) as srv:
        response = dns.query.udp(dns.message.make_query(odd, "TXT"), srv.host, timeout=TIMEOUT, port=srv.port)
        assert txt_strings(response.answer[0]) == [b"\x80\x0d raw"]
        unknown = dns.query.udp(
            dns.message.make_query("nowhere.test", "A"), srv.host, timeout=TIMEOUT, port=srv.port
        )
        assert unknown.rcode() == dns.rcode.NXDOMAIN
        parent = dns.query.udp(
            dns.message.make_query("example.com", "A"), srv.host, timeout=TIMEOUT, port=srv.port
        )
        assert parent.rcode() == dns.rcode.NOERROR and not parent.answer  # empty non-terminal


def test_unshuffled_server_keeps_zone_order() -> None:
    names = [f"h{i:02d}.example.com." for i in range(12)]
    zone_text = "$TTL 60\n" + "".join(f"@ IN PTR {name}\n" for name in names)
    with LoopbackDnsServer({"4.3.2.1.in-addr.arpa": zone_text}, shuffle=False) as srv:
        query = dns.message.make_query("4.3.2.1.in-addr.arpa", "PTR")
        for _ in range(3):
            response = dns.query.udp(query, srv.host, timeout=TIMEOUT, port=srv.port)
            assert [rdata.to_text() for rdata in response.answer[0]] == names


def test_two_servers_at_once() -> None:
    with (
        LoopbackDnsServer({"one.test": '@ 60 IN TXT "one"'}) as a,
        LoopbackDnsServer({"two.test": '@ 60 IN TXT "two"'}) as b,
    ):
        assert a.port != b.port
        assert txt_strings(ask(a, "one.test", "TXT").answer[0]) == [b"one"]
        assert txt_strings(ask(b, "two.test", "TXT", tcp=True).answer[0]) == [b"two"]
        assert ask(a, "two.test", "TXT").rcode() == dns.rcode.REFUSED


def test_stop_leaves_no_threads_or_sockets() -> None:
    assert server_threads() == []
    srv = LoopbackDnsServer(ZONES)
    with pytest.raises(RuntimeError):
        _ = srv.port
    srv.start()
    port = srv.port
    idle = socket.create_connection((srv.host, port), timeout=TIMEOUT)  # held open at stop()
    try:
        assert ask(srv, "example.com", "TXT", tcp=True).rcode() == dns.rcode.NOERROR
        assert len(server_threads()) >= 3  # udp, accept, the idle connection
        srv.stop()
        assert server_threads() == []
        assert not srv.running
        assert idle.recv(1) == b""  # server side of the idle connection was closed
    finally:
        idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((srv.host, port), timeout=TIMEOUT).close()
    srv.stop()  # idempotent
    assert srv.port == port


def test_rejects_non_loopback_host() -> None:
    with pytest.raises(ValueError):
        LoopbackDnsServer(ZONES, host="0.0.0.0")


def test_script_mode(tmp_path: Path) -> None:
    (tmp_path / "script.test.zone").write_text('@ 60 IN TXT "from the script"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.dns_server", "--zone-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(10), "server did not print its address"
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        query = dns.message.make_query("script.test", "TXT")
        response = dns.query.udp(query, "127.0.0.1", timeout=TIMEOUT, port=port)
        assert txt_strings(response.answer[0]) == [b"from the script"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
