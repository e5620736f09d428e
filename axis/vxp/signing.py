"""The SDKVXP header signature (the reference, vxp-protocol.md §2), both ways.

The Java SDK keeps its parameters in a ``java.util.HashMap``, signs the compact JSON of
``{"XroadVnpt-<key>": value, …}`` in the map's iteration order with HMAC-SHA256 (the shared secret,
UTF-8), and sends that JSON (``XroadVnpt-sign-header``), the key list (``-sign-header-key``), the
lowercase hex HMAC (``-hash-header``) and each value again as its own ``XroadVnpt-<key>`` header.

A server cannot know the order the client used, and need not: it recomputes the HMAC over the JSON
exactly as received, then reads every parameter *from that signed JSON*; the loose headers must
agree with it, so nothing unsigned can slip in beside it.  A client (ours, for tests and federation)
must reproduce the SDK's order, since the real national axis may compare more than we can see.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from axis.errors import AxisError, Code

PREFIX = "XroadVnpt-"
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
VERSION = "3.0.201608"
MAX_SIGN_HEADER = 16384  # bytes; the SDK's grows with every key a long-lived client adds, but stays small


def java_string_hash(text: str) -> int:
    """``String.hashCode()``: over UTF-16 code units, in 32-bit two's complement arithmetic."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h


def java_hashmap_order(keys: Sequence[str]) -> list[str]:
    """The iteration order of a ``java.util.HashMap`` into which ``keys`` were put in this order (a key put
    again keeps its first place): by bucket at the final capacity, then by insertion within a bucket."""
    unique = list(dict.fromkeys(keys))
    capacity = 16
    while len(unique) > capacity * 3 // 4:  # load factor 0.75: resize once size exceeds the threshold
        capacity *= 2

    def bucket(key: str) -> int:
        h = java_string_hash(key)
        return (h ^ (h >> 16)) & (capacity - 1)

    return [key for _, key in sorted(enumerate(unique), key=lambda item: (bucket(item[1]), item[0]))]


def sign_header(values: Mapping[str, str], secret: bytes) -> tuple[str, str, str]:
    """(sign-header JSON, sign-header-key list, hex HMAC) for ``values`` given in the SDK's put order."""
    order = java_hashmap_order(list(values))
    signed = json.dumps({PREFIX + k: values[k] for k in order}, ensure_ascii=False, separators=(",", ":"))
    digest = hmac.new(secret, signed.encode("utf-8"), hashlib.sha256).hexdigest()
    return signed, ";".join(order), digest


def client_headers(values: Mapping[str, str], secret: bytes) -> list[tuple[str, str]]:
    """Every header the SDK sends for a call whose map holds ``values`` (in put order), in its order."""
    signed, key_list, digest = sign_header(values, secret)
    out: list[tuple[str, str]] = []
    for key in key_list.split(";"):
        if key == "Content-Type":
            out.append(("Content-Type", values[key]))
        out.append((PREFIX + key, values[key]))
    out += [(PREFIX + "sign-header-key", key_list), (PREFIX + "sign-header", signed),
            (PREFIX + "hash-header", digest), ("User-Agent", USER_AGENT), (PREFIX + "version", VERSION)]
    return out


def sdk_hash_file(data: bytes) -> str:
    """The SDK's ``hash-file``: SHA-256 in hex with each byte's leading zero dropped (``0x05`` → ``5``)."""
    return "".join(format(b, "x") for b in hashlib.sha256(data).digest())


@dataclass(frozen=True)
class SignedRequest:
    system_id: str
    params: dict[str, str]  # every signed key (without the prefix) and its value


def _refuse(code: Code, detail: str) -> AxisError:
    return AxisError.of(code, detail)


def read_signed(headers: Mapping[str, bytes]) -> tuple[SignedRequest, bytes, str]:
    """Parse a request's signature headers (lower-cased names → raw values) without judging the HMAC yet:
    (the signed parameters, the exact signed bytes, the claimed hex HMAC).  Raises ``vxp.auth-missing`` or
    ``vxp.auth-malformed``."""
    raw = headers.get((PREFIX + "sign-header").lower())
    claimed = headers.get((PREFIX + "hash-header").lower())
    if raw is None or claimed is None:
        raise _refuse(Code.VXP_AUTH_MISSING, "XroadVnpt-sign-header and XroadVnpt-hash-header are required")
    if len(raw) > MAX_SIGN_HEADER:
        raise _refuse(Code.VXP_AUTH_MALFORMED, f"XroadVnpt-sign-header is over {MAX_SIGN_HEADER} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
        digest = claimed.decode("ascii").strip().lower()
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refuse(Code.VXP_AUTH_MALFORMED, f"XroadVnpt-sign-header is not UTF-8 JSON ({exc})") from None
    except RecursionError:  # [[[[…]]]]: json.loads says so with a RecursionError, not a ValueError
        raise _refuse(Code.VXP_AUTH_MALFORMED, "XroadVnpt-sign-header is nested too deeply") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and k.startswith(PREFIX) and isinstance(v, str)
                                            for k, v in doc.items()):
        raise _refuse(Code.VXP_AUTH_MALFORMED, "XroadVnpt-sign-header must be a JSON object of XroadVnpt-* strings")
    params = {k[len(PREFIX):]: v for k, v in doc.items()}
    system_id = params.get("systemid", "").strip()
    if not system_id:
        raise _refuse(Code.VXP_AUTH_MALFORMED, "the signed headers name no XroadVnpt-systemid")
    return SignedRequest(system_id, params), raw, digest


def check_signed(request: SignedRequest, raw: bytes, claimed: str, secret: bytes,
                 headers: Mapping[str, bytes]) -> None:
    """The HMAC over the received sign-header, compared in constant time; then every loose ``XroadVnpt-*``
    header must be a signed key carrying its signed value (a header dropped on the way changes nothing: the
    signed JSON is what is read).  Raises ``vxp.bad-signature`` or ``vxp.header-mismatch``."""
    expected = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), claimed.encode("ascii", "replace")):
        raise _refuse(Code.VXP_BAD_SIGNATURE, f"system {request.system_id}")
    signed = {key.lower(): value for key, value in request.params.items()}
    for name, loose in headers.items():
        if not name.startswith(PREFIX.lower()):
            continue
        key = name[len(PREFIX):]
        if key in _UNSIGNED:
            continue
        if key not in signed:
            raise _refuse(Code.VXP_HEADER_MISMATCH, f"XroadVnpt-{key} is not covered by the signature")
        if loose.decode("utf-8", "replace") != signed[key]:
            raise _refuse(Code.VXP_HEADER_MISMATCH, f"XroadVnpt-{key} does not match its signed value")


_UNSIGNED = frozenset({"sign-header", "sign-header-key", "hash-header", "version"})
