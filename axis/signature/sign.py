"""Signing: an enveloped XML-DSig signature over a whole edXML package, or over any document of axis's own.

The signature is placed where verifiers (axis's and the VNPT/.NET libraries') look
for it: the last child of ``edXMLHeader``, one reference ``URI=""``, the enveloped
transform, and inclusive C14N 1.0, which both Java Santuario and .NET SignedXml
implement (signxml's default, C14N 1.1, is not in .NET).  RSA-SHA256 or
ECDSA-SHA256 with a SHA-256 digest.

Signing replaces any signature element already in the header (the SDK's
placeholder, an old signature): that is the point of signing, and the caller asked
for it.  Nothing else in the package changes.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from axis.edxml import reader, xmlsafe
from axis.edxml.names import DSIG_NS, q
from axis.signature.c14n import inherited, standalone
from axis.signature.pki import Issued
from axis.signature.xmldsig import Signer

_SIGNATURE_TAGS = (f"{{{DSIG_NS}}}Signature", q("Signature"), q("DigitalSignature"))


def _signer(signer: Issued) -> Signer:
    method = SignatureMethod.ECDSA_SHA256 if isinstance(signer.key, ec.EllipticCurvePrivateKey) \
        else SignatureMethod.RSA_SHA256
    xml_signer = Signer(signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256,
                           c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    # signxml re-parses its input with a parser of its own that refuses text nodes over 10 MB;
    # attachments can be larger, so give it ours (hardened, huge text allowed).
    xml_signer._parser = xmlsafe.make_parser(huge=True, keep_comments=True)
    return xml_signer


def _certs(signer: Issued) -> list[str]:
    return [c.public_bytes(Encoding.PEM).decode("ascii") for c in (signer.cert, *signer.chain)]


def sign_element(root: etree._Element, signer: Issued, *, parent: etree._Element | None = None) -> etree._Element:
    """Sign ``root`` (enveloped, ``URI=""``) placing the signature as the last child of ``parent`` (default: root)."""
    parent = parent if parent is not None else root
    steps = [a.index(c) for c, a in zip([parent, *parent.iterancestors()], parent.iterancestors())][::-1]
    placeholder = etree.SubElement(parent, f"{{{DSIG_NS}}}Signature", nsmap={"ds": DSIG_NS}, Id="placeholder")
    assert placeholder is not None
    signed = _signer(signer).sign(root, key=signer.key, cert=_certs(signer))
    at = signed  # signxml returns a new tree of the same shape: the parent is found again by position
    for step in steps:
        at = at[step]
    _standard_value(at[-1], signer)
    return signed


def _standard_value(sig: etree._Element, signer: Issued) -> None:
    """signxml signs SignedInfo as lxml canonicalises it, without the ``xml:*`` attributes it inherits: where it has
    some (an ``xml:lang`` on the envelope), sign it again as C14N writes it (:mod:`axis.signature.c14n`)."""
    signed_info = sig.find(f"{{{DSIG_NS}}}SignedInfo")
    value = sig.find(f"{{{DSIG_NS}}}SignatureValue")
    assert signed_info is not None and value is not None
    if not inherited(signed_info, CanonicalizationMethod.CANONICAL_XML_1_0.value):
        return
    with standalone(signed_info, CanonicalizationMethod.CANONICAL_XML_1_0.value):
        data = etree.tostring(signed_info, method="c14n")
    key = signer.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # XML-DSig writes r || s
    else:
        assert isinstance(key, rsa.RSAPrivateKey)
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    value.text = base64.b64encode(raw).decode("ascii")


def sign_package(data: bytes, signer: Issued, limits: xmlsafe.ParseLimits = xmlsafe.DEFAULT_LIMITS) -> bytes:
    """Return the package signed by ``signer``; raises AxisError when ``data`` is not a readable edXML package."""
    xmlsafe.parse(data, limits)  # every hardening check, before we touch it
    # Re-parse keeping comments so that the signed package differs from the input only by its signature.
    root = etree.fromstring(data, xmlsafe.make_parser(huge=True, keep_comments=True))
    loc = reader.locate(root)
    for old in [el for el in loc.header if el.tag in _SIGNATURE_TAGS]:
        loc.header.remove(old)
    signed = sign_element(root, signer, parent=loc.header)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
