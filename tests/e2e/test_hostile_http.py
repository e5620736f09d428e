"""Hostile HTTP against both doors of a real daemon: malformed and duplicated headers, path traversal, huge and
deeply nested JSON, bytes that are not UTF-8, a slow sender.  Each gets a clear, typed error (never a 500 or a
stack trace), under /vxp/ in the envelope the SDK reads even when the channel refuses it, and the daemon goes
on serving."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from daemon import AgencySpec, Axisd, token_of

from axis.errors import Code
from axis.vntime import iso
from axis.vxp.client import VxpClient

H41, G22 = "000.00.00.H41", "000.00.00.G22"
SECRET = b"hostile-tests-secret-of-g22-0001"
TOKEN = f"Authorization: Bearer {token_of(H41)}\r\n".encode()


@pytest.fixture(scope="module")
def axisd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Axisd]:
    daemon = Axisd(tmp_path_factory.mktemp("hostile"), [AgencySpec(G22, hmac_secret=SECRET, vxp_system_id="vxp.g22"),
                                                         AgencySpec(H41)],
                   server="intake_processes = 0\nreceive_timeout = 2", extra="[limits]\nmax_package_bytes = 100000\n")
    daemon.start()
    try:
        yield daemon
    finally:
        assert not any("Traceback" in line for line in daemon.output), "".join(daemon.output[-20:])
        daemon.kill()


def raw_answer(axisd: Axisd, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, the headers (names in lower case) and the body of the answer."""
    with socket.create_connection(("127.0.0.1", axisd.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


def raw(axisd: Axisd, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """Send bytes as they are; the status and the JSON body of the answer."""
    status, _, body = raw_answer(axisd, data, timeout)
    return status, json.loads(body)


def assert_sdk_refusal(operation: str, status: int, headers: dict[str, str], body: bytes, code: Code) -> None:
    """The VXP door's refusal as the SDK reads it (vxp-protocol.md §4, §5): the envelope, ``DocId`` on sendEdoc,
    pure ASCII; for downloadEdoc an empty body with the code in X-Axis-Error (§4.9)."""
    assert status == code.http_status, (status, body)
    if operation == "downloadEdoc":
        assert (body, headers.get("x-axis-error"), headers.get("content-length")) == (b"", code.code, "0"), headers
        return
    assert body.isascii(), body
    answer = json.loads(body)
    assert (answer.get("status"), answer.get("ErrorCode")) == ("FAIL", code.code), answer
    assert str(answer.get("ErrorDesc", "")).startswith(code.en), answer
    assert ("DocId" in answer) == (operation == "sendEdoc") and answer.get("DocId", "") == "", answer
    assert "error" not in answer, answer


def get(path: bytes, *headers: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: axis\r\n" + b"".join(headers) + b"Connection: close\r\n\r\n"


def post(path: bytes, body: bytes, *headers: bytes) -> bytes:
    return (b"POST " + path + b" HTTP/1.1\r\nHost: axis\r\n" + b"".join(headers) +
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


CASES = {
    "two Authorization headers": (get(b"/v1/mailbox", TOKEN, b"Authorization: Bearer someone-else\r\n"),
                                  401, "auth.invalid"),
    "two Content-Length headers": (b"POST /v1/packages HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 7"
                                   b"\r\n\r\nhello", 400, "http.bad-request"),
    "a header line over the limit": (get(b"/v1/mailbox", b"X-Padding: " + b"a" * 17000 + b"\r\n"),
                                     400, "http.bad-request"),
    "a garbage request line": (b"\x16\x03\x01\x02\x00 nonsense\r\n\r\n", 400, "http.bad-request"),
    "path traversal in a message id": (get(b"/v1/mailbox/..%2f..%2f..%2fetc%2fpasswd", TOKEN), 404,
                                       "message.not-found"),
    "path traversal, raw": (get(b"/v1/mailbox/../../etc/passwd", TOKEN), 404, "http.not-found"),
    "non-UTF-8 in the path": (get(b"/v1/mailbox/%ff%fe%fd", TOKEN), 404, "message.not-found"),
    "non-UTF-8 token": (get(b"/v1/mailbox", b"Authorization: Bearer \xff\xfe\r\n"), 401, "auth.invalid"),
    "non-UTF-8 query": (get(b"/v1/mailbox?kind=%ff", TOKEN), 400, "http.bad-request"),
    "JSON that is not UTF-8": (post(b"/v1/mailbox/x/ack", b"\xff\xfe{}", TOKEN), 400, "http.bad-request"),
    "huge JSON": (post(b"/v1/mailbox/x/ack", b'{"result": "' + b"d" * 90000 + b'"}', TOKEN), 400,
                  "http.bad-request"),
    "deeply nested JSON": (post(b"/v1/mailbox/x/ack", b"[" * 30000 + b"]" * 30000, TOKEN), 400,
                           "http.bad-request"),
    "JSON of the wrong shape": (post(b"/v1/mailbox/x/ack", b'[1, 2]', TOKEN), 400, "http.bad-request"),
    "a body over the limit": (post(b"/v1/packages", b"<edXML>" + b" " * 120000 + b"</edXML>", TOKEN), 413,
                              "body.too-large"),
    "a package that is not UTF-8": (post(b"/v1/packages", b"<?xml version='1.0'?><edXML>\xff\xfe</edXML>",
                                         TOKEN), 400, "body.not-utf8"),
    # str.isdigit is true of these, int() refuses them
    "a superscript digit as a limit": (get(b"/v1/mailbox?limit=%C2%B2", TOKEN), 400, "http.bad-request"),
    "a limit of 5,000 digits": (get(b"/v1/sent?limit=" + b"9" * 5000, TOKEN), 400, "http.bad-request"),
    # Twisted's own pages are HTML
    "an unknown path under /v1": (get(b"/v1/nothing", TOKEN), 404, "http.not-found"),
    "an unknown path": (get(b"/nothing"), 404, "http.not-found"),
    "a directory": (get(b"/v1"), 404, "http.not-found"),
    "a method a resource does not take": (post(b"/healthz", b""), 405, "http.method-not-allowed"),
    "GET of the check resource": (get(b"/v1/check"), 405, "http.method-not-allowed"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_native_door_answers_hostile_requests_with_a_typed_error(axisd: Axisd, case: str) -> None:
    data, status, code = CASES[case]
    got_status, body = raw(axisd, data)
    assert (got_status, body["error"]["code"]) == (status, code), body  # type: ignore[index]
    assert axisd.request("GET", "/healthz").status == 200


def test_an_hmac_signature_that_is_not_ascii_does_not_match(axisd: Axisd) -> None:
    """Header values arrive as latin-1 text, and compare_digest refuses text that is not ASCII (a TypeError)."""
    header = f'Authorization: AXIS-HMAC-SHA256 agency="{G22}", date="{iso()}", signature="\u00e9"\r\n'
    status, body = raw(axisd, get(b"/v1/mailbox", header.encode("latin-1")))
    assert (status, body["error"]["code"]) == (401, "auth.invalid"), body  # type: ignore[index]


def test_a_slow_sender_is_cut_off_with_408(axisd: Axisd) -> None:
    """One byte a second would restart an idle timeout for ever; the request as a whole has a deadline."""
    with socket.create_connection(("127.0.0.1", axisd.port), timeout=10) as s:
        s.sendall(b"POST /v1/packages HTTP/1.1\r\nHost: axis\r\n" + TOKEN + b"Content-Length: 1000\r\n\r\n")
        started, answer = time.monotonic(), b""
        while time.monotonic() - started < 8:
            try:
                s.sendall(b"<")
            except OSError:
                break
            s.settimeout(0.5)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"http.slow-request"' in answer
        assert time.monotonic() - started < 6  # receive_timeout is 2 s


def test_vxp_door_answers_hostile_requests_with_a_typed_error(axisd: Axisd) -> None:
    client = VxpClient(f"http://127.0.0.1:{axisd.port}/vxp", "vxp.g22", SECRET)
    for doc_id, path in (("../../etc/passwd", "../../../tmp"), ("%2e%2e/%2e%2e", "/etc"), ("a/b\\c", "C:\\Windows")):
        answer = client.call("getEdoc", {"docId": doc_id, "filePath": path})
        assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "message.not-found"), answer
        assert client.call("downloadEdoc", {"docId": doc_id, "filePath": path}) == b""  # refused: an empty body
    for body in (b"[" * 30000 + b"]" * 30000, b"\xff\xfe", b"{" * 70000, b"not json"):
        answer = client.call("registerAgency", {}, body)
        assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "vxp.bad-parameter"), answer
    # duplicated and non-UTF-8 signature headers
    prepared = client.prepare("countReceiveEdoc")
    twice = b"".join(f"{k}: {v}\r\n".encode() for k, v in prepared.headers if k.startswith("XroadVnpt-systemid"))
    headers = b"".join(f"{k}: {v}\r\n".encode() for k, v in prepared.headers)
    status, answer = raw(axisd, post(b"/vxp/countReceiveEdoc", b"{}", headers, twice))
    assert (status, answer["ErrorCode"]) == (400, "vxp.auth-malformed"), answer
    status, answer = raw(axisd, post(b"/vxp/countReceiveEdoc", b"{}", b"XroadVnpt-systemid: \xff\xfe\r\n",
                                     b"XroadVnpt-sign-header: {\xff}\r\nXroadVnpt-hash-header: 00\r\n"))
    assert status in (400, 401) and str(answer["ErrorCode"]).startswith("vxp."), answer
    status, answer = raw(axisd, post(b"/vxp/../../etc/passwd", b"{}", headers))
    assert status == 404, answer
    # json.loads says RecursionError, not ValueError, of a deeply nested signature header (before any authentication)
    status, answer = raw(axisd, post(b"/vxp/countReceiveEdoc", b"{}", b"XroadVnpt-sign-header: " + b"[" * 3000
                                     + b"]" * 3000 + b"\r\nXroadVnpt-hash-header: 00\r\n"))
    assert (status, answer["ErrorCode"]) == (400, "vxp.auth-malformed"), answer
    # numbers that str.isdigit admits and int() refuses
    for operation, params in (("getReceivedEdocList", {"pageSize": "\u00b2"}), ("getSentEdocList", {"pageSize": "9" * 5000}),
                              ("getAgenciesListQD20", {"level": "\u00b2"})):
        answer = client.call(operation, params)
        assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "vxp.bad-parameter"), (operation, answer)


def test_answers_are_whole_http_messages_on_a_kept_connection(axisd: Axisd) -> None:
    """The status line and headers (written by the channel as one piece) are exact, and a connection carries one
    request after another (its local address is asked once)."""
    with socket.create_connection(("127.0.0.1", axisd.port), timeout=10) as s:
        for _ in range(2):
            s.sendall(b"GET /v1/mailbox HTTP/1.1\r\nHost: axis\r\n" + TOKEN + b"\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"HTTP/1.1 200 OK"
            headers = dict(line.split(b": ", 1) for line in lines[1:])
            assert all(b"\r" not in v and b"\n" not in v for v in headers.values())
            assert headers[b"Content-Type"] == b"application/json; charset=utf-8" and b"Date" in headers
            length = int(headers[b"Content-Length"])
            while len(body) < length:
                body += s.recv(65536)
            assert len(body) == length and json.loads(body) == {"agency": H41, "items": []}


LONG_HEADER = b"X-Padding: " + b"a" * 17000 + b"\r\n"
VXP_CHANNEL_CASES = {
    "sendEdoc, a header line over the limit": ("sendEdoc", post(b"/vxp/sendEdoc", b"<edXML/>", LONG_HEADER)),
    "getReceivedEdocList, a header line over the limit": ("getReceivedEdocList",
                                                          post(b"/vxp/getReceivedEdocList", b"", LONG_HEADER)),
    "downloadEdoc, a header line over the limit": ("downloadEdoc", get(b"/vxp/downloadEdoc", LONG_HEADER)),
    "sendEdoc, headers over the limit in all": ("sendEdoc", post(b"/vxp/sendEdoc", b"x", *[
        b"X-Padding-%d: " % n + b"a" * 1000 + b"\r\n" for n in range(20)])),
    "getEdoc, two Content-Length headers": ("getEdoc", b"POST /vxp/getEdoc HTTP/1.1\r\nHost: a\r\nContent-Length: 2"
                                            b"\r\nContent-Length: 3\r\n\r\n{}"),
    "sendEdoc behind a trailing slash, a header without a colon": ("sendEdoc", b"POST /vxp//sendEdoc?x=1 HTTP/1.1\r\n"
                                                                   b"Host: a\r\nno colon here\r\n\r\n"),
}


@pytest.mark.parametrize("case", list(VXP_CHANNEL_CASES))
def test_the_channel_refuses_a_vxp_request_in_the_sdk_envelope(axisd: Axisd, case: str) -> None:
    """A request Twisted cannot read is refused by the channel, before any resource; under /vxp/ the answer is still
    one the SDK reads (an all-null result, and with isLog an NPE out of the SDK, otherwise: vxp-protocol.md §8)."""
    operation, data = VXP_CHANNEL_CASES[case]
    status, headers, body = raw_answer(axisd, data)
    assert_sdk_refusal(operation, status, headers, body, Code.HTTP_BAD_REQUEST)
    assert headers.get("connection") == "close"
    assert axisd.request("GET", "/healthz").status == 200


@pytest.mark.parametrize("operation", ["sendEdoc", "downloadEdoc", "getReceivedEdocList"])
def test_a_body_over_the_limit_under_vxp_is_refused_in_the_sdk_envelope(axisd: Axisd, operation: str) -> None:
    status, headers, body = raw_answer(axisd, post(b"/vxp/" + operation.encode(), b"x" * 120000))
    assert_sdk_refusal(operation, status, headers, body, Code.BODY_TOO_LARGE)


@pytest.mark.parametrize("operation", ["sendEdoc", "downloadEdoc", "updateStatus"])
def test_a_slow_vxp_sender_is_cut_off_with_408_in_the_sdk_envelope(axisd: Axisd, operation: str) -> None:
    status, headers, body = raw_answer(axisd, b"POST /vxp/" + operation.encode()
                                       + b" HTTP/1.1\r\nHost: axis\r\nContent-Length: 1000\r\n\r\n<", timeout=8)
    assert_sdk_refusal(operation, status, headers, body, Code.HTTP_SLOW_REQUEST)


def test_a_refusal_of_a_request_with_no_readable_path_stays_native(axisd: Axisd) -> None:
    """Without a path there is no door to answer for: the native JSON (the main port's)."""
    status, headers, body = raw_answer(axisd, b"POST /vxp/sendEdoc HTTP/1.1 extra words\r\n\r\n")
    assert (status, json.loads(body)["error"]["code"]) == (400, "http.bad-request")
