"""Where trust in a signing certificate comes from: our own CAs and per-agency pins, nothing else.

signxml would fall back to the system's public web CAs when given no CA file; a
web-server certificate has no business signing official correspondence, so axis
never lets it.  A certificate is trusted when

- it is pinned for the sending agency (the agency's own certificate, registered
  out of band), or
- it chains, through certificates in the package, to a CA in the trust store, and
  allows digital signatures (KeyUsage digitalSignature or nonRepudiation).

An agency that has pins is held to them: a CA-issued certificate that is not among
its pins is not trusted for it.  Expiry is checked separately by the verifier so
that an expired certificate is reported as such, not as "untrusted".
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from axis import sources
from axis.agencycode import parse_strict, parse_tolerant
from axis.errors import AxisError

TrustBasis = Literal["pinned", "ca"]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lowercase hex: how axis names a certificate."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def load_pem_certificates(path: Path) -> list[x509.Certificate]:
    data = sources.read_bytes(path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"{path}: not a PEM certificate file ({exc})") from None
    return certs


def _agency_key(code: str) -> str:
    try:
        return parse_tolerant(code).canonical
    except AxisError:
        return code.strip()


def _check_signing_key_usage(policy: object, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        raise ValueError("the certificate's KeyUsage allows neither digitalSignature nor nonRepudiation")


def _check_ca(policy: object, cert: x509.Certificate, constraints: x509.BasicConstraints | None) -> None:
    if constraints is None or not constraints.ca:
        raise ValueError("an issuing certificate is not a CA (BasicConstraints)")


# Government CAs are not shaped like web CAs, so we do not impose the WebPKI profile;
# we require what matters for signing: CA basic constraints up the chain, a signing
# key usage on the leaf.
_EE_POLICY = ExtensionPolicy.permit_all().require_present(x509.KeyUsage, Criticality.AGNOSTIC,
                                                          _check_signing_key_usage)
_CA_POLICY = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _check_ca)


@dataclass(frozen=True)
class TrustStore:
    cas: tuple[x509.Certificate, ...] = ()
    pinned: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Canonical agency code → fingerprints of its pinned certificates."""
    _cache: dict[tuple[str, tuple[str, ...]], tuple[str | None, datetime, datetime]] = field(
        default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def from_files(cls, ca_files: Iterable[Path] = (), pins: Mapping[str, Iterable[Path]] | None = None
                   ) -> "TrustStore":
        cas = tuple(c for p in ca_files for c in load_pem_certificates(p))
        pinned = {
            _agency_key(code): frozenset(fingerprint(c) for p in paths for c in load_pem_certificates(p))
            for code, paths in (pins or {}).items()
        }
        return cls(cas=cas, pinned=pinned)

    def pins_for(self, agency_code: str | None) -> frozenset[str]:
        if agency_code is None:
            return frozenset()
        return self.pinned.get(_agency_key(agency_code), frozenset())

    def evaluate(self, leaf: x509.Certificate, intermediates: list[x509.Certificate], agency_code: str | None,
                 at: datetime, *, leaf_fingerprint: str | None = None) -> tuple[TrustBasis | None, str]:
        """(basis, why): basis is None when the certificate is not trusted for this agency at ``at``."""
        leaf_fp = leaf_fingerprint or fingerprint(leaf)
        pins = self.pins_for(agency_code)
        if pins:
            if leaf_fp in pins:
                return "pinned", "pinned for the sender"
            return None, f"the sender {agency_code} has pinned certificates and this one ({leaf_fp[:16]}…) is not one"
        if not self.cas:
            return None, "no CA is configured in the trust store and the certificate is not pinned"
        error = self._chain_error(leaf, leaf_fp, intermediates, at)
        if error is None:
            return "ca", "chains to a trusted CA"
        return None, error

    def _chain_error(self, leaf: x509.Certificate, leaf_fp: str, intermediates: list[x509.Certificate],
                     at: datetime) -> str | None:
        # Chain building is the costly part; its outcome depends on the certificates and on time only through
        # their validity windows: a chain found is cached for as long as every certificate in it is valid, a
        # failure for the rest of the hour.
        key = (leaf_fp, tuple(fingerprint(c) for c in intermediates))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[1] <= at < cached[2]:
            return cached[0]
        builder = (PolicyBuilder().store(Store(list(self.cas))).time(at)
                   .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY))
        error: str | None
        try:
            chain = builder.build_client_verifier().verify(leaf, intermediates).chain
            error = None
            start = max(c.not_valid_before_utc for c in chain)
            end = min(c.not_valid_after_utc for c in chain)
        except VerificationError as exc:
            error = f"no valid chain to a trusted CA ({exc})"
            start = datetime.fromtimestamp(int(at.timestamp()) // 3600 * 3600, timezone.utc)
            end = start + timedelta(hours=1)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (error, start, end)
        return error


AGENCY_CODE_ATTRIBUTE = x509.NameOID.USER_ID
"""Subject attribute (UID) in which a signing certificate names its agency, as axis's PKI issues them."""


def agency_of(cert: x509.Certificate) -> str | None:
    """The agency code a certificate is bound to, if it names one.

    Government certificates also use UID for personal and tax numbers (``CMND:…``,
    ``MST:…``); only a value that is a registrable agency code binds the certificate.
    """
    for attribute in cert.subject.get_attributes_for_oid(AGENCY_CODE_ATTRIBUTE):
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.decode("utf-8", "replace")
        try:
            return parse_strict(value).text
        except AxisError:
            continue
    return None
