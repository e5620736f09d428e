"""The application's own metrics registry: the per-package counters count into the right series."""

from __future__ import annotations

from prometheus_client import generate_latest

from axis.metrics import Metrics


def test_per_package_counters_keep_their_series_apart() -> None:
    metrics = Metrics.create()
    for cls in ("valid", "valid", "absent", None):
        metrics.observe_signature(cls)
    metrics.count_accepted("edoc")
    metrics.count_accepted("status")
    metrics.count_accepted("edoc")
    text = generate_latest(metrics.registry).decode()
    assert 'axis_signature_verdicts_total{class="valid"} 2.0' in text
    assert 'axis_signature_verdicts_total{class="absent"} 1.0' in text
    assert 'axis_packages_accepted_total{kind="edoc"} 2.0' in text
    assert 'axis_packages_accepted_total{kind="status"} 1.0' in text
    assert Metrics.create()._children == {}  # each registry its own children


def test_the_check_histogram_says_it_times_the_check_door_only() -> None:
    """Only POST /v1/check observes it; its help said it timed checking 'a package', so with thousands submitted and
    none checked on /v1/check an operator read a count of 0 as no package being checked at all."""
    text = generate_latest(Metrics.create().registry).decode()
    help_line = next(line for line in text.splitlines() if line.startswith("# HELP axis_package_check_seconds "))
    assert "/v1/check" in help_line
