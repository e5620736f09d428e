"""One outgoing HTTP request with a bound on everything: time (connection, headers and body together)
and the size of the answer.  Used for pushes and for talking to an upstream axis.

treq's own ``timeout`` stops at the headers; a receiver that sends them and then hangs would hold the
request forever, so one timer cancels whatever is in progress: the request, then the reading.
"""

from __future__ import annotations

from typing import Any

import treq
from treq.client import HTTPClient
from twisted.internet.defer import inlineCallbacks
from twisted.web.http_headers import Headers


class AnswerTooLong(Exception):
    pass


def headers_of(pairs: list[tuple[str, str]] | dict[str, str]) -> Headers:
    """Twisted headers from (name, value) text pairs; values are sent as UTF-8."""
    headers = Headers()
    for name, value in (pairs.items() if isinstance(pairs, dict) else pairs):
        headers.addRawHeader(name.encode("ascii"), value.encode("utf-8"))
    return headers


@inlineCallbacks
def bounded_request(reactor: Any, http: HTTPClient, method: str, url: str, headers: Headers, body: bytes | None,
                    timeout: float, max_answer: int) -> Any:
    """(HTTP status, answer body) within ``timeout`` seconds; raises :class:`AnswerTooLong` past ``max_answer``
    bytes, twisted's CancelledError on the timeout, and whatever the network raises."""
    d = http.request(method, url, data=body, headers=headers, allow_redirects=False, timeout=timeout)
    current = [d]  # what the timer cancels: the request, then the reading of the answer
    timer = reactor.callLater(timeout, lambda: current[0].cancel())
    try:
        response = yield d
        chunks: list[bytes] = []
        received = 0

        def collect(chunk: bytes) -> None:
            nonlocal received
            received += len(chunk)
            if received > max_answer:
                raise AnswerTooLong(f"answer longer than {max_answer} bytes")
            chunks.append(chunk)

        current[0] = treq.collect(response, collect)  # type: ignore[assignment]
        yield current[0]
        return response.code, b"".join(chunks)
    finally:
        if timer.active():
            timer.cancel()
