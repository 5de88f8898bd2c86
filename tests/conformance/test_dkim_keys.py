"""DKIM key records from public test suites, parsed with the verdict each suite expects.

Data (copied byte for byte, with licence and SOURCE.md) in `data/dkimpy-key-records/` (dkimpy's
key-record fixtures; expectations from dkimpy's own tests, named per file in SOURCE.md) and
`data/mailauth-dkim-dns/dns.json` (RFC 8463 Appendix A keys as mailauth's fake resolver serves
them: each TXT RR a list of character-strings). The mailauth records also go through the real
collector from a zone file, so "join the strings of one RR, then parse" is checked end to end.
Counts are printed as `N passed, N failed` per suite (run with `-s` to see them).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.catalogue import load_catalogue
from auditor.model.facts import DkimFacts
from auditor.model.inventory import DomainTarget, Region
from auditor.protocol.dkim import DkimKey, looks_like_dkim, parse_dkim_key
from auditor.resources import rules_dir

DATA = Path(__file__).parent / "data"
DKIMPY = DATA / "dkimpy-key-records"
MAILAUTH = DATA / "mailauth-dkim-dns" / "dns.json"
NOT_DATA = {"LICENSE", "LICENSE.txt", "SOURCE.md"}


@dataclass(frozen=True)
class Verdict:
    """What a verifier must conclude: a usable key of a type and size, or unusable for a reason."""

    key_type: str | None = None
    bits: int | None = None
    error: str | None = None
    """A phrase the parser's reason must contain; None means the key must be usable."""
    origin: str = ""
    """Where the expectation comes from (the suite's own test), for the failure message."""

    def check(self, key: DkimKey) -> list[str]:
        """Every way `key` differs from the verdict (empty when it conforms)."""
        problems = []
        if self.error is None:
            if key.error is not None:
                problems.append(f"expected a usable key, parser said {key.error!r}")
            if (key.key_type, key.bits) != (self.key_type, self.bits):
                problems.append(f"expected {self.key_type}/{self.bits}, got {key.key_type}/{key.bits}")
            if key.revoked:
                problems.append("expected a key, parser said revoked")
        elif key.error is None or self.error not in key.error:
            problems.append(f"expected an error containing {self.error!r}, got {key.error!r}")
        return problems


DKIMPY_VERDICTS: dict[str, Verdict] = {
    "test.txt": Verdict("rsa", 1024, origin="test_dkim.py test_verifies; test_crypto.py"),
    "test2.txt": Verdict("rsa", 1024, origin="test_dkim.py test_implicit_k (k= defaults to rsa)"),
    "badversion.txt": Verdict(error="v= must be DKIM1", origin="test_dkim.py test_bad_version"),
    "badk.txt": Verdict(error="unknown key type k=ed25519-sha256", origin="test_dkim.py test_unknown_k"),
    "test_bad.txt": Verdict(error="does not decode to an RSA public key", origin="test_crypto.py"),
    "test_tlsrpt.txt": Verdict(error="s=tlsrpt", origin="test_dkim_tlsrpt.py (verifies TLSRPT only)"),
    "ed25519test.dns": Verdict("ed25519", 256, origin="test_dkim_ed25519.py (no v=, which is optional)"),
    "eximtest.dns": Verdict("ed25519", 256, origin="test_dkim_ed25519.py (Exim interop vector)"),
}

MAILAUTH_VERDICTS: dict[str, Verdict | None] = {
    "brisbane._domainkey.football.example.com": Verdict("ed25519", 256, origin="RFC 8463 Appendix A"),
    "test._domainkey.football.example.com": Verdict("rsa", 1024, origin="RFC 8463 Appendix A (4 strings)"),
    "football.example.com": None,  # an SPF record: not a DKIM key record at all
}


def _mailauth_records() -> dict[str, list[list[str]]]:
    """Owner name → its TXT RRs, each a list of character-strings, as the fixture stores them."""
    zone = json.loads(MAILAUTH.read_text(encoding="utf-8"))
    return {name: types.get("TXT", []) for name, types in zone.items()}


def _report(suite: str, outcomes: list[tuple[str, list[str]]]) -> None:
    """Print the suite's count line and fail with every non-conforming case listed."""
    failed = [(name, problems) for name, problems in outcomes if problems]
    print(f"\n{suite}: {len(outcomes) - len(failed)} passed, {len(failed)} failed")
    assert not failed, "\n".join(f"{name}: {'; '.join(problems)}" for name, problems in failed)


def test_every_dkimpy_record_has_a_verdict() -> None:
    """A data file added without an expectation would otherwise be skipped silently."""
    files = {p.name for p in DKIMPY.iterdir() if p.name not in NOT_DATA}
    assert files == set(DKIMPY_VERDICTS)


def test_dkimpy_key_records() -> None:
    """Each dkimpy fixture is parsed to the verdict dkimpy's own tests expect."""
    outcomes = []
    for name, verdict in sorted(DKIMPY_VERDICTS.items()):
        text = (DKIMPY / name).read_text(encoding="ascii")
        assert looks_like_dkim(text), name
        problems = verdict.check(parse_dkim_key(text))
        outcomes.append((f"{name} ({verdict.origin})", problems))
    _report("dkimpy-key-records", outcomes)


def test_dkimpy_tlsrpt_key_keeps_its_service_type() -> None:
    """`s=tlsrpt` is unusable for mail because of the service type, and the fact says which."""
    key = parse_dkim_key((DKIMPY / "test_tlsrpt.txt").read_text(encoding="ascii"))
    assert key.service_types == ("tlsrpt",)


def test_mailauth_records_join_strings_then_parse() -> None:
    """Each RR's strings are joined without separators (RFC 6376 §3.6.2.2) before parsing."""
    records = _mailauth_records()
    assert set(records) == set(MAILAUTH_VERDICTS)
    outcomes = []
    for name, verdict in sorted(MAILAUTH_VERDICTS.items()):
        (strings,) = records[name]
        text = "".join(strings)
        if verdict is None:
            outcomes.append((name, ["taken for a DKIM key record"] if looks_like_dkim(text) else []))
            continue
        outcomes.append((f"{name} ({verdict.origin})", verdict.check(parse_dkim_key(text))))
    _report("mailauth-dkim-dns", outcomes)


def test_mailauth_rsa_key_split_over_strings_is_unusable_when_read_string_by_string() -> None:
    """The split key only works joined: its first string alone is a truncated key."""
    (strings,) = _mailauth_records()["test._domainkey.football.example.com"]
    assert len(strings) == 4
    assert parse_dkim_key(strings[0]).error is not None


def _zone_text(origin: str, records: dict[str, list[list[str]]]) -> str:
    """A master file holding the fixture's TXT RRs, one RR per list of strings."""
    lines = [f"$ORIGIN {origin}.", "$TTL 300", "@ IN SOA ns1 hostmaster 1 3600 600 86400 300", "@ IN NS ns1"]
    for name, rrs in records.items():
        for strings in rrs:
            quoted = " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in strings)
            lines.append(f"{name}. IN TXT {quoted}")
    return "\n".join(lines) + "\n"


def test_mailauth_records_through_the_collector(tmp_path: Path) -> None:
    """Served from a zone file and collected as an audit would: both RFC 8463 keys are usable."""
    origin = "football.example.com"
    (tmp_path / f"{origin}.zone").write_text(_zone_text(origin, _mailauth_records()), encoding="utf-8")

    async def run() -> object:
        resolver = CachingResolver(ZoneBackend.from_directory(tmp_path))
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        target = DomainTarget(name=origin, region=Region.US, dkim_selectors=("brisbane", "test"))
        try:
            return await collector.collect(target)
        finally:
            collector.close()

    facts = asyncio.run(run())
    dkim = facts.dkim  # type: ignore[attr-defined]
    assert isinstance(dkim, DkimFacts)
    got = {k.selector: (k.found, k.key_type, k.key_bits, k.parse_error) for k in dkim.selectors}
    assert got == {"brisbane": (True, "ed25519", 256, None), "test": (True, "rsa", 1024, None)}


@pytest.mark.parametrize("name", sorted(DKIMPY_VERDICTS))
def test_dkimpy_verdicts_can_fail(name: str) -> None:
    """Guard against a vacuous check: the opposite verdict must be reported as a mismatch."""
    verdict = DKIMPY_VERDICTS[name]
    opposite = Verdict(error="x") if verdict.error is None else Verdict("rsa", 1024)
    assert opposite.check(parse_dkim_key((DKIMPY / name).read_text(encoding="ascii")))
