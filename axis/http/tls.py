"""TLS for both directions: the doors as an HTTPS server (optionally asking agencies for client certificates),
and pushes and upstream calls as an HTTPS client (trusting configured CAs, presenting axis's own certificate).

A client certificate binds the connection to an agency when it names one (the UID attribute, as agencies'
signing certificates do): a request on that connection may then act only as that agency, whatever token or
HMAC it carries (:func:`certificate_agency`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from twisted.internet import ssl
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from axis.config.server import TlsConfig
from axis.errors import AxisError, Code
from axis.registry import Agency, Registry, Route
from axis.signature.trust import agency_of


def _certificates(files: tuple[Path, ...]) -> list[ssl.Certificate]:
    out = []
    for file in files:
        for cert in x509.load_pem_x509_certificates(file.read_bytes()):
            out.append(ssl.Certificate.loadPEM(cert.public_bytes(Encoding.PEM)))
    return out


def _private(cert: Path, key: Path) -> ssl.PrivateCertificate:
    return ssl.PrivateCertificate.loadPEM(key.read_bytes() + b"\n" + cert.read_bytes())


def server_options(tls: TlsConfig) -> ssl.CertificateOptions:
    """What the listening doors present, and whom they accept certificates from."""
    assert tls.cert is not None and tls.key is not None
    chain = x509.load_pem_x509_certificates(tls.cert.read_bytes())
    me = _private(tls.cert, tls.key)
    extra = [ssl.Certificate.loadPEM(c.public_bytes(Encoding.PEM)).original for c in chain[1:]]
    if not tls.client_ca:
        return ssl.CertificateOptions(privateKey=me.privateKey.original, certificate=me.original,
                                      extraCertChain=extra)
    return ssl.CertificateOptions(privateKey=me.privateKey.original, certificate=me.original, extraCertChain=extra,
                                  verify=True, caCerts=[c.original for c in _certificates(tls.client_ca)],
                                  requireCertificate=tls.require_client_cert)


@implementer(IPolicyForHTTPS)
class _ClientPolicy:
    def __init__(self, trust: Any, client: ssl.PrivateCertificate | None) -> None:
        self.trust, self.client = trust, client

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return ssl.optionsForClientTLS(hostname.decode("ascii"), trustRoot=self.trust, clientCertificate=self.client)


def client_policy(ca: tuple[Path, ...], cert: Path | None, key: Path | None) -> IPolicyForHTTPS:
    """HTTPS as a client: the configured CAs (else the system's), hostname checked, axis's certificate if given."""
    if not ca and cert is None:
        return BrowserLikePolicyForHTTPS()
    trust = ssl.trustRootFromCertificates(_certificates(ca)) if ca else ssl.platformTrust()
    client = _private(cert, key) if cert is not None and key is not None else None
    return _ClientPolicy(trust, client)


def bind_to_certificate(registry: Registry, principal: Agency | Route, transport: Any) -> None:
    """Refuse (``auth.not-your-agency``) a request authenticated as ``principal`` on a connection whose client
    certificate names another agency.

    A lower axis (a route) is never the agency a certificate names, so a connection bound to a registered agency
    cannot act as one with the route's secret; a lower axis's own certificate may carry its axis code, which no
    agency registered here has."""
    named = certificate_agency(transport)
    if named is None:
        return
    found = registry.get(named)
    if found is None and isinstance(principal, Route):
        return
    if found is None or found.key != principal.key:
        raise AxisError.of(Code.AUTH_NOT_YOUR_AGENCY, f"the TLS client certificate names {named}, the request is "
                           f"authenticated as {principal.key}")


def certificate_agency(transport: Any) -> str | None:
    """The agency code a TLS client certificate names, or None (no TLS, no certificate, no UID that is a code).

    Government certificates also carry personal and tax numbers as UID (``CMND:…``, ``MST:…``), before or instead
    of the agency's code: the first UID that is a registrable agency code (either grammar) is the one, as for
    signing certificates (:func:`axis.signature.trust.agency_of`).  Reading the first UID whatever it held locked an
    agency out behind its own tax number, and refused a personal certificate that names no agency at all."""
    get = getattr(transport, "getPeerCertificate", None)
    peer = get() if get is not None else None
    if peer is None:
        return None
    cert = peer.to_cryptography() if hasattr(peer, "to_cryptography") else None
    if cert is None:
        return None
    # The very reading of signing certificates: a registrable code (strict), not whatever a tolerant reading takes (a
    # tax number written bare, a VXP system id).
    return agency_of(cert)
