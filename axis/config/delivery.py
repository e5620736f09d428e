"""``[delivery]`` (push delivery and its retries) and ``[storage]`` (durability and retention)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axis.config._base import MAX_DAYS, _Section


@dataclass(frozen=True)
class DeliveryConfig:
    """Durations in seconds.  A failed push is retried after ``retry_initial``, doubling (with jitter) up to
    ``retry_max`` between attempts; a delivery still failing ``dead_after`` after its first failed attempt is
    dead-lettered (a delivery that waits its turn behind a busy host is not failing yet)."""

    connect_timeout: float = 10.0
    timeout: float = 60.0  # whole request, connection included
    retry_initial: float = 5.0
    retry_max: float = 600.0
    dead_after: float = 86400.0
    concurrency: int = 16  # pushes in flight, all agencies together
    per_host: int = 4  # pushes in flight to one host (connection pool size per host)
    poll_interval: float = 1.0  # how often the queue is looked at when idle
    upstream_poll_interval: float = 5.0  # how often the mailbox of each upstream axis (route delivery "vxp") is read
    # HTTPS to push receivers and upstream axes: the CAs to trust (none: the system's), and axis's own client
    # certificate when they ask for one
    tls_ca: tuple[Path, ...] = ()
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None


MAX_LINGER = 0.1  # seconds


@dataclass(frozen=True)
class StorageConfig:
    group_commit_max: int = 512  # most packages made durable by one fsync
    group_commit_linger: float = 0.010  # how long a group waits for more writes while they keep coming (seconds)
    retention_days: int = 1825  # packages and ledgers are kept this long (5 years)
    retention_interval: float = 3600.0  # how often the daemon removes what is past retention (seconds)
    retention_batch: int = 200  # messages removed per step (one short write transaction each)


def read_delivery(path: Path, data: Any) -> DeliveryConfig:
    d = _Section(path, "delivery", data)
    delivery = DeliveryConfig(
        connect_timeout=d.duration("connect_timeout", 10.0), timeout=d.duration("timeout", 60.0),
        retry_initial=d.duration("retry_initial", 5.0), retry_max=d.duration("retry_max", 600.0),
        dead_after=d.duration("dead_after", 86400.0), concurrency=d.get("concurrency", int, 16),
        per_host=d.get("per_host", int, 4), poll_interval=d.duration("poll_interval", 1.0),
        upstream_poll_interval=d.duration("upstream_poll_interval", 5.0), tls_ca=d.paths("tls_ca"),
        tls_client_cert=d.path_value("tls_client_cert"), tls_client_key=d.path_value("tls_client_key"))
    for name, file in (("tls_client_cert", delivery.tls_client_cert), ("tls_client_key", delivery.tls_client_key),
                       *(("tls_ca", ca) for ca in delivery.tls_ca)):
        if file is not None and not file.is_file():
            raise d.error(name, f"{file} does not exist")
    if (delivery.tls_client_cert is None) != (delivery.tls_client_key is None):
        raise d.error("tls_client_key", "give tls_client_cert and tls_client_key together")
    d.done()
    if delivery.retry_initial > delivery.retry_max:
        raise d.error("retry_initial", f"{delivery.retry_initial:g} s is more than delivery.retry_max "
                                       f"({delivery.retry_max:g} s)")
    return delivery


def read_storage(path: Path, data: Any) -> StorageConfig:
    s = _Section(path, "storage", data)
    storage = StorageConfig(group_commit_max=s.get("group_commit_max", int, 512),
                            group_commit_linger=s.duration("group_commit_linger", 0.010, positive=False),
                            retention_days=s.get("retention_days", int, 1825),
                            retention_interval=s.duration("retention_interval", 3600.0),
                            retention_batch=s.get("retention_batch", int, 200))
    if not 1 <= storage.retention_days <= MAX_DAYS:
        raise s.error("retention_days", f"expected 1..{MAX_DAYS} days, got {storage.retention_days}")
    if storage.group_commit_linger > MAX_LINGER:
        raise s.error("group_commit_linger", f"at most {MAX_LINGER * 1000:g}ms: under load every write may wait "
                                             f"this long, got {storage.group_commit_linger * 1000:g}ms")
    s.done()
    return storage
