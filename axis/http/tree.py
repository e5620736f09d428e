"""The resource tree's directories and leaves, answering wrong paths and methods as the taxonomy's JSON.

Twisted answers a path it does not know, and a method a resource does not take, with HTML pages of its
own; a client of axis gets ``http.not-found`` (404) and ``http.method-not-allowed`` (405) as every other
error, in JSON: the native API's, or the SDK's envelope under the VXP door (:mod:`axis.http.refusals`).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.error import UnsupportedMethod
from twisted.web.resource import Resource
from twisted.web.server import Request

from axis.errors import Code, Problem
from axis.http.refusals import refuse


def write_json(request: Request, status: int, body: dict[str, Any]) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class NotFound(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        path = request.path.decode("utf-8", "replace")
        return refuse(request, Problem(Code.HTTP_NOT_FOUND, path[:200]))


NOT_FOUND = NotFound()


class Directory(Resource):
    """A segment of paths: its children, and 404 for the segment itself and anything else under it."""

    def getChild(self, path: bytes, request: Request) -> Resource:
        return NOT_FOUND

    def render(self, request: Request) -> bytes:
        return NOT_FOUND.render(request)


class Leaf(Resource):
    """A resource at the end of a path, with its ``render_<METHOD>`` methods; any other method gets 405."""

    isLeaf = True

    def render(self, request: Request) -> Any:
        try:
            return super().render(request)
        except UnsupportedMethod as exc:
            if request.method == b"HEAD" and b"GET" in exc.allowedMethods:
                raise  # Twisted answers HEAD with the headers of a GET
            allowed = b", ".join(exc.allowedMethods)
            return refuse(request, Problem(Code.HTTP_METHOD, f"use {allowed.decode()}"), ((b"Allow", allowed),))
