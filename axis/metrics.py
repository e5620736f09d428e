"""The application's own Prometheus registry (never the global one: tests build many apps)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    disable_created_metrics,
)

import axis


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    checked: Counter
    check_seconds: Histogram

    @classmethod
    def create(cls) -> "Metrics":
        disable_created_metrics()  # the _created series only double the scrape size
        registry = CollectorRegistry(auto_describe=True)
        Info("axis_build", "axis version", registry=registry).info({"version": axis.__version__})
        return cls(
            registry=registry,
            checked=Counter("axis_packages_checked", "Packages checked, by kind and result (ok or the first "
                            "error code)", ["kind", "result"], registry=registry),
            check_seconds=Histogram("axis_package_check_seconds", "Time to read, validate and verify a package",
                                    registry=registry,
                                    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5)),
        )
