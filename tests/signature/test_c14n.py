"""SignedInfo canonicalised with the ``xml:*`` attributes it inherits (C14N 1.0 and 1.1 §2.4), signing and verifying,
checked against the JDK's own XML-DSig (Santuario) where a JDK is installed."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from axis.signature.c14n import XML_NS, inherited
from axis.signature.sign import sign_package

LANG, SPACE, BASE, ID = (f"{{{XML_NS}}}{n}" for n in ("lang", "space", "base", "id"))
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
JDK_VERIFY = Path(__file__).with_name("JdkVerify.java")


def _tree() -> etree._Element:
    return etree.fromstring(b'<a xml:lang="vi" xml:base="http://x.gov.vn/a/" xml:id="top">'
                            b'<b xml:space="preserve" xml:base="b/" xml:lang="en"><c xml:lang="fr"/><d/></b></a>')


def test_c14n_10_inherits_every_xml_attribute_from_the_nearest_ancestor() -> None:
    root = _tree()
    assert inherited(root.find("b/d"), C14N_10) == {LANG: "en", SPACE: "preserve", BASE: "b/", ID: "top"}
    assert LANG not in inherited(root.find("b/c"), C14N_10)  # its own wins
    assert inherited(root, C14N_10) == {}  # the whole document: nothing above it


def test_c14n_11_joins_xml_base_and_leaves_xml_id() -> None:
    assert inherited(_tree().find("b/d"), C14N_11) == {LANG: "en", SPACE: "preserve", BASE: "http://x.gov.vn/a/b/"}
    assert inherited(_tree().find("b/d"), C14N_11 + "#WithComments")[BASE] == "http://x.gov.vn/a/b/"


def test_exclusive_c14n_inherits_nothing() -> None:
    assert inherited(_tree().find("b/d"), EXC_C14N) == {}


def _with_lang(data: bytes) -> bytes:
    """The package with ``xml:lang="vi"`` on its envelope (which Vietnamese producers may well write)."""
    start = data.index(b"<edXML:edXMLEnvelope") + len(b"<edXML:edXMLEnvelope")
    return data[:start] + b' xml:lang="vi"' + data[start:]


def _standard_signed_info(kit: SimpleNamespace, data: bytes) -> bytes:
    """SignedInfo's canonical form written out by hand: lxml's, with the inherited attribute in its start tag (after
    the namespace declarations; SignedInfo has no attribute of its own to sort it among)."""
    signed_info = kit.ds(kit.signature(kit.tree(data)), "SignedInfo")
    assert not signed_info.attrib
    plain = kit.canonical(signed_info)
    end = plain.index(b">")
    return plain[:end] + b' xml:lang="vi"' + plain[end:]


def test_axis_signs_signed_info_as_c14n_writes_it(kit: SimpleNamespace, test_pki) -> None:
    data = sign_package(_with_lang(kit.package()), test_pki.agency)
    value = base64.b64decode(kit.ds(kit.signature(kit.tree(data)), "SignatureValue").text)
    test_pki.agency.cert.public_key().verify(value, _standard_signed_info(kit, data), padding.PKCS1v15(),
                                             hashes.SHA256())  # raises if signed as lxml writes it
    kit.assert_valid(kit.judge(data, test_pki.trust))


def test_ecdsa_too(kit: SimpleNamespace, test_pki) -> None:
    kit.assert_valid(kit.judge(sign_package(_with_lang(kit.package()), test_pki.agency_ec), test_pki.trust))


def test_a_signature_over_the_standard_form_verifies_and_one_over_lxml_s_does_not(kit: SimpleNamespace,
                                                                                  test_pki) -> None:
    lxml_signed = kit.sign_with_signxml(_with_lang(kit.package()), test_pki.agency)  # signxml: without xml:lang
    kit.assert_refused(kit.judge(lxml_signed, test_pki.trust), "signature.bad-value")
    root = kit.tree(lxml_signed)
    value = test_pki.agency.key.sign(_standard_signed_info(kit, lxml_signed), padding.PKCS1v15(), hashes.SHA256())
    kit.ds(kit.signature(root), "SignatureValue").text = base64.b64encode(value).decode("ascii")
    kit.assert_valid(kit.judge(kit.serialize(root), test_pki.trust))


def test_with_a_processing_instruction_inside_it_is_refused_by_name(kit: SimpleNamespace, test_pki) -> None:
    data = _with_lang(kit.package()).replace(b"</edXML:edXMLBody>", b"<?axis note?></edXML:edXMLBody>", 1)
    verdict = kit.judge(sign_package(data, test_pki.agency), test_pki.trust)
    kit.assert_refused(verdict, "signature.malformed")
    assert "inherits xml:* attributes" in verdict.signature.problem.detail


@pytest.mark.skipif(shutil.which("java") is None, reason="no JDK: the cross-check with Santuario needs `java`")
def test_the_jdk_s_xml_dsig_agrees(kit: SimpleNamespace, test_pki, tmp_path: Path) -> None:
    ours = tmp_path / "axis.xml"
    ours.write_bytes(sign_package(_with_lang(kit.package()), test_pki.agency))
    lxml_form = tmp_path / "lxml.xml"
    lxml_form.write_bytes(kit.sign_with_signxml(_with_lang(kit.package()), test_pki.agency))
    plain = tmp_path / "plain.xml"
    plain.write_bytes(sign_package(kit.package(), test_pki.agency))
    # URI="" is the document without its comments (XML-DSig 4.3.3.3): a comment added after signing changes nothing.
    commented = tmp_path / "commented.xml"
    commented.write_bytes(plain.read_bytes().replace(b"</edXML:edXMLBody>", "<!-- ghi chú --></edXML:edXMLBody>".encode(), 1))
    kit.assert_valid(kit.judge(commented.read_bytes(), test_pki.trust))
    out = subprocess.run(["java", str(JDK_VERIFY), *map(str, (ours, lxml_form, plain, commented))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["valid", "invalid", "valid", "valid"]
