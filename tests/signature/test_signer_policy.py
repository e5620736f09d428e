"""What the signing certificate itself must be (axis.signature.verify._check_signer), and what a policy that
requires a signature requires of it (SignatureVerdict.required_problem): certificates from the trusted CA that
must still not count as an agency's signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from packages import full_edoc

from axis.edxml import reader, xmlsafe
from axis.signature import pki
from axis.signature.pki import Issued
from axis.signature.sign import sign_package
from axis.signature.trust import AGENCY_CODE_ATTRIBUTE, TrustStore, fingerprint
from axis.signature.verify import SignatureClass, check
from axis.verdict import Checker, CheckOptions
from axis.vntime import now

SENDER = "000.00.00.G22"


@pytest.fixture(scope="module")
def ca() -> Issued:
    return pki.create_ca("signer policy test CA", key_kind="ec")


def certificate(ca: Issued, names: list[x509.NameAttribute], *, key: Any = None, is_ca: bool = False,
                purposes: list[x509.ObjectIdentifier] | None = None) -> Issued:
    key = key or ec.generate_private_key(ec.SECP256R1())
    start = now() - timedelta(minutes=5)
    builder = (x509.CertificateBuilder().subject_name(x509.Name(names)).issuer_name(ca.cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=is_ca,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if purposes:
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    return Issued(key=key, cert=builder.sign(ca.key, hashes.SHA256()))


def bound(code: str = SENDER) -> list[x509.NameAttribute]:
    return [x509.NameAttribute(NameOID.COMMON_NAME, code), x509.NameAttribute(AGENCY_CODE_ATTRIBUTE, code)]


def verdict_of(data: bytes, trust: TrustStore) -> Any:
    return check(data, reader.locate(xmlsafe.parse(data).root), SENDER, trust, now())


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda ca: certificate(ca, bound(), key=rsa.generate_private_key(public_exponent=65537, key_size=1024)),
     "RSA key of 1024 bits"),
    (lambda ca: certificate(ca, bound(), key=ec.generate_private_key(ec.SECP192R1())), "secp192r1"),
    (lambda ca: certificate(ca, bound(), is_ca=True), "a CA's certificate"),
    (lambda ca: certificate(ca, bound(), purposes=[ExtendedKeyUsageOID.SERVER_AUTH]), "web server"),
])
def test_certificates_that_do_not_sign_documents(ca: Issued, make: Any, fragment: str) -> None:
    """From the trusted CA and naming the sender, and still refused: as pinned certificates are too."""
    signer = make(ca)
    data = sign_package(full_edoc(b"%PDF-1.7 x"), signer)
    for trust in (TrustStore(cas=(ca.cert,)), TrustStore(pinned={SENDER: frozenset({fingerprint(signer.cert)})})):
        verdict = verdict_of(data, trust)
        assert verdict.cls is SignatureClass.INVALID and fragment in verdict.problem.detail, verdict.to_dict()


def test_a_signing_certificate_with_a_signing_purpose_is_valid(ca: Issued) -> None:
    signer = certificate(ca, bound(), purposes=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION])
    assert verdict_of(sign_package(full_edoc(b"%PDF-1.7 x"), signer), TrustStore(cas=(ca.cert,))).cls \
        is SignatureClass.VALID


def test_a_required_signature_needs_a_certificate_that_names_the_agency_or_a_pin(ca: Issued) -> None:
    """Valid is not enough: a certificate naming no agency (a person's: UID=CMND:…), trusted through the CA,
    could sign for any agency."""
    person = certificate(ca, [x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Văn A"),
                              x509.NameAttribute(AGENCY_CODE_ATTRIBUTE, "CMND:012345678")])
    data = sign_package(full_edoc(b"%PDF-1.7 x"), person)
    strict = CheckOptions(require_valid_signature=True)
    through_ca = Checker(TrustStore(cas=(ca.cert,)), strict).check(data)
    assert through_ca.signature.cls is SignatureClass.VALID and not through_ca.acceptable
    assert through_ca.errors[0].code.code == "signature.required" and "names no agency" in through_ca.errors[0].detail
    assert Checker(TrustStore(cas=(ca.cert,))).check(data).acceptable  # the legacy policy records it (a warning)
    pinned = TrustStore(pinned={SENDER: frozenset({fingerprint(person.cert)})})
    assert Checker(pinned, strict).check(data).acceptable  # the sender's own pinned certificate


def test_a_fake_value_added_to_a_real_signature_does_not_make_it_a_placeholder(ca: Issued) -> None:
    """A tampered package is invalid (always refused); the SDK's fake certificate added to its KeyInfo must not
    turn that into placeholder (accepted as legacy)."""
    signed = sign_package(full_edoc(b"%PDF-1.7 x"), certificate(ca, bound()))
    tampered = signed.replace(b"000.00.00.H14", b"000.00.00.H99", 1)
    assert tampered != signed
    trust = TrustStore(cas=(ca.cert,))
    assert verdict_of(tampered, trust).cls is SignatureClass.INVALID
    faked = tampered.replace(b"</ds:X509Data>", b"<ds:X509Certificate>MIIFqTCCBJG</ds:X509Certificate></ds:X509Data>", 1)
    assert faked != tampered and verdict_of(faked, trust).cls is SignatureClass.INVALID


def test_a_sender_written_as_its_vxp_system_id_is_judged_as_the_agency_it_names(ca: Issued) -> None:
    """The SDK's gateway writes its system id as From (vxp.saas.03, which the registry resolves to the agency):
    the agency's pins still apply, and its own certificate still names the sender."""
    def from_system_id(signer: Issued) -> bytes:
        package = full_edoc(b"%PDF-1.7 x").replace(b"<edXML:From><edXML:OrganId>000.00.00.G22<",
                                                   b"<edXML:From><edXML:OrganId>vxp.saas.03<", 1)
        assert b">vxp.saas.03<" in package
        return sign_package(package, signer)
    aliases = {"vxp.saas.03": SENDER}
    own = certificate(ca, bound())
    person = certificate(ca, [x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Văn A")])
    through_ca = Checker(TrustStore(cas=(ca.cert,)), aliases=aliases)
    assert through_ca.check(from_system_id(own)).signature.cls is SignatureClass.VALID  # not a signer mismatch
    pinned = Checker(TrustStore(cas=(ca.cert,), pinned={SENDER: frozenset({fingerprint(own.cert)})}), aliases=aliases)
    assert pinned.check(from_system_id(own)).signature.trust == "pinned"
    verdict = pinned.check(from_system_id(person))  # chains to the CA, but the agency pinned its certificates
    assert verdict.signature.cls is SignatureClass.INVALID
    assert verdict.signature.problem.code.code == "signature.untrusted"
