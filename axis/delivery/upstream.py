"""Federation with an upstream axis over SDKVXP (a ``[[route]]`` with ``delivery = "vxp"``).

axis is then, towards that axis, what an agency's SDK-based software is: it signs every request with
its system id and the route's secret (:class:`axis.vxp.client.VxpClient`), and

* **up**: each package for codes of the route goes out with ``sendEdoc`` (from the push queue, with its
  retries and dead letters; :class:`axis.delivery.push.Pusher` calls :meth:`UpstreamLink.send`).  The
  upstream's ``DocId`` goes into the transport ledger.  An answer that refuses the package for what it
  is (:data:`PACKAGE_FAMILIES`: its content, sender, recipients or business step) is final: the delivery becomes a
  dead letter at once, with the upstream's code and reason, instead of being retried for a day; any other refusal
  (of this axis's credentials or request, or a moment's trouble there) is retried;
* **down**: every ``poll_interval`` the :class:`UpstreamPoller` lists the upstream mailbox (documents,
  then statuses), fetches each package, and submits it here as relayed along the route (its ``From``
  must be an agency the route covers and not registered here, see :func:`axis.intake.relayed_sender`).
  Accepted here, or already here (a duplicate: an earlier poll stored it but did not acknowledge), it is
  acknowledged upstream as ``done``; refused here, it is acknowledged as ``fail`` with the reason, so
  the sender sees why.  A storage error or a timeout here leaves it upstream for the next poll: nothing
  is acknowledged before it is durable here.

The received bytes travel unchanged both ways, so signatures verify at every hop.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from treq.client import HTTPClient
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import LoopingCall

from axis.delivery.http import AnswerTooLong, bounded_request, headers_of
from axis.errors import AxisError, Code
from axis.intake import Refused
from axis.registry import Registry, Route, RouteDelivery
from axis.vntime import iso
from axis.vxp.client import VxpClient

log = logging.getLogger(__name__)

# Refusals here of a moment (busy, stopping, disk full): a package pulled from upstream waits there for the next poll.
TRANSIENT = frozenset(c.code for c in (Code.HTTP_TIMEOUT, Code.HTTP_STOPPING, Code.STORAGE_UNAVAILABLE,
                                        Code.STORAGE_FULL, Code.INTERNAL))
# Families of the codes that refuse a package for what it is (its content, its sender, its recipients, its place
# in a document's life): sending it again cannot change the answer.  Any other refusal is of the request (this
# axis's system id or secret, the endpoint, a parameter) or of the upstream's moment, or a code of an upstream that
# is not an axisd (the national axis's own, such as "-1"): retried until dead_after, as a push is.
PACKAGE_FAMILIES = frozenset(("edxml", "xml", "body", "attachment", "agency", "signature", "route", "status",
                              "document"))
MAX_LIST_ANSWER = 4 * 1024 * 1024


class UpstreamError(Exception):
    """The upstream axis could not be asked, or answered something that is not the protocol."""


class UpstreamTooLong(UpstreamError):
    """The answer was longer than this axis reads (for ``getEdoc``: a package larger than it takes)."""


class UpstreamRefused(UpstreamError):
    """The upstream axis answered ``status: FAIL``."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code

    @property
    def final(self) -> bool:
        """The package itself is refused there: a dead letter at once rather than a day of retries."""
        return self.code.split(".", 1)[0] in PACKAGE_FAMILIES


class UpstreamLink:
    """One upstream axis, as a VXP client with axis's system id there."""

    def __init__(self, reactor: Any, http: HTTPClient, route: Route, timeout: float, max_package: int,
                 axis_code: str) -> None:
        assert route.url is not None and route.vxp_system_id is not None and route.credentials.hmac_secret
        self.reactor, self.http, self.route, self.timeout = reactor, http, route, timeout
        self.axis_code = axis_code
        self.max_package = max_package
        self.client = VxpClient(route.url, route.vxp_system_id, route.credentials.hmac_secret, fresh=True)
        parts = urlsplit(route.url)
        self._origin = f"{parts.scheme}://{parts.netloc}"

    @inlineCallbacks
    def call(self, operation: str, params: dict[str, Any] | None = None, body: bytes = b"",  # type: ignore[no-untyped-def]
             extra: tuple[tuple[str, str], ...] = ()):
        """The JSON answer of one operation (checked to be an object), or UpstreamError.  ``extra``: headers beside
        the signed ones (an SDK server ignores them)."""
        prepared = self.client.prepare(operation, params, body)
        limit = MAX_LIST_ANSWER + self.max_package * 2  # a getEdoc answer is the package in base64
        try:
            status, raw = yield bounded_request(self.reactor, self.http, prepared.method, self._origin + prepared.path,
                                                headers_of([*prepared.headers, *extra]), prepared.body, self.timeout,
                                                limit)
        except AnswerTooLong as exc:
            raise UpstreamTooLong(f"{operation} to {self.route.name}: {exc}") from None
        except Exception as exc:
            raise UpstreamError(f"{operation} to {self.route.name}: {type(exc).__name__}: {exc}".rstrip(": ")) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise UpstreamError(f"{operation} to {self.route.name}: HTTP {status}, not a JSON answer") from None
        if not isinstance(answer, dict) or "status" not in answer:
            raise UpstreamError(f"{operation} to {self.route.name}: HTTP {status}, not a VXP answer")
        if answer.get("status") == "FAIL" or str(answer.get("ErrorCode", "0")) != "0":
            raise UpstreamRefused(str(answer.get("ErrorCode", "")), str(answer.get("ErrorDesc", "")))
        return answer

    @inlineCallbacks
    def send(self, body: bytes, kind: str):  # type: ignore[no-untyped-def]
        """sendEdoc, with axis's hop as on every delivery (``X-Axis-Trace``); the upstream's DocId."""
        answer = yield self.call("sendEdoc", {"from": self.route.vxp_system_id, "servicetype": "eDoc",
                                              "messagetype": kind}, body,
                                 extra=(("X-Axis-Trace", f"{self.axis_code};{iso()}"),))
        doc_id = answer.get("DocId")
        if not isinstance(doc_id, str) or not doc_id:
            raise UpstreamError(f"sendEdoc to {self.route.name}: the answer has no DocId")
        return doc_id


class UpstreamLinks:
    """The links of the current registry's ``vxp`` routes, made again when a reload changes a route."""

    def __init__(self, reactor: Any, http: HTTPClient, timeout: float, max_package: int, axis_code: str) -> None:
        self.reactor, self.http, self.timeout, self.max_package = reactor, http, timeout, max_package
        self.axis_code = axis_code
        self._links: dict[str, UpstreamLink] = {}

    def get(self, route: Route) -> UpstreamLink:
        link = self._links.get(route.name)
        if link is None or link.route != route:
            link = self._links[route.name] = UpstreamLink(self.reactor, self.http, route, self.timeout,
                                                          self.max_package, self.axis_code)
        return link

    def current(self, registry: Registry) -> list[UpstreamLink]:
        return [self.get(r) for r in registry.routes if r.delivery is RouteDelivery.VXP]


class UpstreamPoller:
    """Takes, every ``interval`` seconds, what each upstream axis holds for this one (see the module)."""

    def __init__(self, reactor: Any, service: Any, links: UpstreamLinks, interval: float) -> None:
        self.reactor, self.service, self.links, self.interval = reactor, service, links, interval
        self._busy: set[str] = set()
        self._down: set[str] = set()  # routes whose last poll failed
        self._loop = LoopingCall(self.poll)
        self._loop.clock = reactor

    def start(self) -> None:
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: log.error("upstream poll loop stopped: %s", f.getErrorMessage()))

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def poll(self) -> None:
        if not self.service.running:
            return
        for link in self.links.current(self.service.policy.registry):
            name = link.route.name
            if name in self._busy:  # the last poll of this route is still going: one at a time
                continue
            self._busy.add(name)
            d = self.poll_route(link)
            d.addErrback(self._crashed, name)
            d.addBoth(self._idle, name)

    def _crashed(self, failure: Any, name: str) -> None:
        log.error("upstream poll of %s failed: %s", name, failure.getTraceback())

    def _idle(self, _: Any, name: str) -> None:
        self._busy.discard(name)

    @inlineCallbacks
    def poll_route(self, link: UpstreamLink):  # type: ignore[no-untyped-def]
        """One pass over the route's upstream mailbox: documents, then statuses.  Returns how many were taken."""
        name, taken = link.route.name, 0
        polls = self.service.metrics.upstream_polls
        for kind in ("edoc", "status"):
            try:
                answer = yield link.call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": kind})
            except UpstreamError as exc:
                polls.labels(route=name, result="failed").inc()
                if name not in self._down:  # once, not every poll_interval for as long as it is down
                    self._down.add(name)
                    log.warning("upstream %s: cannot list its mailbox (polls go on; the next success is logged; "
                                "axis_upstream_polls_total counts the failures): %s", name, exc)
                return taken
            polls.labels(route=name, result="ok").inc()
            if name in self._down:
                self._down.discard(name)
                log.info("upstream %s: reachable again", name)
            items = answer.get("data")
            if not isinstance(items, list):
                log.warning("upstream %s: its mailbox answer has no data list", name)
                return taken
            for item in items:
                doc_id = item.get("docId") if isinstance(item, dict) else None
                if not isinstance(doc_id, str) or not doc_id:
                    continue
                outcome = yield self.take(link, doc_id)
                if outcome is False:
                    return taken  # the link or this axis is in trouble: the rest waits for the next poll
                taken += outcome is True
        return taken

    @inlineCallbacks
    def take(self, link: UpstreamLink, doc_id: str):  # type: ignore[no-untyped-def]
        """Fetch one package, store it here, acknowledge it upstream.  True when taken (or refused and said so);
        None when this one could not be fetched and waits upstream while the pass goes on (one package the upstream
        cannot hand over must not hold up every one after it); False when the pass must stop (the link or this axis
        is in trouble)."""
        route = link.route
        received = self.service.metrics.upstream_received
        extra = {"agency": route.key, "upstream_doc_id": doc_id}
        try:
            answer = yield link.call("getEdoc", {"docId": doc_id})
            data = base64.b64decode(answer.get("data"), validate=True)
            if not data:
                raise ValueError("the answer carries no package")
        except UpstreamTooLong as exc:  # larger than this axis takes: it never will, and the sender should know
            log.warning("upstream %s: refused %s: %s", route.name, doc_id, exc, extra=extra)
            received.labels(route=route.name, result="refused").inc()
            reason = f"{Code.BODY_TOO_LARGE.code}: {Code.BODY_TOO_LARGE.en} of this axis ({link.max_package} bytes)"
            return (yield self._acknowledge(link, doc_id, "fail", reason))
        except UpstreamRefused as exc:  # refused for this one (the link answers): the next may come
            log.warning("upstream %s: cannot fetch %s: %s", route.name, doc_id, exc, extra=extra)
            # unless the upstream is in trouble of its moment (draining, its disk full): it refuses the rest alike
            return False if exc.code in TRANSIENT else None
        except (TypeError, binascii.Error, ValueError) as exc:  # an answer that is not a package
            log.warning("upstream %s: cannot fetch %s: getEdoc answer: %s", route.name, doc_id, exc, extra=extra)
            return None
        except UpstreamError as exc:
            log.warning("upstream %s: cannot fetch %s: %s", route.name, doc_id, exc, extra=extra)
            return False
        try:
            _, stored = yield self.service.submit(route, data)
        except (Refused, AxisError) as exc:  # refused by the checks, or by the business rules when stored
            first = exc.problems[0] if isinstance(exc, Refused) else exc.problem
            if first.code.code in TRANSIENT:  # nothing was stored: it waits upstream for the next poll
                log.warning("upstream %s: could not take %s now: %s", route.name, doc_id, first, extra=extra)
                return False
            reason = f"{first.code.code}: {first.detail or first.code.en}"
            log.warning("upstream %s: refused %s: %s", route.name, doc_id, reason, extra=extra)
            received.labels(route=route.name, result="refused").inc()
            return (yield self._acknowledge(link, doc_id, "fail", reason))
        received.labels(route=route.name, result="duplicate" if stored.duplicate else "accepted").inc()
        log.info("upstream %s: took %s as %s", route.name, doc_id, stored.message_id,
                 extra={**extra, "message_id": stored.message_id})
        return (yield self._acknowledge(link, doc_id, "done", None))

    @inlineCallbacks
    def _acknowledge(self, link: UpstreamLink, doc_id: str, status: str, reason: str | None):  # type: ignore[no-untyped-def]
        params = {"docId": doc_id, "status": status}
        if reason:
            params["reason"] = reason[:500]
        try:
            yield link.call("updateStatus", params)
        except UpstreamError as exc:  # it comes again at the next poll: a duplicate here, acknowledged then
            log.warning("upstream %s: cannot acknowledge %s: %s", link.route.name, doc_id, exc,
                        extra={"agency": link.route.key, "upstream_doc_id": doc_id})
            return False
        return True

