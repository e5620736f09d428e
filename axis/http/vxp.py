"""The VXP door: the national axis's SDKVXP protocol, so agency systems built on the Java SDK connect by
changing one endpoint URL (the reference, vxp-protocol.md).

Every operation is ``<prefix>/<name>``; its parameters are the signed ``XroadVnpt-*`` headers
(:mod:`axis.vxp.signing`), read from the signed JSON only.  The caller is the agency registered with
that ``vxp_system_id``, and it acts only as itself, as on the native door: both doors share the
service, the store and the ledgers, so a document sent through one is fetched through the other.

A lower axis (a province's, federated with this one) connects the same way, with the system id of its
``pull`` route: it may send only packages from agencies its route covers and that are not registered
here, and its mailbox holds every package for them (each listed once, however many of its recipients
are behind it); acknowledging one acknowledges it for all of them.

Answers are what the SDK reads: ``{"status": "OK"|"FAIL", "ErrorCode": "0"|<taxonomy code>,
"ErrorDesc": …}`` plus the operation's field (``DocId``, ``data``, ``count``).  ``sendEdoc`` always
carries ``DocId`` (an error without it is invisible to the SDK).  Bodies are pure ASCII (non-ASCII
text as JSON ``\\u`` escapes, which the SDK's Gson decodes): ``sendEdoc`` answers are read as US-ASCII.
The SDK ignores HTTP statuses; ours still follow the taxonomy, for everyone else.  Refusals made before a
request reaches the door (the channel's 400 and 408, the drain's 503, the tree's 404) are in the same envelope:
:mod:`axis.http.refusals` shapes every refusal by its path, the door's own included.

Replay: the SDK signs a timestamp it freezes for the life of its client object, so freshness cannot be
required, and neither the operation (the URL path) nor the body is signed.  What a replayed request
changes is bounded: a package sent again is a duplicate (the first receipt, nothing new), an
acknowledgement again changes nothing, and an agency registration is only a request an administrator
decides.  What it reads is not: one captured set of headers, replayed to ``getEdoc`` or
``downloadEdoc``, reads the documents of that agency.  Run the door over TLS, where nobody can capture
them.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from axis import lifecycle
from axis.errors import AxisError, Code, Problem
from axis.http.bodies import read_json
from axis.http.params import bounded
from axis.http.refusals import operation_of, vxp_refusal
from axis.http.tls import bind_to_certificate
from axis.http.tree import Directory
from axis.intake import Prepared, Refused
from axis.registry import Agency, Route
from axis.storage.base import AckResult, MailboxItem, MessageView, ReadStore, Stored, WriteStore
from axis.vntime import VN_TZ, parse_iso
from axis.vxp.envelope import encode, ok
from axis.vxp.signing import PREFIX, check_signed, read_signed, sdk_hash_file

log = logging.getLogger(__name__)

MAX_LIST = 1000
SERVICE_TYPE = "eDoc"


def _sdk_time(iso_time: str | None) -> str:
    """``yyyy-MM-dd HH:mm:ss``, Vietnam time: how the SDK's users show times."""
    if not iso_time:
        return ""
    return parse_iso(iso_time).astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M:%S")


class VxpCall:
    """One authenticated request: who, which operation, its signed parameters and body."""

    def __init__(self, agency: Agency | Route, operation: str, params: dict[str, str], body: bytes) -> None:
        self.agency, self.operation, self.params, self.body = agency, operation, params, body

    def param(self, name: str, required: bool = True) -> str | None:
        value = self.params.get(name)
        if value is None or not value.strip():
            if required:
                raise AxisError.of(Code.VXP_BAD_PARAMETER, f"XroadVnpt-{name} is required for {self.operation}")
            return None
        return value.strip()

    def limit(self) -> int:
        """``pageSize``, at most :data:`MAX_LIST`: a larger page is cut, not refused, since the SDK's service object
        sends a pageSize once given with every later call (the SDK example's gateway passes its caller's limit)."""
        raw = self.param("pageSize", required=False)
        if raw is None:
            return MAX_LIST
        value = bounded(raw, 1, 999_999_999)
        if value is None:
            raise AxisError.of(Code.VXP_BAD_PARAMETER, f"pageSize must be a positive number, got {raw[:40]!r}")
        return min(value, MAX_LIST)

    def kind(self) -> str:
        value = (self.param("messagetype", required=False) or "edoc").lower()
        if value not in ("edoc", "status"):
            raise AxisError.of(Code.VXP_BAD_PARAMETER, f"messagetype must be edoc or status, got {value!r}")
        return value


Handler = Callable[["VxpResource", VxpCall], "Deferred[Any] | Any"]
LISTINGS_KEPT = 8


class EncodedJson(bytes):
    """An answer already encoded as JSON: the agency listings, built and encoded off the reactor thread."""


def _encoded(body: Any) -> EncodedJson:
    """An answer as the SDK reads it: compact JSON, pure ASCII (see the module's docstring)."""
    return EncodedJson(encode(body))


class VxpResource(Resource):
    """Every SDKVXP operation under one prefix; authenticates, dispatches, answers within the timeout."""

    isLeaf = True

    def __init__(self, service: Any, request_timeout: float) -> None:
        super().__init__()
        self.service = service
        self.request_timeout = request_timeout
        # (operation, level) -> (the registry it lists, the answer): a national registry lists 111,339 agencies,
        # some 20 MB of JSON, the same until a reload replaces the registry.
        self._listings: dict[tuple[str, int | None], tuple[Any, EncodedJson]] = {}

    # -- the frame

    def render(self, request: Request) -> int:
        operation = operation_of(request.postpath)
        if getattr(request, "too_large", False):
            limit = request.channel.site.max_body  # type: ignore[union-attr,attr-defined]
            if operation == "sendEdoc":  # a package refused, as any other
                self.service.metrics.refused.labels(reason=Code.BODY_TOO_LARGE.code).inc()
            self._answer(request, operation, Problem(Code.BODY_TOO_LARGE, f"limit {limit} bytes"))
            return NOT_DONE_YET
        d = maybeDeferred(self._call, request, operation)
        late = Problem(Code.HTTP_TIMEOUT, f"no answer within {self.request_timeout:g} s")
        timer = self.service.reactor.callLater(self.request_timeout, self._answer, request, operation, late)
        d.addCallbacks(lambda body: self._answer(request, operation, body),
                       lambda f: self._failed(request, operation, f))
        d.addBoth(lambda _: timer.cancel() if timer.active() else None)
        return NOT_DONE_YET

    def _call(self, request: Request, operation: str) -> Any:
        handler = OPERATIONS.get(operation)
        if handler is None:
            raise AxisError.of(Code.VXP_UNKNOWN_OPERATION, operation)
        headers: dict[str, bytes] = {}
        for name, values in request.requestHeaders.getAllRawHeaders():
            key = name.decode("latin-1").lower()
            if key.startswith(PREFIX.lower()) and len(values) > 1:
                raise AxisError.of(Code.VXP_AUTH_MALFORMED, f"{name.decode('latin-1')} is given more than once")
            headers[key] = values[-1]
        signed, raw, claimed = read_signed(headers)
        agency = self.service.policy.registry.by_vxp_system_id(signed.system_id)
        if agency is None or agency.credentials.hmac_secret is None:
            raise AxisError.of(Code.VXP_UNKNOWN_SYSTEM, signed.system_id)
        check_signed(signed, raw, claimed, agency.credentials.hmac_secret, headers)
        bind_to_certificate(self.service.policy.registry, agency, request.transport)
        body = b""
        if request.content is not None:
            request.content.seek(0)
            body = request.content.read()
        return handler(self, VxpCall(agency, operation, signed.params, body))

    def _failed(self, request: Request, operation: str, failure: Failure) -> None:
        exc = failure.value
        if isinstance(exc, Refused):
            problems = exc.problems
        elif isinstance(exc, AxisError):
            problems = (exc.problem,)
        else:
            log.error("internal error answering VXP %s: %s", operation, failure.getTraceback())
            problems = (Problem(Code.INTERNAL),)
        if operation == "sendEdoc":
            self.service.metrics.refused.labels(reason=problems[0].code.code).inc()
        self._answer(request, operation, problems)

    def _answer(self, request: Request, operation: str, body: Any) -> None:
        if request.finished or request._disconnected:
            return
        if isinstance(body, Problem):
            body = (body,)
        if isinstance(body, tuple):  # problems: the refusal every VXP answer shares (downloadEdoc's an empty body)
            request.write(vxp_refusal(operation, body).write_to(request))
            request.finish()
            return
        data = body if isinstance(body, bytes) else _encoded(body)  # bytes: a kept listing, or downloadEdoc's package
        json_answer = isinstance(data, EncodedJson)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8" if json_answer
                          else b"application/octet-stream")
        if operation in _FETCHES:  # axis's hop, as the native fetch sends it (the package's bytes stay untouched)
            request.setHeader(b"X-Axis-Trace", self.service.hop().encode())
        request.setHeader(b"Content-Length", b"%d" % len(data))
        request.write(data)
        request.finish()

    # -- operations

    def send_edoc(self, call: VxpCall) -> Deferred[dict[str, Any]]:
        data = call.body[:-2] if call.body.endswith(b"\r\n") else call.body  # the SDK appends CRLF
        claimed = call.param("hash-file")
        if claimed is None or claimed.lower() != sdk_hash_file(data):
            raise AxisError.of(Code.VXP_HASH_FILE_MISMATCH, f"{len(data)} bytes received")
        sender = call.param("from", required=False)
        if sender is not None and sender != call.agency.vxp_system_id:
            registry = self.service.policy.registry
            found = registry.get(sender)
            if isinstance(call.agency, Route):
                if found is not None or registry.route_for(sender) != call.agency:
                    raise AxisError.of(Code.ROUTE_NOT_YOURS, f"XroadVnpt-from {sender!r} is not behind route "
                                       f"{call.agency.name!r}")
            elif found is None or found.key != call.agency.key:
                raise AxisError.of(Code.AUTH_NOT_YOUR_AGENCY, f"XroadVnpt-from {sender!r} is not {call.agency.key}")

        def accepted(result: tuple[Prepared, Stored]) -> dict[str, Any]:
            prepared, stored = result
            return ok(DocId=stored.message_id, duplicate=stored.duplicate,
                      recipients=[code for code, _ in prepared.recipients])

        return self.service.submit(call.agency, data).addCallback(accepted)

    def received_list(self, call: VxpCall) -> Deferred[dict[str, Any]]:
        kind, limit, key = call.kind(), call.limit(), call.agency.key
        oldest = self.service.policy.priority.oldest(limit)

        def item(i: MailboxItem) -> dict[str, Any]:
            return {"docId": i.message_id, "serviceType": SERVICE_TYPE, "messageType": i.kind,
                    "created_time": _sdk_time(i.accepted_at), "updated_time": _sdk_time(i.accepted_at),
                    "from": i.sender, "to": key, "status": i.state.value, "status_desc": i.document_id or "",
                    "priority": i.priority}

        return self.service.read(lambda s: s.mailbox(key, limit, kind, oldest)).addCallback(
            lambda items: ok(data=[item(i) for i in items]))

    def get_edoc(self, call: VxpCall) -> Deferred[dict[str, Any]]:
        doc_id = call.param("docId")
        assert doc_id is not None
        return self.service.fetch(call.agency, doc_id).addCallback(
            lambda found: ok(data=base64.b64encode(found[1]).decode("ascii")))

    def download_edoc(self, call: VxpCall) -> Deferred[bytes]:
        doc_id = call.param("docId")
        assert doc_id is not None
        return self.service.fetch(call.agency, doc_id).addCallback(lambda found: found[1])

    def update_status(self, call: VxpCall) -> Deferred[dict[str, Any]]:
        doc_id, status = call.param("docId"), call.param("status")
        assert doc_id is not None and status is not None
        try:
            result = AckResult(status.lower())
        except ValueError:
            raise AxisError.of(Code.VXP_BAD_PARAMETER, f"status must be processing, done or fail, got {status!r}") \
                from None
        return self.service.acknowledge(call.agency, doc_id, result, call.param("reason", required=False)).addCallback(
            lambda state: ok(state=state.value))

    def sent_list(self, call: VxpCall) -> Deferred[dict[str, Any]]:
        key, doc_id, limit, kind = call.agency.key, call.param("docId", required=False), call.limit(), call.kind()
        route = call.agency if isinstance(call.agency, Route) else None
        registry = self.service.policy.registry
        if route is not None and doc_id is None:
            raise AxisError.of(Code.VXP_BAD_PARAMETER, "an axis relaying for others asks for its sent packages "
                               "one XroadVnpt-docId at a time")

        def mine(view: MessageView) -> bool:
            if route is None:
                return view.sender == key
            return registry.get(view.sender) is None and registry.route_for(view.sender) == route

        def views(store: ReadStore) -> list[MessageView]:
            if doc_id is None:
                return store.sent(key, limit, kind)  # the limit counts packages of that kind only
            view = store.message(doc_id)
            return [view] if view is not None and mine(view) else []

        return self.service.read(views, within=self.request_timeout).addCallback(
            lambda found: ok(data=[r for v in found for r in _sent_rows(v)]))

    def count(self, kind: str) -> Callable[[VxpCall], Deferred[dict[str, Any]]]:
        def counted(call: VxpCall) -> Deferred[dict[str, Any]]:
            key = call.agency.key
            return self.service.read(lambda s: s.pending_count(key, kind)).addCallback(lambda n: ok(count=n))
        return counted

    def _listing(self, operation: str, level: int | None,
                 build: Callable[[Any], dict[str, Any]]) -> Deferred[EncodedJson]:
        """The answer ``build(registry)``, encoded on the CPU threads once per registry (a reload makes a new one)."""
        registry, key = self.service.policy.registry, (operation, level)
        kept = self._listings.get(key)
        if kept is not None and kept[0] is registry:
            return succeed(kept[1])

        def keep(answer: EncodedJson) -> EncodedJson:
            if len(self._listings) >= LISTINGS_KEPT:
                self._listings.clear()
            self._listings[key] = (registry, answer)
            return answer
        return self.service.cpu.run(lambda: _encoded(build(registry))).addCallback(keep)

    def agencies(self, call: VxpCall, qd20: bool = False) -> Deferred[EncodedJson]:
        """The registry as the SDK lists it."""
        level_text = call.param("level", required=False) if qd20 else None
        level = None if level_text is None else bounded(level_text, 0, 99)
        if level_text is not None and level is None:
            raise AxisError.of(Code.VXP_BAD_PARAMETER, f"level must be a number, got {level_text[:40]!r}")
        return self._listing("getAgenciesListQD20" if qd20 else "getAgenciesList", level,
                             lambda registry: self._agency_rows(registry, qd20, level))

    @staticmethod
    def _agency_rows(registry: Any, qd20: bool, level: int | None) -> dict[str, Any]:
        rows = []
        for a in registry:
            if level is not None and a.code.level != level:
                continue
            qd20_form = a.code.to_qd20() or a.key
            if qd20:
                rows.append({"id": a.key, "code": qd20_form, "code102": a.key, "name": a.name, "mail": ""})
            else:
                rows.append({"id": a.key, "pid": a.parent or "", "code": a.key, "name": a.name, "mail": "",
                             "oldCode": qd20_form})
        return ok(data=rows)

    def synchronize(self, call: VxpCall) -> Deferred[EncodedJson]:
        center = self.service.intake.axis_code
        return self._listing("getSynchronizeUnit", None, lambda registry: ok(data=[
            {"id": a.key, "pid": a.parent or "", "code": a.key, "name": a.name, "mail": "", "version": 1,
             "centerCode": center, "deleted": False, "modifyDate": "", "isAgency": True} for a in registry]))

    def agency_request(self, action: str) -> Callable[[VxpCall], Deferred[dict[str, Any]]]:
        """registerAgency / deleteAgency: an administrator decides; the request is kept for them."""
        def recorded(call: VxpCall) -> Deferred[dict[str, Any]]:
            if action == "register":
                detail = read_json(call.body, Code.VXP_BAD_PARAMETER, default=b"")
                code = detail.get("code") if isinstance(detail, dict) else None
                text = call.body.decode("utf-8")
            else:
                code, text = call.param("AgencyCode"), ""
            if not isinstance(code, str) or not code.strip():
                raise AxisError.of(Code.VXP_BAD_PARAMETER, "the request names no agency code")
            at, who, named = self.service.hop_time(), call.agency.key, code.strip()

            def record(store: WriteStore) -> int:
                request_id = store.record_agency_request(at, who, action, named, text)
                store.record_audit(at, who, f"{action}-request", f"request {request_id}: {action} {named}")
                return request_id
            return self.service.write(record).addCallback(
                lambda request_id: ok(ErrorDesc=f"request {request_id} recorded; an administrator of this axis "
                                                 "decides on it", requestId=request_id))
        return recorded


def _sent_rows(view: MessageView) -> list[dict[str, Any]]:
    """One row per recipient, as the SDK's ``StatusResult``."""
    rows = []
    for d in view.deliveries:
        business = [b for b in view.business if b.recipient == d.recipient]
        last = business[-1].status_code if business else ""
        rows.append({"serviceType": SERVICE_TYPE, "messageType": view.kind, "senderDocId": view.message_id,
                     "receiverDocId": view.message_id, "fromCode": view.sender, "toCode": d.recipient,
                     "title": view.document_id or "", "notation": view.document_id or "",
                     "sentTime": _sdk_time(view.accepted_at), "receivedTime": _sdk_time(d.updated_at),
                     "sendStatus": d.state.value, "sendStatusDesc": d.last_error or "",
                     "receiveStatus": last, "receiveStatusDesc": lifecycle.named(last) if last else ""})
    return rows


OPERATIONS: dict[str, Handler] = {
    "sendEdoc": VxpResource.send_edoc,
    "getReceivedEdocList": VxpResource.received_list,
    "getEdoc": VxpResource.get_edoc,
    "downloadEdoc": VxpResource.download_edoc,
    "updateStatus": VxpResource.update_status,
    "getSentEdocList": VxpResource.sent_list,
    "countReceiveEdoc": lambda door, call: door.count("edoc")(call),
    "countReceiveStatus": lambda door, call: door.count("status")(call),
    "getAgenciesList": VxpResource.agencies,
    "getAgenciesListQD20": lambda door, call: door.agencies(call, qd20=True),
    "getSynchronizeUnit": VxpResource.synchronize,
    "registerAgency": lambda door, call: door.agency_request("register")(call),
    "deleteAgency": lambda door, call: door.agency_request("delete")(call),
}


_FETCHES = ("getEdoc", "downloadEdoc")


def add_vxp(root: Resource, segments: tuple[bytes, ...], service: Any, request_timeout: float) -> VxpResource:
    """Mount the door at ``segments`` under ``root`` (none: ``root`` must then be replaced by the door)."""
    door = VxpResource(service, request_timeout)
    parent = root
    for segment in segments[:-1]:
        child = parent.children.get(segment)
        if child is None:
            child = Directory()
            parent.putChild(segment, child)
        parent = child
    parent.putChild(segments[-1], door)
    return door

