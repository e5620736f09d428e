"""Crafted inputs on which the fast path (verify._lean_crypto) must not be more lenient than a correct verifier.

Each case starts from a package really signed with the test PKI, changed the way an attacker holding it
could change it, and compares axis's verdict with signxml's.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from axis.signature.verify import SignatureClass


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-32-le"])
def test_a_processing_instruction_added_to_a_utf16_package_is_not_valid(kit: SimpleNamespace, test_pki,
                                                                        signed: bytes, codec: str) -> None:
    """The fast path is taken when the bytes hold no ``<?`` besides the declaration; re-encoded as UTF-16 or
    UTF-32 (no BOM, which libxml2 does not need) they hold none, so a processing instruction added after signing
    was dropped by the reader's parser and the digest of its tree still matched.  Canonical XML keeps the PI:
    signxml (and any verifier) finds a digest mismatch."""
    text = signed.decode("utf-8").replace("encoding='UTF-8'", f"encoding='{codec[:6].upper()}'", 1)
    tampered = text.replace("<edXML:MessageHeader>", "<?axis-route to=000.00.00.H99?><edXML:MessageHeader>", 1)
    assert tampered != text
    data = tampered.encode(codec)
    assert not kit.signxml_accepts(data, test_pki.agency.cert)
    verdict = kit.judge(data, test_pki.trust)
    assert not verdict.acceptable, verdict.to_dict()
    assert verdict.signature is None or verdict.signature.cls is not SignatureClass.VALID, verdict.to_dict()


@pytest.mark.parametrize("where", ["instead-of-declaration", "after-declaration", "after-root"])
def test_a_processing_instruction_outside_the_root_added_after_signing_is_not_valid(
        kit: SimpleNamespace, test_pki, signed: bytes, where: str) -> None:
    """``URI=""`` is the whole document but its comments (XML-DSig 4.4.3.3), and Canonical XML writes the
    processing instructions before and after the root element: they are signed content, and xmlsec1 (libxmlsec,
    as Santuario and .NET) reports the digest mismatch.  axis's fast path never sees them (its parser drops PIs;
    ``<?xml-stylesheet`` in place of the declaration was even taken for the declaration), and signxml
    canonicalises the root element alone: both called such a package valid."""
    pi = b'<?xml-stylesheet type="text/xsl" href="http://attacker.example/route.xsl"?>'
    declaration, _, rest = signed.partition(b"?>\n")
    assert declaration.startswith(b"<?xml ")
    data = {
        "instead-of-declaration": pi + b"\n" + rest,
        "after-declaration": declaration + b"?>\n" + pi + b"\n" + rest,
        "after-root": signed + b"\n" + pi,
    }[where]
    verdict = kit.judge(data, test_pki.trust)
    assert verdict.signature is not None and verdict.signature.cls is SignatureClass.INVALID, verdict.to_dict()
    assert not verdict.acceptable


def test_a_processing_instruction_inside_the_root_is_still_valid(kit: SimpleNamespace, test_pki,
                                                               signed_pi: bytes) -> None:
    kit.assert_valid(kit.judge(signed_pi, test_pki.trust))
    rest = signed_pi.partition(b"?>\n")[2]  # no declaration at all
    kit.assert_valid(kit.judge(rest, test_pki.trust))


@pytest.mark.parametrize("where", ["root", "signature"])
def test_a_relative_namespace_uri_is_a_malformed_signature_not_a_crash(kit: SimpleNamespace, test_pki,
                                                                       signed: bytes, where: str) -> None:
    """libxml2 refuses to canonicalise a document with a relative namespace URI (as C14N 1.0 says it must):
    the fast path let its C14NError out of ``verify.check``, which the pipeline answered ``internal.error``
    (and logged a traceback) for any signed package an attacker added ``xmlns:r="r"`` to."""
    old = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">' if where == "root" else b"<ds:Signature "
    new = old.replace(b"<edXML ", b'<edXML xmlns:r="r" ') if where == "root" else b'<ds:Signature xmlns:r="r" '
    data = kit.replace_once(signed, old, new)
    result = kit.verify_only(data, test_pki.trust)
    assert result.cls is SignatureClass.INVALID and result.reason == "signature.malformed", result.to_dict()
    verdict = kit.judge(data, test_pki.trust)
    assert "internal.error" not in [p.code.code for p in verdict.errors], verdict.to_dict()
    assert not verdict.acceptable


def _exclusive_signature(kit: SimpleNamespace, signer: object, prefixes: list[str]) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding
    from lxml import etree
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    from axis.signature.xmldsig import Signer

    root = kit.tree(kit.package())
    etree.SubElement(kit.header(root), f"{{{kit.DSIG}}}Signature", nsmap={"ds": kit.DSIG}, Id="placeholder")
    xml_signer = Signer(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    cert = signer.cert.public_bytes(Encoding.PEM).decode()  # type: ignore[attr-defined]
    out = xml_signer.sign(root, key=signer.key, cert=[cert], inclusive_ns_prefixes=prefixes)  # type: ignore[attr-defined]
    data = kit.serialize(out)
    assert b'PrefixList="' + " ".join(prefixes).encode() + b'"' in data
    return data


def test_a_default_namespace_declared_after_an_exclusive_signature_with_prefix_list_default(
        kit: SimpleNamespace, test_pki) -> None:
    """``#default`` in an InclusiveNamespaces PrefixList makes the default namespace in scope part of the canonical
    form even where no element uses it (Exclusive C14N 1.0, section 3).  lxml ignores the token, so the fast path
    canonicalised such a reference as if the list did not name it: a default namespace declared after signing on a
    subtree whose elements are all prefixed is signed content by the PrefixList, and axis called the package
    valid.  axis cannot canonicalise as the list says, so it refuses the list."""
    from lxml import etree

    element = etree.fromstring(b'<a xmlns="urn:d" xmlns:p="urn:p"><p:b/></a>')[0]
    lxml_form = etree.tostring(element, method="c14n", exclusive=True, inclusive_ns_prefixes=["#default"])
    assert lxml_form == b'<p:b xmlns:p="urn:p"></p:b>'  # the standard's: <p:b xmlns="urn:d" xmlns:p="urn:p">
    data = _exclusive_signature(kit, test_pki.agency, ["#default", "edXML"])
    tampered = kit.replace_once(data, b"<edXML:From>", b'<edXML:From xmlns="urn:not-signed">')
    verdict = kit.judge(tampered, test_pki.trust)
    assert verdict.signature is not None and verdict.signature.cls is SignatureClass.INVALID, verdict.to_dict()
    assert not verdict.acceptable
    assert kit.judge(data, test_pki.trust).signature.reason == "signature.algorithm-not-allowed"


def test_an_exclusive_signature_with_a_prefix_list_of_prefixes_still_verifies(kit: SimpleNamespace,
                                                                            test_pki) -> None:
    data = _exclusive_signature(kit, test_pki.agency, ["edXML"])
    kit.assert_valid(kit.judge(data, test_pki.trust))
    tampered = kit.replace_once(data, b"<edXML:From>", b'<edXML:From xmlns:zz="urn:not-signed">')
    kit.assert_valid(kit.judge(tampered, test_pki.trust))  # an unused prefix is outside exclusive C14N
