"""The DNS collector carries the key record's optional tags into the facts rules read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from auditor.collect.dns.domain import DnsCollector
from auditor.collect.dns.resolver import CachingResolver
from auditor.collect.dns.zonefiles import ZoneBackend
from auditor.engine.catalogue import load_catalogue
from auditor.model.facts import DkimFacts
from auditor.model.inventory import DomainTarget, Region
from auditor.resources import rules_dir

ED25519_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="  # RFC 8463 Appendix A
ZONE = f"""$ORIGIN tags.example.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 300
@ IN NS ns1
testing._domainkey IN TXT "v=DKIM1; k=ed25519; t=y:s; h=sha1; s=email:tlsrpt; p={ED25519_KEY}"
plain._domainkey IN TXT "k=ed25519; p=" "{ED25519_KEY}"
"""


def test_optional_tags_reach_the_key_facts(tmp_path: Path) -> None:
    (tmp_path / "tags.example.zone").write_text(ZONE)

    async def run() -> object:
        resolver = CachingResolver(ZoneBackend.from_directory(tmp_path))
        collector = DnsCollector(resolver, load_catalogue(rules_dir() / "providers" / "catalogue.yaml"))
        target = DomainTarget(name="tags.example", region=Region.US, dkim_selectors=("testing", "plain"))
        try:
            return await collector.collect(target)
        finally:
            collector.close()

    dkim = asyncio.run(run()).dkim  # type: ignore[attr-defined]
    assert isinstance(dkim, DkimFacts)
    keys = {k.selector: k for k in dkim.selectors}
    testing, plain = keys["testing"], keys["plain"]
    assert (testing.parse_error, testing.key_type, testing.key_bits) == (None, "ed25519", 256)
    assert (testing.testing, testing.strict) == (True, True)
    assert testing.hash_algorithms == ("sha1",)
    assert testing.service_types == ("email", "tlsrpt")
    assert (plain.parse_error, plain.testing, plain.strict, plain.hash_algorithms) == (None, False, False, ())
