#!/usr/bin/env python3
"""Deterministic generator of a synthetic Mailgun sending-domain population for the benchmark.

    python bench/generate.py --domains 10000 --seed 1 --out bench/.work/n10000-s1

writes into OUT:

- ``inventory.yaml``   sendready inventory (``defaults:`` + ``domains:``), one entry per domain;
- ``zones/*.zone``     BIND master files: ONE zone ``bench.example`` holding every customer domain
                       (``mg.c000123.bench.example``), copies of the provider/vendor zones from
                       ``examples/zones`` (mailgun.org with its nested SPF includes and EU names,
                       crm-vendor.example, helpdesk-vendor.example) and reverse zones for the
                       documentation address ranges (so PTR look-ups of MX hosts get real answers);
- ``nsd-zones.conf``   NSD ``zone:`` clauses for those files (``zonesdir`` = OUT/zones);
- ``queries.txt``      the per-domain query set plus the shared names, in dnsperf's input format;
- ``expected.json``    the planted case of every domain, and the mix counts;
- ``stamp.json``       generator version, N and seed (bench/run.py uses it as a cache key).

Only the standard library is used. Output is byte-for-byte identical for the same N, seed and
generator version on every machine: even the DKIM keys are real RSA keys generated from the
seeded PRNG (about 20 per seed, reused across domains; they are public keys only, and, being
derived from a public seed, must never sign anything).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import sys
from pathlib import Path

GENERATOR_VERSION = 3
REPO = Path(__file__).resolve().parent.parent
EXAMPLE_ZONES = REPO / "examples" / "zones"
PROVIDER_ZONES = ("mailgun.org", "crm-vendor.example", "helpdesk-vendor.example")
BENCH_ZONE = "bench.example"

# Planted case -> share of the population. "ok" is ~70%; the rest is spread over the mistakes.
MIX: dict[str, float] = {
    "ok": 0.70,
    "missing_include": 0.04,
    "duplicate_spf": 0.03,
    "too_many_lookups": 0.03,
    "dkim_missing": 0.04,
    "dkim_weak_512": 0.03,
    "wrong_region_tracking": 0.04,
    "missing_mx": 0.04,
    "no_dmarc": 0.05,
}
EU_SHARE = 0.35
SELECTORS = ("k1", "s1", "smtp", "mailo", "krs", "pic", "mx", "email")
N_KEYS_2048 = 8
N_KEYS_1024 = 12
N_KEYS_512 = 3

US = {"mx": ("mxa.mailgun.org.", "mxb.mailgun.org."), "tracking": "mailgun.org."}
EU = {"mx": ("mxa.eu.mailgun.org.", "mxb.eu.mailgun.org."), "tracking": "eu.mailgun.org."}

SPF_MAILGUN = "v=spf1 include:mailgun.org ~all"
SPF_MAILGUN_EU = "v=spf1 include:eu.mailgun.org ~all"
SPF_CRM_ONLY = "v=spf1 include:spf.crm-vendor.example ~all"
SPF_HELPDESK_ONLY = "v=spf1 include:spf.helpdesk-vendor.example ~all"
SPF_TOO_MANY = (
    "v=spf1 include:mailgun.org include:spf.crm-vendor.example "
    "include:spf.helpdesk-vendor.example ~all"
)  # 5 + 4 + 4 = 13 lookups

# Names every auditor resolves once per run (SPF include chains, their a:/mx: targets, MX hosts).
SHARED_QUERIES = [
    ("mailgun.org", "TXT"),
    ("_spf.mailgun.org", "TXT"),
    ("_spf1.mailgun.org", "TXT"),
    ("_spf2.mailgun.org", "TXT"),
    ("_spf.eu.mailgun.org", "TXT"),
    ("eu.mailgun.org", "TXT"),
    ("spf.crm-vendor.example", "TXT"),
    ("_spf2.crm-vendor.example", "TXT"),
    ("crm-vendor.example", "MX"),
    ("relay.crm-vendor.example", "A"),
    ("spf.helpdesk-vendor.example", "TXT"),
    ("out.helpdesk-vendor.example", "A"),
    ("_netblocks.helpdesk-vendor.example", "TXT"),
    ("helpdesk-vendor.example", "MX"),
    ("mxa.mailgun.org", "A"),
    ("mxb.mailgun.org", "A"),
    ("mxa.eu.mailgun.org", "A"),
    ("mxb.eu.mailgun.org", "A"),
]


# --------------------------------------------------------------------------- deterministic RSA

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p**0.5) + 1))]


def _is_probable_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random, e: int) -> int:
    while True:
        # top two bits set so that p*q has exactly 2*bits bits; odd
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (candidate - 1) % e and _is_probable_prime(candidate, rng):
            return candidate


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _der_int(v: int) -> bytes:
    body = v.to_bytes(v.bit_length() // 8 + 1, "big")  # leading 0x00 keeps it positive
    return _der(0x02, body)


_RSA_ALG_ID = bytes.fromhex("300d06092a864886f70d0101010500")  # rsaEncryption, NULL


def rsa_spki_b64(bits: int, rng: random.Random) -> str:
    """A real RSA public key (SubjectPublicKeyInfo, DER, base64) from a seeded PRNG."""
    e = 65537
    while True:
        p, q = _prime(bits // 2, rng, e), _prime(bits // 2, rng, e)
        n = p * q
        if p != q and n.bit_length() == bits:
            break
    rsa_pub = _der(0x30, _der_int(n) + _der_int(e))
    spki = _der(0x30, _RSA_ALG_ID + _der(0x03, b"\x00" + rsa_pub))
    return base64.b64encode(spki).decode("ascii")


def make_keys(seed: int) -> dict[str, list[str]]:
    rng = random.Random(f"sendready-bench-keys-{seed}")
    return {
        "2048": [rsa_spki_b64(2048, rng) for _ in range(N_KEYS_2048)],
        "1024": [rsa_spki_b64(1024, rng) for _ in range(N_KEYS_1024)],
        "512": [rsa_spki_b64(512, rng) for _ in range(N_KEYS_512)],
    }


# --------------------------------------------------------------------------- zone text helpers


def txt_rdata(value: str) -> str:
    """Quote a TXT value, split into <=255-character strings."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def soa_header(origin: str) -> str:
    return (
        f"$ORIGIN {origin}.\n$TTL 300\n"
        f"@\tIN\tSOA\tns1.{origin}. hostmaster.{origin}. ( 2024060101 3600 600 604800 300 )\n"
        f"@\tIN\tNS\tns1.{origin}.\n"
        "ns1\tIN\tA\t192.0.2.53\n"
    )


def reverse_zones() -> dict[str, str]:
    """PTR records for every A record the provider/vendor zones use (documentation ranges)."""
    hosts = {
        "192.0.2": {
            10: "mxa.mailgun.org.",
            11: "mxb.mailgun.org.",
            25: "smtp.mailgun.org.",
            53: "ns1.bench.example.",
            80: "mailgun.org.",
            140: "out.helpdesk-vendor.example.",
            141: "inbound.helpdesk-vendor.example.",
            142: "out.helpdesk-vendor.example.",
        },
        "198.51.100": {
            10: "mxa.eu.mailgun.org.",
            11: "mxb.eu.mailgun.org.",
            25: "smtp.eu.mailgun.org.",
            80: "eu.mailgun.org.",
        },
        "203.0.113": {
            21: "mx1.crm-vendor.example.",
            22: "mx2.crm-vendor.example.",
            30: "relay.crm-vendor.example.",
        },
    }
    zones = {}
    for net, ptrs in hosts.items():
        origin = ".".join(reversed(net.split("."))) + ".in-addr.arpa"
        body = (
            f"$ORIGIN {origin}.\n$TTL 300\n"
            f"@\tIN\tSOA\tns1.bench.example. hostmaster.bench.example. "
            "( 2024060101 3600 600 604800 300 )\n"
            "@\tIN\tNS\tns1.bench.example.\n"
        )
        body += "".join(f"{last}\tIN\tPTR\t{name}\n" for last, name in sorted(ptrs.items()))
        zones[origin] = body
    return zones


# --------------------------------------------------------------------------- population


def assign_cases(n: int, rng: random.Random) -> list[str]:
    counts = {case: round(share * n) for case, share in MIX.items() if case != "ok"}
    counts["ok"] = max(0, n - sum(counts.values()))
    cases = [case for case in MIX for _ in range(counts[case])][:n]
    rng.shuffle(cases)
    return cases


def build(n: int, seed: int, out: Path) -> dict:
    rng = random.Random(f"sendready-bench-{seed}")
    keys = make_keys(seed)
    good_keys = [(2048, k) for k in keys["2048"]] + [(1024, k) for k in keys["1024"]]
    cases = assign_cases(n, rng)

    inv_lines = [
        "# sendready benchmark inventory (generated by bench/generate.py; do not edit)",
        f"# domains: {n}  seed: {seed}  generator: v{GENERATOR_VERSION}",
        "defaults:",
        "  provider: mailgun",
        "  region: auto",
        "  receiving: true",
        "  tracking: true",
        "domains:",
    ]
    zone = [
        soa_header(BENCH_ZONE),
        "; every customer domain of the benchmark lives in this one zone\n",
    ]
    queries: list[str] = []
    expected: dict[str, dict] = {}

    for i, case in enumerate(cases):
        name = f"mg.c{i:06d}.{BENCH_ZONE}"
        rel = f"mg.c{i:06d}"
        region = "eu" if rng.random() < EU_SHARE else "us"
        own, other = (EU, US) if region == "eu" else (US, EU)
        nsel = 2 if rng.random() < 0.05 else 1
        selectors = rng.sample(SELECTORS, nsel)

        # SPF (+ some realistic unrelated apex TXT records)
        spf = [SPF_MAILGUN]
        if region == "eu" and rng.random() < 0.10:
            spf = [SPF_MAILGUN_EU]  # accepted too (provider-facts 1.3)
        if case == "missing_include":
            spf = [SPF_CRM_ONLY]
        elif case == "duplicate_spf":
            spf = [SPF_MAILGUN, rng.choice([SPF_CRM_ONLY, SPF_HELPDESK_ONLY])]
        elif case == "too_many_lookups":
            spf = [SPF_TOO_MANY]
        apex_txt = list(spf)
        if rng.random() < 0.25:
            apex_txt.append(f"google-site-verification={rng.getrandbits(128):032x}")
        if rng.random() < 0.10:
            apex_txt.append(f"mailgun-verification={rng.getrandbits(96):024x}")
        for value in apex_txt:
            zone.append(f"{rel}\tIN\tTXT\t{txt_rdata(value)}\n")

        # DKIM
        for sel in selectors:
            if case == "dkim_missing":
                continue
            if case == "dkim_weak_512" and sel == selectors[0]:
                _bits, key = 512, rng.choice(keys["512"])
            else:
                _bits, key = rng.choice(good_keys)
            zone.append(f"{sel}._domainkey.{rel}\tIN\tTXT\t{txt_rdata(f'k=rsa; p={key}')}\n")

        # MX
        if case != "missing_mx":
            for host in own["mx"]:
                zone.append(f"{rel}\tIN\tMX\t10 {host}\n")

        # tracking CNAME
        target = other["tracking"] if case == "wrong_region_tracking" else own["tracking"]
        zone.append(f"email.{rel}\tIN\tCNAME\t{target}\n")

        # DMARC
        if case != "no_dmarc":
            policy = rng.choice(("none", "quarantine", "reject"))
            zone.append(
                f"_dmarc.{rel}\tIN\tTXT\t{txt_rdata(f'v=DMARC1; p={policy}; rua=mailto:dmarc@{name}')}\n"
            )

        inv_lines += [
            f"  - name: {name}",
            f"    region: {region}",
            f"    dkim_selectors: [{', '.join(selectors)}]",
        ]
        queries += [f"{name} TXT", f"_dmarc.{name} TXT", f"{name} MX", f"email.{name} CNAME"]
        queries += [f"{sel}._domainkey.{name} TXT" for sel in selectors]
        expected[name] = {"case": case, "region": region, "selectors": selectors}

    queries += [f"{qname} {qtype}" for qname, qtype in SHARED_QUERIES]

    # ---- write
    if out.exists():
        shutil.rmtree(out)
    (out / "zones").mkdir(parents=True)
    (out / "inventory.yaml").write_text("\n".join(inv_lines) + "\n")
    (out / "zones" / f"{BENCH_ZONE}.zone").write_text("".join(zone))
    zone_names = [BENCH_ZONE]
    for origin in PROVIDER_ZONES:
        shutil.copyfile(EXAMPLE_ZONES / f"{origin}.zone", out / "zones" / f"{origin}.zone")
        zone_names.append(origin)
    for origin, text in reverse_zones().items():
        (out / "zones" / f"{origin}.zone").write_text(text)
        zone_names.append(origin)
    (out / "nsd-zones.conf").write_text(
        "# NSD zone clauses for the benchmark (zonesdir must point at this directory's zones/)\n"
        + "".join(f'zone:\n\tname: "{z}"\n\tzonefile: "{z}.zone"\n\n' for z in zone_names)
    )
    (out / "queries.txt").write_text("\n".join(queries) + "\n")
    mix = {case: cases.count(case) for case in MIX}
    (out / "expected.json").write_text(
        json.dumps({"mix": mix, "domains": expected}, indent=1, sort_keys=True) + "\n"
    )
    stamp = {
        "generator": GENERATOR_VERSION,
        "domains": n,
        "seed": seed,
        "zones": zone_names,
        "queries": len(queries),
        "mix": mix,
    }
    (out / "stamp.json").write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    return stamp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domains", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.domains < 1 or args.domains > 999999:
        ap.error("--domains must be between 1 and 999999")
    stamp = build(args.domains, args.seed, args.out)
    print(json.dumps(stamp, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
