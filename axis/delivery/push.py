"""Push delivery: POST each queued package to its agency's URL (or along a route: POSTed to a relay, or
sent to an upstream axis over SDKVXP, :mod:`axis.delivery.upstream`), with retries.

* One explicit connection pool (``per_host`` persistent connections per host), a connect
  timeout, and a total timeout per attempt that also covers reading the answer (treq's
  own ``timeout`` stops at the headers).
* Success is any 2xx.  Anything else, and any network error, is a failed attempt:
  the next one waits ``retry_initial * 2**attempts`` seconds, capped at ``retry_max``,
  with equal jitter (between half and all of it) so that many queued packages do not
  hit a recovering receiver at the same instant.
* When the first failure is older than ``dead_after``, the delivery becomes a dead
  letter; ``axisctl dead-letters`` lists them and ``axisctl resend`` queues them again.
* Each POST carries ``Idempotency-Key`` (axis's message id: the same on every retry),
  ``X-Axis-Sha256`` and ``X-Axis-Trace`` (axis's hop: its code and the time), and, when
  the agency has an HMAC secret, an ``Authorization`` signed by axis with it.

The store decides races: a result is recorded only while the delivery is still queued
(a fetch or an acknowledgement by the agency wins).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from axis.auth import hmac_header
from axis.config import DeliveryConfig
from axis.delivery.http import AnswerTooLong, bounded_request
from axis.delivery.upstream import UpstreamError, UpstreamLinks, UpstreamRefused
from axis.http.tls import client_policy
from axis.registry import ROUTE_KEY, DeliveryMode, Route, RouteDelivery
from axis.storage.base import PushJob
from axis.vntime import iso

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 65536


class PushFailed(Exception):
    pass


def _base(attempts: int, initial: float, cap: float) -> float:
    return min(cap, initial * (2 ** min(max(attempts - 1, 0), 64)))


def next_delay(attempts: int, initial: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempts + 1`` (``attempts`` failures so far, at least 1)."""
    return _base(attempts, initial, cap) * (0.5 + rng() / 2)


def give_up(attempts: int, first_failure_ns: int, now_ns: int, config: DeliveryConfig) -> bool:
    """Dead after ``dead_after`` of failing, by the wall clock *and* by the back-off actually scheduled (at least
    half of ``dead_after``): a clock set forward by a day must not make a delivery dead after two attempts.  A
    clock set back only delays the dead letter (the delivery keeps being retried)."""
    if (now_ns - first_failure_ns) / 1e9 < config.dead_after:
        return False
    waited, k = 0.0, 1
    while k <= attempts and waited < config.dead_after / 2:
        waited += _base(k, config.retry_initial, config.retry_max)
        k += 1
    return waited >= config.dead_after / 2


def _transfer(job: PushJob) -> tuple[str, str]:
    """What one attempt carries: a package to one agency, or along a route to every recipient behind it (one
    transfer for all: two copies' jobs in flight at once would send the package up twice)."""
    if job.mode == DeliveryMode.UPSTREAM.value:
        return job.message_id, ROUTE_KEY + (job.target or "")
    return job.message_id, job.recipient


def _shown(url: str) -> str:
    """The URL as the ledger and the log write it: without its query, where a receiver may keep a token."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl() + ("?…" if parts.query else "")


class Pusher:
    def __init__(self, reactor: Any, service: Any, config: DeliveryConfig, axis_code: str,
                 rng: Callable[[], float] = random.random, max_package: int = 16 * 1024 * 1024) -> None:
        self.reactor = reactor
        self.service = service
        self.config = config
        self.axis_code = axis_code
        self.rng = rng
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = config.per_host
        self.pool.cachedConnectionTimeout = 120
        self.pool.retryAutomatically = False
        tls = client_policy(config.tls_ca, config.tls_client_cert, config.tls_client_key)
        self.http = HTTPClient(Agent(reactor, contextFactory=tls, pool=self.pool,
                                     connectTimeout=config.connect_timeout))
        self.upstream = UpstreamLinks(reactor, self.http, config.timeout, max_package, axis_code)
        self.in_flight: set[tuple[str, str]] = set()
        # attempts in flight per target (push URL or route): one receiver that hangs may hold at most per_host
        # of the concurrency slots, so it cannot stall every other agency's deliveries
        self.per_target: Counter[str] = Counter()
        # deliveries whose outcome could not be written (the store failed): not tried again before this time, or
        # each would be sent again at once, in a loop, for as long as the store fails
        self._held: dict[tuple[str, str], float] = {}
        self._loop = LoopingCall(self.poll)
        self._loop.clock = reactor
        self._polling = False
        self._again = False

    def start(self) -> None:
        self._loop.start(self.config.poll_interval, now=True).addErrback(
            lambda f: log.error("push loop stopped: %s", f.getErrorMessage()))

    def stop(self) -> Deferred[None]:
        if self._loop.running:
            self._loop.stop()
        return self.pool.closeCachedConnections()  # type: ignore[no-any-return]

    def wake(self, *_: Any) -> None:
        """New push work was accepted: look now instead of at the next tick."""
        self.reactor.callLater(0, self.poll)

    def poll(self) -> Deferred[None] | None:
        if self._polling:
            self._again = True
            return None
        free = self.config.concurrency - len(self.in_flight)
        if free <= 0 or not self.service.running:
            return None
        self._polling = True
        limit = free + len(self.in_flight)
        oldest = self.service.policy.priority.oldest(limit)
        cap = self.config.per_host
        busy = [target for target, n in self.per_target.items() if n >= cap]
        now_ns = time.time_ns()
        # nothing is ever scheduled further ahead than retry_max: a later attempt time dates from before the clock
        # was set back, and is due now rather than in however many hours the clock went back
        horizon_ns = now_ns + int((self.config.retry_max + 60) * 1e9)
        d = self.service.read(lambda s: s.due_pushes(now_ns, limit, oldest, busy, horizon_ns))

        def dispatch(jobs: list[PushJob]) -> None:
            started, now = 0, self.reactor.seconds()
            if self._held:
                self._held = {key: until for key, until in self._held.items() if until > now}
            for job in jobs:
                key = _transfer(job)
                if key in self.in_flight or key in self._held or started >= free or self.per_target[job.target] >= cap:
                    continue
                started += 1
                self.in_flight.add(key)
                self.per_target[job.target] += 1
                self._attempt(job).addBoth(self._finished, key, job.target)

        def done(result: Any) -> None:
            self._polling = False
            if self._again:
                self._again = False
                self.reactor.callLater(0, self.poll)
            if hasattr(result, "getErrorMessage"):
                log.error("reading due pushes failed: %s", result.getErrorMessage())

        d.addCallback(dispatch)
        d.addBoth(done)
        return d

    def _finished(self, result: Any, key: tuple[str, str], target: str) -> None:
        self.in_flight.discard(key)
        self.per_target[target] -= 1
        if self.per_target[target] <= 0:
            del self.per_target[target]
        if hasattr(result, "getErrorMessage"):
            self._held[key] = self.reactor.seconds() + self.config.retry_initial
            log.error("push bookkeeping failed for %s (not tried again for %g s): %s", key[0],
                      self.config.retry_initial, result.getErrorMessage(), extra={"message_id": key[0]})
        self.reactor.callLater(0, self.poll)

    def _target(self, job: PushJob) -> tuple[str | None, bytes | None, Route | None]:
        """The URL, HMAC secret and route to use now: the current registry wins over what was recorded at accept."""
        registry = self.service.policy.registry
        if job.mode == DeliveryMode.UPSTREAM.value:
            for route in registry.routes:
                if route.name == job.target:
                    return route.url, route.credentials.hmac_secret, route
            return None, None, None
        agency = registry.get(job.recipient)
        if agency is not None and agency.push_url:
            return agency.push_url, agency.credentials.hmac_secret, None
        return job.target, None, None

    @inlineCallbacks
    def _attempt(self, job: PushJob):  # type: ignore[no-untyped-def]
        url, secret, route = self._target(job)
        error: str | None = None
        final = False  # refused for what it is: no retry
        detail = ""
        try:
            if not url:
                raise PushFailed(f"no URL configured for {job.recipient}")
            body = yield self.service.read(lambda s: s.payload(job.message_id))
            if body is None:
                raise PushFailed("payload missing from the store")
            if route is not None and route.delivery is RouteDelivery.VXP:
                doc_id = yield self.upstream.get(route).send(body, job.kind)
                detail = f"sent to the upstream axis of route {route.name} (its DocId {doc_id})"
            else:
                status = yield self._post(url, body, job, secret)
                if not 200 <= status < 300:
                    error = f"HTTP {status} from {_shown(url)}"
                detail = f"pushed to {_shown(url)} (HTTP {status})"
        except UpstreamRefused as exc:
            error, final = f"refused by the upstream axis: {exc}", exc.final
        except (PushFailed, AnswerTooLong, UpstreamError) as exc:
            error = str(exc)
        except Exception as exc:  # network errors of every kind: a failed attempt, never a crash
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        label = job.recipient if job.mode != DeliveryMode.UPSTREAM.value else f"upstream:{job.target}"
        at, now_ns = iso(), time.time_ns()
        if error is None:
            recorded = yield self.service.write(lambda s: s.push_succeeded(job, at, detail))
            if recorded:
                self.service.metrics.delivered.labels(agency=label, mode=job.mode).inc()
                self.service.metrics.accept_to_delivered_seconds.labels(mode=job.mode).observe(
                    max(now_ns - job.accepted_ns, 0) / 1e9)
                log.info("pushed to %s", label, extra={"message_id": job.message_id, "agency": job.recipient})
            return
        first = job.first_failure_ns if job.first_failure_ns is not None else now_ns
        dead = final or give_up(job.attempts + 1, first, now_ns, self.config)
        delay = next_delay(job.attempts + 1, self.config.retry_initial, self.config.retry_max, self.rng)
        next_ns = None if dead else now_ns + int(delay * 1e9)
        recorded = yield self.service.write(lambda s: s.push_failed(job, at, error, now_ns, next_ns))
        if recorded:
            self.service.metrics.delivery_failures.labels(agency=label).inc()
            if dead:
                self.service.metrics.dead_letters.labels(agency=label).inc()
                log.warning("dead letter for %s after %d attempts: %s", label, job.attempts + 1, error,
                            extra={"message_id": job.message_id, "agency": job.recipient})
            else:
                log.info("push to %s failed (attempt %d, next in %.1f s): %s", label, job.attempts + 1, delay, error,
                         extra={"message_id": job.message_id, "agency": job.recipient})

    @inlineCallbacks
    def _post(self, url: str, body: bytes, job: PushJob, secret: bytes | None):  # type: ignore[no-untyped-def]
        headers = {
            b"Content-Type": [b"application/xml"],
            b"Idempotency-Key": [job.message_id.encode()],
            b"X-Axis-Message-Id": [job.message_id.encode()],
            b"X-Axis-Sha256": [job.sha256.encode()],
            b"X-Axis-Trace": [f"{self.axis_code};{iso()}".encode()],
        }
        if secret is not None:
            parts = urlsplit(url)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            headers[b"Authorization"] = [hmac_header(self.axis_code, secret, "POST", path, body).encode()]
        code, _ = yield bounded_request(self.reactor, self.http, "POST", url, Headers(headers), body,
                                        self.config.timeout, MAX_ANSWER_BYTES)
        return code
