"""One outgoing HTTP request with a bound on everything: time (connection, headers and body together)
and the size of the answer.  Used for pushes and for talking to an upstream axis.

treq's own ``timeout`` stops at the headers; a receiver that sends them and then hangs would hold the
request forever, so one timer cancels whatever is in progress: the request, then the reading.  Cancelling
the reading closes the connection: a receiver that trickles its answer, or hangs after its headers, would
otherwise keep its socket open and be read after every attempt (one descriptor more each retry).
"""

from __future__ import annotations

from typing import Any

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers


class AnswerTooLong(Exception):
    pass


def headers_of(pairs: list[tuple[str, str]] | dict[str, str]) -> Headers:
    """Twisted headers from (name, value) text pairs; values are sent as UTF-8."""
    headers = Headers()
    for name, value in (pairs.items() if isinstance(pairs, dict) else pairs):
        headers.addRawHeader(name.encode("ascii"), value.encode("utf-8"))
    return headers


class _Answer(Protocol):
    """The body of an answer, at most ``most`` bytes; ``done`` fires with it.  Cancelling ``done``, or an answer
    too long, closes the connection."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.received = 0
        self.chunks: list[bytes] = []
        self.done: Deferred[bytes] = Deferred(lambda _: self._close())

    def _close(self) -> None:
        transport: Any = self.transport  # twisted's proxy of the connection, which the pool then drops
        if transport is not None:
            transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        self.received += len(data)
        if self.received > self.most:
            self.done.errback(AnswerTooLong(f"answer longer than {self.most} bytes"))
            self._close()
            return
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):  # the whole body (PotentialDataLoss: no length given)
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


@inlineCallbacks
def bounded_request(reactor: Any, http: HTTPClient, method: str, url: str, headers: Headers, body: bytes | None,
                    timeout: float, max_answer: int) -> Any:
    """(HTTP status, answer body) within ``timeout`` seconds; raises :class:`AnswerTooLong` past ``max_answer``
    bytes, twisted's CancelledError on the timeout, and whatever the network raises."""
    d = http.request(method, url, data=body, headers=headers, allow_redirects=False, timeout=timeout)
    current: list[Deferred[Any]] = [d]  # what the timer cancels: the request, then the reading of the answer
    timer = reactor.callLater(timeout, lambda: current[0].cancel())
    try:
        response = yield d
        answer = _Answer(max_answer)
        current[0] = answer.done
        response.deliverBody(answer)
        data = yield answer.done
        return response.code, data
    finally:
        if timer.active():
            timer.cancel()
