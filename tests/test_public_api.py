"""The package's public surface changes only on purpose (httpx's exported-members test)."""

import auditor


def test_public_api_is_exactly_this() -> None:
    assert sorted(auditor.__all__) == [
        "AuditSettings",
        "AuditorError",
        "InputError",
        "ReporterError",
        "RuleFileError",
        "__version__",
        "run_audit",
    ]
    for name in auditor.__all__:
        assert hasattr(auditor, name)
