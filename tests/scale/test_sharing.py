"""How work and limits are shared between worker processes (pure functions, no processes)."""

from __future__ import annotations

from auditor.audit import AuditSettings
from auditor.cli.scaled import AUTO_WORKERS_CAP, AUTO_WORKERS_MIN_DOMAINS, auto_workers
from auditor.model.inventory import DomainTarget
from auditor.scale.workers import deal, share_limits


def test_deal_gives_every_target_to_exactly_one_even_share() -> None:
    targets = [(i, DomainTarget(name=f"d{i}.example")) for i in range(11)]
    shares = deal(targets, 3)
    assert [len(s) for s in shares] == [4, 4, 3]
    assert sorted(t for share in shares for t in share) == targets
    assert deal(targets[:2], 4) == [[targets[0]], [targets[1]]]  # never an empty share


def test_limits_are_divided_so_that_the_workers_together_keep_them() -> None:
    settings = AuditSettings(max_in_flight=200, queries_per_second=50.0, smtp_per_host=2, smtp_overall=10)
    shared = share_limits(settings, 2)
    assert (shared.max_in_flight, shared.queries_per_second, shared.smtp_per_host, shared.smtp_overall) == (
        100,
        25.0,
        1,
        5,
    )
    tiny = share_limits(AuditSettings(max_in_flight=3, smtp_per_host=1), 4)
    assert (tiny.max_in_flight, tiny.smtp_per_host) == (1, 1)  # never 0: each worker can still work
    assert share_limits(AuditSettings(), 3).queries_per_second is None


def test_auto_workers_is_one_process_for_small_audits() -> None:
    assert auto_workers(AUTO_WORKERS_MIN_DOMAINS - 1) == 1
    assert 1 <= auto_workers(AUTO_WORKERS_MIN_DOMAINS) <= AUTO_WORKERS_CAP
