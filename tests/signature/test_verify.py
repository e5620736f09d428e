"""Signature classification and verification (axis.signature.verify) through the whole verdict pipeline.

Every case starts from a package really signed with the test PKI and changes the signed
bytes or tree; each asserts the signature class, the exact ``signature.*`` reason and that
the verdict refuses the package.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import random
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from axis.agencycode import parse_tolerant
from axis.edxml import reader, xmlsafe
from axis.signature import verify
from axis.signature.sign import sign_package
from axis.signature.trust import TrustStore, fingerprint
from axis.signature.verify import (
    PLACEHOLDER_SIGNATURE_VALUE,
    SignatureClass,
    SignatureOptions,
)
from axis.verdict import CheckOptions
from axis.vntime import VN_TZ, iso

# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def crypto_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records when verification goes through signxml (verify._crypto); the call itself goes through unchanged."""
    calls: list[bytes] = []
    real = verify._crypto

    def spy(data: bytes, *args: Any, **kwargs: Any) -> Any:
        calls.append(data)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(verify, "_crypto", spy)
    return calls



def with_header_signature(kit: SimpleNamespace, data: bytes, block: bytes) -> bytes:
    """``block`` inserted as the last child of edXMLHeader."""
    return kit.replace_once(data, b"</edXML:edXMLHeader>", block + b"</edXML:edXMLHeader>")


SDK_BLOCK = """<Signature xmlns="{ns}"><SignedInfo>
  <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" />
  <SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1" />
  <Reference URI=""><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" /></Transforms>
  <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1" /><DigestValue>FwgIqsSYJshUS2+wlOM61L+q7Aw=</DigestValue>
  </Reference></SignedInfo><SignatureValue>{value}</SignatureValue>
  <KeyInfo><X509Data><X509SubjectName>CN=user05</X509SubjectName><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo>
</Signature>"""


def _block(ns: str, value: str = PLACEHOLDER_SIGNATURE_VALUE, cert: str = verify.PLACEHOLDER_CERTIFICATE) -> bytes:
    """The VNPT SDK's signature block (as in edoc_revocation.edxml), in namespace ``ns``, with these values."""
    return SDK_BLOCK.format(ns=ns, value=value, cert=cert).encode()


# ----------------------------------------------------------------------------- changed after signing


def test_to_changed_after_signing(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    tampered = kit.replace_once(signed, b"000.00.00.H41", b"000.00.00.H42")
    verdict = kit.judge(tampered, test_pki.trust)
    kit.assert_refused(verdict, "signature.digest-mismatch")
    assert verdict.signature.signer_agency == kit.SENDER  # who signed is still reported
    assert verdict.signature.problem.where.path == "/edXML/edXMLEnvelope/edXMLHeader/Signature"


def test_from_changed_after_signing(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    tampered = kit.replace_once(signed, kit.FROM_ELEMENT, kit.FROM_ELEMENT.replace(b"G22", b"G23"))
    verdict = kit.judge(tampered, test_pki.trust)
    assert verdict.package.sender.organ_id == "000.00.00.G23"
    kit.assert_refused(verdict, "signature.digest-mismatch")  # the content, before who may send it


def test_subject_changed_after_signing(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    tampered = kit.replace_once(signed, "<edXML:Subject>V/v kết nối".encode(),
                                "<edXML:Subject>V/v huỷ kết nối".encode())
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.digest-mismatch")


def test_whitespace_changed_after_signing(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    tampered = kit.replace_once(signed, b"</edXML:MessageHeader>\n      <edXML:TraceHeaderList>",
                                b"</edXML:MessageHeader>\n\n      <edXML:TraceHeaderList>")
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.digest-mismatch")


def _one_byte_changed(content: bytes) -> bytes:
    changed = bytearray(content)
    changed[len(changed) // 2] ^= 0x20
    return bytes(changed)


@pytest.mark.parametrize("size", [300, 100_000], ids=["small", "large-spliced"])
def test_attachment_byte_changed_after_signing(kit: SimpleNamespace, test_pki, size: int) -> None:
    # 100 KB is above the 64 KiB from which the fast path splices attachment text into the digest
    content = kit.pdf_bytes(size)
    data = sign_package(kit.package(content), test_pki.agency)
    kit.assert_valid(kit.judge(data, test_pki.trust))
    tampered = kit.replace_once(data, base64.b64encode(content), base64.b64encode(_one_byte_changed(content)))
    verdict = kit.judge(tampered, test_pki.trust)
    assert verdict.package.attachments[0].size == len(content)  # still reads as a fine attachment
    kit.assert_refused(verdict, "signature.digest-mismatch")


def test_two_large_attachments_one_changed(kit: SimpleNamespace, test_pki) -> None:
    first, second = kit.pdf_bytes(70_000, seed=1), kit.pdf_bytes(70_000, seed=2)
    data = kit.package(first)
    attachment = data[data.index(b"<Attachment>"):data.index(b"</AttachmentEncoded>")]
    data = kit.replace_once(data, b"</AttachmentEncoded>", attachment.replace(b"cid:1", b"cid:2").replace(
        base64.b64encode(first), base64.b64encode(second)) + b"</AttachmentEncoded>")
    signed = sign_package(data, test_pki.agency)
    # verify.check alone: the signature does not care that the manifest does not list cid:2
    assert kit.verify_only(signed, test_pki.trust).cls is SignatureClass.VALID
    tampered = kit.replace_once(signed, base64.b64encode(second), base64.b64encode(_one_byte_changed(second)))
    result = kit.verify_only(tampered, test_pki.trust)
    assert result.cls is SignatureClass.INVALID and result.reason == "signature.digest-mismatch"



@pytest.mark.parametrize("sizes", [(100,), (70_000,), (70_000, 70_000), (70_000, 100)],
                         ids=lambda sizes: "+".join(map(str, sizes)))
def test_spliced_digest_is_the_digest_of_the_canonical_form(kit: SimpleNamespace, sizes: tuple[int, ...]) -> None:
    """The fast path's shortcut for long base64 texts hashes exactly the bytes C14N would produce."""
    first = base64.b64encode(kit.pdf_bytes(sizes[0]))
    data = kit.package(kit.pdf_bytes(sizes[0]))
    attachment = data[data.index(b"<Attachment>"):data.index(b"</AttachmentEncoded>")]
    for seed, size in enumerate(sizes[1:], start=7):
        copied = attachment.replace(first, base64.b64encode(kit.pdf_bytes(size, seed=seed)))
        data = data.replace(b"</AttachmentEncoded>", copied + b"</AttachmentEncoded>")
    root = xmlsafe.parse(data).root
    assert len(root.findall(f".//{{{kit.QCVN}}}ContentTransferEncoded")) == len(sizes)
    for algorithm, name in ((DigestAlgorithm.SHA256, "sha256"), (DigestAlgorithm.SHA512, "sha512")):
        expected = hashlib.new(name, kit.canonical(root)).digest()
        assert verify._canonical_digest(root, None, None, algorithm) == expected
    assert kit.canonical(root) == kit.canonical(xmlsafe.parse(data).root)  # and the tree is as it was


def test_signature_value_altered(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    tampered = kit.mutate(signed, lambda root: kit.flip_base64(kit.ds(kit.signature(root), "SignatureValue")))
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.bad-value")


def test_digest_value_altered(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    # DigestValue is inside SignedInfo, which the SignatureValue covers
    tampered = kit.mutate(signed, lambda root: kit.flip_base64(kit.ds(kit.signature(root), "DigestValue")))
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.bad-value")


def test_digest_value_altered_and_signed_info_re_signed(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    # a signer who signed a wrong digest: the value verifies, the digest does not
    def change(root: etree._Element) -> None:
        kit.flip_base64(kit.ds(kit.signature(root), "DigestValue"))
        kit.resign_signed_info(root, test_pki.agency)

    kit.assert_refused(kit.judge(kit.mutate(signed, change), test_pki.trust), "signature.digest-mismatch")


def test_re_signing_helper_reproduces_the_signer(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    # the control for the test above: over an unchanged SignedInfo the helper computes the very value sign.py wrote
    # (RSA PKCS#1 v1.5 is deterministic), so a refusal above is the digest's doing, not the helper's
    root = kit.tree(signed)
    value = kit.ds(kit.signature(root), "SignatureValue")
    original = "".join(value.text.split())
    value.text = "AAAA"
    kit.resign_signed_info(root, test_pki.agency)
    assert value.text == original


# ----------------------------------------------------------------------------- wrapping


def _append_copy_of_signature(where: Callable[[SimpleNamespace, etree._Element], etree._Element]
                              ) -> Callable[[SimpleNamespace, etree._Element], None]:
    def change(kit: SimpleNamespace, root: etree._Element) -> None:
        where(kit, root).append(copy.deepcopy(kit.signature(root)))
    return change


def _move_signature(where: Callable[[SimpleNamespace, etree._Element], etree._Element]
                    ) -> Callable[[SimpleNamespace, etree._Element], None]:
    def change(kit: SimpleNamespace, root: etree._Element) -> None:
        sig = kit.signature(root)
        sig.getparent().remove(sig)
        where(kit, root).append(sig)
    return change


def _reference_uri(uri: str | None) -> Callable[[SimpleNamespace, etree._Element], None]:
    def change(kit: SimpleNamespace, root: etree._Element) -> None:
        ref = kit.ds(kit.signature(root), "Reference")
        if uri is None:
            del ref.attrib["URI"]
        else:
            ref.set("URI", uri)
    return change


def _two_references(kit: SimpleNamespace, root: etree._Element) -> None:
    ref = kit.ds(kit.signature(root), "Reference")
    ref.addnext(copy.deepcopy(ref))


def _second_in_header_before(kit: SimpleNamespace, root: etree._Element) -> None:
    kit.message_header(root).addprevious(copy.deepcopy(kit.signature(root)))


@pytest.mark.parametrize("change", [
    pytest.param(_append_copy_of_signature(lambda kit, root: kit.message_header(root)), id="copy-in-MessageHeader"),
    pytest.param(_append_copy_of_signature(lambda kit, root: kit.header(root)), id="second-in-edXMLHeader"),
    pytest.param(_second_in_header_before, id="second-first-in-edXMLHeader"),
    pytest.param(_append_copy_of_signature(lambda kit, root: root.find(f"{{{kit.QCVN}}}AttachmentEncoded")),
                 id="copy-in-AttachmentEncoded"),
    pytest.param(_append_copy_of_signature(lambda kit, root: kit.ds(kit.signature(root), "KeyInfo")),
                 id="copy-nested-in-KeyInfo"),
    pytest.param(_move_signature(lambda kit, root: kit.message_header(root)), id="moved-into-MessageHeader"),
    pytest.param(_move_signature(lambda kit, root: root), id="moved-into-root"),
    pytest.param(_move_signature(lambda kit, root: root.find(f"{{{kit.QCVN}}}edXMLEnvelope")),
                 id="moved-into-envelope"),
    pytest.param(_reference_uri("#something"), id="uri-fragment"),
    pytest.param(_reference_uri("#xpointer(/)"), id="uri-xpointer"),
    pytest.param(_reference_uri(None), id="uri-missing"),
    pytest.param(_two_references, id="two-references"),
])
def test_wrapping_shapes_are_refused(kit: SimpleNamespace, test_pki, signed: bytes,
                                     change: Callable[[SimpleNamespace, etree._Element], None]) -> None:
    tampered = kit.mutate(signed, lambda root: change(kit, root))
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.wrapping")


def _forge_to(kit: SimpleNamespace, message_header: etree._Element) -> None:
    ids = [el for el in message_header.iter(f"{{{kit.QCVN}}}OrganId") if el.text == "000.00.00.H41"]
    assert len(ids) == 1
    ids[0].text = "000.00.00.H99"


def _original_kept_in_extension(kit: SimpleNamespace, root: etree._Element) -> None:
    mh = kit.message_header(root)
    wrapper = etree.Element("{urn:example:extension}Extension", nsmap={"ext": "urn:example:extension"})
    wrapper.append(copy.deepcopy(mh))  # the signed MessageHeader, kept for a naive verifier to find
    kit.header(root).append(wrapper)
    _forge_to(kit, mh)  # the one the reader reads


def _original_kept_in_signature_object(kit: SimpleNamespace, root: etree._Element) -> None:
    mh = kit.message_header(root)
    obj = etree.SubElement(kit.signature(root), f"{{{kit.DSIG}}}Object", Id="original")
    obj.append(copy.deepcopy(mh))
    _forge_to(kit, mh)


def _original_kept_in_attachment_area(kit: SimpleNamespace, root: etree._Element) -> None:
    mh = kit.message_header(root)
    wrapper = etree.SubElement(root.find(f"{{{kit.QCVN}}}AttachmentEncoded"), "{urn:example:extension}Kept")
    kept = copy.deepcopy(kit.header(root))
    kept.remove(kept.find(f"{{{kit.DSIG}}}Signature"))
    wrapper.append(kept)
    _forge_to(kit, mh)


@pytest.mark.parametrize("change", [
    pytest.param(_original_kept_in_extension, id="in-foreign-extension"),
    pytest.param(_original_kept_in_signature_object, id="in-ds-Object"),
    pytest.param(_original_kept_in_attachment_area, id="whole-header-in-AttachmentEncoded"),
])
def test_classic_wrapping_attack_is_not_valid(kit: SimpleNamespace, test_pki, signed: bytes,
                                              change: Callable[[SimpleNamespace, etree._Element], None]) -> None:
    forged = kit.mutate(signed, lambda root: change(kit, root))
    verdict = kit.judge(forged, test_pki.trust)
    assert "000.00.00.H99" in [t.organ_id for t in verdict.package.to]  # what would be routed
    kit.assert_refused(verdict, "signature.digest-mismatch")


# ----------------------------------------------------------------------------- algorithms


@pytest.fixture(scope="module")
def signed_sha1(kit: SimpleNamespace, test_pki) -> bytes:
    data = kit.sign_with_signxml(kit.package(), test_pki.agency, method=SignatureMethod.RSA_SHA1,
                                 digest=DigestAlgorithm.SHA1)
    root = kit.tree(data)
    assert kit.ds(kit.signature(root), "SignatureMethod").get("Algorithm").endswith("#rsa-sha1")
    assert kit.signature(root).getparent() is kit.header(root)
    return data


def test_sha1_is_refused_by_default(kit: SimpleNamespace, test_pki, signed_sha1: bytes) -> None:
    verdict = kit.judge(signed_sha1, test_pki.trust)
    kit.assert_refused(verdict, "signature.algorithm-not-allowed")
    assert "allow_sha1" in verdict.signature.problem.detail


def test_sha1_is_valid_when_allowed(kit: SimpleNamespace, test_pki, signed_sha1: bytes) -> None:
    options = CheckOptions(signature=SignatureOptions(allow_sha1=True))
    verdict = kit.judge(signed_sha1, test_pki.trust, options=options)
    kit.assert_valid(verdict)
    assert [w.code.code for w in verdict.signature.warnings] == ["signature.legacy-sha1"]
    assert "signature.legacy-sha1" in [w.code.code for w in verdict.warnings]
    assert verdict.signature.signature_method == SignatureMethod.RSA_SHA1.value
    assert verdict.signature.digest_method == DigestAlgorithm.SHA1.value


def test_sha1_allowed_still_detects_tampering(kit: SimpleNamespace, test_pki, signed_sha1: bytes) -> None:
    options = CheckOptions(signature=SignatureOptions(allow_sha1=True))
    tampered = kit.replace_once(signed_sha1, b"000.00.00.H41", b"000.00.00.H42")
    kit.assert_refused(kit.judge(tampered, test_pki.trust, options=options), "signature.digest-mismatch")


def _transform(algorithm: str) -> Callable[[SimpleNamespace, etree._Element], None]:
    def change(kit: SimpleNamespace, root: etree._Element) -> None:
        transforms = list(kit.signature(root).iter(f"{{{kit.DSIG}}}Transform"))
        transforms[-1].set("Algorithm", algorithm)
    return change


@pytest.mark.parametrize(("change", "code"), [
    pytest.param(_transform("http://www.w3.org/TR/1999/REC-xpath-19991116"), "signature.algorithm-not-allowed",
                 id="xpath-transform"),
    pytest.param(_transform("http://www.w3.org/TR/xml-exc-c14n#"), "signature.algorithm-not-allowed",
                 id="sdk-misspelt-exc-c14n"),
    pytest.param(lambda kit, root: kit.ds(kit.signature(root), "SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"), "signature.algorithm-not-allowed", id="md5"),
    pytest.param(lambda kit, root: kit.ds(kit.signature(root), "Transforms").remove(
        kit.ds(kit.signature(root), "Transform")), "signature.malformed", id="no-enveloped-transform"),
    pytest.param(lambda kit, root: kit.signature(root).remove(kit.ds(kit.signature(root), "SignedInfo")),
                 "signature.malformed", id="no-SignedInfo"),
])
def test_algorithm_and_shape_policy(kit: SimpleNamespace, test_pki, signed: bytes,
                                    change: Callable[[SimpleNamespace, etree._Element], None], code: str) -> None:
    tampered = kit.mutate(signed, lambda root: change(kit, root))
    kit.assert_refused(kit.judge(tampered, test_pki.trust), code)


@pytest.mark.parametrize("c14n", [
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    CanonicalizationMethod.CANONICAL_XML_1_1,
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS,
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS,
], ids=lambda c: c.name)
def test_other_canonicalisations_verify_and_detect_tampering(kit: SimpleNamespace, test_pki,
                                                             c14n: CanonicalizationMethod) -> None:
    data = kit.sign_with_signxml(kit.package(), test_pki.agency, c14n=c14n)
    kit.assert_valid(kit.judge(data, test_pki.trust))
    tampered = kit.replace_once(data, b"000.00.00.H41", b"000.00.00.H42")
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.digest-mismatch")


# ----------------------------------------------------------------------------- certificates and trust


def test_expired_certificate(kit: SimpleNamespace, test_pki) -> None:
    verdict = kit.judge(sign_package(kit.package(), test_pki.expired), test_pki.trust)
    kit.assert_refused(verdict, "signature.cert-expired")
    assert verdict.signature.signer_fingerprint == fingerprint(test_pki.expired.cert)
    assert verdict.signature.problem.detail == f"expired {iso(test_pki.expired.cert.not_valid_after_utc)}"
    assert verdict.signature.problem.detail.endswith("+07:00")  # every time axis writes is Vietnam's


def test_not_yet_valid_certificate(kit: SimpleNamespace, test_pki) -> None:
    verdict = kit.judge(sign_package(kit.package(), test_pki.not_yet_valid), test_pki.trust)
    kit.assert_refused(verdict, "signature.cert-not-yet-valid")
    assert verdict.signature.problem.detail.startswith("valid from ") and verdict.signature.problem.detail.endswith("+07:00")


def test_clock_decides_expiry(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    cert = test_pki.agency.cert
    after = cert.not_valid_after_utc + timedelta(seconds=1)
    before = cert.not_valid_before_utc - timedelta(seconds=1)
    inside = cert.not_valid_before_utc + timedelta(days=30)
    kit.assert_refused(kit.judge(signed, test_pki.trust, clock=lambda: after), "signature.cert-expired")
    kit.assert_refused(kit.judge(signed, test_pki.trust, clock=lambda: before), "signature.cert-not-yet-valid")
    kit.assert_valid(kit.judge(signed, test_pki.trust, clock=lambda: inside.astimezone(VN_TZ)))


def test_expiry_is_reported_before_tampering(kit: SimpleNamespace, test_pki) -> None:
    tampered = kit.replace_once(sign_package(kit.package(), test_pki.expired), b"000.00.00.H41", b"000.00.00.H42")
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.cert-expired")


def test_certificate_from_an_unknown_ca(kit: SimpleNamespace, test_pki) -> None:
    verdict = kit.judge(sign_package(kit.package(), test_pki.foreign_agency), test_pki.trust)
    kit.assert_refused(verdict, "signature.untrusted")
    assert "no valid chain" in verdict.signature.problem.detail


def test_empty_trust_store_trusts_nothing(kit: SimpleNamespace, signed: bytes) -> None:
    # not even what chains to a public web CA: there is no fallback to the system store
    verdict = kit.judge(signed, TrustStore())
    kit.assert_refused(verdict, "signature.untrusted")
    assert "no CA is configured" in verdict.signature.problem.detail


def _pins(code: str, *certs: Any) -> dict[str, frozenset[str]]:
    return {parse_tolerant(code).canonical: frozenset(fingerprint(c) for c in certs)}


def test_pinned_certificate_is_trusted_without_any_ca(kit: SimpleNamespace, test_pki) -> None:
    data = sign_package(kit.package(), test_pki.foreign_agency)
    store = TrustStore(pinned=_pins(kit.SENDER, test_pki.foreign_agency.cert))
    verdict = kit.judge(data, store)
    kit.assert_valid(verdict, "pinned")
    assert verdict.signature.signer_fingerprint == fingerprint(test_pki.foreign_agency.cert)


def test_pinned_agency_refuses_another_certificate_even_ca_issued(kit: SimpleNamespace, test_pki,
                                                                  signed: bytes) -> None:
    store = TrustStore(cas=(test_pki.ca.cert,), pinned=_pins(kit.SENDER, test_pki.foreign_agency.cert))
    verdict = kit.judge(signed, store)
    kit.assert_refused(verdict, "signature.untrusted")
    assert "pinned" in verdict.signature.problem.detail


def test_pins_of_another_agency_do_not_apply(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    store = TrustStore(cas=(test_pki.ca.cert,), pinned=_pins("000.00.00.H41", test_pki.foreign_agency.cert))
    kit.assert_valid(kit.judge(signed, store), "ca")


def test_certificate_of_another_agency(kit: SimpleNamespace, test_pki) -> None:
    verdict = kit.judge(sign_package(kit.package(), test_pki.other_agency), test_pki.trust)
    kit.assert_refused(verdict, "signature.signer-mismatch")
    assert verdict.signature.signer_agency == "000.00.00.H41"
    assert verdict.errors[-1].code.http_status == 403


def test_certificate_without_signing_key_usage(kit: SimpleNamespace, test_pki) -> None:
    verdict = kit.judge(sign_package(kit.package(), test_pki.no_usage), test_pki.trust)
    kit.assert_refused(verdict, "signature.untrusted")
    assert "KeyUsage" in verdict.signature.problem.detail


def _certificate_text(text: str) -> Callable[[SimpleNamespace, etree._Element], None]:
    def change(kit: SimpleNamespace, root: etree._Element) -> None:
        kit.ds(kit.signature(root), "X509Certificate").text = text
    return change


def _without(local: str) -> Callable[[SimpleNamespace, etree._Element], None]:
    def change(kit: SimpleNamespace, root: etree._Element) -> None:
        el = kit.ds(kit.signature(root), local)
        el.getparent().remove(el)
    return change


@pytest.mark.parametrize("change", [
    pytest.param(_certificate_text("bm90IGEgY2VydGlmaWNhdGU="), id="base64-not-a-certificate"),
    pytest.param(_certificate_text("!!! not base64 !!!"), id="not-base64"),
    pytest.param(_certificate_text(""), id="empty-certificate"),
    pytest.param(_without("KeyInfo"), id="no-KeyInfo"),
    pytest.param(_without("X509Certificate"), id="no-X509Certificate"),
    pytest.param(lambda kit, root: setattr(kit.ds(kit.signature(root), "SignatureValue"), "text", "%%%"),
                 id="signature-value-not-base64"),
])
def test_malformed_signatures(kit: SimpleNamespace, test_pki, signed: bytes,
                              change: Callable[[SimpleNamespace, etree._Element], None]) -> None:
    tampered = kit.mutate(signed, lambda root: change(kit, root))
    kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.malformed")


def test_certificate_chain_in_key_info_leaf_first(kit: SimpleNamespace, test_pki) -> None:
    data = kit.sign_with_signxml(kit.package(), test_pki.agency, certificates=[test_pki.agency.cert, test_pki.ca.cert])
    verdict = kit.judge(data, test_pki.trust)
    kit.assert_valid(verdict)
    assert verdict.signature.signer_fingerprint == fingerprint(test_pki.agency.cert)


def test_certificate_chain_in_key_info_root_first(kit: SimpleNamespace, test_pki) -> None:
    data = kit.sign_with_signxml(kit.package(), test_pki.agency, certificates=[test_pki.ca.cert, test_pki.agency.cert])
    assert kit.signxml_accepts(data, test_pki.agency.cert)
    verdict = kit.judge(data, test_pki.trust)
    kit.assert_valid(verdict)
    assert verdict.signature.signer_fingerprint == fingerprint(test_pki.agency.cert)


# ----------------------------------------------------------------------------- comments


def test_comment_inside_the_signed_sender_changes_nothing(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    injected = kit.replace_once(signed, kit.FROM_ELEMENT,
                                kit.FROM_ELEMENT.replace(b"000.00.00.G22", b"000.00.00.G<!---->22"))
    verdict = kit.judge(injected, test_pki.trust)
    kit.assert_valid(verdict)  # comments are not signed content (C14N without comments)
    assert verdict.package.sender.organ_id == "000.00.00.G22"  # and the reader reads what was signed


def test_comment_splitting_a_recipient_reads_whole(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    injected = kit.replace_once(signed, b"000.00.00.H41", b"000.00.<!-- x -->00.H41")
    verdict = kit.judge(injected, test_pki.trust)
    kit.assert_valid(verdict)
    assert [t.organ_id for t in verdict.package.to] == ["000.00.00.H41", "000.00.00.H14"]


def test_text_next_to_a_comment_changes_the_digest(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    name = "<edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>".encode()
    commented = kit.replace_once(signed, name, name.replace(" Chính".encode(), "<!----> Chính".encode()))
    kit.assert_valid(kit.judge(commented, test_pki.trust))
    extended = kit.replace_once(signed, name, name.replace(" Chính".encode(), "<!---->X Chính".encode()))
    kit.assert_refused(kit.judge(extended, test_pki.trust), "signature.digest-mismatch")
    # the text moved into the comment is text taken out of the signed content
    shifted = kit.replace_once(signed, kit.FROM_ELEMENT,
                               kit.FROM_ELEMENT.replace(b"000.00.00.G22", b"000.00.00.G<!--22-->"))
    verdict = kit.judge(shifted, test_pki.trust)
    assert verdict.package.sender.organ_id == "000.00.00.G"
    kit.assert_refused(verdict, "signature.digest-mismatch")


@pytest.mark.parametrize("c14n", [CanonicalizationMethod.CANONICAL_XML_1_0,
                                  CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS])
def test_comments_in_the_document_are_not_signed_content(kit: SimpleNamespace, test_pki, crypto_calls: list[bytes],
                                                         c14n: CanonicalizationMethod) -> None:
    """XML-DSig 4.3.3.3: ``URI=""`` is the document's node-set minus its comment nodes, a ``#WithComments`` transform
    or not (xmlsec1, Santuario and .NET alike): a comment added to a signed package changes nothing signed, and
    nothing the reader reads."""
    data = kit.sign_with_signxml(kit.package(), test_pki.agency, c14n=c14n)
    kit.assert_valid(kit.judge(data, test_pki.trust))
    commented = kit.replace_once(data, b"000.00.00.H41", b"000.00.00.H<!-- a note -->41")
    verdict = kit.judge(commented, test_pki.trust)
    kit.assert_valid(verdict)
    assert "000.00.00.H41" in [t.organ_id for t in verdict.package.to]
    assert crypto_calls == []  # the fast path: the reader's tree, which has no comments, is what was signed


def test_comments_inside_signed_info_are_signed_under_with_comments(kit: SimpleNamespace, test_pki) -> None:
    """SignedInfo itself is canonicalised by its CanonicalizationMethod: under ``#WithComments`` a comment inside it
    is part of what the SignatureValue signs."""
    for c14n, reason in ((CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS, "signature.bad-value"),
                         (CanonicalizationMethod.CANONICAL_XML_1_0, None)):
        data = kit.sign_with_signxml(kit.package(), test_pki.agency, c14n=c14n)
        commented = kit.replace_once(data, b"<ds:SignedInfo>", b"<ds:SignedInfo><!-- added -->")
        if reason is None:
            kit.assert_valid(kit.judge(commented, test_pki.trust))
        else:
            kit.assert_refused(kit.judge(commented, test_pki.trust), reason)


# ----------------------------------------------------------------------------- the two paths


_PI = (b"<edXML:Paper>", b"<?axis-note x?><edXML:Paper>")  # a processing instruction inside: the signxml path


def test_on_the_signxml_path_too_comments_in_the_document_are_not_signed_content(kit: SimpleNamespace, test_pki
                                                                               ) -> None:
    """As on the fast path: a comment added to a package signed under a #WithComments transform breaks nothing,
    and a signature that digested the comments is invalid (signxml itself digests them: it is given the package
    without them)."""
    c14n = CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS
    signed = kit.sign_with_signxml(kit.replace_once(kit.package(), *_PI), test_pki.agency, c14n=c14n)
    kit.assert_valid(kit.judge(signed, test_pki.trust))
    commented = kit.replace_once(signed, b"000.00.00.H41", b"000.00.00.H<!-- a note -->41")
    kit.assert_valid(kit.judge(commented, test_pki.trust))
    reason = "Gửi văn bản mới".encode()
    data = kit.replace_once(kit.package(), reason, reason.replace(b" m", b"<!-- c --> m"))
    digested = kit.sign_with_signxml(kit.replace_once(data, *_PI), test_pki.agency, c14n=c14n)
    kit.assert_refused(kit.judge(digested, test_pki.trust), "signature.digest-mismatch")


def test_plain_package_takes_the_fast_path(kit: SimpleNamespace, test_pki, signed: bytes,
                                           crypto_calls: list[bytes]) -> None:
    kit.assert_valid(kit.judge(signed, test_pki.trust))
    kit.assert_refused(kit.judge(kit.replace_once(signed, b"000.00.00.H41", b"000.00.00.H42"), test_pki.trust),
                       "signature.digest-mismatch")
    assert crypto_calls == []


def test_processing_instruction_package_is_valid_through_signxml(kit: SimpleNamespace, test_pki, signed_pi: bytes,
                                                                 crypto_calls: list[bytes]) -> None:
    verdict = kit.judge(signed_pi, test_pki.trust)
    kit.assert_valid(verdict)
    assert crypto_calls == [signed_pi]
    assert verdict.signature.signer_agency == kit.SENDER


@pytest.mark.parametrize(("old", "new"), [
    pytest.param(b"000.00.00.H41", b"000.00.00.H42", id="To"),
    pytest.param(b"<edXML:DocumentId>000.00.00.G22,2026/11/20,123/", b"<edXML:DocumentId>000.00.00.G22,2026/11/20,124/",
                 id="DocumentId"),
    pytest.param(b"<edXML:Priority>1<", b"<edXML:Priority>0<", id="Priority"),
    pytest.param(b"<?axis-note routed by test?>", b"<?axis-note routed by tester?>", id="the-processing-instruction"),
])
def test_same_tampering_same_verdict_on_both_paths(kit: SimpleNamespace, test_pki, signed: bytes, signed_pi: bytes,
                                                   crypto_calls: list[bytes], old: bytes, new: bytes) -> None:
    tampered_pi = kit.replace_once(signed_pi, old, new)
    kit.assert_refused(kit.judge(tampered_pi, test_pki.trust), "signature.digest-mismatch")
    assert crypto_calls == [tampered_pi]
    if old in signed:
        kit.assert_refused(kit.judge(kit.replace_once(signed, old, new), test_pki.trust), "signature.digest-mismatch")
        assert len(crypto_calls) == 1  # that one went the fast way


def _certificate_of(kit: SimpleNamespace, cert: Any) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        der = cert.public_bytes(Encoding.DER)
        kit.ds(kit.signature(root), "X509Certificate").text = base64.b64encode(der).decode("ascii")
    return change


def test_both_paths_refuse_a_wrong_key(kit: SimpleNamespace, test_pki, signed_pi: bytes, signed: bytes,
                                       crypto_calls: list[bytes]) -> None:
    # the certificate in KeyInfo replaced by another RSA one for the same agency: the value no longer verifies
    for data in (signed, signed_pi):
        tampered = kit.mutate(data, _certificate_of(kit, test_pki.foreign_agency.cert))
        kit.assert_refused(kit.judge(tampered, test_pki.trust), "signature.bad-value")
    assert len(crypto_calls) == 1


def test_both_paths_give_one_reason_for_a_key_of_the_wrong_type(kit: SimpleNamespace, test_pki, signed_pi: bytes,
                                                                 signed: bytes) -> None:
    reasons = set()
    for data in (signed, signed_pi):
        verdict = kit.judge(kit.mutate(data, _certificate_of(kit, test_pki.agency_ec.cert)), test_pki.trust)
        assert verdict.signature.cls is SignatureClass.INVALID and not verdict.acceptable
        reasons.add(verdict.signature.reason)
    assert reasons == {"signature.malformed"}


def _unknown_key_algorithm(kit: SimpleNamespace, root: etree._Element) -> None:
    """The certificate's SubjectPublicKeyInfo says 1.2.840.113549.9.1.1 instead of rsaEncryption (1.2.840.113549.1.1.1)."""
    el = kit.ds(kit.signature(root), "X509Certificate")
    der = base64.b64decode("".join((el.text or "").split()))
    rsa_encryption = bytes.fromhex("06092a864886f70d010101")
    assert der.count(rsa_encryption) == 1
    el.text = base64.b64encode(der.replace(rsa_encryption, bytes.fromhex("06092a864886f70d090101"))).decode("ascii")


def test_a_certificate_with_an_unknown_key_algorithm_is_malformed(kit: SimpleNamespace, test_pki, signed_pi: bytes,
                                                                   signed: bytes) -> None:
    # found by fuzzing (tests/fuzz/corpus/crash-unknown-key-algorithm.edxml): the certificate parses, its key
    # only when asked for, and cryptography's UnsupportedAlgorithm became an internal.error
    for data in (signed, signed_pi):
        verdict = kit.judge(kit.mutate(data, lambda root: _unknown_key_algorithm(kit, root)), test_pki.trust)
        kit.assert_refused(verdict, "signature.malformed")
        assert "X509Certificate" in verdict.signature.problem.detail


@pytest.mark.parametrize("chain", [False, True], ids=["leaf-only", "leaf-and-ca"])
def test_a_certificate_with_an_unreadable_issuer_is_malformed(kit: SimpleNamespace, test_pki, chain: bool) -> None:
    # found by fuzzing: the certificate loads, its issuer Name is parsed only when read (to find the leaf
    # of a chain), and cryptography's ValueError there became an internal.error
    certificates = [test_pki.agency.cert, test_pki.ca.cert] if chain else [test_pki.agency.cert]
    data = kit.sign_with_signxml(kit.package(), test_pki.agency, certificates=certificates)
    issuer = test_pki.ca.cert.subject.public_bytes()
    country = bytes.fromhex("0603550406") + b"\x13"  # countryName, then its value's tag: PrintableString
    assert issuer.count(country) == 1

    def break_issuer(root: etree._Element) -> None:
        el = kit.ds(kit.signature(root), "X509Certificate")
        der = base64.b64decode("".join((el.text or "").split()))
        assert der.count(issuer) == 1
        broken = issuer.replace(country, country[:-1] + b"\x8c")  # the value tagged [12] instead
        el.text = base64.b64encode(der.replace(issuer, broken)).decode("ascii")

    verdict = kit.judge(kit.mutate(data, break_issuer), test_pki.trust)
    kit.assert_refused(verdict, "signature.malformed")
    assert "X509Certificate" in verdict.signature.problem.detail


def test_a_certificate_with_an_unknown_x509_version_is_malformed(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    # found by fuzzing the certificate's bytes: load_der_x509_certificate raises x509.InvalidVersion,
    # which is not a ValueError, and it became an internal.error
    def bad_version(root: etree._Element) -> None:
        el = kit.ds(kit.signature(root), "X509Certificate")
        der = bytearray(base64.b64decode("".join((el.text or "").split())))
        version = der.index(bytes.fromhex("a003020102"))  # [0] { INTEGER 2 }: X.509 v3
        der[version + 4] = 0x30
        el.text = base64.b64encode(bytes(der)).decode("ascii")

    verdict = kit.judge(kit.mutate(signed, bad_version), test_pki.trust)
    kit.assert_refused(verdict, "signature.malformed")
    assert "version" in verdict.signature.problem.detail


@pytest.mark.parametrize("position", ["first", "middle"])
def test_signature_elsewhere_in_the_header_with_its_tail(kit: SimpleNamespace, test_pki, signed: bytes,
                                                         position: str) -> None:
    """The enveloped transform keeps the text after the signature.

    Both paths and signxml agree, and the fast path leaves the reader's tree as it found it.
    """

    def move(root: etree._Element) -> None:
        hdr = kit.header(root)
        sig = kit.signature(root)
        hdr.remove(sig)
        if position == "first":  # header.text "\n      " becomes "\n" + signature + tail "      "
            hdr.text, sig.tail = "\n", "      "
            hdr.insert(0, sig)
        else:  # between MessageHeader and TraceHeaderList, splitting the MessageHeader's tail the same way
            mh = kit.message_header(root)
            mh.tail, sig.tail = "\n", "      "
            mh.addnext(sig)

    moved = kit.mutate(signed, move)
    assert kit.signxml_accepts(moved, test_pki.agency.cert)
    kit.assert_valid(kit.judge(moved, test_pki.trust))

    parsed = xmlsafe.parse(moved)
    loc = reader.locate(parsed.root)
    before = kit.canonical(parsed.root)
    result = verify.check(moved, loc, kit.SENDER, test_pki.trust, datetime.now(VN_TZ))
    assert result.cls is SignatureClass.VALID
    assert kit.canonical(parsed.root) == before  # the signature and its tail are back where they were
    assert verify.check(moved, loc, kit.SENDER, test_pki.trust, datetime.now(VN_TZ)).cls is SignatureClass.VALID

    # the same text then stuck elsewhere is a change
    extra = kit.replace_once(moved, b"      <edXML:TraceHeaderList>", b"       <edXML:TraceHeaderList>")
    kit.assert_refused(kit.judge(extra, test_pki.trust), "signature.digest-mismatch")
    assert not kit.signxml_accepts(extra, test_pki.agency.cert)


def _header_text_elements(kit: SimpleNamespace, root: etree._Element) -> list[etree._Element]:
    sig = kit.signature(root)
    inside = set(sig.iter())
    return [el for el in kit.header(root).iter() if isinstance(el.tag, str) and el not in inside
            and el.text and el.text.strip()]


def test_fast_path_agrees_with_signxml_on_random_mutations(kit: SimpleNamespace, test_pki, signed: bytes,
                                                          crypto_calls: list[bytes]) -> None:
    """20 seeded random changes to header texts.

    One character replaced (never valid) or an empty comment inserted (always valid).
    """
    rng = random.Random(20261122)
    outcomes = []
    for _ in range(20):
        root = kit.tree(signed)
        el = rng.choice(_header_text_elements(kit, root))
        text = el.text
        pos = rng.randrange(len(text))
        if rng.random() < 0.3:
            comment = etree.Comment("")
            el.text = text[:pos]
            el.insert(0, comment)
            comment.tail = text[pos:]
            expect_valid = True
        else:
            el.text = text[:pos] + rng.choice([c for c in "AZaz09.,/ -đ" if c != text[pos]]) + text[pos + 1:]
            expect_valid = False
        data = kit.serialize(root)
        loc = reader.locate(xmlsafe.parse(data).root)
        package, _ = reader.read(loc)
        fast = verify.check(data, loc, package.sender.organ_id if package.sender else None, test_pki.trust,
                            datetime.now(VN_TZ))
        ours = fast.cls is SignatureClass.VALID
        theirs = kit.signxml_accepts(data, test_pki.agency.cert)
        assert ours == theirs == expect_valid, (el.tag, text, fast.to_dict())
        if not ours:
            assert fast.reason == "signature.digest-mismatch", fast.to_dict()
        outcomes.append(ours)
    assert crypto_calls == []  # all of them on the fast path
    assert True in outcomes and False in outcomes


# ----------------------------------------------------------------------------- bugs in the signxml path


def test_processing_instruction_inside_bussiness_is_valid(kit: SimpleNamespace, test_pki) -> None:
    data = kit.replace_once(kit.package(), b"<edXML:Paper>", b"<?axis-note x?><edXML:Paper>")
    signed = sign_package(data, test_pki.agency)
    assert kit.signxml_accepts(signed, test_pki.agency.cert)
    kit.assert_valid(kit.judge(signed, test_pki.trust))


def test_a_signature_that_digested_the_comments_does_not_verify(kit: SimpleNamespace, test_pki) -> None:
    """signxml's signer digests a document's comments under ``#WithComments``: no conforming verifier (xmlsec1,
    Santuario, .NET) accepts that signature, and neither does axis.  Signed as they sign, it verifies."""
    reason = "Gửi văn bản mới".encode()
    data = kit.replace_once(kit.package(), reason, reason.replace(b" m", b"<!-- c --> m"))
    c14n = CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS
    signed = kit.sign_with_signxml(data, test_pki.agency, c14n=c14n)
    assert kit.signxml_accepts(signed, test_pki.agency.cert)  # signxml agrees with itself
    kit.assert_refused(kit.judge(signed, test_pki.trust), "signature.digest-mismatch")
    conforming = kit.replace_once(kit.sign_with_signxml(kit.package(), test_pki.agency, c14n=c14n), reason,
                                  reason.replace(b" m", b"<!-- c --> m"))  # the digest without the comment
    verdict = kit.judge(conforming, test_pki.trust)
    kit.assert_valid(verdict)
    assert verdict.package.business.reason == "Gửi văn bản mới"


def _second_c14n_transform(kit: SimpleNamespace, signer: Any) -> Callable[[etree._Element], None]:
    """A second C14N 1.0 transform in the Reference; SignedInfo signed again by ``signer``, whose certificate KeyInfo
    now holds."""
    def change(root: etree._Element) -> None:
        _certificate_of(kit, signer.cert)(root)
        transforms = kit.ds(kit.signature(root), "Transforms")
        etree.SubElement(transforms, f"{{{kit.DSIG}}}Transform",
                         Algorithm=CanonicalizationMethod.CANONICAL_XML_1_0.value)
        kit.resign_signed_info(root, signer)
    return change


def test_second_c14n_transform_on_the_fast_path(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    # C14N of C14N output would be the same bytes, but axis accepts one shape only: refused, explicitly
    data = kit.mutate(signed, _second_c14n_transform(kit, test_pki.agency))
    verdict = kit.judge(data, test_pki.trust)
    assert verdict.signature.reason == "signature.malformed" and not verdict.acceptable


@pytest.mark.parametrize("signer", ["agency", "foreign_agency"])
def test_second_c14n_transform_on_the_signxml_path_is_classified(kit: SimpleNamespace, test_pki, signed_pi: bytes,
                                                                 signer: str) -> None:
    data = kit.mutate(signed_pi, _second_c14n_transform(kit, getattr(test_pki, signer)))
    verdict = kit.judge(data, test_pki.trust)
    assert "internal.error" not in [p.code.code for p in verdict.errors], verdict.to_dict()
    result = kit.verify_only(data, test_pki.trust)  # must classify, not raise
    if signer == "agency":
        assert result.cls is SignatureClass.VALID or result.reason in ("signature.malformed",
                                                                      "signature.algorithm-not-allowed")
    else:
        assert result.cls is SignatureClass.INVALID


# ----------------------------------------------------------------------------- classes on real traffic


def test_interop_sample_class(kit: SimpleNamespace, test_pki, interop: Path,
                              interop_sample: tuple[str, dict[str, Any]]) -> None:
    name, expected = interop_sample
    data = (interop / name).read_bytes()
    verdict = kit.judge(data, test_pki.trust)
    assert verdict.signature is not None, verdict.to_dict()
    assert verdict.signature.cls.value in expected["signature"], verdict.to_dict()
    if PLACEHOLDER_SIGNATURE_VALUE.encode() in data:
        assert verdict.signature.cls is SignatureClass.PLACEHOLDER
    else:
        assert verdict.signature.cls is SignatureClass.ABSENT
    assert verdict.acceptable, verdict.to_dict()  # legacy classes are accepted by default


def test_interop_samples_with_the_sdk_block_are_placeholders(kit: SimpleNamespace, test_pki, interop: Path) -> None:
    with_block = sorted(p for p in (interop / "vnpt-sdk").glob("*.edxml")
                        if PLACEHOLDER_SIGNATURE_VALUE.encode() in p.read_bytes())
    assert len(with_block) >= 4
    for path in with_block:
        data = path.read_bytes()
        try:
            xmlsafe.parse(data)
        except Exception:
            continue  # the two samples that are not well-formed
        verdict = kit.judge(data, test_pki.trust)
        assert verdict.signature.cls is SignatureClass.PLACEHOLDER, path.name
        assert verdict.signature.problem is None and "SDKVXP" in (verdict.signature.note or "")


def test_interop_qcvn_signature_that_is_not_the_placeholder_is_nonstandard(kit: SimpleNamespace, test_pki,
                                                                            interop: Path) -> None:
    data = (interop / "vnpt-sdk" / "edoc_revocation.edxml").read_bytes()
    data = kit.replace_once(data, PLACEHOLDER_SIGNATURE_VALUE.encode(), b"c29tZXRoaW5nIGVsc2U=")
    data = kit.replace_once(data, b"<X509Certificate>MIIFqTCCBJG</X509Certificate>",
                            b"<X509Certificate>MIIBAAAA</X509Certificate>")
    verdict = kit.judge(data, test_pki.trust)
    assert verdict.signature.cls is SignatureClass.NONSTANDARD
    assert verdict.signature.problem is None and "outside the XML-DSig namespace" in verdict.signature.note
    assert verdict.acceptable


@pytest.mark.parametrize(("block", "cls", "reason"), [
    pytest.param(_block("http://www.mic.gov.vn/TBT/QCVN_102_2016"), SignatureClass.PLACEHOLDER, None,
                 id="sdk-block-qcvn-namespace"),
    pytest.param(_block("http://www.w3.org/2000/09/xmldsig#"), SignatureClass.PLACEHOLDER, None,
                 id="sdk-block-dsig-namespace"),
    pytest.param(_block("http://www.mic.gov.vn/TBT/QCVN_102_2016", value="c29tZQ==", cert="MIIB"),
                 SignatureClass.NONSTANDARD, None, id="other-block-qcvn-namespace"),
    pytest.param(_block("http://www.w3.org/2000/09/xmldsig#", value="c29tZQ==", cert="MIIB"), SignatureClass.INVALID,
                 "signature.algorithm-not-allowed", id="other-block-dsig-namespace-sha1"),
    pytest.param(b"<DigitalSignature/>", SignatureClass.ABSENT, None, id="empty-DigitalSignature"),
    pytest.param(b"<DigitalSignature>\n  </DigitalSignature>", SignatureClass.ABSENT, None,
                 id="blank-DigitalSignature"),
    pytest.param(b"<DigitalSignature>TUlJQg==</DigitalSignature>", SignatureClass.NONSTANDARD, None,
                 id="non-empty-DigitalSignature"),
])
def test_classes_of_signature_blocks(kit: SimpleNamespace, test_pki, block: bytes, cls: SignatureClass,
                                     reason: str | None) -> None:
    data = with_header_signature(kit, kit.package(), block)
    result = kit.verify_only(data, test_pki.trust)
    assert result.cls is cls, result.to_dict()
    assert result.reason == reason
    if cls is SignatureClass.ABSENT:
        assert result.note == "an empty DigitalSignature element (.NET SDK)"


def test_empty_digital_signature_next_to_a_real_signature_is_ignored(kit: SimpleNamespace, test_pki,
                                                                    signed: bytes) -> None:
    data = kit.replace_once(signed, b"<edXML:TraceHeaderList>", b"<DigitalSignature/><edXML:TraceHeaderList>")
    result = kit.verify_only(data, test_pki.trust)
    assert result.cls is SignatureClass.INVALID and result.reason == "signature.digest-mismatch"  # it was not signed


def test_placeholder_next_to_a_real_signature_is_wrapping(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    data = kit.replace_once(signed, b"<edXML:TraceHeaderList>",
                            _block("http://www.mic.gov.vn/TBT/QCVN_102_2016") + b"<edXML:TraceHeaderList>")
    kit.assert_refused(kit.judge(data, test_pki.trust), "signature.wrapping")


REQUIRE = CheckOptions(require_valid_signature=True)


def test_require_valid_signature_refuses_absent(kit: SimpleNamespace, test_pki) -> None:
    verdict = kit.judge(kit.package(), test_pki.trust, options=REQUIRE)
    assert verdict.signature.cls is SignatureClass.ABSENT
    assert [p.code.code for p in verdict.errors] == ["signature.required"]
    assert "absent" in verdict.errors[0].detail
    assert not verdict.acceptable


def test_require_valid_signature_refuses_placeholder(kit: SimpleNamespace, test_pki, interop: Path) -> None:
    verdict = kit.judge((interop / "vnpt-sdk" / "edoc_revocation.edxml").read_bytes(), test_pki.trust, options=REQUIRE)
    assert verdict.signature.cls is SignatureClass.PLACEHOLDER
    assert [p.code.code for p in verdict.errors] == ["signature.required"]
    assert not verdict.acceptable


def test_require_valid_signature_refuses_nonstandard(kit: SimpleNamespace, test_pki) -> None:
    data = with_header_signature(kit, kit.package(), _block(kit.QCVN, value="c29tZQ==", cert="MIIB"))
    verdict = kit.judge(data, test_pki.trust, options=REQUIRE)
    assert verdict.signature.cls is SignatureClass.NONSTANDARD
    assert "signature.required" in [p.code.code for p in verdict.errors]
    assert not verdict.acceptable


def test_require_valid_signature_accepts_valid_and_keeps_invalid_reasons(kit: SimpleNamespace, test_pki,
                                                                         signed: bytes) -> None:
    kit.assert_valid(kit.judge(signed, test_pki.trust, options=REQUIRE))
    verdict = kit.judge(kit.replace_once(signed, b"000.00.00.H41", b"000.00.00.H42"), test_pki.trust, options=REQUIRE)
    kit.assert_refused(verdict, "signature.digest-mismatch")
    assert "signature.required" not in [p.code.code for p in verdict.errors]



def test_a_ca_certificate_naming_no_agency_is_valid_but_recorded_as_unbound(kit: SimpleNamespace, test_pki,
                                                                             signed: bytes) -> None:
    from axis.signature import pki
    from axis.signature.sign import sign_package
    from axis.signature.trust import agency_of

    person = pki.issue(test_pki.ca, "CMND:1425878990", "Nguyen Van A")  # UID as real personal certificates use it
    assert agency_of(person.cert) is None
    verdict = kit.judge(sign_package(signed, person), test_pki.trust)
    assert verdict.signature.cls is SignatureClass.VALID and verdict.acceptable
    assert verdict.signature.signer_agency is None
    assert [w.code.code for w in verdict.warnings] == ["signature.unbound-signer"]


def test_exclusive_c14n_with_an_inclusive_prefix_list_verifies(kit: SimpleNamespace, test_pki, signed: bytes) -> None:
    from signxml.algorithms import (
        CanonicalizationMethod,
        DigestAlgorithm,
        SignatureMethod,
    )

    from axis.edxml import reader, xmlsafe
    from axis.edxml.names import DSIG_NS
    from axis.signature.xmldsig import Signer

    root = etree.fromstring(signed)
    header = reader.locate(root).header
    header.remove(header.find(f"{{{DSIG_NS}}}Signature"))
    etree.SubElement(header, f"{{{DSIG_NS}}}Signature", nsmap={"ds": DSIG_NS}, Id="placeholder")
    signer = Signer(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                    c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    from cryptography.hazmat.primitives.serialization import Encoding
    cert = test_pki.agency.cert.public_bytes(Encoding.PEM).decode()
    out = signer.sign(root, key=test_pki.agency.key, cert=[cert], inclusive_ns_prefixes=["edXML"])
    data = etree.tostring(out, xml_declaration=True, encoding="UTF-8")
    assert b"PrefixList" in data
    verdict = kit.judge(data, test_pki.trust)
    assert verdict.signature.cls is SignatureClass.VALID, verdict.signature
    tampered = data.replace(b"000.00.00.H41", b"000.00.00.H42", 1)
    assert kit.judge(tampered, test_pki.trust).signature.reason == "signature.digest-mismatch"
    assert xmlsafe.parse(data).sha256
