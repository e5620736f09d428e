"""A refusal as its client reads it, shaped in this one place by the path it answers.

Under the VXP door's prefix the client is the Java SDK, which ignores HTTP statuses and reads only its envelope
(vxp-protocol.md §4, §5): an answer without it is an all-null result, and with ``isLog`` > 0 a
NullPointerException out of the SDK (§8).  So every refusal there, whoever makes it (the door itself, the tree's
404 and 405, the 503 while the daemon drains, the channel's 400 and 408 before any resource), is
``{"status": "FAIL", "ErrorCode": <code>, "ErrorDesc": <message>}``, with ``"DocId": ""`` for sendEdoc, and for
downloadEdoc an empty body with the code in ``X-Axis-Error`` (the SDK saves any other body as the document,
§4.9).  Everywhere else it is the native API's ``{"error": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.web.http import RESPONSES, unquote
from twisted.web.server import Request

from axis.errors import Problem
from axis.vxp.envelope import encode, fail

JSON = b"application/json; charset=utf-8"
Headers = Sequence[tuple[bytes, bytes]]


def problem_body(problem: Problem) -> dict[str, Any]:
    """The native API's error body."""
    return {"error": problem.to_dict()}


def operation_of(segments: Sequence[bytes]) -> str:
    """The operation the path segments below the door name.  Empty segments before it are dropped: the SDK's URL is
    endpoint + "/" + name, so an endpoint configured with a trailing slash asks for ``/vxp//getEdoc`` (§1)."""
    start = 0
    while start < len(segments) - 1 and not segments[start]:
        start += 1
    return b"/".join(segments[start:]).decode("utf-8", "replace")


@dataclass(frozen=True)
class DoorPaths:
    """Which paths of a site are the VXP door's: those under ``prefix``, or all of them (``whole_site``: the door's
    own port serves nothing else, so an SDK whose endpoint lacks the prefix still reads the refusal it gets)."""

    prefix: tuple[bytes, ...] | None = None
    whole_site: bool = False

    def operation(self, target: bytes) -> str | None:
        """The operation a request target names at the door; None when the target is not the door's."""
        segments = [unquote(s) for s in target.split(b"?", 1)[0][1:].split(b"/")]  # as Twisted's Request.process
        if self.prefix is not None and tuple(segments[:len(self.prefix)]) == self.prefix:
            return operation_of(segments[len(self.prefix):])
        return operation_of(segments) if self.whole_site else None


NO_DOOR = DoorPaths()


@dataclass(frozen=True)
class Refusal:
    """An answer refusing a request: written through a request object, or as the raw bytes of a whole message."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def write_to(self, request: Request) -> bytes:
        """Set the status and headers on ``request``; the body is returned, for the caller to write or render."""
        request.setResponseCode(self.status)
        for name, value in self.headers:
            request.setHeader(name, value)
        request.setHeader(b"Content-Length", b"%d" % len(self.body))
        return self.body

    def message(self) -> bytes:
        """The whole HTTP/1.1 message, closing the connection: the channel refuses before any request object."""
        head = [b"HTTP/1.1 %d %s" % (self.status, RESPONSES.get(self.status, b"Error"))]
        head += [name + b": " + value for name, value in self.headers]
        head += [b"Connection: close", b"Content-Length: %d" % len(self.body)]
        return b"\r\n".join(head) + b"\r\n\r\n" + self.body


def vxp_refusal(operation: str, problems: tuple[Problem, ...], headers: Headers = ()) -> Refusal:
    """The SDK's refusal of ``operation`` (the door's own refusals come here too)."""
    code = problems[0].code
    if operation == "downloadEdoc":
        return Refusal(code.http_status, ((b"X-Axis-Error", code.code.encode("ascii")), *headers), b"")
    extra = {"DocId": ""} if operation == "sendEdoc" else {}
    return Refusal(code.http_status, ((b"Content-Type", JSON), *headers), encode(fail(problems, **extra)))


def refusal(doors: DoorPaths, target: bytes | None, problem: Problem, headers: Headers = ()) -> Refusal:
    """The one decision: the SDK's shape for a target at the door, the native one elsewhere, or when no target
    could be read (a request line that does not parse)."""
    operation = None if target is None else doors.operation(target)
    if operation is not None:
        return vxp_refusal(operation, (problem,), headers)
    body = json.dumps(problem_body(problem), ensure_ascii=False).encode("utf-8")
    return Refusal(problem.code.http_status, ((b"Content-Type", JSON), *headers), body)


def refuse(request: Request, problem: Problem, headers: Headers = ()) -> bytes:
    """Refuse ``request`` in the shape its path calls for on its site: status and headers set, the body returned."""
    doors = getattr(request.channel.site, "doors", NO_DOOR)  # type: ignore[union-attr]
    return refusal(doors, request.path, problem, headers).write_to(request)
