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

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from axis.edxml import reader, xmlsafe
from axis.edxml.names import DSIG_NS, q
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
    placeholder = etree.SubElement(parent if parent is not None else root, f"{{{DSIG_NS}}}Signature",
                                   nsmap={"ds": DSIG_NS}, Id="placeholder")
    assert placeholder is not None
    return _signer(signer).sign(root, key=signer.key, cert=_certs(signer))


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
