"""TLS through a real daemon, with certificates from a test PKI made here: the native door over HTTPS with optional
and required client certificates (a certificate naming an agency binds the connection to it), and pushes over
HTTPS to receivers whose CA axis is told to trust (and to none other)."""

from __future__ import annotations

import http.client
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from daemon import AgencySpec, Axisd, free_port, token_of
from test_business_flows import document

from axis.signature import pki
from axis.signature.trust import AGENCY_CODE_ATTRIBUTE
from axis.vxp.client import VxpClient

H41, G22, PUSHED, STRANGER = "000.00.00.H41", "000.00.00.G22", "000.00.01.H41", "000.00.02.H41"


@dataclass
class Pki:
    ca: Path
    server: tuple[Path, Path]  # key, cert
    clients: dict[str, tuple[Path, Path]]
    other_ca_server: tuple[Path, Path]  # a server certificate from a CA axis does not trust
    issuer: pki.Issued  # the CA of ``ca``, to issue certificates of other shapes


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("tls-pki")
    ca = pki.create_ca("axis TLS test CA", key_kind="ec")
    pki.write(ca, d, "ca")
    server = pki.write(pki.issue_tls(ca, hosts=("127.0.0.1", "localhost")), d, "server")
    clients = {code: pki.write(pki.issue_tls(ca, agency_code=code), d, f"client-{code}") for code in (H41, G22)}
    other = pki.create_ca("some other CA", key_kind="ec")
    return Pki(d / "ca.pem", server, clients, pki.write(pki.issue_tls(other, hosts=("127.0.0.1",)), d, "other"), ca)


def context(certs: Pki, client: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if client is not None:
        key, cert = certs.clients[client]
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def https(axisd: Axisd, ctx: ssl.SSLContext, method: str, path: str, token: str | None = None,
          body: bytes = b"") -> tuple[int, Any]:
    conn = http.client.HTTPSConnection("127.0.0.1", axisd.port, context=ctx, timeout=20)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw.startswith(b"{") else raw
    finally:
        conn.close()


class TlsReceiver:
    """An HTTPS push receiver on loopback."""

    def __init__(self, key: Path, cert: Path) -> None:
        self.port, self.received = free_port(), []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.received.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/inbox"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, certs: Pki) -> Iterator[tuple[Axisd, TlsReceiver, TlsReceiver]]:
    good, strange = TlsReceiver(*certs.server), TlsReceiver(*certs.other_ca_server)
    agencies = [AgencySpec(H41), AgencySpec(G22), AgencySpec(PUSHED, delivery="push", push_url=good.url),
                AgencySpec(STRANGER, delivery="push", push_url=strange.url)]
    key, cert = certs.server
    axisd = Axisd(tmp_path_factory.mktemp("tls"), agencies,
                  server=f'intake_processes = 0\ntls_cert = "{cert}"\ntls_key = "{key}"\nclient_ca = ["{certs.ca}"]',
                  extra=f'tls_ca = ["{certs.ca}"]\n')
    axisd.start()
    try:
        yield axisd, good, strange
    finally:
        axisd.kill()
        good.close()
        strange.close()


def test_the_native_door_speaks_https_only(world: tuple[Axisd, TlsReceiver, TlsReceiver], certs: Pki) -> None:
    axisd, _, _ = world
    assert https(axisd, context(certs), "GET", "/healthz") == (200, {"status": "ok"})
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        axisd.request("GET", "/healthz")  # plain HTTP on the TLS port gets no answer
    with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust axis's CA refuses it
        https(axisd, ssl.create_default_context(), "GET", "/healthz")


def test_a_client_certificate_binds_the_connection_to_its_agency(world: tuple[Axisd, TlsReceiver, TlsReceiver],
                                                                 certs: Pki) -> None:
    axisd, _, _ = world
    assert https(axisd, context(certs), "GET", "/v1/mailbox", token_of(H41))[0] == 200  # optional: none is fine
    assert https(axisd, context(certs, H41), "GET", "/v1/mailbox", token_of(H41))[0] == 200
    status, body = https(axisd, context(certs, H41), "GET", "/v1/mailbox", token_of(G22))  # H41's cert, G22's token
    assert (status, body["error"]["code"]) == (403, "auth.not-your-agency")
    assert "certificate names 000.00.00.H41" in body["error"]["message"]


def client_with_uids(certs: Pki, directory: Path, stem: str, *uids: str) -> ssl.SSLContext:
    """A client certificate from the trusted CA whose subject carries these UID values, in this order (government
    certificates put personal and tax numbers there too: ``CMND:…``, ``MST:…``)."""
    issued = pki.issue_tls(certs.issuer, agency_code="000.00.00.H41")  # a client certificate, to copy its shape
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, stem),
                         *(x509.NameAttribute(AGENCY_CODE_ATTRIBUTE, uid) for uid in uids)])
    builder = x509.CertificateBuilder().subject_name(subject).issuer_name(issued.cert.issuer) \
        .public_key(issued.key.public_key()).serial_number(x509.random_serial_number()) \
        .not_valid_before(issued.cert.not_valid_before_utc).not_valid_after(issued.cert.not_valid_after_utc)
    for extension in issued.cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    key_path, cert_path = pki.write(pki.Issued(issued.key, builder.sign(certs.issuer.key, hashes.SHA256())),
                                    directory, stem)
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx


def test_a_uid_that_is_no_agency_code_does_not_bind_the_connection(world: tuple[Axisd, TlsReceiver, TlsReceiver],
                                                                   certs: Pki, tmp_path: Path) -> None:
    """As for signing certificates (:func:`axis.signature.trust.agency_of`), only a UID that is an agency code names
    the agency: a tax number before it neither hides it nor locks the agency out."""
    axisd, _, _ = world
    tax_first = client_with_uids(certs, tmp_path, "tax-first", "MST:0101234567", H41)
    assert https(axisd, tax_first, "GET", "/v1/mailbox", token_of(H41))[0] == 200
    status, body = https(axisd, tax_first, "GET", "/v1/mailbox", token_of(G22))
    assert (status, body["error"]["code"]) == (403, "auth.not-your-agency")
    personal = client_with_uids(certs, tmp_path, "personal", "CMND:012345678")  # names no agency: like none at all
    assert https(axisd, personal, "GET", "/v1/mailbox", token_of(H41))[0] == 200
    unregistered = client_with_uids(certs, tmp_path, "unregistered", "000.00.00.G17")  # an agency not registered here
    assert https(axisd, unregistered, "GET", "/v1/mailbox", token_of(H41))[0] == 403


def test_a_uid_that_only_the_tolerant_reading_takes_for_a_code_does_not_bind_the_connection(
        world: tuple[Axisd, TlsReceiver, TlsReceiver], certs: Pki, tmp_path: Path) -> None:
    """A tax number written bare (``0101234567``) or a VXP system id is no registrable agency code, and a signing
    certificate is not bound by it (:func:`axis.signature.trust.agency_of`, strict codes): the TLS reading took the
    first UID any tolerant reading accepted, so such a UID before the agency's code locked the agency out."""
    axisd, _, _ = world
    for stem, uid in (("bare-tax", "0101234567"), ("system-id", "vxp.saas.03")):
        ctx = client_with_uids(certs, tmp_path, stem, uid, H41)
        status, body = https(axisd, ctx, "GET", "/v1/mailbox", token_of(H41))
        assert status == 200, (uid, body)


def test_pushes_go_over_https_to_receivers_axis_trusts(world: tuple[Axisd, TlsReceiver, TlsReceiver],
                                                       certs: Pki) -> None:
    axisd, good, strange = world
    ctx = context(certs)
    status, answer = https(axisd, ctx, "POST", "/v1/packages", token_of(H41),
                           document(f"{H41},2026/11/22,1/TLS", (PUSHED, STRANGER), sender=H41))
    assert status == 202, answer
    message_id = answer["message_id"]
    axisd.wait_for(lambda: good.received, what="the HTTPS push")
    assert good.received[0] == document(f"{H41},2026/11/22,1/TLS", (PUSHED, STRANGER), sender=H41)

    def stranger() -> Any:
        rows = {r["code"]: r for r in https(axisd, ctx, "GET", f"/v1/sent/{message_id}", token_of(H41))[1]
                ["recipients"]}
        return rows[STRANGER] if rows[STRANGER]["attempts"] >= 1 else None
    row = axisd.wait_for(stranger, what="the failed push to the untrusted receiver")
    assert row["state"] == "queued" and "certificate verify failed" in row["last_error"], row
    assert strange.received == []  # the certificate was refused before anything was sent


def test_required_client_certificates(tmp_path: Path, certs: Pki) -> None:
    key, cert = certs.server
    axisd = Axisd(tmp_path, [AgencySpec(H41)], server=f'intake_processes = 0\ntls_cert = "{cert}"\n'
                  f'tls_key = "{key}"\nclient_ca = ["{certs.ca}"]\nrequire_client_cert = true')
    axisd.start()
    try:
        assert https(axisd, context(certs, H41), "GET", "/v1/mailbox", token_of(H41))[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            https(axisd, context(certs), "GET", "/healthz")
    finally:
        axisd.kill()


def test_a_client_certificate_naming_an_agency_binds_the_vxp_door_too_for_a_lower_axis(tmp_path: Path,
                                                                                        certs: Pki) -> None:
    """The lower axis of a ``pull`` route signs its VXP calls with the route's secret: on a connection whose client
    certificate names an agency, that agency is who may act, and it is not the route (whoever holds an agency's
    certificate and the route's secret would otherwise relay as the lower axis for the whole subtree)."""
    secret = tmp_path / "peer.hmac"
    secret.write_bytes(b"federation-secret-of-cao-bang-axis")
    secret.chmod(0o600)
    route = (f'[[route]]\nname = "cao-bang"\nprefixes = ["H14"]\ndelivery = "pull"\nvxp_system_id = "axis.h14"\n'
             f'hmac_secret_file = "{secret}"\n')
    key, cert = certs.server
    axisd = Axisd(tmp_path / "axis", [AgencySpec(H41)], routes=route,
                  server=f'intake_processes = 0\ntls_cert = "{cert}"\ntls_key = "{key}"\nclient_ca = ["{certs.ca}"]')
    axisd.start()
    try:
        peer = VxpClient(f"https://127.0.0.1:{axisd.port}/vxp", "axis.h14", secret.read_bytes())

        def call(ctx: ssl.SSLContext) -> Any:
            return json.loads(peer.exchange(peer.prepare("getReceivedEdocList", {"messagetype": "edoc"}), ctx)[2])

        assert call(context(certs))["ErrorCode"] == "0"  # no certificate: the route's secret is enough
        assert call(context(certs, H41))["ErrorCode"] == "auth.not-your-agency"
        own = client_with_uids(certs, tmp_path, "lower-axis", "000.00.99.H14")  # its own code, no agency's here
        assert call(own)["ErrorCode"] == "0"
    finally:
        axisd.kill()
