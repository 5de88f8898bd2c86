"""Which inventory a stream belongs to, and which shard a domain falls in.

The fingerprint and the split both ignore inventory order: a shard holds the domains whose
normalised name hashes to it (sha256, the first 8 bytes as an integer, modulo the shard count), so
shard 3/8 is the same set of domains whichever order the inventory lists them in and whichever
other shards are ever run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence

from auditor.engine.rules import RuleSet
from auditor.errors import InputError
from auditor.model.inventory import DomainTarget
from auditor.model.stream import ShardRef

MAX_SHARDS = 1_000_000


def parse_shard(text: str) -> ShardRef:
    """`I/N` with 1 <= I <= N; a one-line `InputError` on anything else."""
    index_text, slash, count_text = text.strip().partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        index = count = 0
    if not slash or not 1 <= index <= count <= MAX_SHARDS:
        raise InputError(f"expected I/N with 1 <= I <= N (e.g. 2/8), got {text!r}", field="--shard")
    return ShardRef(index, count)


def shard_number(name: str, count: int) -> int:
    """The 1-based shard of the normalised domain `name` among `count` shards."""
    digest = hashlib.sha256(name.encode("ascii", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(targets: Sequence[DomainTarget], shard: ShardRef | None) -> list[tuple[int, DomainTarget]]:
    """The (inventory position, target) pairs that belong to `shard` (all of them for None)."""
    if shard is None:
        return list(enumerate(targets))
    return [(i, t) for i, t in enumerate(targets) if shard_number(t.name, shard.count) == shard.index]


def inventory_fingerprint(targets: Iterable[DomainTarget]) -> str:
    """sha256 over every target's settings (not where it was declared), sorted by name."""
    canonical = []
    for target in targets:
        fields = dataclasses.asdict(target)
        fields.pop("origin", None)
        canonical.append(fields)
    canonical.sort(key=lambda fields: fields["name"])
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def rules_fingerprint(rules: RuleSet) -> str:
    """sha256 over every rule's specification, so results made under other rules are never mixed."""
    specs = sorted(rule.spec.model_dump_json() for rule in rules.rules)
    return "sha256:" + hashlib.sha256("\n".join(specs).encode("utf-8")).hexdigest()
