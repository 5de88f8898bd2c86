"""The SPF conformance suites as cases: inputs, acceptable results and the zone data they run on.

Five suites are loaded from `tests/conformance/data/` (copied with their licences; see each
SOURCE.md): the OpenSPF RFC 7208 and RFC 4408 suites, pyspf's extra cases, blitiri's cases and
Stalwart's vectors. Where a suite expects something RFC 7208 does not (an older RFC, a library's
lax mode, names RFC 7208 rejects), the case carries a `Deviation` from `DEVIATIONS` with the reason;
docs/spf-conformance.md lists them all.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.protocol.spf_macro import reverse_name

DATA = Path(__file__).resolve().parent / "data"

SUITE_FILES = {
    "rfc7208": DATA / "openspf-rfc7208" / "rfc7208-tests.yml",
    "rfc4408": DATA / "openspf-rfc4408" / "rfc4408-tests.yml",
    "pyspf": DATA / "pyspf-extra" / "test.yml",
    "blitiri": DATA / "blitiri-spf" / "blitirispf-tests.yml",
}
STALWART_DIR = DATA / "stalwart-mail-auth-spf"
SUITES = (*SUITE_FILES, "stalwart")

# Names whose TIMEOUT the server really drops (the rest answer SERVFAIL; see spf_zones.py).
SILENT_TIMEOUTS = {
    "rfc7208": frozenset({"alltimeout.example.net"}),
    "blitiri": frozenset({"lalala.com"}),
}
STALWART_RECEIVER = "localdomain.org"  # the receiving host of Stalwart's runner (%{r})
BLITIRI_SUFFIX = "test"  # single-label names in the blitiri suite are qualified (see below)


@dataclass(frozen=True, slots=True)
class Deviation:
    """Why a case is checked against something other than what its suite file says."""

    reason: str
    results: tuple[str, ...] | None = None  # the RFC 7208 results to expect instead
    explanation_ignore_case: bool = False


_PYSPF_LAX = (
    "pyspf's lax mode honours the obsolete default= modifier (strict=0 gives fail, strict=2 the "
    "pyspf-only result 'ambiguous'); RFC 7208 §6 ignores unknown modifiers, so the result is the "
    "default neutral, as the 7208 suite's default-modifier-obsolete case expects"
)
_NIBBLE_CASE = (
    "the suite spells the %{ir} nibbles of an IPv6 address in upper case (pyspf's output); "
    "sendready writes them in lower case, as RFC 7208 §7.4's example does. DNS names are "
    "case-insensitive, so only the explanation text differs; it is compared ignoring case"
)

_EXISTS_A_ONLY = (
    "exists matches on A records only, even for an IPv6 client (RFC 7208 §5.7; the 7208 suite's "
    "exists-ip6only); the name has only AAAA records. Stalwart also accepts AAAA"
)
_ERRORS_AFTER_ALL = (
    "a syntax error anywhere in the record is a permerror, even after 'all' (RFC 7208 §4.6; the "
    "7208 suite's detect-errors-anywhere and bare-ip6); Stalwart ignores what follows 'all'"
)
_VOID_LIMIT = (
    "t1.org to t10.org have no records in the vectors, so each a: is a void lookup and the third "
    "is a permerror (RFC 7208 §4.6.4; the 7208 suite's void-over-limit). Stalwart does not "
    "implement the void lookup limit (a SHOULD)"
)
_IP6_FOR_IP4 = (
    "an IPv4 client never matches ip6:, not even ::ffff:10.1.2.3 (RFC 7208 §5 treats IPv4-mapped "
    "addresses as IPv4; the 7208 suite's cidr6-ip4 and cidr6-0-ip4)"
)

# Keyed by (suite, case name); Stalwart's names are "<scenario>/<n>-<ip>".
DEVIATIONS: dict[tuple[str, str], Deviation] = {
    ("rfc7208", "v-macro-ip6"): Deviation(_NIBBLE_CASE, explanation_ignore_case=True),
    ("rfc4408", "v-macro-ip6"): Deviation(_NIBBLE_CASE, explanation_ignore_case=True),
    ("pyspf", "default-modifier"): Deviation(_PYSPF_LAX, results=("neutral",)),
    ("pyspf", "default-modifier-harsh"): Deviation(_PYSPF_LAX, results=("neutral",)),
    ("stalwart", "all-00-all-test/1-10.0.0.1"): Deviation(_ERRORS_AFTER_ALL, results=("permerror",)),
    ("stalwart", "basic-04-dns-lookup-limits/1-172.168.0.1"): Deviation(_VOID_LIMIT, results=("permerror",)),
    ("stalwart", "exists-00-exists/2-167.1.2.3"): Deviation(_EXISTS_A_ONLY, results=("fail",)),
    ("stalwart", "macro-01-macro-expansion-2/2-2001:db8::cb01"): Deviation(_EXISTS_A_ONLY, results=("fail",)),
    ("stalwart", "ip-01-ipv6-match/4-10.1.2.3"): Deviation(_IP6_FOR_IP4, results=("fail",)),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One block of zone data; all its cases run against one server."""

    suite: str
    key: str
    zonedata: Mapping[str, list[Any]] = field(hash=False, compare=False)
    silent_timeouts: frozenset[str] = frozenset()

    @property
    def fingerprint(self) -> str:
        """Identifies the DNS content, so identical scenarios can share a server."""
        text = json.dumps([self.zonedata, sorted(self.silent_timeouts)], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Case:
    """One check_host() evaluation and what the suite accepts."""

    suite: str
    scenario: Scenario
    name: str
    helo: str
    host: str
    mailfrom: str
    results: tuple[str, ...]
    explanation: str | None = None  # None: not checked; "DEFAULT": no exp= explanation applies
    receiver: str = "unknown"
    deviation: Deviation | None = None
    suite_results: tuple[str, ...] = ()  # as written in the file
    # Stalwart's runner checks the HELO identity first and reports it unless it passes.
    helo_identity_first: bool = False

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.scenario.key}/{self.name}"

    @property
    def sender(self) -> str:
        return self.mailfrom or f"postmaster@{self.helo}"

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "scenario"


def _results(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    legacy = {"unknown": "permerror", "error": "temperror"}  # pyspf's old names
    return tuple(legacy.get(str(v).lower(), str(v).lower()) for v in items)


def load_openspf(suite: str, path: Path) -> list[Case]:
    """A YAML stream of scenarios (the OpenSPF schema, also used by pyspf and blitiri)."""
    with path.open(encoding="latin-1") as stream:
        documents = [d for d in yaml.safe_load_all(stream) if d]
    cases: list[Case] = []
    for index, document in enumerate(documents):
        title = document.get("description") or document.get("comment") or ""
        zonedata = document.get("zonedata") or {}
        if suite == "blitiri":
            zonedata = _qualified_zonedata(zonedata)
        scenario = Scenario(
            suite, f"{index:02d}-{slug(title)[:40]}", zonedata, SILENT_TIMEOUTS.get(suite, frozenset())
        )
        for name, test in document["tests"].items():
            cases.append(_openspf_case(suite, scenario, name, test))
    return cases


def _openspf_case(suite: str, scenario: Scenario, name: str, test: Mapping[str, Any]) -> Case:
    results = _results(test["result"])
    mailfrom = str(test.get("mailfrom") or "")
    if suite == "blitiri":
        mailfrom = _qualified_sender(mailfrom)
    deviation = DEVIATIONS.get((suite, name))
    explanation = test.get("explanation")
    return Case(
        suite=suite,
        scenario=scenario,
        name=name,
        helo=str(test.get("helo") or ""),
        host=str(test["host"]),
        mailfrom=mailfrom,
        results=deviation.results if deviation and deviation.results else results,
        explanation=None if explanation is None else str(explanation),
        receiver=str(test.get("receiver") or "unknown"),
        deviation=deviation,
        suite_results=results,
    )


# blitiri's cases name hosts with single labels (d11, mx10, doesnotexist). RFC 7208 rejects those:
# a single-label <domain> gives none (§4.3, the 7208 suite's helo-not-fqdn) and a single-label
# domain-spec is a syntax error (§7.1, a-only-toplabel). So every single-label name is qualified
# under .test, which keeps each case testing what it was written for (lookup limits, NXDOMAIN).
# docs/spf-conformance.md lists this adaptation.
_SINGLE_LABEL_TERM = re.compile(
    r"^([+\-~?]?(?:include|a|mx|ptr|exists):|redirect=|exp=)([^.%/\s]+)$", re.IGNORECASE
)


def _qualify(name: str) -> str:
    bare = name.rstrip(".")
    return f"{bare}.{BLITIRI_SUFFIX}" if bare and "." not in bare else name


def _qualified_sender(sender: str) -> str:
    local, at, domain = sender.rpartition("@")
    return f"{local}{at}{_qualify(domain)}" if at else sender


def _qualified_record(text: str) -> str:
    terms = []
    for term in text.split(" "):
        match = _SINGLE_LABEL_TERM.match(term)
        terms.append(f"{match.group(1)}{_qualify(match.group(2))}" if match else term)
    return " ".join(terms)


def _qualified_zonedata(zonedata: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for owner, items in zonedata.items():
        qualified: list[Any] = []
        for item in items:
            if isinstance(item, dict) and len(item) == 1:
                ((rdtype, value),) = item.items()
                if rdtype in ("SPF", "TXT") and isinstance(value, str):
                    value = _qualified_record(value)
                elif rdtype == "MX":
                    value = [value[0], _qualify(str(value[1]))]
                elif rdtype in ("PTR", "CNAME"):
                    value = _qualify(str(value))
                item = {rdtype: value}
            qualified.append(item)
        out[_qualify(owner)] = qualified
    return out


def load_stalwart(directory: Path) -> list[Case]:
    """Stalwart's line-oriented vectors (not real YAML; read as its own runner reads them).

    Records accumulate over a whole file and a later line for a name replaces the earlier one
    (spf: and exp: share the TXT slot); HELO, sender and IP reset at every `---`. Each `expect:`
    evaluates with the state so far; `_dns_error.` names answer SERVFAIL. The optional text after
    the result is the expected explanation.
    """
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yml")):
        state = _StalwartState()
        for section_index, section in enumerate(path.read_text(encoding="utf-8").split("---\n")):
            helo, sender, ip, title, number = "", "", "127.0.0.1", "", 0
            for raw in section.split("\n"):
                line = raw.strip()
                line = line[1:].strip() if line.startswith("-") else line
                key, _, value = line.partition(":")
                value = value.strip()
                if key == "name":
                    title = value
                elif key in ("spf", "exp", "a", "aaaa", "ptr", "mx"):
                    state.add(key, value)
                elif key == "domain":
                    helo = value
                    state.note_error_names(value)
                elif key == "sender":
                    sender = value
                    state.note_error_names(value)
                elif key == "ip":
                    ip = value
                elif key == "expect":
                    number += 1
                    result, _, explanation = value.partition(" ")
                    scenario = Scenario(
                        "stalwart", f"{path.stem}-{section_index:02d}-{slug(title)[:40]}", state.zonedata()
                    )
                    name = f"{number}-{ip}"
                    deviation = DEVIATIONS.get(("stalwart", f"{scenario.key}/{name}"))
                    results = (result.lower(),)
                    cases.append(
                        Case(
                            suite="stalwart",
                            scenario=scenario,
                            name=name,
                            helo=helo,
                            host=ip,
                            mailfrom=sender,
                            results=deviation.results if deviation and deviation.results else results,
                            explanation=explanation.strip() or None,
                            receiver=STALWART_RECEIVER,
                            deviation=deviation,
                            suite_results=results,
                            helo_identity_first=True,
                        )
                    )
    return cases


class _StalwartState:
    """The records a Stalwart file has defined so far."""

    def __init__(self) -> None:
        self.txt: dict[str, str] = {}
        self.addresses: dict[tuple[str, str], list[str]] = {}
        self.ptr: dict[str, list[str]] = {}
        self.mx: dict[str, list[str]] = {}
        self.error_names: set[str] = set()

    def add(self, key: str, value: str) -> None:
        owner, _, data = value.partition(" ")
        owner = owner.strip().lower()
        data = data.strip()
        self.note_error_names(data)
        if key in ("spf", "exp"):
            self.txt[owner] = data
        elif key in ("a", "aaaa"):
            self.addresses[(owner, key.upper())] = [d.strip() for d in data.split(",")]
        elif key == "ptr":
            self.ptr[owner] = [d.strip() for d in data.split(",")]
        else:
            self.mx[owner] = [d.strip() for d in data.split(",")]

    def note_error_names(self, text: str) -> None:
        """Names with `_dns_error.` in them fail in Stalwart's mock resolver; here they SERVFAIL."""
        self.error_names.update(re.findall(r"[A-Za-z0-9._-]*_dns_error\.[A-Za-z0-9.-]*[A-Za-z0-9]", text))

    def zonedata(self) -> dict[str, list[Any]]:
        zone: dict[str, list[Any]] = {}

        def put(owner: str, item: object) -> None:
            if _storable(owner):
                zone.setdefault(owner, []).append(item)

        for owner, text in self.txt.items():
            put(owner, {"TXT": text})
        for (owner, rdtype), addresses in self.addresses.items():
            for address in addresses:
                put(owner, {rdtype: address})
        for ip, names in self.ptr.items():
            for name in names:
                put(reverse_name(ipaddress.ip_address(ip)), {"PTR": name})
        for owner, addresses in self.mx.items():
            for position, address in enumerate(addresses):
                # Stalwart's runner names each exchange mx.<ip>.<position>; any unique name will do.
                exchange = f"mx{position}-{address.replace(':', '-').replace('.', '-')}.stalwart-mx.test"
                put(owner, {"MX": [position + 1, exchange]})
                rdtype = "AAAA" if ":" in address else "A"
                put(exchange, {rdtype: address})
        for name in self.error_names:
            put(name.lower(), {"SERVFAIL": True})
        return zone


def _storable(owner: str) -> bool:
    """Owners that cannot exist in DNS (over-long names and labels) are left out of the zone."""
    labels = owner.rstrip(".").split(".")
    return len(owner) <= 253 and all(0 < len(label) <= 63 for label in labels)


def load_all() -> list[Case]:
    """Every case of every suite, in suite order."""
    cases: list[Case] = []
    for suite, path in SUITE_FILES.items():
        cases.extend(load_openspf(suite, path))
    cases.extend(load_stalwart(STALWART_DIR))
    return cases
