"""HTTP resources of axisd (twisted.web): the site, its connections and requests, health and metrics.

Resources are thin: decode the request, hand the work to the domain code in a
thread, encode the answer.  Errors are JSON with the taxonomy's code; no stack
trace ever reaches a client.  Those made here, outside any resource (the drain's
503, the channel's 400 and 408), are shaped by the path they answer, like all
(:mod:`axis.http.refusals`): the SDK's envelope under the VXP door.
"""

from __future__ import annotations

import weakref
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.internet.defer import Deferred, succeed
from twisted.web.http import HTTPChannel
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from axis.config.vxp import VxpConfig
from axis.errors import Code, Problem
from axis.http.api import add_api
from axis.http.refusals import NO_DOOR, DoorPaths, refusal, refuse
from axis.http.tree import Directory, Leaf, write_json
from axis.http.vxp import VxpResource, add_vxp
from axis.metrics import Metrics
from axis.service import AxisService


class LimitedRequest(Request):
    """Discards body bytes beyond the site's limit instead of spooling them; the resource then answers 413."""

    too_large = False

    def gotLength(self, length: int | None) -> None:
        limit = self.channel.site.max_body  # type: ignore[union-attr,attr-defined]
        if length is not None and length > limit:
            self.too_large = True
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        limit = self.channel.site.max_body  # type: ignore[union-attr,attr-defined]
        received = self.content.tell() if self.content is not None else 0
        if self.too_large or received + len(data) > limit:
            self.too_large = True
            return
        super().handleContentChunk(data)

    def process(self) -> None:
        """Count the request in flight; while the daemon drains, answer 503 ``http.stopping`` and close."""
        site = self.channel.site  # type: ignore[union-attr,attr-defined]
        site.channels.add(self.channel)
        if site.draining:
            self.setHeader(b"Connection", b"close")
            self.write(refuse(self, Problem(Code.HTTP_STOPPING)))
            self.finish()
            return
        site.active += 1
        self.notifyFinish().addBoth(site.finished_one)
        super().process()


class HealthResource(Leaf):
    def render_GET(self, request: Request) -> bytes:
        return write_json(request, 200, {"status": "ok"})


class MetricsResource(Leaf):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.metrics.registry)


class DeadlineChannel(HTTPChannel):
    """An HTTP connection that must deliver each request whole within ``site.receive_timeout`` of its first
    byte.  Twisted's idle timeout starts again with every byte, so a client trickling one byte a second would
    otherwise hold its connection, and its request, for ever (a slow-loris); it gets 408 instead."""

    _deadline: Any = None
    _host: Any = None

    def getHost(self) -> Any:
        """The local address, asked of the socket once per connection (Twisted asks for it on every request)."""
        if self._host is None:
            self._host = super().getHost()
        return self._host

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:
        """Twisted's status line and headers, the same bytes, handed to the transport as one piece rather than a
        sequence of some twenty-five (each checked and buffered on its own: a few percent of the reactor's time)."""
        if not isinstance(headers, Headers):
            super().writeHeaders(version, code, reason, headers)
            return
        parts = [version, b" ", code, b" ", reason, b"\r\n"]
        for name, values in headers.getAllRawHeaders():
            for value in values:
                parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        self.transport.write(b"".join(parts))  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if self._deadline is None and not self._handlingRequest:
            self._deadline = self.callLater(self.site.receive_timeout, self._too_slow)  # type: ignore[attr-defined]
        super().dataReceived(data)

    def allContentReceived(self) -> None:
        self._cancel_deadline()
        super().allContentReceived()

    def connectionLost(self, reason: Any) -> None:
        self._cancel_deadline()
        super().connectionLost(reason)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        limit = self.site.receive_timeout  # type: ignore[attr-defined]
        self._refuse(Problem(Code.HTTP_SLOW_REQUEST, f"{limit:g} s from its first byte"))

    def _respondToBadRequestAndDisconnect(self) -> None:
        """Twisted's answer to a request it cannot parse (a bad request line, headers too large or too many, two
        Content-Length), with the taxonomy's JSON instead of an empty 400."""
        self._refuse(Problem(Code.HTTP_BAD_REQUEST, "malformed HTTP: the request line or the headers "
                             f"(at most {self.totalHeadersSize} bytes) cannot be read"))

    def lineLengthExceeded(self, line: bytes) -> None:  # one header line longer than the line limit
        self._respondToBadRequestAndDisconnect()

    def _refuse(self, problem: Problem) -> None:
        """Answer and close, shaped by the request's target when its request line was read (Twisted keeps it in
        ``_path`` until the request is whole), so an SDK client reads the refusal too."""
        target = getattr(self, "_path", None)
        self.transport.write(refusal(self.site.doors, target, problem).message())  # type: ignore[union-attr,attr-defined]
        self.loseConnection()


class AxisSite(Site):
    protocol = DeadlineChannel  # type: ignore[assignment]

    def __init__(self, root: Resource, max_body: int, idle_timeout: float = 60.0,
                 receive_timeout: float = 120.0, doors: DoorPaths = NO_DOOR) -> None:
        # No resource here reads form arguments from a body; parsing every POST's Content-Type (with the
        # email package) cost a seventh of the reactor thread's time.
        super().__init__(root, timeout=idle_timeout, parsePOSTFormSubmission=False)
        self.requestFactory = LimitedRequest  # type: ignore[assignment]
        self.receive_timeout = receive_timeout
        self.max_body = max_body
        self.doors = doors  # the paths whose refusals are the SDK's envelope
        self.displayTracebacks = False
        self.active = 0  # requests received and not yet answered
        self.draining = False
        self._idle: list[Deferred[None]] = []
        self.channels: weakref.WeakSet[Any] = weakref.WeakSet()  # connections that carried a request

    def finished_one(self, _: object) -> None:
        self.active -= 1
        if self.active == 0:
            waiting, self._idle = self._idle, []
            for d in waiting:
                d.callback(None)

    def drain(self) -> Deferred[None]:
        """Refuse new requests from now on; fires once every request in flight has been answered."""
        self.draining = True
        if self.active == 0:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._idle.append(d)
        return d

    def close_connections(self, reactor: Any, timeout: float = 5.0) -> Deferred[None]:
        """Close every connection once what was written to it is sent (the reactor's own shutdown cuts them,
        answers still in the buffers included); fires when all are closed, or after ``timeout``."""
        for channel in list(self.channels):
            if channel.transport is not None:
                channel.loseConnection()
        done: Deferred[None] = Deferred()
        deadline = reactor.seconds() + timeout

        def check() -> None:
            still = [c for c in self.channels if c.transport is not None and c.transport.connected]
            if not still or reactor.seconds() > deadline:
                done.callback(None)
            else:
                reactor.callLater(0.02, check)
        check()
        return done

    def log(self, request: Request) -> None:
        """No per-request access line: the ledgers record every package and /metrics counts requests;
        a line per request would cost a tenth of the daemon's time at full load."""


def build_site(service: AxisService, metrics: Metrics, max_body: int,
               request_timeout: float = 60.0, vxp: VxpConfig | None = None,
               receive_timeout: float = 120.0) -> tuple[AxisSite, AxisSite | None]:
    """The main site, and the VXP door's own site when it has a port of its own."""
    root = Directory()
    v1 = Directory()
    root.putChild(b"v1", v1)
    add_api(root, v1, service, request_timeout)
    root.putChild(b"healthz", HealthResource())
    root.putChild(b"metrics", MetricsResource(metrics))
    door_site, doors = None, NO_DOOR
    if vxp is not None and vxp.enabled:
        # The prefix is the SDK's on the main port even when the door has a port of its own: an SDK pointed there
        # still reads its 404.
        if vxp.segments:
            doors = DoorPaths(vxp.segments)
        if vxp.port == 0:
            add_vxp(root, vxp.segments, service, request_timeout)
        else:
            door: Resource = VxpResource(service, request_timeout)
            if vxp.segments:
                door = Directory()
                add_vxp(door, vxp.segments, service, request_timeout)
            door_site = AxisSite(door, max_body, idle_timeout=request_timeout, receive_timeout=receive_timeout,
                                 doors=DoorPaths(vxp.segments, whole_site=True))
    site = AxisSite(root, max_body, idle_timeout=request_timeout, receive_timeout=receive_timeout, doors=doors)
    metrics.in_flight.set_function(lambda: site.active + (door_site.active if door_site is not None else 0))
    return site, door_site
