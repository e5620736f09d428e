"""The application's own Prometheus registry (never the global one: tests build many apps).

Agency labels are always registered canonical codes (or ``upstream:<route>``), so
their cardinality is bounded by the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

import axis

_LATENCY = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_DELIVERY = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    checked: Counter
    check_seconds: Histogram
    accepted: Counter
    refused: Counter
    accept_seconds: Histogram
    signatures: Counter
    delivered: Counter
    delivery_failures: Counter
    dead_letters: Counter
    accept_to_delivered_seconds: Histogram
    queue_depth: Gauge
    queue_oldest_seconds: Gauge
    reloads: Counter
    reload_ok: Gauge
    reload_ok_time: Gauge
    registry_agencies: Gauge
    intake_ready: Gauge
    intake_restarts: Counter
    overdue: Gauge
    upstream_polls: Counter
    in_flight: Gauge
    upstream_received: Counter
    store_group_size: Histogram
    store_sync_seconds: Histogram
    # (id of the metric, label value) -> its child, for the series counted on every package (``labels()`` takes a
    # lock and builds a key each time; the child it returns is always the same object)
    _children: dict[tuple[int, str], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def create(cls) -> "Metrics":
        disable_created_metrics()  # the _created series only double the scrape size
        r = CollectorRegistry(auto_describe=True)
        Info("axis_build", "axis version", registry=r).info({"version": axis.__version__})
        return cls(
            registry=r,
            checked=Counter("axis_packages_checked", "Packages checked on /v1/check, by kind and result (ok or the "
                            "first error code)", ["kind", "result"], registry=r),
            check_seconds=Histogram("axis_package_check_seconds", "Time to read, validate and verify a package on "
                                    "/v1/check (submitted packages: axis_accept_seconds)", registry=r,
                                    buckets=(0.0005, *_LATENCY)),
            accepted=Counter("axis_packages_accepted", "Packages accepted and stored durably, by kind", ["kind"],
                             registry=r),
            refused=Counter("axis_packages_refused", "Packages refused, by the first error code", ["reason"],
                            registry=r),
            accept_seconds=Histogram("axis_accept_seconds", "From the whole body received to durable (receipt "
                                     "ready)", registry=r, buckets=_LATENCY),
            signatures=Counter("axis_signature_verdicts", "Signature classes of the packages submitted, accepted "
                               "or refused", ["class"], registry=r),
            delivered=Counter("axis_deliveries", "Packages delivered (fetched or pushed), by recipient and mode",
                              ["agency", "mode"], registry=r),
            delivery_failures=Counter("axis_delivery_failures", "Failed push or upstream attempts, by recipient",
                                      ["agency"], registry=r),
            dead_letters=Counter("axis_dead_letters", "Deliveries given up (dead letters), by recipient", ["agency"],
                                 registry=r),
            accept_to_delivered_seconds=Histogram("axis_accept_to_delivered_seconds", "From accepted to delivered "
                                                  "(first fetch or successful push)", ["mode"], registry=r,
                                                  buckets=_DELIVERY),
            queue_depth=Gauge("axis_queue_depth", "Deliveries waiting (queued), by priority", ["priority"],
                              registry=r),
            queue_oldest_seconds=Gauge("axis_queue_oldest_age_seconds", "Age of the oldest queued delivery, by "
                                       "priority", ["priority"], registry=r),
            reloads=Counter("axis_config_reloads", "Configuration reloads, by result", ["result"], registry=r),
            reload_ok=Gauge("axis_config_last_reload_successful", "1 if the last reload succeeded", registry=r),
            reload_ok_time=Gauge("axis_config_last_reload_success_timestamp_seconds", "When the configuration "
                                 "was last loaded successfully", registry=r),
            registry_agencies=Gauge("axis_registry_agencies", "Registered agencies", registry=r),
            intake_ready=Gauge("axis_intake_processes_ready", "Intake processes ready to check packages (0: the "
                               "daemon checks them in its own threads)", registry=r),
            intake_restarts=Counter("axis_intake_process_restarts", "Intake processes started again after one "
                                    "ended unexpectedly", registry=r),
            overdue=Gauge("axis_documents_overdue", "Documents waiting for an answer (01, 02 or 03) past the end of "
                          "the recipient's working day, among those accepted within [deadlines] watch, by "
                          "recipient", ["agency"], registry=r),
            in_flight=Gauge("axis_http_requests_in_flight", "Requests received and not yet answered (both doors)",
                            registry=r),
            upstream_polls=Counter("axis_upstream_polls", "Polls of an upstream axis's mailbox, by route and result "
                                   "(ok, or failed: the upstream unreachable or answering an error)",
                                   ["route", "result"], registry=r),
            upstream_received=Counter("axis_upstream_received", "Packages taken from an upstream axis, by route and "
                                      "result (accepted, duplicate, refused: acknowledged there as failed)",
                                      ["route", "result"], registry=r),
            store_group_size=Histogram("axis_store_group_writes", "Writes (packages, fetches, acknowledgements, "
                                       "...) committed together by the writer, per group", registry=r,
                                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)),
            store_sync_seconds=Histogram("axis_store_sync_seconds", "Time to make the committed groups durable "
                                         "(one fdatasync of the WAL, shared by every group committed meanwhile)",
                                         registry=r, buckets=(0.0005, *_LATENCY)),
        )

    def intake_changed(self, ready: int, restarted: bool) -> None:
        self.intake_ready.set(ready)
        if restarted:
            self.intake_restarts.inc()

    def observe_signature(self, cls: str | None) -> None:
        if cls is not None:
            self._child(self.signatures, "class", cls).inc()

    def count_accepted(self, kind: str) -> None:
        self._child(self.accepted, "kind", kind).inc()

    def _child(self, metric: Any, label: str, value: str) -> Any:
        child = self._children.get((id(metric), value))
        if child is None:
            child = self._children[(id(metric), value)] = metric.labels(**{label: value})
        return child

    def set_overdue(self, recipients: Iterable[str]) -> None:
        """One count per overdue copy's recipient; agencies with none left disappear from the gauge."""
        counts: dict[str, int] = {}
        for code in recipients:
            counts[code] = counts.get(code, 0) + 1
        self.overdue.clear()
        for code, count in counts.items():
            self.overdue.labels(agency=code).set(count)

    def set_queue(self, depths: Iterable[Any], now_ns: int, priorities: Iterable[int] = range(5)) -> None:
        seen = {d.priority: d for d in depths}
        for p in sorted(set(priorities) | set(seen)):
            d = seen.get(p)
            self.queue_depth.labels(priority=str(p)).set(d.depth if d else 0)
            age = (now_ns - d.oldest_ns) / 1e9 if d and d.oldest_ns else 0.0
            self.queue_oldest_seconds.labels(priority=str(p)).set(max(age, 0.0))
