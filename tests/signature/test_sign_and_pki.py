"""Signing (axis.signature.sign) and the test PKI (axis.signature.pki): round trips with real keys."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from lxml import etree

from axis.agencycode import parse_tolerant
from axis.errors import AxisError, Code
from axis.signature import pki
from axis.signature.sign import sign_package
from axis.signature.trust import (
    AGENCY_CODE_ATTRIBUTE,
    TrustStore,
    agency_of,
    fingerprint,
)
from axis.signature.verify import PLACEHOLDER_SIGNATURE_VALUE, SignatureClass
from axis.vntime import VN_TZ

ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


# ----------------------------------------------------------------------------- signing round trips


def test_signed_package_is_valid_and_names_its_signer(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    verdict = kit.judge(signed, test_pki.trust)
    kit.assert_valid(verdict, "ca")
    sig = verdict.signature
    assert sig.signer_agency == kit.SENDER
    assert sig.signer_fingerprint == fingerprint(test_pki.agency.cert)
    assert "UID=000.00.00.G22" in (sig.signer_subject or "")
    assert sig.signature_method == RSA_SHA256 and sig.digest_method == SHA256
    assert sig.note is None  # nothing legacy about it
    assert verdict.errors == () and verdict.warnings == ()
    assert verdict.kind == "edoc" and verdict.package.sender.organ_id == kit.SENDER
    out = verdict.to_dict()
    assert out["signature"]["class"] == "valid" and out["signature"]["trust"] == "ca" and out["acceptable"] is True


def test_unsigned_package_is_absent_and_acceptable_by_default(kit: SimpleNamespace, test_pki) -> None:
    verdict = kit.judge(kit.package(), test_pki.trust)
    assert verdict.signature.cls is SignatureClass.ABSENT and verdict.signature.reason is None
    assert verdict.acceptable and verdict.errors == ()


def test_signature_has_the_one_shape_axis_accepts(kit: SimpleNamespace, signed: bytes) -> None:
    root = kit.tree(signed)
    sig = kit.signature(root)
    header = kit.header(root)
    assert sig.getparent() is header and header[-1] is sig  # last child of edXMLHeader
    assert "Id" not in sig.attrib  # the Id="placeholder" marker is consumed by the signer
    signed_info = kit.ds(sig, "SignedInfo")
    refs = signed_info.findall(f"{{{kit.DSIG}}}Reference")
    assert len(refs) == 1 and refs[0].get("URI") == ""
    transforms = [t.get("Algorithm") for t in refs[0].iter(f"{{{kit.DSIG}}}Transform")]
    assert transforms == [ENVELOPED, C14N_10]
    assert kit.ds(signed_info, "CanonicalizationMethod").get("Algorithm") == C14N_10  # what .NET SignedXml knows
    assert kit.ds(signed_info, "SignatureMethod").get("Algorithm") == RSA_SHA256
    assert kit.ds(signed_info, "DigestMethod").get("Algorithm") == SHA256
    certs = list(sig.iter(f"{{{kit.DSIG}}}X509Certificate"))
    assert len(certs) == 1


def test_ecdsa_signature_round_trips(kit: SimpleNamespace, test_pki) -> None:
    data = sign_package(kit.package(), test_pki.agency_ec)
    verdict = kit.judge(data, test_pki.trust)
    kit.assert_valid(verdict, "ca")
    assert verdict.signature.signature_method == ECDSA_SHA256
    assert verdict.signature.signer_fingerprint == fingerprint(test_pki.agency_ec.cert)


def test_ecdsa_signature_still_detects_tampering(kit: SimpleNamespace, test_pki) -> None:
    data = sign_package(kit.package(), test_pki.agency_ec)
    tampered = kit.replace_once(data, b"000.00.00.H41", b"000.00.00.H42")
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.digest-mismatch")


def test_signing_twice_replaces_the_first_signature(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    again = sign_package(signed, test_pki.agency_ec)
    assert len(kit.signatures_in(again)) == 1
    verdict = kit.judge(again, test_pki.trust)
    kit.assert_valid(verdict, "ca")
    assert verdict.signature.signer_fingerprint == fingerprint(test_pki.agency_ec.cert)  # the second signer's
    assert verdict.signature.signature_method == ECDSA_SHA256


def test_signing_replaces_the_sdk_placeholder(kit: SimpleNamespace, test_pki, interop: Path) -> None:
    original = (interop / "vnpt-sdk" / "edoc_revocation.edxml").read_bytes()
    assert PLACEHOLDER_SIGNATURE_VALUE.encode() in original
    before = kit.judge(original, test_pki.trust)
    assert before.signature.cls is SignatureClass.PLACEHOLDER

    data = sign_package(original, test_pki.agency)
    assert PLACEHOLDER_SIGNATURE_VALUE.encode() not in data
    found = kit.signatures_in(data)
    assert [el.tag for el in found] == [f"{{{kit.DSIG}}}Signature"]  # the SDK block is gone, ours is the only one
    verdict = kit.judge(data, test_pki.trust)
    kit.assert_valid(verdict, "ca")
    assert verdict.package.sender.organ_id == "000.00.00.G22"
    assert [t.organ_id for t in verdict.package.to] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert verdict.package.business.doc_type == 1
    # and what was there besides the signature is meaningfully unchanged
    assert kit.canonical(kit.message_header(kit.tree(data))) == kit.canonical(kit.message_header(kit.tree(original)))


def test_signing_changes_nothing_but_the_signature(kit: SimpleNamespace, signed: bytes) -> None:
    original = kit.tree(kit.package())
    result = kit.tree(signed)
    assert kit.canonical(kit.message_header(result)) == kit.canonical(kit.message_header(original))
    sig = kit.signature(result)
    assert sig.tail is None  # appended last: removing it leaves the header's text as it was
    sig.getparent().remove(sig)
    assert kit.canonical(result) == kit.canonical(original)


def test_signing_keeps_comments_and_processing_instructions(kit: SimpleNamespace, test_pki) -> None:
    data = kit.replace_once(kit.package(), b"<edXML:Subject>", b"<!-- a note --><?axis-note x?><edXML:Subject>")
    out = sign_package(data, test_pki.agency)
    assert b"<!-- a note --><?axis-note x?><edXML:Subject>" in out
    kit.assert_valid(kit.judge(out, test_pki.trust), "ca")


def test_signing_keeps_vietnamese_comments_and_processing_instructions(kit: SimpleNamespace, test_pki) -> None:
    note = "<!-- ghi chú --><?axis-note ghi chú?>".encode()
    data = kit.replace_once(kit.package(), b"<edXML:Subject>", note + b"<edXML:Subject>")
    out = sign_package(data, test_pki.agency)
    kit.assert_valid(kit.judge(out, test_pki.trust), "ca")  # holds: the change is made before signing
    nodes = kit.tree(out).iter(etree.Comment, etree.ProcessingInstruction)
    assert [(n.tag is etree.Comment, n.text) for n in nodes] == [(True, " ghi chú "), (False, "ghi chú")]
    assert note in out


@pytest.mark.parametrize(("data", "code"), [
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x "y">]><edXML/>', Code.XML_FORBIDDEN_ENTITY,
                 id="entity-declaration"),
    pytest.param(b'<?xml version="1.0"?><edXML xmlns="urn:not-qcvn"/>', Code.EDXML_NOT_EDXML, id="not-edxml"),
    pytest.param(b"<edXML", Code.XML_NOT_WELL_FORMED, id="not-well-formed"),
])
def test_signing_refuses_what_the_reader_refuses(test_pki, data: bytes, code: Code) -> None:
    with pytest.raises(AxisError) as info:
        sign_package(data, test_pki.agency)
    assert info.value.code is code


# ----------------------------------------------------------------------------- the PKI


def test_ca_is_a_ca(test_pki) -> None:
    cert = test_pki.ca.cert
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and not usage.digital_signature
    assert agency_of(cert) is None


def test_issued_certificate_carries_the_agency_and_chains_to_the_ca(test_pki) -> None:
    issued = test_pki.agency
    cert = issued.cert
    assert agency_of(cert) == "000.00.00.G22"
    assert cert.subject.get_attributes_for_oid(AGENCY_CODE_ATTRIBUTE)[0].value == "000.00.00.G22"
    assert cert.issuer == test_pki.ca.cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert isinstance(issued.key, rsa.RSAPrivateKey)
    assert issued.key.public_key().public_numbers() == cert.public_key().public_numbers()
    now = datetime.now(VN_TZ)
    assert cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
    assert test_pki.trust.evaluate(cert, [], "000.00.00.G22", now) == ("ca", "chains to a trusted CA")


def test_issued_ec_certificate(test_pki) -> None:
    assert isinstance(test_pki.agency_ec.key, ec.EllipticCurvePrivateKey)
    assert agency_of(test_pki.agency_ec.cert) == "000.00.00.G22"
    basis, _ = test_pki.trust.evaluate(test_pki.agency_ec.cert, [], "000.00.00.G22", datetime.now(VN_TZ))
    assert basis == "ca"


def test_certificate_of_another_ca_does_not_chain(test_pki) -> None:
    basis, why = test_pki.trust.evaluate(test_pki.foreign_agency.cert, [], "000.00.00.G22", datetime.now(VN_TZ))
    assert basis is None and "no valid chain" in why


def test_certificate_without_signing_usage_does_not_chain(test_pki) -> None:
    usage = test_pki.no_usage.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not usage.digital_signature and not usage.content_commitment
    basis, why = test_pki.trust.evaluate(test_pki.no_usage.cert, [], "000.00.00.G22", datetime.now(VN_TZ))
    assert basis is None and "KeyUsage" in why


def test_empty_trust_store_trusts_nothing(test_pki) -> None:
    basis, why = TrustStore().evaluate(test_pki.agency.cert, [], "000.00.00.G22", datetime.now(VN_TZ))
    assert basis is None and "no CA" in why


def test_issue_honours_explicit_validity(test_pki) -> None:
    now = datetime.now(VN_TZ)
    assert test_pki.expired.cert.not_valid_after_utc < now
    assert test_pki.not_yet_valid.cert.not_valid_before_utc > now


def test_write_creates_a_private_key_file(tmp_path: Path, test_pki) -> None:
    key_path, cert_path = pki.write(test_pki.agency, tmp_path / "keys", "g22")
    assert key_path == tmp_path / "keys" / "g22.key" and cert_path == tmp_path / "keys" / "g22.pem"
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"PRIVATE" not in cert_path.read_bytes()


def test_write_makes_an_existing_key_file_private(tmp_path: Path, test_pki) -> None:
    key_path = tmp_path / "g22.key"
    key_path.write_bytes(b"an old key")
    key_path.chmod(0o644)
    written, _ = pki.write(test_pki.agency, tmp_path, "g22")
    assert written == key_path and key_path.read_bytes() == test_pki.agency.key_pem
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600


@pytest.mark.parametrize("which", ["agency", "agency_ec", "ca"])
def test_read_round_trips_write(tmp_path: Path, test_pki, which: str) -> None:
    issued = getattr(test_pki, which)
    back = pki.read(*pki.write(issued, tmp_path, which))
    assert back.cert == issued.cert
    assert back.chain == issued.chain
    assert back.key.public_key().public_numbers() == issued.key.public_key().public_numbers()
    assert back.key_pem == issued.key_pem


def test_read_keeps_the_chain(tmp_path: Path, test_pki) -> None:
    with_chain = pki.Issued(key=test_pki.agency.key, cert=test_pki.agency.cert, chain=(test_pki.ca.cert,))
    back = pki.read(*pki.write(with_chain, tmp_path, "chained"))
    assert back.cert == test_pki.agency.cert and back.chain == (test_pki.ca.cert,)


def test_read_refuses_other_key_types(tmp_path: Path, test_pki) -> None:
    key_path = tmp_path / "ed.key"
    key_path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _, cert_path = pki.write(test_pki.agency, tmp_path, "g22")
    with pytest.raises(ValueError, match="only RSA and EC"):
        pki.read(key_path, cert_path)


def test_new_key_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown key kind"):
        pki.new_key("dsa")


def test_trust_store_from_written_files(tmp_path: Path, test_pki) -> None:
    _, ca_pem = pki.write(test_pki.ca, tmp_path, "ca")
    _, foreign_pem = pki.write(test_pki.foreign_agency, tmp_path, "foreign")
    store = TrustStore.from_files([ca_pem], pins={"000.00.00.H41": [foreign_pem]})
    now = datetime.now(VN_TZ)
    assert store.evaluate(test_pki.agency.cert, [], "000.00.00.G22", now)[0] == "ca"
    assert store.pins_for("000.00.00.H41") == frozenset({fingerprint(test_pki.foreign_agency.cert)})
    assert store.evaluate(test_pki.foreign_agency.cert, [], "000.00.00.H41", now)[0] == "pinned"
    # pins are per agency: H41's pin says nothing about G22
    assert store.evaluate(test_pki.foreign_agency.cert, [], "000.00.00.G22", now)[0] is None
    assert parse_tolerant("000.00.00.H41").canonical in store.pinned


def test_expired_and_future_certificates_do_not_chain_at_that_time(test_pki) -> None:
    now = datetime.now(VN_TZ)
    assert test_pki.trust.evaluate(test_pki.expired.cert, [], "000.00.00.G22", now)[0] is None
    assert test_pki.trust.evaluate(test_pki.not_yet_valid.cert, [], "000.00.00.G22", now)[0] is None
    # the same certificate chains once its time has come (the CA itself is valid from a few minutes ago)
    later = now + timedelta(days=10)
    assert test_pki.trust.evaluate(test_pki.not_yet_valid.cert, [], "000.00.00.G22", later)[0] == "ca"


def test_axis_signs_a_document_of_its_own(test_pki) -> None:
    """Receipts and other documents axis issues are signed the same way and verify with any XML-DSig verifier."""
    from lxml import etree
    from signxml import SignatureConfiguration

    from axis.signature.sign import sign_element
    from axis.signature.xmldsig import Verifier

    receipt = etree.fromstring('<Receipt xmlns="urn:axis:receipt"><Id>r-1</Id><Sha256>ab</Sha256>'
                               '<AcceptedAt>2026-11-22T09:15:03.120+07:00</AcceptedAt></Receipt>')
    signed = etree.tostring(sign_element(receipt, test_pki.agency))
    result = Verifier().verify(signed, x509_cert=test_pki.agency.cert,
                               expect_config=SignatureConfiguration(location="./"))
    assert result.signed_xml.find("{urn:axis:receipt}Id").text == "r-1"
    forged = signed.replace(b"<Id>r-1</Id>", b"<Id>r-2</Id>")
    with pytest.raises(Exception, match="[Dd]igest"):
        Verifier().verify(forged, x509_cert=test_pki.agency.cert, expect_config=SignatureConfiguration(location="./"))


def test_the_chain_cache_does_not_outlive_a_certificate_of_the_chain() -> None:
    """Chain results are cached per leaf and hour; a CA that expires in the middle of an hour was still trusted
    until the hour ended for every leaf it had been checked with before."""
    hour = datetime(2026, 11, 22, 9, 0, tzinfo=VN_TZ)
    ca = pki.create_ca("expires at 09:30", now=hour + timedelta(minutes=35) - timedelta(days=1), days=1)
    assert ca.cert.not_valid_after_utc == hour + timedelta(minutes=30)
    leaf = pki.issue(ca, "000.00.00.G22", not_before=hour - timedelta(days=1), not_after=hour + timedelta(days=30))
    before, after = hour + timedelta(minutes=20), hour + timedelta(minutes=40)
    assert TrustStore(cas=(ca.cert,)).evaluate(leaf.cert, [], "000.00.00.G22", after)[0] is None
    store = TrustStore(cas=(ca.cert,))
    assert store.evaluate(leaf.cert, [], "000.00.00.G22", before)[0] == "ca"
    assert store.evaluate(leaf.cert, [], "000.00.00.G22", after)[0] is None
