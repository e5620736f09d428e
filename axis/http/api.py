"""The native API for agency systems: JSON over HTTP under ``/v1``.

    POST /v1/packages                 submit an edXML package (body: the bytes)
                                      → 202 {message_id, duplicate, recipients, verdict, receipt}
    GET  /v1/mailbox[?limit=&kind=]   my pending packages, most urgent first
    GET  /v1/mailbox/ID               the original bytes of one (application/xml)
    POST /v1/mailbox/ID/ack           {"result": "done" | "fail" | "processing", "reason": "…"}
    GET  /v1/sent[?limit=]            what I sent, newest first, with per-recipient state
    GET  /v1/sent/ID                  one of them: transport state and business history per recipient
    GET  /v1/stats?from=&to=[&agency=] statistics of my agency and those under it (:mod:`axis.stats`)

Every request is authenticated (:mod:`axis.auth`); an agency sees only its own mailbox
and its own sent packages.  Errors are JSON ``{"error": {code, message, …}}`` with the
taxonomy's code and HTTP status; no stack trace ever reaches a client.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from datetime import date, timedelta
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from axis import auth, stats
from axis.config.priority import PriorityConfig
from axis.errors import AxisError, Code, Problem
from axis.http.bodies import read_json
from axis.http.params import bounded
from axis.http.tls import bind_to_certificate
from axis.http.tree import Leaf
from axis.intake import Prepared, Refused
from axis.registry import Agency, DeliveryMode
from axis.service import AxisService
from axis.storage.base import AckResult, MailboxItem, MessageView, ReadStore, State, Stored
from axis.verdict import Verdict
from axis.vntime import iso
from axis.vntime import now as vn_now

log = logging.getLogger(__name__)

MAX_LIST = 1000


class Answer:
    """A response a handler returns: JSON, or raw bytes with a content type."""

    def __init__(self, status: int, body: Any, content_type: bytes = b"application/json; charset=utf-8",
                 headers: dict[bytes, bytes] | None = None) -> None:
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def error_answer(problem: Problem, extra: dict[str, Any] | None = None) -> Answer:
    return Answer(problem.code.http_status, {"error": problem.to_dict(), **(extra or {})})


def _headers(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, values in request.requestHeaders.getAllRawHeaders():
        key = name.decode("latin-1").lower()
        if key == "authorization" and len(values) > 1:
            raise AxisError.of(Code.AUTH_INVALID, "more than one Authorization header")
        out[key] = values[-1].decode("latin-1")
    return out


def _body(request: Request) -> bytes:
    if request.content is None:
        return b""
    request.content.seek(0)
    return request.content.read()  # type: ignore[no-any-return]


def _arg(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode()) if request.args else None
    return values[-1].decode("utf-8", "replace") if values else None


def _limit(request: Request, default: int = 100) -> int:
    raw = _arg(request, "limit")
    if raw is None:
        return default
    value = bounded(raw, 1, MAX_LIST)
    if value is None:
        raise AxisError.of(Code.HTTP_BAD_REQUEST, f"limit must be 1..{MAX_LIST}, got {raw[:40]!r}")
    return value


class ApiResource(Resource):
    """Authenticates, dispatches to ``handle``, and answers whatever happens, within the request timeout."""

    isLeaf = True
    methods: tuple[bytes, ...] = (b"GET",)

    def __init__(self, service: AxisService, request_timeout: float) -> None:
        super().__init__()
        self.service = service
        self.request_timeout = request_timeout

    def render(self, request: Request) -> int | bytes:
        reactor = self.service.reactor
        if getattr(request, "too_large", False):
            limit = request.channel.site.max_body  # type: ignore[union-attr,attr-defined]
            if request.path.startswith(b"/v1/packages"):  # a package refused, as any other
                self.service.metrics.refused.labels(reason=Code.BODY_TOO_LARGE.code).inc()
            self._write(request, error_answer(Problem(Code.BODY_TOO_LARGE, f"limit {limit} bytes")))
            return NOT_DONE_YET
        if request.method not in self.methods:
            allowed = ", ".join(m.decode() for m in self.methods)
            self._write(request, error_answer(Problem(Code.HTTP_METHOD, f"use {allowed}")))
            return NOT_DONE_YET
        d = maybeDeferred(self._authenticated, request)
        timer = reactor.callLater(self.request_timeout, self._timeout, request)
        d.addCallbacks(lambda answer: self._write(request, answer), lambda f: self._failed(request, f))
        d.addBoth(lambda _: timer.cancel() if timer.active() else None)
        return NOT_DONE_YET

    def _authenticated(self, request: Request) -> Any:
        body = _body(request)
        registry = self.service.policy.registry
        agency = auth.authenticate(registry, _headers(request), request.method.decode(),
                                   request.uri.decode("utf-8", "replace"), body, vn_now())
        bind_to_certificate(registry, agency, request.transport)
        return self.handle(request, agency, body)

    def handle(self, request: Request, agency: Agency, body: bytes) -> Answer | Deferred[Answer]:
        raise NotImplementedError

    def _timeout(self, request: Request) -> None:
        self._write(request, error_answer(Problem(Code.HTTP_TIMEOUT, f"no answer within {self.request_timeout:g} s; "
                                                  "a package sent again is answered with its first receipt")))

    def _failed(self, request: Request, failure: Failure) -> None:
        exc = failure.value
        if isinstance(exc, Refused):
            self.service.metrics.refused.labels(reason=exc.problems[0].code.code).inc()
            self._write(request, Answer(exc.status, exc.to_dict()))
        elif isinstance(exc, AxisError):
            if request.path.startswith(b"/v1/packages"):
                self.service.metrics.refused.labels(reason=exc.code.code).inc()
            self._write(request, error_answer(exc.problem))
        else:
            log.error("internal error answering %s %s: %s", request.method.decode("latin-1"),
                      request.path.decode("utf-8", "replace"),
                      failure.getTraceback())
            self._write(request, error_answer(Problem(Code.INTERNAL)))

    @staticmethod
    def _write(request: Request, answer: Answer) -> None:
        if request.finished or request._disconnected:  # timed out already, or the client left
            return
        request.setResponseCode(answer.status)
        request.setHeader(b"Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            request.setHeader(name, value)
        body = answer.body if isinstance(answer.body, bytes) else _json(answer.body)
        request.setHeader(b"Content-Length", b"%d" % len(body))  # one write, not chunked
        request.write(body)
        request.finish()


class CheckResource(ApiResource):
    """POST an edXML package: its verdict, nothing stored (200 when acceptable, else the first error's status).
    For registered agencies only, as everything under /v1: a check reads and verifies the whole package on
    axis's own threads, which nobody else may keep busy."""

    methods = (b"POST",)

    def handle(self, request: Request, agency: Agency, body: bytes) -> Deferred[Answer]:
        started, metrics = time.perf_counter(), self.service.metrics

        def answer(verdict: Verdict) -> Answer:
            metrics.check_seconds.observe(time.perf_counter() - started)
            result = "ok" if verdict.acceptable else verdict.errors[0].code.code
            metrics.checked.labels(kind=verdict.kind or "none", result=result).inc()
            return Answer(200 if verdict.acceptable else verdict.errors[0].code.http_status, verdict.to_dict())
        return self.service.cpu.run(self.service.policy.checker.check, body).addCallback(answer)


class PackagesResource(ApiResource):
    methods = (b"POST",)

    def handle(self, request: Request, agency: Agency, body: bytes) -> Deferred[Answer]:
        if request.postpath not in ([], [b""]):
            raise AxisError.of(Code.HTTP_NOT_FOUND, request.path.decode("utf-8", "replace"))
        return self.service.submit(agency, body).addCallback(self._accepted)

    @staticmethod
    def _accepted(result: tuple[Prepared, Stored]) -> Answer:
        prepared, stored = result
        warnings = [p.to_dict() for p in prepared.warnings]
        rest: dict[str, Any] = {"verdict": {"signature": prepared.signature, "warnings": warnings}}
        if stored.duplicate:  # where the first copy stands: a failed delivery is never passed off as a success
            rest["deliveries"] = [{"code": code, "state": state.value} for code, state in stored.deliveries]
            failed = [code for code, state in stored.deliveries if state in (State.FAILED, State.DEAD)]
            if failed:
                warnings.append(Problem(Code.DELIVERY_FAILED_EARLIER, ", ".join(failed)).to_dict())
        if stored.withdrawn:
            rest["withdrawn"] = list(stored.withdrawn)
        if stored.superseded:
            rest["superseded"] = list(stored.superseded)
        # {message_id, duplicate, recipients, verdict, …, receipt}, as json.dumps writes it, with the recipients
        # (63 of them for a fan-out) written from a fragment per recipient that is encoded once.
        head = _json({"message_id": stored.message_id, "duplicate": stored.duplicate})
        recipients = b", ".join([_recipient_json(code, mode) for code, mode in prepared.recipients])
        # The signed receipt goes in as stored: byte for byte what was signed, and no re-encoding.
        return Answer(202, b"".join((head[:-1], b', "recipients": [', recipients, b"], ", _json(rest)[1:-1],
                                     b', "receipt": ', stored.receipt, b"}")))


@functools.lru_cache(maxsize=65536)
def _recipient_json(code: str, mode: DeliveryMode) -> bytes:
    """``{"code": …, "mode": …}`` of one recipient of an answer (codes and modes repeat from package to package)."""
    return _json({"code": code, "mode": mode.value})


def _item(item: MailboxItem, priority: PriorityConfig) -> dict[str, Any]:
    return {"message_id": item.message_id, "kind": item.kind, "from": item.sender, "document_id": item.document_id,
            "status_code": item.status_code, "priority": item.priority, "priority_label": priority.label(item.priority),
            "size": item.size, "sha256": item.sha256, "accepted_at": item.accepted_at, "state": item.state.value}


class MailboxResource(ApiResource):
    methods = (b"GET", b"POST")

    def handle(self, request: Request, agency: Agency, body: bytes) -> Deferred[Answer] | Answer:
        path = [p.decode("utf-8", "replace") for p in request.postpath if p]
        if request.method == b"GET" and not path:
            kind = _arg(request, "kind")
            if kind not in (None, "edoc", "status"):
                raise AxisError.of(Code.HTTP_BAD_REQUEST, f"kind must be edoc or status, got {kind!r}")
            limit = _limit(request)
            priority = self.service.policy.priority
            return self.service.read(lambda s: s.mailbox(agency.key, limit, kind, priority.oldest(limit))).addCallback(
                lambda items: Answer(200, {"agency": agency.key, "items": [_item(i, priority) for i in items]}))
        if request.method == b"GET" and len(path) == 1:
            return self._fetch(agency, path[0])
        if request.method == b"POST" and len(path) == 2 and path[1] == "ack":
            return self._ack(agency, path[0], body)
        raise AxisError.of(Code.HTTP_NOT_FOUND, request.path.decode("utf-8", "replace"))

    def _fetch(self, agency: Agency, message_id: str) -> Deferred[Answer]:
        def answer(found: tuple[MailboxItem, bytes]) -> Answer:
            item, data = found
            return Answer(200, data, b"application/xml", {
                b"X-Axis-Message-Id": item.message_id.encode(), b"X-Axis-Sha256": item.sha256.encode(),
                b"X-Axis-From": item.sender.encode(), b"X-Axis-Trace": self.service.hop().encode()})

        return self.service.fetch(agency, message_id).addCallback(answer)

    def _ack(self, agency: Agency, message_id: str, body: bytes) -> Deferred[Answer]:
        doc = read_json(body)
        try:
            result = AckResult(doc.get("result"))
            reason = doc.get("reason")
            if reason is not None and not isinstance(reason, str):
                raise ValueError("reason must be a string")
        except (ValueError, AttributeError, TypeError) as exc:
            raise AxisError.of(Code.HTTP_BAD_REQUEST, 'expected {"result": "done" | "fail" | "processing", '
                               f'"reason": "…"}} ({exc})') from None
        return self.service.acknowledge(agency, message_id, result, reason).addCallback(
            lambda state: Answer(200, {"message_id": message_id, "state": state.value}))


def message_dict(view: MessageView) -> dict[str, Any]:
    business_by_recipient: dict[str, list[dict[str, Any]]] = {}
    for b in view.business:
        business_by_recipient.setdefault(b.recipient, []).append(
            {"status_code": b.status_code, "author": b.author, "at": b.at, "status_time": b.status_time,
             "description": b.description, "message_id": b.message_id})
    return {
        "message_id": view.message_id, "kind": view.kind, "from": view.sender, "document_id": view.document_id,
        "status_code": view.status_code, "priority": view.priority, "sha256": view.sha256, "size": view.size,
        "accepted_at": view.accepted_at, "signature": view.signature,
        "recipients": [{
            "code": d.recipient, "mode": d.mode, "state": d.state.value, "attempts": d.attempts,
            "updated_at": d.updated_at, "last_error": d.last_error,
            "events": [{"event": e.event, "at": e.at, "detail": e.detail} for e in view.ledger
                       if e.recipient == d.recipient or (e.recipient is None and e.event == "queued")],
            "business": business_by_recipient.get(d.recipient, []) if view.kind == "edoc" else [],
        } for d in view.deliveries],
        "events": [{"event": e.event, "at": e.at, "detail": e.detail} for e in view.ledger if e.recipient is None],
    }


class SentResource(ApiResource):
    def handle(self, request: Request, agency: Agency, body: bytes) -> Deferred[Answer]:
        path = [p.decode("utf-8", "replace") for p in request.postpath if p]
        if not path:
            limit = _limit(request, 50)
            return self.service.read(lambda s: s.sent(agency.key, limit)).addCallback(
                lambda views: Answer(200, {"agency": agency.key, "items": [message_dict(v) for v in views]}))
        if len(path) == 1:
            message_id = path[0]

            def found(view: MessageView | None) -> Answer:
                if view is None or view.sender != agency.key:  # another agency's package does not exist for you
                    raise AxisError.of(Code.MESSAGE_NOT_FOUND, message_id)
                return Answer(200, message_dict(view))

            return self.service.read(lambda s: s.message(message_id)).addCallback(found)
        raise AxisError.of(Code.HTTP_NOT_FOUND, request.path.decode("utf-8", "replace"))


MAX_STATS_DAYS = 366


def _day(request: Request, name: str) -> date:
    raw = _arg(request, name)
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        raise AxisError.of(Code.HTTP_BAD_REQUEST, f"{name} must be a date such as 2026-11-01, got {raw!r}") from None


class StatsResource(ApiResource):
    """An agency sees its own statistics and those of the agencies registered under it (``parent``)."""

    def handle(self, request: Request, agency: Agency, body: bytes) -> Deferred[Answer]:
        if request.postpath not in ([], [b""]):
            raise AxisError.of(Code.HTTP_NOT_FOUND, request.path.decode("utf-8", "replace"))
        first, last = _day(request, "from"), _day(request, "to")
        if not timedelta(0) <= last - first < timedelta(days=MAX_STATS_DAYS):
            raise AxisError.of(Code.HTTP_BAD_REQUEST, f"from..to must be 1 to {MAX_STATS_DAYS} days, "
                               f"got {first}..{last}")
        policy = self.service.policy
        scope = policy.registry.under(agency.key)
        wanted = _arg(request, "agency")
        if wanted is not None:
            found = policy.registry.get(wanted)
            if found is None or found.key not in scope:
                raise AxisError.of(Code.STATS_NOT_YOURS, f"{wanted} is not {agency.key} or registered under it")
            scope = {found.key}
        only = stats.selection(scope)
        try:
            start, end = stats.period(first, last)
        except ValueError as exc:
            raise AxisError.of(Code.HTTP_BAD_REQUEST, str(exc)) from None

        def compute(store: ReadStore) -> stats.Report:
            return stats.report(store.each_copy(start, end, only), policy.calendar_for, first.isoformat(),
                                last.isoformat(), vn_now(), scope.__contains__, policy.registry.name)

        return self.service.read(compute, within=self.request_timeout).addCallback(
            lambda report: Answer(200, report.to_dict()))


class ReadyResource(Leaf):
    """200 when the store answers and the writer is healthy; 503 otherwise (for load balancers)."""

    def __init__(self, service: AxisService) -> None:
        super().__init__()
        self.service = service

    def render_GET(self, request: Request) -> int:
        def answer(ok: bool, reason: str = "") -> None:
            if request.finished or request._disconnected:
                return
            request.setResponseCode(200 if ok else 503)
            request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
            request.write(_json({"status": "ready" if ok else "not ready", **({"reason": reason} if reason else {})}))
            request.finish()

        if not self.service.running:
            answer(False, "starting or stopping")
            return NOT_DONE_YET
        # The reasons name what failed, not how: this answers anyone who asks, and the log has the details.
        writer = self.service.writer
        if writer.broken is not None:
            answer(False, "the disk failed to make writes durable: restart axisd (see the log)")
            return NOT_DONE_YET

        def unreadable(failure: Failure) -> None:
            log.error("readiness: the store cannot be read: %s", failure.getErrorMessage())
            answer(False, "the store cannot be read (see the log)")

        def readable(_: object = None) -> None:
            self.service.read(lambda s: s.queue_depths()).addCallbacks(lambda _: answer(True), unreadable)

        if writer.last_error is not None:
            # Once a load balancer keeps the traffic away nothing else may write: a write of our own says when the
            # store takes writes again (after a full disk), and a success clears the writer's error.
            at = iso()
            self.service.write(lambda s: s.probe(at)).addCallbacks(
                readable, lambda _: answer(False, "the last commit failed (see the log)"))
            return NOT_DONE_YET
        readable()
        return NOT_DONE_YET


def add_api(root: Resource, v1: Resource, service: AxisService, request_timeout: float) -> None:
    v1.putChild(b"check", CheckResource(service, request_timeout))
    v1.putChild(b"packages", PackagesResource(service, request_timeout))
    v1.putChild(b"mailbox", MailboxResource(service, request_timeout))
    v1.putChild(b"sent", SentResource(service, request_timeout))
    v1.putChild(b"stats", StatsResource(service, request_timeout))
    root.putChild(b"readyz", ReadyResource(service))
