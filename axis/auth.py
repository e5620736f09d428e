"""Who is asking: agency authentication for the native API.

Two schemes, chosen per agency in the registry:

* ``Authorization: Bearer <token>``: axis keeps only SHA-256(token), so the lookup is
  a dictionary hit on the digest; a leaked configuration does not leak tokens.
* ``Authorization: AXIS-HMAC-SHA256 agency="<code>", date="<ISO 8601>", signature="<hex>"``
  where signature = HMAC-SHA256(secret, METHOD \\n PATH?QUERY \\n DATE \\n hex SHA-256(body)).
  The date must be within ``max_skew`` of axis's clock.  Inside that window a captured
  request can be replayed; every write in the API is idempotent (a repeated package
  returns the first receipt, a repeated acknowledgement changes nothing), so a replay
  can never duplicate or alter anything.

Comparisons are constant-time; secrets never appear in errors.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime

from axis.errors import AxisError, Code
from axis.registry import Agency, Registry
from axis.vntime import iso, parse_iso

SCHEME_HMAC = "AXIS-HMAC-SHA256"
MAX_SKEW_SECONDS = 300.0
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def string_to_sign(method: str, path: str, date: str, body: bytes) -> bytes:
    return "\n".join((method.upper(), path, date, hashlib.sha256(body).hexdigest())).encode("utf-8")


def hmac_header(code: str, secret: bytes, method: str, path: str, body: bytes, date: str | None = None) -> str:
    """The Authorization value a client sends (used by tests, the bench, and axis's own push)."""
    date = date or iso()
    mac = hmac.new(secret, string_to_sign(method, path, date, body), hashlib.sha256).hexdigest()
    return f'{SCHEME_HMAC} agency="{code}", date="{date}", signature="{mac}"'


def authenticate(registry: Registry, headers: Mapping[str, str], method: str, path: str, body: bytes,
                 now: datetime, max_skew: float = MAX_SKEW_SECONDS) -> Agency:
    """The agency the request proves to be, or AxisError auth.*.  ``headers`` keys are lower-case."""
    value = headers.get("authorization", "").strip()
    if not value:
        raise AxisError.of(Code.AUTH_MISSING, "send 'Authorization: Bearer <token>' or an "
                           f"'{SCHEME_HMAC}' signature")
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        token = rest.strip().encode("utf-8")
        agency = registry.by_token_sha256(hashlib.sha256(token).digest()) if token else None
        if agency is None:
            raise AxisError.of(Code.AUTH_INVALID, "unknown token")
        return agency
    if scheme.upper() == SCHEME_HMAC:
        params = dict(_PARAM.findall(rest))
        code, date, signature = params.get("agency"), params.get("date"), params.get("signature")
        if not code or not date or not signature:
            raise AxisError.of(Code.AUTH_INVALID, f'{SCHEME_HMAC} needs agency="…", date="…" and signature="…"')
        agency = registry.get(code)
        secret = agency.credentials.hmac_secret if agency is not None else None
        if agency is None or secret is None:
            raise AxisError.of(Code.AUTH_INVALID, f"no HMAC credentials for agency {code!r}")
        try:
            skew = abs((parse_iso(date) - now).total_seconds())
        except ValueError:
            raise AxisError.of(Code.AUTH_INVALID, f"date {date!r} is not ISO 8601 with an offset") from None
        if skew > max_skew:
            raise AxisError.of(Code.AUTH_STALE, f"date {date} is {skew:.0f} s from axis's clock "
                               f"(allowed {max_skew:.0f} s)")
        expected = hmac.new(secret, string_to_sign(method, path, date, body), hashlib.sha256).hexdigest()
        # Bytes, not text: compare_digest refuses text that is not ASCII with a TypeError (header values arrive
        # as latin-1), and a mismatch is all such a signature is.
        if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
            raise AxisError.of(Code.AUTH_INVALID, "the HMAC signature does not match")
        return agency
    raise AxisError.of(Code.AUTH_INVALID, f"unsupported authorization scheme {scheme!r}")


def require_self(agency: Agency, code: str | None, registry: Registry, what: str) -> None:
    """Refuse unless ``code`` (from a package) denotes the authenticated agency itself."""
    claimed = registry.get(code) if code else None
    if claimed is None or claimed.key != agency.key:
        raise AxisError.of(Code.AUTH_NOT_YOUR_AGENCY,
                           f"{what} is {code!r} but the request is authenticated as {agency.code.text}")
