"""Signed acceptance receipts: axis's proof to a sender that it took a package.

When axis accepts a package it answers with a receipt (its message id, the SHA-256
and size of the exact bytes received, the time, the sender and the recipients)
signed with axis's own key, so that a sender can later prove what axis accepted and
when, and nobody (axis included) can quietly deny or rewrite it.

Signing is on the hot path (1,000 packages/s on 2 cores), so it stays cheap: the
signed bytes are the canonical JSON of the receipt (sorted keys, no spaces, UTF-8),
made by the standard library's C encoder, and the default key is ECDSA P-256
(tens of microseconds per signature).  RSA (PKCS#1 v1.5) and Ed25519 keys work too
when the operator configures one.  Algorithm names follow JOSE (RFC 7518/8037):
``ES256`` (the value is the 64-byte ``r || s``, as in JWS, not DER), ``RS256``, ``EdDSA``.

The signed form, as the HTTP answer and the store keep it::

    {"receipt": {...}, "signature": {"alg": "ES256", "key_id": "<hex SHA-256 of the cert DER>",
                                      "value": "<base64>"}}

The verifier chooses the algorithm from the certificate it was given, never from
``alg`` alone, and refuses anything else with a typed :class:`~axis.errors.AxisError`.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

from axis import sources
from axis.errors import AxisError, Code
from axis.signature.trust import AGENCY_CODE_ATTRIBUTE
from axis.vntime import now as vn_now
from axis.vntime import parse_iso

log = logging.getLogger(__name__)

KINDS = ("edoc", "status")
ALGORITHMS = ("ES256", "RS256", "EdDSA")
_FIELDS = ("message_id", "sha256", "size", "accepted_at", "sender", "kind", "document_id", "recipients", "axis")
_SIGNATURE_FIELDS = ("alg", "key_id", "value")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_P256_BYTES = 32
_MIN_RSA_BITS = 2048
_IDENTITY_DAYS = 3650
_CN_MAX_BYTES = 64  # upper bound for commonName; cryptography counts it in UTF-8 bytes and refuses longer
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""One encoder for every receipt (``json.dumps`` would build a new one per call)."""

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Receipt:
    """What axis states it accepted.  Validated on construction, so axis never signs a receipt nobody can verify."""

    message_id: str
    """axis's id for the package."""
    sha256: str
    """Lower-case hex SHA-256 of the exact bytes received."""
    size: int
    accepted_at: str
    """ISO 8601 with +07:00 (:func:`axis.vntime.iso`)."""
    sender: str
    """Canonical agency code of the sender."""
    kind: str
    """``edoc`` or ``status``."""
    document_id: str | None
    recipients: tuple[str, ...]
    """Canonical codes."""
    axis: str
    """Code of the axis that accepted it."""

    def __post_init__(self) -> None:
        if isinstance(self.recipients, list):  # a JSON array, or a caller's list: keep the dataclass hashable
            object.__setattr__(self, "recipients", tuple(self.recipients))
        for name in ("message_id", "sender", "axis"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if not isinstance(self.sha256, str) or not _HEX64.fullmatch(self.sha256):
            raise ValueError(f"sha256 must be 64 lower-case hex digits, got {self.sha256!r}")
        if type(self.size) is not int or self.size < 0:  # not bool, not float
            raise ValueError(f"size must be a non-negative integer, got {self.size!r}")
        if not isinstance(self.accepted_at, str):
            raise ValueError(f"accepted_at must be an ISO 8601 string, got {self.accepted_at!r}")
        try:
            parse_iso(self.accepted_at)
        except ValueError as exc:
            raise ValueError(f"accepted_at: {exc}") from None
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.document_id is not None and (not isinstance(self.document_id, str) or not self.document_id):
            raise ValueError(f"document_id must be a non-empty string or null, got {self.document_id!r}")
        if not isinstance(self.recipients, tuple) or not self.recipients:
            raise ValueError(f"recipients must be a non-empty list of codes, got {self.recipients!r}")
        for code in self.recipients:
            if not isinstance(code, str) or not code:
                raise ValueError(f"recipients must hold non-empty strings, got {code!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object that is signed (written out by hand: ``dataclasses.asdict`` deep-copies, and is slow)."""
        return {
            "message_id": self.message_id,
            "sha256": self.sha256,
            "size": self.size,
            "accepted_at": self.accepted_at,
            "sender": self.sender,
            "kind": self.kind,
            "document_id": self.document_id,
            "recipients": list(self.recipients),
            "axis": self.axis,
        }

    @classmethod
    def from_dict(cls, data: Any) -> "Receipt":
        """Read a receipt object exactly: every field, nothing else (an unknown field is not silently dropped)."""
        if not isinstance(data, dict):
            raise _malformed(f"the receipt must be a JSON object, got {_kind_of(data)}")
        _exact_fields("receipt", data, _FIELDS)
        if not isinstance(data["recipients"], list):
            raise _malformed(f"recipients must be a list, got {_kind_of(data['recipients'])}")
        try:
            return cls(**{k: data[k] for k in _FIELDS})
        except (ValueError, TypeError) as exc:
            raise _malformed(str(exc)) from None


def signing_bytes(receipt_dict: dict[str, Any]) -> bytes:
    """The bytes that are signed: canonical JSON, so that any verifier can rebuild them from the parsed object."""
    return _CANONICAL.encode(receipt_dict).encode("utf-8")


def certificate_key_id(certificate: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER: names the key in a receipt, so a verifier knows which one it needs."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def _public_der(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _algorithm_of(key: Any) -> str | None:
    """The receipt algorithm for a public or private key, or None when receipts cannot use it."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ES256" if isinstance(key.curve, ec.SECP256R1) else None
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RS256" if key.key_size >= _MIN_RSA_BITS else None
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "EdDSA"
    return None


class ReceiptSigner:
    """axis's signing identity: its key and certificate, and everything per signature that can be precomputed."""

    key_id: str
    """Hex SHA-256 of the certificate DER."""
    alg: str
    """``ES256``, ``RS256`` or ``EdDSA``, from the kind of key."""

    def __init__(self, private_key: SigningKey, certificate: x509.Certificate) -> None:
        alg = _algorithm_of(private_key)
        if alg is None:
            raise ValueError(f"receipts are signed with ECDSA P-256, RSA (>= {_MIN_RSA_BITS} bits) or Ed25519 keys, "
                             f"not {type(private_key).__name__}"
                             + (f" on {private_key.curve.name}" if isinstance(private_key, ec.EllipticCurvePrivateKey)
                                else ""))
        # A key that does not match its certificate would make every receipt unverifiable: refuse at startup.
        if _public_der(private_key.public_key()) != _public_der(certificate.public_key()):
            raise ValueError("the receipt key does not match the certificate's public key")
        self._key = private_key
        self.certificate = certificate
        self.alg = alg
        self.key_id = certificate_key_id(certificate)
        # sign_json writes the envelope around the canonical receipt bytes directly; keys in sorted order,
        # so the result is itself canonical JSON (key_id is hex, value base64: nothing to escape).
        self._head = b'{"receipt":'
        self._mid = f',"signature":{{"alg":"{alg}","key_id":"{self.key_id}","value":"'.encode("ascii")
        self._tail = b'"}}'

    def _value(self, data: bytes) -> str:
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            raw = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        elif isinstance(key, rsa.RSAPrivateKey):
            raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raw = key.sign(data)
        return base64.b64encode(raw).decode("ascii")

    def sign(self, receipt: Receipt) -> dict[str, Any]:
        """The signed receipt as an object: ``{"receipt": {...}, "signature": {"alg", "key_id", "value"}}``."""
        body = receipt.to_dict()
        return {"receipt": body,
                "signature": {"alg": self.alg, "key_id": self.key_id, "value": self._value(signing_bytes(body))}}

    def sign_json(self, receipt: Receipt) -> bytes:
        """The signed receipt serialised (canonical UTF-8 JSON): what the HTTP answer carries and the store keeps."""
        body = signing_bytes(receipt.to_dict())
        return b"".join((self._head, body, self._mid, self._value(body).encode("ascii"), self._tail))


# ----------------------------------------------------------------------------- verifying


def _malformed(detail: str) -> AxisError:
    return AxisError.of(Code.RECEIPT_MALFORMED, detail)


def _kind_of(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _exact_fields(what: str, data: dict[str, Any], fields: Sequence[str]) -> None:
    """Refuse a missing field and an unknown one alike (nothing is silently dropped)."""
    missing = [k for k in fields if k not in data]
    extra = sorted(str(k) for k in data if k not in fields)
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("unexpected " + ", ".join(extra))
    if parts:
        raise _malformed(f"{what}: " + "; ".join(parts))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # json.loads would keep the last one: two readers could then see two receipts
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _load(document: dict[str, Any] | bytes | str) -> Any:
    if isinstance(document, dict):
        return document
    if isinstance(document, (bytes, bytearray, memoryview)):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not isinstance(document, str):
        raise _malformed(f"expected JSON text or an object, got {type(document).__name__}")
    try:
        return json.loads(document, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise _malformed(f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"not acceptable JSON ({exc})") from None


def extract_signed(document: dict[str, Any] | bytes | str) -> dict[str, Any]:
    """The signed receipt in a document that is either one, or the daemon's whole submit answer.

    The answer to a submission nests the signed receipt under ``"receipt"``; its other
    fields are not signed, so a ``message_id`` beside it must agree with the signed one.
    """
    data = _load(document)
    if isinstance(data, dict) and "signature" not in data and isinstance(data.get("receipt"), dict) \
            and "signature" in data["receipt"]:
        signed: dict[str, Any] = data["receipt"]
        outer, inner = data.get("message_id"), signed.get("receipt")
        if outer is not None and isinstance(inner, dict) and outer != inner.get("message_id"):
            raise _malformed(f"the answer's message_id {outer!r} is not the signed receipt's "
                             f"{inner.get('message_id')!r}")
        return signed
    if not isinstance(data, dict):
        raise _malformed(f"the signed receipt must be a JSON object, got {_kind_of(data)}")
    return data


def verify_receipt(signed: dict[str, Any] | bytes | str, certificate: x509.Certificate) -> Receipt:
    """Check a signed receipt against axis's certificate and return what it states.

    Raises :class:`AxisError`: ``receipt.malformed`` (shape, fields or types),
    ``receipt.wrong-key`` (signed by another key than ``certificate``'s) or
    ``receipt.bad-signature`` (changed after signing, or forged).
    """
    data = _load(signed)
    if not isinstance(data, dict):
        raise _malformed(f"the signed receipt must be a JSON object, got {_kind_of(data)}")
    _exact_fields("signed receipt", data, ("receipt", "signature"))
    sig = data["signature"]
    if not isinstance(sig, dict):
        raise _malformed(f"signature must be an object, got {_kind_of(sig)}")
    _exact_fields("signature", sig, _SIGNATURE_FIELDS)
    for name in _SIGNATURE_FIELDS:
        if not isinstance(sig[name], str):
            raise _malformed(f"signature.{name} must be a string, got {_kind_of(sig[name])}")
    alg, key_id, value = sig["alg"], sig["key_id"], sig["value"]
    if alg not in ALGORITHMS:
        raise _malformed(f"signature.alg {alg!r} is not one of {', '.join(ALGORITHMS)}")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise _malformed("signature.value is not base64") from None
    receipt = Receipt.from_dict(data["receipt"])
    try:
        message = signing_bytes(receipt.to_dict())
    except UnicodeEncodeError:  # a lone surrogate escaped in the JSON (\ud800): not text any signer produced
        raise _malformed("the receipt holds text that is not valid Unicode") from None

    expected_id = certificate_key_id(certificate)
    if key_id != expected_id:
        raise AxisError.of(Code.RECEIPT_WRONG_KEY, f"signed by key {key_id[:64]!r}, the certificate is {expected_id}")
    public_key = certificate.public_key()
    cert_alg = _algorithm_of(public_key)
    if cert_alg is None:
        raise AxisError.of(Code.RECEIPT_WRONG_KEY, "the certificate's key cannot sign receipts")
    if alg != cert_alg:
        raise AxisError.of(Code.RECEIPT_BAD_SIGNATURE,
                           f"signature.alg is {alg}, the certificate's key signs {cert_alg}")
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if len(raw) != 2 * _P256_BYTES:
                raise InvalidSignature
            der = encode_dss_signature(int.from_bytes(raw[:_P256_BYTES], "big"),
                                       int.from_bytes(raw[_P256_BYTES:], "big"))
            public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            assert isinstance(public_key, ed25519.Ed25519PublicKey)
            public_key.verify(raw, message)
    except (InvalidSignature, ValueError):
        raise AxisError.of(Code.RECEIPT_BAD_SIGNATURE, f"receipt {receipt.message_id}") from None
    return receipt


# ----------------------------------------------------------------------------- axis's identity


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate of a PEM file (or a DER file): how operators hand axis's certificate to verifiers."""
    data = sources.read_bytes(path)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
            return certs[0]
        return x509.load_der_x509_certificate(data)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: not a PEM or DER certificate ({exc})") from None


def load_key(path: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(sources.read_bytes(path), password=None)
    except TypeError:
        raise ValueError(f"{path}: the key is encrypted; axis needs an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError(f"{path}: a {type(key).__name__} cannot sign receipts (ECDSA P-256, RSA or Ed25519)")
    return key


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write beside ``path``, flush to disk, then rename: a crash leaves the old state or the new, never half a key."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (after a rename into it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _self_signed(key: ec.EllipticCurvePrivateKey, code: str, name: str) -> x509.Certificate:
    start = vn_now() - timedelta(minutes=5)
    common_name = (name or code).encode("utf-8")[:_CN_MAX_BYTES].decode("utf-8", "ignore")  # whole characters
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(AGENCY_CODE_ATTRIBUTE, code)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=_IDENTITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def load_or_create_identity(key_path: Path, cert_path: Path, code: str, name: str, create: bool = True
                            ) -> ReceiptSigner:
    """axis's receipt signer: the configured key and certificate, or a new self-signed pair on first start.

    A first start must not need an operator's PKI step, so when neither file exists an
    ECDSA P-256 key and a 10-year self-signed certificate (CN=name, UID=code) are
    created; operators then give the certificate to the agencies.  When only one of
    the two exists something went wrong (a lost file, a half-finished copy): replacing
    the other would silently change axis's identity, so this refuses instead.  ``create=False`` (an
    intake process) only loads: a process that made a new identity while the daemon keeps its own would
    leave on disk a key that nobody's receipts were signed with, for the next restart to adopt.
    """
    key_path, cert_path = Path(key_path), Path(cert_path)
    if key_path.exists() and cert_path.exists():  # the usual case: no lock needed to read
        return _load_or_create(key_path, cert_path, code, name, create)
    # Several processes may start on a new data directory at once (the daemon and its intake processes, two
    # daemons by mistake): one creates the pair while the others wait, then load it.
    key_path.parent.mkdir(parents=True, exist_ok=True)
    directory = os.open(key_path.parent, os.O_RDONLY)  # the lock is on the directory: no lock file left behind
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        return _load_or_create(key_path, cert_path, code, name, create)
    finally:
        os.close(directory)


def _load_or_create(key_path: Path, cert_path: Path, code: str, name: str, create: bool) -> ReceiptSigner:
    has_key, has_cert = key_path.exists(), cert_path.exists()
    if has_key and has_cert:
        exposed = sources.exposed_secret(key_path)
        if exposed is not None:  # whoever reads it can sign receipts as axis
            raise ValueError(f"receipt identity: {exposed}")
        signer = ReceiptSigner(load_key(key_path), load_certificate(cert_path))
        named = [a.value for a in signer.certificate.subject.get_attributes_for_oid(AGENCY_CODE_ATTRIBUTE)]
        if named and code not in named:
            log.warning("receipt certificate %s names %s, but this axis is %s", cert_path, ", ".join(map(str, named)),
                        code)
        log.info("receipt identity loaded: key %s, certificate %s, key_id %s", key_path, cert_path, signer.key_id)
        return signer
    if has_key or has_cert:
        present, absent = (key_path, cert_path) if has_key else (cert_path, key_path)
        raise ValueError(f"receipt identity: {present} exists but {absent} does not; restore the missing file, or "
                         f"remove {present} to create a new identity (agencies will then need the new certificate)")
    if not create:
        raise ValueError(f"receipt identity: neither {key_path} nor {cert_path} exists, and only axisd itself "
                         "creates them, when it starts")
    if not code:
        raise ValueError("receipt identity: the axis code is empty")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, code, name)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    for directory in {key_path.parent, cert_path.parent}:
        directory.mkdir(parents=True, exist_ok=True)
    _write_atomically(key_path, key_pem, 0o600)
    _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    for directory in {key_path.parent, cert_path.parent}:
        fsync_path(directory)
    signer = ReceiptSigner(key, cert)
    log.info("receipt identity created: key %s (mode 0600), self-signed certificate %s for %s, key_id %s",
             key_path, cert_path, code, signer.key_id)
    return signer


def file_digest(path: Path) -> tuple[str, int]:
    """Hex SHA-256 and size of a file, read in blocks (packages can be large)."""
    digest, size = hashlib.sha256(), 0
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
