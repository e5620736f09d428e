"""A small PKI for tests, demos and pilots: a root CA and agency signing certificates.

Production trust comes from the government CA; this exists so that tests and a
pilot deployment can sign real packages with real keys.  Keys are generated at run
time and written with 0600 permissions; none is ever committed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from axis.signature.trust import AGENCY_CODE_ATTRIBUTE
from axis.vntime import now as vn_now

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    """Issuing certificates above ``cert`` (not including the root when it is the trust anchor)."""

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def cert_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))


def new_key(kind: str = "rsa") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r} (rsa or ec)")


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object, not_before: datetime,
             not_after: datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after))


def create_ca(common_name: str = "axis test root CA", *, days: int = 3650, key_kind: str = "rsa",
              now: datetime | None = None) -> Issued:
    start = (now or vn_now()) - timedelta(minutes=5)
    key = new_key(key_kind)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "axis"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (_builder(name, name, key.public_key(), start, start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(key=key, cert=cert)


def issue(ca: Issued, agency_code: str, name: str | None = None, *, not_before: datetime | None = None,
          not_after: datetime | None = None, days: int = 730, key_kind: str = "rsa",
          signing_usage: bool = True) -> Issued:
    """A signing certificate for one agency; its subject carries the code (UID) so axis can bind it to ``From``."""
    start = not_before or (vn_now() - timedelta(minutes=5))
    end = not_after or (start + timedelta(days=days))
    key = new_key(key_kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name or agency_code),
                         x509.NameAttribute(NameOID.COMMON_NAME, name or agency_code),
                         x509.NameAttribute(AGENCY_CODE_ATTRIBUTE, agency_code)])
    cert = (_builder(subject, ca.cert.subject, key.public_key(), start, end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=signing_usage, content_commitment=signing_usage,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Issued(key=key, cert=cert, chain=ca.chain)


def issue_tls(ca: Issued, *, hosts: tuple[str, ...] = (), agency_code: str | None = None, days: int = 730,
              key_kind: str = "ec") -> Issued:
    """A TLS certificate: for a server (``hosts``: DNS names or IP addresses, in subjectAltName) or for a client
    (``agency_code``: carried as UID like a signing certificate, so axis can bind the connection to the agency)."""
    start = vn_now() - timedelta(minutes=5)
    key = new_key(key_kind)
    common = agency_code or (hosts[0] if hosts else "axis")
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if agency_code:
        attributes.append(x509.NameAttribute(AGENCY_CODE_ATTRIBUTE, agency_code))
    usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if agency_code else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    builder = (_builder(x509.Name(attributes), ca.cert.subject, key.public_key(), start, start + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False))
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(key=key, cert=builder.sign(ca.key, hashes.SHA256()), chain=ca.chain)


def write(issued: Issued, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.key`` (0600) and ``stem.pem`` (certificate and chain)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.pem"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already exists
    with os.fdopen(fd, "wb") as fh:
        fh.write(issued.key_pem)
    cert_path.write_bytes(issued.cert_pem)
    return key_path, cert_path


def read(key_path: Path, cert_path: Path) -> Issued:
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"{key_path}: only RSA and EC keys are supported")
    certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
    return Issued(key=key, cert=certs[0], chain=tuple(certs[1:]))
