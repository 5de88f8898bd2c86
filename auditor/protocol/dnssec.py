"""DNSSEC validation steps over RRsets already fetched (no I/O): signatures, DS links, DS denials.

The chain walker (`auditor.collect.dns.dnssec`) fetches DNSKEY, DS and the domain's own data
with the DO bit and hands them here; every function answers "valid" (None) or the reason it is
not, in words a report can show. The cryptography is dnspython's (`dns.dnssec.validate_rrsig`,
`make_ds`, `nsec3_hash`); what this module adds is the DNSSEC logic around it (RFC 4035 §5):
which keys may sign, which DS records count, and what proves that a delegation has no DS.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rrset
import dns.zonefile

from auditor.errors import InputError

_ZONE_FLAG = 0x0100
_REVOKE_FLAG = 0x0080
_NSEC3_OPT_OUT = 0x01
_MAX_NSEC3_ITERATIONS = 150  # RFC 9276 §3.2: above this, validators may treat the answer as insecure
_DS_DIGESTS = {1: "SHA1", 2: "SHA256", 4: "SHA384"}
_POLICY = dns.dnssec.default_policy


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """Trusted DS and DNSKEY records, by owner (the IANA root KSKs unless the user gives others)."""

    ds: dict[dns.name.Name, tuple[dns.rdtypes.ANY.DS.DS, ...]]
    dnskeys: dict[dns.name.Name, tuple[dns.rdtypes.ANY.DNSKEY.DNSKEY, ...]]
    source: str

    def covers(self, zone: dns.name.Name) -> bool:
        """Whether `zone` is at or below an anchor (validation can start above it)."""
        return any(zone.is_subdomain(owner) for owner in (*self.ds, *self.dnskeys))

    def anchored(self, zone: dns.name.Name) -> bool:
        return zone in self.ds or zone in self.dnskeys


def root_trust_anchors() -> TrustAnchors:
    """The IANA root zone KSKs (KSK-2017, 20326, and KSK-2024, 38696), shipped with the package."""
    text = resources.files("auditor.protocol").joinpath("root_anchors.txt").read_text(encoding="utf-8")
    return parse_trust_anchors(text, "IANA root anchors (KSK-2017, KSK-2024)")


def load_trust_anchors(path: Path) -> TrustAnchors:
    """DS or DNSKEY records in zone-file format (`--trust-anchor FILE`); one-line errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read trust anchors: {exc}", path=path, field="--trust-anchor") from None
    return parse_trust_anchors(text, str(path), path=path)


def parse_trust_anchors(text: str, source: str, *, path: Path | None = None) -> TrustAnchors:
    """Parse zone-format text (absolute owners, `$ORIGIN` allowed) keeping its DS and DNSKEY records."""
    try:
        rrsets = _read_zone_text(text)
    except dns.exception.DNSException as exc:
        message = str(exc)  # "<input>:LINE: problem"
        problem = message.partition(": ")[2] or message
        raise InputError(
            f"invalid trust anchor: {problem}",
            path=path,
            line=_failing_line(text),
            field="--trust-anchor",
        ) from None
    ds: dict[dns.name.Name, tuple[dns.rdtypes.ANY.DS.DS, ...]] = {}
    dnskeys: dict[dns.name.Name, tuple[dns.rdtypes.ANY.DNSKEY.DNSKEY, ...]] = {}
    for rrset in rrsets:
        if rrset.rdtype == dns.rdatatype.DS:
            ds[rrset.name] = (*ds.get(rrset.name, ()), *rrset)  # type: ignore[arg-type]
        elif rrset.rdtype == dns.rdatatype.DNSKEY:
            dnskeys[rrset.name] = (*dnskeys.get(rrset.name, ()), *rrset)  # type: ignore[arg-type]
    if not ds and not dnskeys:
        raise InputError("no DS or DNSKEY records", path=path, field="--trust-anchor")
    return TrustAnchors(ds, dnskeys, source)


def _read_zone_text(text: str) -> list[dns.rrset.RRset]:
    return dns.zonefile.read_rrsets(text, rdclass=None, default_ttl=0, origin=dns.name.root, relativize=False)


def _failing_line(text: str) -> int | None:
    """The line of the first record that does not parse (its last line, if it spans several).

    dnspython's own line number is often the next line (it counts the newline it has read), so the
    text is parsed again up to each line that closes a record, and the first prefix that fails
    names the line. Trust anchor files are a few lines long.
    """
    lines = text.splitlines(keepends=True)
    depth = 0
    for number, line in enumerate(lines, start=1):
        code = line.split(";", 1)[0]
        depth += code.count("(") - code.count(")")
        if depth > 0:
            continue  # inside a parenthesised record: a prefix ending here is incomplete, not wrong
        try:
            _read_zone_text("".join(lines[:number]))
        except dns.exception.DNSException:
            return number
    return None


def validate_rrset(
    rrset: dns.rrset.RRset,
    rrsigs: dns.rrset.RRset | None,
    signer: dns.name.Name,
    keys: dns.rrset.RRset,
    now: float | None = None,
) -> str | None:
    """None when one RRSIG by `signer` over `rrset` verifies with a zone key in `keys`, else why not.

    RFC 4035 §5.3.1: the signer must be the zone whose keys are used; revoked keys and keys without
    the Zone flag sign nothing. The reason names the best failure seen (expired beats "no key").
    """
    what = f"{dns.rdatatype.to_text(rrset.rdtype)} {rrset.name}"
    if rrsigs is None or len(rrsigs) == 0:
        return f"missing RRSIG over {what}"
    usable = [k for k in keys if k.flags & _ZONE_FLAG and not k.flags & _REVOKE_FLAG]  # type: ignore[attr-defined]
    key_set = dns.rrset.RRset(signer, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    for key in usable:
        key_set.add(key)
    reasons: list[str] = []
    for rrsig in rrsigs:
        if rrsig.signer != signer:  # type: ignore[attr-defined]
            reasons.append(f"RRSIG over {what} is signed by {rrsig.signer}, not {signer}")  # type: ignore[attr-defined]
            continue
        try:
            dns.dnssec.validate_rrsig(rrset, rrsig, {signer: key_set}, now=now)
            return None
        except dns.dnssec.UnsupportedAlgorithm:
            reasons.append(f"RRSIG over {what} uses an unsupported algorithm")
        except dns.dnssec.ValidationFailure as exc:
            reasons.append(_signature_reason(str(exc), what, rrsig))
    return min(reasons, key=_reason_rank)


def _signature_reason(failure: str, what: str, rrsig: object) -> str:
    tag = getattr(rrsig, "key_tag", "?")
    if failure == "expired":
        return f"RRSIG over {what} expired (key {tag})"
    if failure == "not yet valid":
        return f"RRSIG over {what} is not yet valid (key {tag})"
    if failure == "unknown key":
        return f"no DNSKEY matches the RRSIG over {what} (key {tag})"
    return f"RRSIG over {what} does not verify (key {tag}: {failure})"


def _reason_rank(reason: str) -> int:
    """Most telling first: a time problem, then a bad signature, then a missing key."""
    for rank, word in enumerate(("expired", "not yet valid", "does not verify", "no DNSKEY")):
        if word in reason:
            return rank
    return 9


def supported_ds(ds_records: Iterable[dns.rdtypes.ANY.DS.DS]) -> list[dns.rdtypes.ANY.DS.DS]:
    """DS records a validator can use (RFC 4035 §5.2: if none, the zone is treated as unsigned)."""
    usable = []
    for ds in ds_records:
        if ds.digest_type not in _DS_DIGESTS or not _POLICY.ok_to_validate_ds(ds):
            continue
        if not _algorithm_supported(ds.algorithm):
            continue
        usable.append(ds)
    return usable


def _algorithm_supported(algorithm: int) -> bool:
    try:
        dns.dnssec.get_algorithm_cls(algorithm)
    except (dns.dnssec.UnsupportedAlgorithm, ValueError):
        return False
    return algorithm not in (dns.dnssec.Algorithm.RSAMD5, dns.dnssec.Algorithm.DSA)


def keys_matching_ds(
    zone: dns.name.Name,
    ds_records: Sequence[dns.rdtypes.ANY.DS.DS],
    dnskeys: dns.rrset.RRset,
) -> dns.rrset.RRset:
    """The DNSKEYs of `zone` a DS record vouches for (key tag, algorithm and digest all match)."""
    matched = dns.rrset.RRset(zone, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    for key in dnskeys:
        if not key.flags & _ZONE_FLAG or key.flags & _REVOKE_FLAG:  # type: ignore[attr-defined]
            continue
        tag = dns.dnssec.key_id(key)  # type: ignore[arg-type]
        for ds in ds_records:
            if ds.key_tag != tag or ds.algorithm != key.algorithm:  # type: ignore[attr-defined]
                continue
            try:
                digest = dns.dnssec.make_ds(zone, key, _DS_DIGESTS[ds.digest_type], validating=True)
            except (dns.dnssec.UnsupportedAlgorithm, dns.dnssec.DeniedByPolicy, KeyError):
                continue
            if digest.digest == ds.digest:
                matched.add(key)
                break
    return matched


def anchor_keys(zone: dns.name.Name, anchors: TrustAnchors, dnskeys: dns.rrset.RRset) -> dns.rrset.RRset:
    """The zone's DNSKEYs vouched for by a trust anchor (a DNSKEY anchor or a DS anchor)."""
    trusted = keys_matching_ds(zone, anchors.ds.get(zone, ()), dnskeys)
    for key in anchors.dnskeys.get(zone, ()):
        if key in dnskeys:
            trusted.add(key)
    return trusted


def types_of(rdata: object) -> set[int]:
    """The types in an NSEC or NSEC3 type bitmap (RFC 4034 §4.1.2)."""
    found: set[int] = set()
    for window, bitmap in getattr(rdata, "windows", ()):
        for index, byte in enumerate(bitmap):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    found.add(window * 256 + index * 8 + bit)
    return found


@dataclass(frozen=True, slots=True)
class Denial:
    """A proof that a delegation has no DS: the records used (to be signature-checked) and how.

    `rrsets` is empty with `problem` set when the authority section proves nothing.
    """

    rrsets: tuple[dns.rrset.RRset, ...]
    how: str
    problem: str | None = None


def deny_ds(child: dns.name.Name, authority: Sequence[dns.rrset.RRset]) -> Denial:
    """Whether the NSEC/NSEC3 records of a NODATA answer to `child DS` prove there is no DS.

    NSEC (RFC 4035 §5.4): an NSEC at `child` whose bitmap has NS but neither DS nor SOA (SOA would
    be the child's own apex NSEC, from the wrong side of the cut). NSEC3 (RFC 5155 §8.5, §8.6):
    an NSEC3 matching the hash of `child` with the same bitmap rule, or an opt-out NSEC3 covering
    the next closer name with a matching NSEC3 for its closest encloser (§8.3, §7.2.1).
    """
    nsecs = [r for r in authority if r.rdtype == dns.rdatatype.NSEC]
    for rrset in nsecs:
        if rrset.name == child:
            types = types_of(rrset[0])
            if dns.rdatatype.DS in types:
                return Denial((), "", f"the NSEC at {child} lists a DS record")
            if dns.rdatatype.SOA in types or dns.rdatatype.NS not in types:
                return Denial((), "", f"the NSEC at {child} is not the parent side of a delegation")
            return Denial((rrset,), "NSEC")
    nsec3s = [r for r in authority if r.rdtype == dns.rdatatype.NSEC3]
    if nsec3s:
        return _deny_ds_nsec3(child, nsec3s)
    return Denial((), "", f"no NSEC or NSEC3 record proves that {child} has no DS")


def _deny_ds_nsec3(child: dns.name.Name, nsec3s: list[dns.rrset.RRset]) -> Denial:
    params = nsec3s[0][0]
    if params.iterations > _MAX_NSEC3_ITERATIONS:  # type: ignore[attr-defined]
        return Denial(tuple(nsec3s), "NSEC3 (iterations above RFC 9276's limit)")
    zone_of_nsec3 = nsec3s[0].name.parent()

    def hashed(name: dns.name.Name) -> str:
        return dns.dnssec.nsec3_hash(name, params.salt, params.iterations, params.algorithm).upper()  # type: ignore[attr-defined]

    def matching(name: dns.name.Name) -> dns.rrset.RRset | None:
        digest = hashed(name)
        return next((r for r in nsec3s if r.name.labels[0].decode().upper() == digest), None)

    match = matching(child)
    if match is not None:
        types = types_of(match[0])
        if dns.rdatatype.DS in types:
            return Denial((), "", f"the NSEC3 for {child} lists a DS record")
        if dns.rdatatype.SOA in types or dns.rdatatype.NS not in types:
            return Denial((), "", f"the NSEC3 for {child} is not the parent side of a delegation")
        return Denial((match,), "NSEC3")
    # Opt-out: closest encloser matched, next closer covered by an NSEC3 with the opt-out flag.
    encloser = child.parent()
    next_closer = child
    while encloser.is_subdomain(zone_of_nsec3):
        found = matching(encloser)
        if found is not None:
            cover = _covering(hashed(next_closer), nsec3s)
            if cover is None:
                return Denial((), "", f"no NSEC3 covers {next_closer}")
            if not cover[0].flags & _NSEC3_OPT_OUT:  # type: ignore[attr-defined]
                return Denial((), "", f"the NSEC3 covering {next_closer} is not opt-out")
            return Denial((found, cover), "NSEC3 opt-out")
        next_closer, encloser = encloser, encloser.parent()
    return Denial((), "", f"no NSEC3 proves the closest encloser of {child}")


def _covering(digest: str, nsec3s: list[dns.rrset.RRset]) -> dns.rrset.RRset | None:
    """The NSEC3 whose owner hash < digest < next hash (wrapping at the end of the chain)."""
    for rrset in nsec3s:
        owner = rrset.name.labels[0].decode().upper()
        following = base64.b32hexencode(rrset[0].next).decode().upper()  # type: ignore[attr-defined]
        if owner < digest < following or (following <= owner and (digest > owner or digest < following)):
            return rrset
    return None
