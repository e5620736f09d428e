"""A VXP client that behaves on the wire like SDKVXP 2.0.1 (vxp-protocol.md §1–4): for the tests of the door,
and for talking to an upstream axis that speaks this protocol.

Like the SDK's service object it freezes its timestamp when created and never clears its header map, so
every key an earlier call put is sent and signed again (Appendix B).  Building a request is separate
from sending it (:meth:`VxpClient.prepare`), so an asynchronous transport can reuse it.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from axis.vntime import now as vn_now
from axis.vxp.signing import client_headers, sdk_hash_file

# (HTTP method, body shape) of each operation: "empty" (Content-Length 0), "{}" , "json", "file", or None (GET)
OPERATIONS: dict[str, tuple[str, str | None]] = {
    "sendEdoc": ("POST", "file"),
    "getReceivedEdocList": ("POST", "empty"),
    "getEdoc": ("POST", "{}"),
    "downloadEdoc": ("GET", None),
    "updateStatus": ("POST", "{}"),
    "getSentEdocList": ("POST", "empty"),
    "countReceiveEdoc": ("POST", "{}"),
    "countReceiveStatus": ("POST", "{}"),
    "getAgenciesList": ("POST", "empty"),
    "getAgenciesListQD20": ("POST", "empty"),
    "getSynchronizeUnit": ("POST", "empty"),
    "registerAgency": ("POST", "json"),
    "deleteAgency": ("POST", "{}"),
}


def sdk_timestamp(moment: datetime) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS``: the milliseconds padded to four digits (not a UTC offset)."""
    return moment.strftime("%d%m%YT%H%M%S") + f"+{moment.microsecond // 1000:04d}"


@dataclass(frozen=True)
class Prepared:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes | None


@dataclass
class VxpClient:
    endpoint: str  # e.g. http://127.0.0.1:8080/vxp
    system_id: str
    secret: bytes = field(repr=False)
    timeout: float = 30.0
    values: dict[str, str] = field(default_factory=dict)  # the SDK's HashMap, in put order
    # False: like the SDK (one timestamp, keys of earlier calls sent again).  True: every request signs only its
    # own keys and the time it is made (axis itself as a client of an upstream axis).
    fresh: bool = False

    def __post_init__(self) -> None:
        self.values.setdefault("timestamp", sdk_timestamp(vn_now()))  # frozen for the life of the object
        self.values.setdefault("systemid", self.system_id)

    def prepare(self, operation: str, params: dict[str, Any] | None = None, body: bytes = b"") -> Prepared:
        method, shape = OPERATIONS[operation]
        if self.fresh:
            self.values = {"timestamp": sdk_timestamp(vn_now()), "systemid": self.system_id}
        values = self.values
        values["Content-Type"] = "application/octet-stream" if shape == "file" else "application/json"
        for key, value in (params or {}).items():
            # sendEdoc puts ``to`` as JSON text; every other value as a string (numbers and booleans as text)
            as_json = key == "to" and operation == "sendEdoc"
            values[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if as_json else str(value)
        data: bytes | None
        if shape == "file":
            values["hash-file"] = sdk_hash_file(body)
            data = body + b"\r\n"
        else:
            data = {"empty": b"", "{}": b"{}", "json": body, None: None}[shape]
        path = urlsplit(self.endpoint).path.rstrip("/") + "/" + operation
        return Prepared(method, path, client_headers(values, self.secret), data)

    def call(self, operation: str, params: dict[str, Any] | None = None, body: bytes = b"") -> Any:
        """Send one request; the JSON answer (the raw bytes for downloadEdoc)."""
        status, raw = self.send(self.prepare(operation, params, body))
        return raw if operation == "downloadEdoc" else json.loads(raw)

    def send(self, prepared: Prepared) -> tuple[int, bytes]:
        status, _, body = self.exchange(prepared)
        return status, body

    def exchange(self, prepared: Prepared, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
        """Send one request: (status, the answer's headers by lowercase name, its body); ``context`` for HTTPS."""
        url = urlsplit(self.endpoint)
        host = url.hostname or "127.0.0.1"
        conn = (http.client.HTTPSConnection(host, url.port, timeout=self.timeout, context=context)
                if url.scheme == "https" else http.client.HTTPConnection(host, url.port, timeout=self.timeout))
        try:
            conn.putrequest(prepared.method, prepared.path, skip_accept_encoding=True)
            for name, value in prepared.headers:
                conn.putheader(name, value.encode("utf-8"))
            if prepared.body is not None:
                conn.putheader("Content-Length", str(len(prepared.body)))
            conn.endheaders(prepared.body)
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()
