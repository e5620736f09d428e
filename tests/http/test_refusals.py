"""Which paths are the VXP door's, and the refusal each gets: the one decision every refusal goes through."""

from __future__ import annotations

import json

import pytest

from axis.errors import Code, Problem
from axis.http.refusals import NO_DOOR, DoorPaths, refusal

MAIN = DoorPaths((b"lgsp", b"vxp"))
OWN_PORT = DoorPaths((b"vxp",), whole_site=True)


@pytest.mark.parametrize(("doors", "target", "operation"), [
    (MAIN, b"/lgsp/vxp/sendEdoc", "sendEdoc"),
    (MAIN, b"/lgsp/vxp//getEdoc?x=1", "getEdoc"),  # an endpoint with a trailing slash; a query is not the path
    (MAIN, b"/lgsp/%76xp/downloadEdoc", "downloadEdoc"),  # percent-encoded, as Twisted unquotes segments
    (MAIN, b"/lgsp/vxp", ""),
    (MAIN, b"/lgsp/vxpx/sendEdoc", None),  # a segment, not a string prefix
    (MAIN, b"/lgsp", None),
    (MAIN, b"/v1/packages", None),
    (OWN_PORT, b"/sendEdoc", "sendEdoc"),  # an endpoint written without the prefix, on the door's port
    (OWN_PORT, b"/vxp/sendEdoc", "sendEdoc"),
    (DoorPaths((), whole_site=True), b"/updateStatus", "updateStatus"),
    (NO_DOOR, b"/vxp/sendEdoc", None),
])
def test_the_door_s_paths(doors: DoorPaths, target: bytes, operation: str | None) -> None:
    assert doors.operation(target) == operation


def test_the_shapes() -> None:
    problem = Problem(Code.HTTP_STOPPING)
    native = refusal(MAIN, b"/v1/packages", problem)
    assert (native.status, json.loads(native.body)["error"]["code"]) == (503, "http.stopping")
    unread = refusal(MAIN, None, problem)  # no request line read: no path to go by
    assert json.loads(unread.body)["error"]["code"] == "http.stopping"
    sent = refusal(MAIN, b"/lgsp/vxp/sendEdoc", problem)
    assert json.loads(sent.body) == {**json.loads(sent.body), "status": "FAIL", "ErrorCode": "http.stopping",
                                     "DocId": ""}
    listed = json.loads(refusal(MAIN, b"/lgsp/vxp/getReceivedEdocList", problem).body)
    assert listed["ErrorDesc"] == Code.HTTP_STOPPING.en and "DocId" not in listed
    download = refusal(MAIN, b"/lgsp/vxp/downloadEdoc", problem, ((b"Allow", b"GET"),))
    assert (download.body, dict(download.headers)) == (b"", {b"X-Axis-Error": b"http.stopping", b"Allow": b"GET"})
    message = download.message()
    assert message.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and message.endswith(
        b"Connection: close\r\nContent-Length: 0\r\n\r\n")
