"""Building the running axis from a configuration, and replacing its policy on reload.

``build(reactor, load_config(path))`` is the composition root: store, writer, intake, pusher,
HTTP site.  ``Reloader`` reads and checks the configuration files off the reactor
thread and swaps the new registry and trust settings in with one assignment; a bad
edit is refused, reported (log, metrics, ``reload-status.json``) and changes nothing.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from axis import deadlines, sources
from axis.config import AxisConfig, ConfigError, load
from axis.delivery.push import Pusher
from axis.delivery.upstream import UpstreamPoller
from axis.http.resources import AxisSite, build_site
from axis.intake import Intake, Policy
from axis.metrics import Metrics
from axis.receipt import ReceiptSigner, load_or_create_identity
from axis.service import AxisService
from axis.signature.trust import TrustStore
from axis.signature.verify import SignatureOptions
from axis.storage.base import ReadStore
from axis.storage.retention import RetentionLoop
from axis.storage.sqlite import open_database
from axis.verdict import Checker, CheckOptions
from axis.vntime import iso
from axis.vntime import now as vn_now
from axis.workers.pool import IntakePool, StartFailed

log = logging.getLogger(__name__)

PID_FILE = "axisd.pid"
RELOAD_STATUS_FILE = "reload-status.json"


def with_data_dir(config: AxisConfig, data_dir: Path | None) -> AxisConfig:
    """The configuration with the command line's ``--data-dir`` in force (the daemon and its intake processes)."""
    if data_dir is None:
        return config
    return replace(config, server=replace(config.server, data_dir=data_dir.resolve()))


@dataclass(frozen=True)
class Loaded:
    """A configuration and its policy, with the files both were read from (real path -> SHA-256): an intake process
    serves only if it read the same (see :mod:`axis.sources`)."""
    config: AxisConfig
    policy: Policy
    sources: dict[str, str]


def load_config(path: Path, adjust: Callable[[AxisConfig], AxisConfig] = lambda c: c) -> Loaded:
    """Read and check the configuration as axisd serves it: the daemon at start and reload, each intake process."""
    with sources.recording() as read:
        config = adjust(load(path))
        policy = build_policy(config)
    return Loaded(config, policy, read)


def build_policy(config: AxisConfig) -> Policy:
    """The registry and a checker trusting the configured CAs and each agency's own certificates."""
    sig = config.signatures
    pins: dict[str, list[Path]] = {code: list(paths) for code, paths in sig.pins.items()}
    for agency in config.registry:
        if agency.certificates:
            pins.setdefault(agency.key, []).extend(agency.certificates)
    trust = TrustStore.from_files(sig.trust_ca, pins)
    # A From written as the agency's VXP system id (as the SDK's gateway writes it) is judged as that agency.
    aliases = {a.vxp_system_id: a.key for a in config.registry if a.vxp_system_id}
    # Signature policy is per agency (intake); the checker only classifies.
    checker = Checker(trust, CheckOptions(limits=config.limits, signature=SignatureOptions(allow_sha1=sig.allow_sha1)),
                      aliases=aliases)
    return Policy(config.registry, checker, config.priority, config.deadlines)


def identity(config: AxisConfig, create: bool = True) -> ReceiptSigner:
    """axis's receipt signer; ``create=False`` for an intake process, which must not make one of its own."""
    data = config.server.data_dir
    return load_or_create_identity(config.axis.key or data / "axis-key.pem", config.axis.cert or data / "axis-cert.pem",
                                   config.axis.code, config.axis.name, create)


def _logged(what: str) -> Callable[[Failure], None]:
    """An errback that logs and swallows: a periodic gauge that failed once must keep running."""
    return lambda failure: log.error("%s: %s", what, failure.getErrorMessage())


@dataclass
class App:
    reactor: Any
    config: AxisConfig
    metrics: Metrics
    service: AxisService
    pusher: Pusher
    site: AxisSite
    signer: ReceiptSigner
    poller: UpstreamPoller
    vxp_site: AxisSite | None = None  # the VXP door on a port of its own ([vxp] port)
    retention: RetentionLoop | None = None
    _loops: list[LoopingCall] = field(default_factory=list)

    def start(self) -> None:
        self.service.start()
        if self.service.pool is not None:
            self.service.pool.start()
        self.pusher.start()
        self.poller.start()
        gauges = LoopingCall(self.update_gauges)
        gauges.clock = self.reactor
        gauges.start(5.0, now=True)
        self._loops.append(gauges)
        overdue = LoopingCall(self.update_overdue)
        overdue.clock = self.reactor
        overdue.start(self.config.deadlines.refresh, now=True)
        self._loops.append(overdue)
        storage = self.config.storage
        self.retention = RetentionLoop(self.reactor, self.service.write, storage.retention_days,
                                       storage.retention_interval, storage.retention_batch)
        self.retention.start()
        self.metrics.registry_agencies.set(len(self.config.registry))
        self.metrics.reload_ok.set(1)
        self.metrics.reload_ok_time.set(time.time())

    def update_gauges(self) -> Deferred[None]:
        return self.service.read(lambda s: s.queue_depths()).addCallbacks(
            lambda depths: self.metrics.set_queue(depths, time.time_ns()), _logged("queue gauges"))

    def update_overdue(self) -> Deferred[None]:
        """Count the overdue documents of the last ``[deadlines] watch`` (on a read thread: it folds ledgers)."""
        policy, watch = self.service.policy, self.config.deadlines.watch

        def compute(store: ReadStore) -> list[str]:
            now = vn_now()
            waiting = store.each_copy(iso(now - timedelta(seconds=watch)), None, unanswered=True)
            return deadlines.overdue_recipients(waiting, policy.calendar_for, now)

        return self.service.read(compute).addCallbacks(self.metrics.set_overdue, _logged("overdue gauge"))

    def stop(self) -> Deferred[None]:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        if self.retention is not None:
            self.retention.stop()
        self.poller.stop()
        d = self.pusher.stop()
        pool = self.service.pool
        if pool is not None:  # its queued packages still reach the writer
            d.addBoth(lambda _: pool.stop())
        d.addBoth(lambda _: self.service.stop())
        return d


def build(reactor: Any, loaded: Loaded) -> App:
    config, policy = loaded.config, loaded.policy
    db_path = open_database(config.server.data_dir)
    signer = identity(config)
    metrics = Metrics.create()
    intake = Intake(signer, config.axis.code, vn_now)
    service = AxisService(reactor, policy, intake, db_path, metrics, config.storage.group_commit_max,
                           group_commit_linger=config.storage.group_commit_linger)
    pusher = Pusher(reactor, service, config.delivery, config.axis.code, max_package=config.limits.max_bytes)
    service.on_accepted.append(pusher.wake)
    poller = UpstreamPoller(reactor, service, pusher.upstream, config.delivery.upstream_poll_interval)
    if config.server.intake_processes:
        # The path as given, made absolute (not resolved): a configuration behind a symlink that is later pointed
        # elsewhere (a Kubernetes ConfigMap) is read anew through it, by the daemon and its processes alike.
        service.pool = IntakePool(reactor, IntakePool.child_command(config.source.absolute(), config.server.data_dir),
                                  config.server.intake_processes, loaded.sources, signer.key_id,
                                  on_change=metrics.intake_changed)
    site, vxp_site = build_site(service, metrics, config.limits.max_bytes, config.server.request_timeout,
                                config.vxp, config.server.receive_timeout)
    settle()
    return App(reactor, config, metrics, service, pusher, site, signer, poller, vxp_site)


def settle() -> None:
    """Move the long-lived registry out of the cyclic collector's sight: with a national registry a full
    collection walks every agency object (a third of a second during which the reactor stands still).
    Freed objects still go by reference counting, so a reload's old registry does not leak."""
    gc.collect()
    gc.freeze()


def _restart_needed(old: AxisConfig, new: AxisConfig) -> list[str]:
    """Settings a running daemon cannot change (listening sockets, storage, identity, parser limits)."""
    changed = []
    for name in ("server", "axis", "storage", "limits", "vxp"):
        if getattr(old, name) != getattr(new, name):
            changed.append(name)
    # Read once, when the pusher is built: the upstream links keep their timeout, the push loop its interval.
    fixed = ("per_host", "connect_timeout", "timeout", "poll_interval", "upstream_poll_interval", "tls_ca",
             "tls_client_cert", "tls_client_key")
    changed += [f"delivery.{name}" for name in fixed if getattr(old.delivery, name) != getattr(new.delivery, name)]
    if old.deadlines.refresh != new.deadlines.refresh:  # the gauge's timer; calendars and watch do reload
        changed.append("deadlines.refresh")
    return changed


class Reloader:
    """SIGHUP and ``axisctl reload``: re-read, check, swap, or keep what runs."""

    def __init__(self, app: App, path: Path, adjust: Callable[[AxisConfig], AxisConfig] = lambda c: c) -> None:
        self.app = app
        self.path = path
        self.adjust = adjust  # the command line's overrides, applied to every reload too
        self._running: Deferred[dict[str, Any]] | None = None
        self._again = False
        self.seq = 0

    def request(self) -> Deferred[dict[str, Any]]:
        if self._running is not None:  # coalesce: one more pass after the current one
            self._again = True
            return self._running
        self._running = d = deferToThread(load_config, self.path, self.adjust)
        d.addCallback(self._renew_intake)
        d.addCallbacks(self._swap, self._refused)
        d.addBoth(self._done)
        return d

    def _renew_intake(self, loaded: Loaded) -> Any:
        """Refuse what needs a restart; then the intake processes load the new configuration themselves, and
        take over only once all are ready, having read the very files this load read (if they cannot, or read
        other bytes because an edit came in between, the reload is refused)."""
        needs_restart = _restart_needed(self.app.config, loaded.config)
        if needs_restart:
            raise ConfigError(self.path, ", ".join(needs_restart), "cannot change while running; restart axisd")
        pool = self.app.service.pool
        if pool is None:
            return loaded

        def refused(failure: Failure) -> Failure:
            failure.trap(StartFailed)
            raise ConfigError(self.path, "", f"the intake processes cannot load it: {failure.getErrorMessage()}")
        return pool.replace(loaded.sources).addCallbacks(lambda _: loaded, refused)

    def _swap(self, loaded: Loaded) -> dict[str, Any]:
        config, policy = loaded.config, loaded.policy
        app = self.app
        before = app.config.registry.summary()
        app.config = config
        app.service.policy = policy
        app.pusher.config = config.delivery
        app.metrics.reloads.labels(result="ok").inc()
        app.metrics.reload_ok.set(1)
        app.metrics.reload_ok_time.set(time.time())
        app.metrics.registry_agencies.set(len(config.registry))
        settle()
        after = config.registry.summary()
        log.info("configuration reloaded from %s: %s (was %s)", self.path, dict(after), dict(before),
                 extra={"event": "reload"})
        return {"ok": True, "registry": dict(after)}

    def _refused(self, failure: Any) -> dict[str, Any]:
        exc = failure.value
        message = str(exc) if isinstance(exc, (ConfigError, ValueError, OSError)) else f"{type(exc).__name__}: {exc}"
        self.app.metrics.reloads.labels(result="refused").inc()
        self.app.metrics.reload_ok.set(0)
        log.error("configuration reload refused, the running configuration stays in force: %s", message,
                  extra={"event": "reload"})
        return {"ok": False, "error": message}

    def _done(self, result: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        result = {"seq": self.seq, "pid": os.getpid(), "at": iso(), **result}
        try:
            status = self.app.config.server.data_dir / RELOAD_STATUS_FILE
            try:
                write_status(status, result)
            except OSError as exc:  # a full disk: the reload still happened (or not); say so, and go on
                log.error("could not write %s: %s", status, exc)
            outcome = (f"ok: {json.dumps(result['registry'], ensure_ascii=False)}" if result["ok"]
                       else f"refused: {result['error']}")
            at = result["at"]
            self.app.service.write(lambda s: s.record_audit(at, "operator (SIGHUP)", "reload", outcome)).addErrback(
                _logged("recording the reload in the audit log"))
        finally:  # else every later reload would be handed this one's finished Deferred
            self._running = None
            if self._again:
                self._again = False
                self.request()
        return result


def write_status(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
