"""A signed test hierarchy (root -> test -> children) built with dnspython's signer, for DNSSEC tests.

Keys are Ed25519 (milliseconds to make and sign). Each child of `test.` plants one case:

* `good.test`: signed, DS at the parent: secure (and `mail.good.test`, a name in it without SOA);
* `unsigned.test`: delegated without DS, so `test.`'s signed NSEC proves the chain ends there;
* `expired.test`: signed, but every signature expired yesterday;
* `mismatch.test`: the parent's DS was made from a key the zone does not publish;
* `nosig.test`: DS at the parent and DNSKEYs, but the zone is served without any RRSIG;
* `failing.test`: signed and secure; tests make its DNSKEY lookup fail with an injected fault.

`trust_anchor_text()` is the root's KSK as a DS record, for `--trust-anchor`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ed25519

SIGNED_CHILDREN = ("good", "expired", "mismatch", "nosig", "failing")
UNSIGNED_CHILDREN = ("unsigned",)


@dataclass(frozen=True)
class Key:
    private: ed25519.Ed25519PrivateKey
    dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY


def make_key() -> Key:
    private = ed25519.Ed25519PrivateKey.generate()
    dnskey = dns.dnssec.make_dnskey(private.public_key(), dns.dnssec.Algorithm.ED25519, flags=257)
    return Key(private, dnskey)  # type: ignore[arg-type]


def _zone(origin: str, body: str) -> dns.zone.Zone:
    text = f"$ORIGIN {origin}\n$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\n"
    text += f"ns IN A 127.0.0.1\n{body}"
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)


def _sign(zone: dns.zone.Zone, key: Key, *, expired: bool = False) -> dns.zone.Zone:
    now = time.time()
    inception, expiration = (now - 3 * 86400, now - 86400) if expired else (now - 3600, now + 86400)
    with zone.writer() as txn:
        dns.dnssec.sign_zone(
            zone, txn=txn, keys=[(key.private, key.dnskey)], inception=inception, expiration=expiration
        )
    return zone


def _strip_signatures(zone: dns.zone.Zone) -> None:
    """Every RRSIG removed (keys and NSEC records stay): a signer that stopped signing."""
    with zone.writer() as txn:
        for name, rdataset in list(txn.iterate_rdatasets()):
            if rdataset.rdtype == dns.rdatatype.RRSIG:
                txn.delete(name, rdataset)


def _ds(name: str, key: Key) -> str:
    return dns.dnssec.make_ds(name, key.dnskey, "SHA256").to_text()


@dataclass(frozen=True)
class Hierarchy:
    zones: tuple[dns.zone.Zone, ...]
    root_key: Key

    def trust_anchor_text(self) -> str:
        return f". IN DS {_ds('.', self.root_key)}\n"


def build_hierarchy() -> Hierarchy:
    """Every zone of the hierarchy, signed; about 20 ms."""
    root_key, tld_key = make_key(), make_key()
    keys = {child: make_key() for child in SIGNED_CHILDREN}
    children: list[dns.zone.Zone] = []
    delegations = ""
    for child, key in keys.items():
        origin = f"{child}.test."
        delegations += f"{child} IN NS ns.{child}\nns.{child} IN A 127.0.0.1\n"
        ds_key = make_key() if child == "mismatch" else key
        delegations += f"{child} IN DS {_ds(origin, ds_key)}\n"
        zone = _zone(origin, '@ IN TXT "v=spf1 -all"\nmail IN TXT "hello"\n')
        _sign(zone, key, expired=child == "expired")
        if child == "nosig":
            _strip_signatures(zone)
        children.append(zone)
    for child in UNSIGNED_CHILDREN:
        delegations += f"{child} IN NS ns.{child}\nns.{child} IN A 127.0.0.1\n"
        children.append(_zone(f"{child}.test.", '@ IN TXT "v=spf1 -all"\n'))
    tld = _sign(_zone("test.", delegations), tld_key)
    root = _sign(
        _zone(".", f"test. IN NS ns.test.\nns.test. IN A 127.0.0.1\ntest. IN DS {_ds('test.', tld_key)}\n"),
        root_key,
    )
    return Hierarchy((root, tld, *children), root_key)
