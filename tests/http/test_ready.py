"""/readyz's answers for each state of the writer, through the resource itself (Twisted's DummyRequest)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.web.test.requesthelper import DummyRequest

from axis.errors import AxisError, Code
from axis.http.api import ReadyResource


class _Service:
    """The little of AxisService that /readyz uses; counts the writes it is asked for."""

    def __init__(self, broken: AxisError | None = None, last_error: AxisError | None = None,
                 probe_fails: bool = False, read_fails: bool = False) -> None:
        self.running = True
        self.writer = SimpleNamespace(broken=broken, last_error=last_error)
        self.probe_fails, self.read_fails = probe_fails, read_fails
        self.writes = 0

    def write(self, fn: Any) -> Deferred[Any]:
        self.writes += 1
        return fail(AxisError.of(Code.STORAGE_UNAVAILABLE, "disk full")) if self.probe_fails else succeed(None)

    def read(self, fn: Any) -> Deferred[Any]:
        return fail(OSError("no such file")) if self.read_fails else succeed([])


def _get(service: _Service) -> tuple[int, dict[str, Any]]:
    request = DummyRequest([b""])
    request._disconnected = False
    ReadyResource(service).render_GET(request)  # type: ignore[arg-type]
    assert request.finished == 1
    return request.responseCode or 200, json.loads(b"".join(request.written))


def test_ready_when_the_store_answers() -> None:
    service = _Service()
    assert _get(service) == (200, {"status": "ready"})
    assert service.writes == 0  # a healthy writer is not probed


def test_a_failed_fsync_says_restart_and_probes_nothing() -> None:
    broken = AxisError.of(Code.STORAGE_UNAVAILABLE, "fsync failed")
    service = _Service(broken=broken, last_error=broken)
    status, body = _get(service)
    assert status == 503 and "restart axisd" in body["reason"] and "fsync" not in body["reason"]
    assert service.writes == 0  # nothing written after a failed fsync: it could be lost too


def test_a_failed_commit_is_probed_and_a_success_makes_it_ready() -> None:
    error = AxisError.of(Code.STORAGE_UNAVAILABLE, "database or disk is full")
    assert _get(_Service(last_error=error, probe_fails=True))[0] == 503
    service = _Service(last_error=error)
    assert _get(service) == (200, {"status": "ready"}) and service.writes == 1


def test_an_unreadable_store_or_a_stopping_daemon_is_not_ready() -> None:
    status, body = _get(_Service(read_fails=True))
    assert status == 503 and body["reason"] == "the store cannot be read (see the log)"
    stopping = _Service()
    stopping.running = False
    assert _get(stopping) == (503, {"status": "not ready", "reason": "starting or stopping"})
