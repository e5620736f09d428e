"""Classify and verify the XML signature of an edXML package.

Every package gets exactly one class:

- ``valid``: one XML-DSig signature, a direct child of ``edXMLHeader``, whose single
  reference (``URI=""``, enveloped) covers the whole package, made with an allowed
  algorithm by a certificate that is in its validity period and trusted for the sender;
- ``invalid``: anything that tried to be a signature and failed, with the reason as
  an error code (``signature.digest-mismatch``, ``signature.untrusted``, …);
- ``placeholder``: the VNPT SDK's fixed fake block, as real traffic carries it;
- ``nonstandard``: a ``Signature`` element outside the XML-DSig namespace (the SDK
  writes it unprefixed under the QCVN default namespace), which cannot be verified;
- ``absent``: no signature.

The structure rules that defeat signature wrapping, the algorithm policy and the
trust decision are ours, checked before and after the crypto, so that each
failure has its own reason.

The crypto has two paths with one meaning.  Because axis accepts only one shape,
a single ``URI=""`` enveloped reference, the digest is the canonical form of the
very tree the reader read, minus the signature: the fast path computes exactly
that with libxml2's C14N (lxml), hashlib and cryptography, on the tree already
parsed, so that what is routed is by construction what was signed.  ``URI=""``
leaves comments out of the digest whatever its transforms say (XML-DSig 4.3.3.3:
the document's node-set minus its comment nodes), as xmlsec1, Santuario and .NET
do, and as the reader's tree, which has none, gives it; only comments inside
SignedInfo are signed, under a ``#WithComments`` CanonicalizationMethod, and are
read from the bytes for it.  Packages that need more than that tree can show
(processing instructions, which the reader's parser drops) go through signxml
(given them without the comments it would digest, :func:`_for_signxml`), and
then the fields axis acts on are compared with signxml's re-parsed signed
content.  Tests hold the two paths to the same verdicts.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree
from signxml import SignatureConfiguration
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)

from axis.agencycode import same_agency
from axis.edxml.names import DSIG_NS, element_path, local_name, q, where
from axis.edxml.reader import Located
from axis.edxml.xmlsafe import HUGE_THRESHOLD, thread_parser
from axis.errors import Code, Problem, Where
from axis.signature.c14n import inherited, standalone
from axis.signature.trust import TrustBasis, TrustStore, agency_of, fingerprint
from axis.signature.xmldsig import Verifier
from axis.vntime import iso

log = logging.getLogger(__name__)

# The SDKVXP example hard-codes this block; real 2025 traffic relayed by the national axis carries it.
PLACEHOLDER_SIGNATURE_VALUE = (
    "GbVb8n9+qFxz466Ag0sbpVdLPs2R0+9JBekp12UyarAZjoG0W/kPZZJ1auRZDcNcrSwzgkQMpqrjwxcy3ejzbY/ON5USUPgoYNYM8p4wsgQp"
    "EAeQaZ+EWLkkEBxYjb+iWEiAjYuJI7gtJoOyENcOK4fO050SXp2ctOc32LJMA5eEI6Hw7sxhc2LAgcPiynJHdDW2Z+eut6QZiUsbIF9+S3T6"
    "u/tfLImw39dgSlCxupwLPHepxuiLOqyd08HeJGCZufg9WqRBVyLFM76uCIaPRP5wwAdx72GVjPcG2kh+2jjrt7fqtJOufJzCObtQgPgBqIvD"
    "iZCGoOM41OQMiqtF3w=="
)
PLACEHOLDER_CERTIFICATE = "MIIFqTCCBJG"  # truncated: not even a certificate

_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_C14N = frozenset(m.value for m in CanonicalizationMethod)
_STRONG_SIGNATURE = frozenset({
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512,
    SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384, SignatureMethod.ECDSA_SHA512,
})
_STRONG_DIGEST = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
_SHA1_SIGNATURE = frozenset({SignatureMethod.RSA_SHA1, SignatureMethod.ECDSA_SHA1})


class SignatureClass(str, enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    PLACEHOLDER = "placeholder"
    NONSTANDARD = "nonstandard"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class SignatureOptions:
    allow_sha1: bool = False
    """Accept RSA-SHA1 / SHA-1 digests: only for legacy agencies, and recorded in the verdict."""


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    cls: SignatureClass
    problem: Problem | None = None
    """For ``invalid``: why, as an error of the ``signature.*`` family."""
    note: str | None = None
    warnings: tuple[Problem, ...] = ()
    """For ``valid``: what was accepted with reservations (an unbound signer, legacy SHA-1)."""
    signature_method: str | None = None
    digest_method: str | None = None
    signer_subject: str | None = None
    signer_fingerprint: str | None = None
    signer_agency: str | None = None
    trust: TrustBasis | None = None

    @property
    def reason(self) -> str | None:
        return self.problem.code.code if self.problem else None

    @property
    def required_problem(self) -> str | None:
        """Why this signature does not meet a policy that requires one (None: it does).  Valid is not enough: a
        certificate that names no agency, trusted through a CA, could sign for any agency."""
        if self.cls is not SignatureClass.VALID:
            return f"the package's signature is {self.cls.value}"
        if self.signer_agency is None and self.trust != "pinned":
            return f"its certificate ({self.signer_subject}) names no agency and is not pinned for the sender"
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.cls.value}
        for key in ("note", "signature_method", "digest_method", "signer_subject", "signer_fingerprint",
                    "signer_agency", "trust"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.problem is not None:
            out["reason"] = self.problem.code.code
            out["detail"] = self.problem.detail
        if self.warnings:
            out["warnings"] = [w.code.code for w in self.warnings]
        return out


class _Invalid(Exception):
    def __init__(self, code: Code, detail: str, where_: Where | None = None) -> None:
        super().__init__(detail)
        self.problem = Problem(code, detail, where_ or Where())


# -- the fields axis acts on, as paths from the root: compared between the tree we read and the signed content
_HDR = f"{q('edXMLEnvelope')}/{q('edXMLHeader')}"
_MH = f"{_HDR}/{q('MessageHeader')}"
_IDENTITY_PATHS = tuple(
    f"{_MH}/{p}" for p in (
        f"{q('From')}/{q('OrganId')}", f"{q('To')}/{q('OrganId')}", q("DocumentId"),
        f"{q('ResponseFor')}/{q('OrganId')}", f"{q('ResponseFor')}/{q('DocumentId')}", q("StatusCode"),
    )
)
_BUSINESS_PATHS = tuple(f"{_HDR}/{c}/{q(n)}" for c in (q("TraceHeaderList"), ".") for n in ("Bussiness", "Business"))


def identity_fields(root: etree._Element) -> tuple[Any, ...]:
    """From, To, DocumentId, ResponseFor, StatusCode and the whole Bussiness block, as text.

    Elements only, and their text without comments and processing instructions, so that a
    tree parsed with them (signxml's) and one parsed without (the reader's) compare equal.
    """
    fields: list[Any] = [tuple("".join(el.itertext()).strip() for el in root.iterfind(p)) for p in _IDENTITY_PATHS]
    fields.extend(
        tuple((local_name(e), "".join(e.itertext()).strip()) for b in root.iterfind(p) for e in b.iter(etree.Element))
        for p in _BUSINESS_PATHS
    )
    return tuple(fields)


def _is_placeholder(sig: etree._Element) -> bool:
    """Matched by value in whatever namespace the block sits: the SDK writes it both ways.  The signature value
    decides (the field pairs the SDK's fixed value with real certificates too): a real value stays a real
    signature, so the SDK's fake certificate added to a tampered package's KeyInfo cannot turn its ``invalid``
    (always refused) into ``placeholder`` (accepted as legacy).  Without a value, the certificates decide."""
    def texts(tag: str) -> list[str]:
        return ["".join((el.text or "").split()) for el in sig.iter(tag)]
    values = texts("{*}SignatureValue")
    if values:
        return all(v == PLACEHOLDER_SIGNATURE_VALUE for v in values)
    certificates = texts("{*}X509Certificate")
    return bool(certificates) and all(c == PLACEHOLDER_CERTIFICATE for c in certificates)


def _ds_tag(local: str) -> str:
    return f"{{{DSIG_NS}}}{local}"


_SIGNED_INFO, _C14N_METHOD, _SIGNATURE_METHOD = _ds_tag("SignedInfo"), _ds_tag("CanonicalizationMethod"), \
    _ds_tag("SignatureMethod")
_REFERENCE, _TRANSFORMS, _TRANSFORM = _ds_tag("Reference"), _ds_tag("Transforms"), _ds_tag("Transform")
_DIGEST_METHOD, _DIGEST_VALUE, _SIGNATURE_VALUE = _ds_tag("DigestMethod"), _ds_tag("DigestValue"), \
    _ds_tag("SignatureValue")
_KEY_INFO, _X509_DATA, _X509_CERTIFICATE = _ds_tag("KeyInfo"), _ds_tag("X509Data"), _ds_tag("X509Certificate")
_INCLUSIVE_NAMESPACES = "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces"


def _prefixes(algorithm_el: etree._Element) -> tuple[str, ...] | None:
    """Exclusive C14N's InclusiveNamespaces PrefixList (Java signers emit it), if any."""
    found = algorithm_el.find(_INCLUSIVE_NAMESPACES)
    if found is None:
        return None
    return tuple(p for p in (found.get("PrefixList") or "").split() if p)


def _one(parent: etree._Element, tag: str) -> etree._Element:
    found = list(parent.iterchildren(tag))
    if len(found) != 1:
        name = tag.rpartition("}")[2]
        raise _Invalid(Code.SIGNATURE_MALFORMED, f"expected one {name} in {local_name(parent)}, found {len(found)}",
                       where(parent))
    return found[0]


def _b64(el: etree._Element) -> bytes:
    try:
        return base64.b64decode("".join((el.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Invalid(Code.SIGNATURE_MALFORMED, f"{local_name(el)} is not base64 ({exc})", where(el)) from None


@dataclass(frozen=True, slots=True)
class _Parts:
    """The pieces of an XML-DSig signature axis accepts, found and checked once."""

    signed_info: etree._Element
    c14n_uri: str
    c14n_prefixes: tuple[str, ...] | None
    reference_c14n_uri: str | None
    """The canonicalisation transform of the reference, if any (C14N 1.0 otherwise)."""
    reference_prefixes: tuple[str, ...] | None
    method: SignatureMethod
    digest: DigestAlgorithm
    digest_value: bytes
    signature_value: bytes
    certificates: tuple[etree._Element, ...]


def _dissect(sig: etree._Element, loc: Located, options: SignatureOptions) -> _Parts:
    """Wrapping defences and algorithm policy, before any crypto."""
    if sig.getparent() is not loc.header:
        raise _Invalid(Code.SIGNATURE_WRAPPING,
                       f"the signature is at {element_path(sig)}; it must be a direct child of edXMLHeader", where(sig))
    signed_info = _one(sig, _SIGNED_INFO)
    c14n_el = _one(signed_info, _C14N_METHOD)
    c14n = c14n_el.get("Algorithm") or ""
    method_uri = _one(signed_info, _SIGNATURE_METHOD).get("Algorithm") or ""
    refs = list(signed_info.iterchildren(_REFERENCE))
    if len(refs) != 1:
        raise _Invalid(Code.SIGNATURE_WRAPPING, f"the signature has {len(refs)} references; axis requires one, "
                       "covering the whole package", where(signed_info))
    ref = refs[0]
    if ref.get("URI") != "":
        raise _Invalid(Code.SIGNATURE_WRAPPING, f"the reference URI is {ref.get('URI')!r}; it must be \"\" "
                       "(the whole package)", where(ref))
    transform_els = [t for ts in ref.iterchildren(_TRANSFORMS) for t in ts.iterchildren(_TRANSFORM)]
    transforms = [t.get("Algorithm") or "" for t in transform_els]
    if transforms.count(_ENVELOPED) != 1 or len(transforms) > 2:
        raise _Invalid(Code.SIGNATURE_MALFORMED, "the reference's transforms must be enveloped-signature and at most "
                       f"one canonicalisation, found {len(transforms)}", where(ref))
    for uri in [c14n, *transforms]:
        if uri != _ENVELOPED and uri not in _C14N:
            raise _Invalid(Code.SIGNATURE_ALGORITHM, f"transform or canonicalisation {uri!r} is not allowed",
                           where(signed_info))
    digest_uri = _one(ref, _DIGEST_METHOD).get("Algorithm") or ""
    try:
        method = SignatureMethod(method_uri)
        digest = DigestAlgorithm(digest_uri)
    except (ValueError, SignXMLException):
        raise _Invalid(Code.SIGNATURE_ALGORITHM, f"unknown algorithm {method_uri!r} / {digest_uri!r}",
                       where(signed_info)) from None
    allowed_methods = _STRONG_SIGNATURE | (_SHA1_SIGNATURE if options.allow_sha1 else frozenset())
    allowed_digests = _STRONG_DIGEST | ({DigestAlgorithm.SHA1} if options.allow_sha1 else frozenset())
    if method not in allowed_methods or digest not in allowed_digests:
        hint = " (SHA-1 needs the legacy allow_sha1 setting)" if "sha1" in f"{method_uri}{digest_uri}" else ""
        raise _Invalid(Code.SIGNATURE_ALGORITHM, f"{method_uri} with digest {digest_uri}{hint}", where(signed_info))
    prefix_lists = [_prefixes(c14n_el), *(_prefixes(t) for t in transform_els if t.get("Algorithm") != _ENVELOPED)]
    if any("#default" in p for p in prefix_lists if p):
        # lxml (libxml2) ignores the token, so the default namespace would not be canonicalised as the list says
        raise _Invalid(Code.SIGNATURE_ALGORITHM, "an InclusiveNamespaces PrefixList naming #default is not supported",
                       where(signed_info))
    certificates = tuple(c for ki in sig.iterchildren(_KEY_INFO) for xd in ki.iterchildren(_X509_DATA)
                         for c in xd.iterchildren(_X509_CERTIFICATE))
    if not certificates:
        raise _Invalid(Code.SIGNATURE_MALFORMED, "KeyInfo carries no X509Certificate", where(sig))
    return _Parts(
        signed_info=signed_info,
        c14n_uri=c14n,
        c14n_prefixes=_prefixes(c14n_el),
        reference_c14n_uri=next((t for t in transforms if t != _ENVELOPED), None),
        reference_prefixes=next((_prefixes(t) for t in transform_els if t.get("Algorithm") != _ENVELOPED), None),
        method=method,
        digest=digest,
        digest_value=_b64(_one(ref, _DIGEST_VALUE)),
        signature_value=_b64(_one(sig, _SIGNATURE_VALUE)),
        certificates=certificates,
    )


@dataclass(frozen=True, slots=True)
class _Cert:
    """A certificate as read once (they repeat, one per agency), with what is decided from it alone."""

    cert: x509.Certificate
    fingerprint: str
    subject: str
    agency: str | None
    not_before: datetime
    not_after: datetime
    signer_refusal: tuple[Code, str] | None
    """Why it may not sign documents (:func:`_check_signer`), or None."""

    def check(self, at: datetime) -> None:
        """Raise :class:`_Invalid` unless this certificate may sign documents and is valid at ``at``."""
        if at < self.not_before:
            raise _Invalid(Code.SIGNATURE_CERT_NOT_YET_VALID, f"valid from {iso(self.not_before)}")
        if at > self.not_after:
            raise _Invalid(Code.SIGNATURE_CERT_EXPIRED, f"expired {iso(self.not_after)}")
        if self.signer_refusal is not None:
            raise _Invalid(*self.signer_refusal)


@functools.lru_cache(maxsize=4096)
def _load_cert(b64: str) -> _Cert:
    """Certificates repeat (one per agency), so parse each once; ValueError when unreadable."""
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(b64.split()), validate=True))
    except x509.InvalidVersion as exc:  # not a ValueError
        raise ValueError(f"X.509 version: {exc}") from None
    try:  # cryptography parses the key and the names only when asked: read them now, not in the middle of verifying
        cert.public_key()
        cert.issuer  # ValueError when unreadable, like the subject below
    except UnsupportedAlgorithm as exc:
        raise ValueError(f"its public key cannot be used: {exc}") from None
    try:
        _check_signer(cert)
        refusal = None
    except _Invalid as exc:
        refusal = (exc.problem.code, exc.problem.detail)
    return _Cert(cert, fingerprint(cert), cert.subject.rfc4514_string(), agency_of(cert),
                 cert.not_valid_before_utc, cert.not_valid_after_utc, refusal)


def _certificates(els: tuple[etree._Element, ...]) -> tuple[_Cert, list[x509.Certificate]]:
    """The signing certificate and the others in KeyInfo (intermediates)."""
    certs = []
    for el in els:
        try:
            certs.append(_load_cert(el.text or ""))
        except (ValueError, binascii.Error) as exc:
            raise _Invalid(Code.SIGNATURE_MALFORMED, f"an X509Certificate cannot be read ({exc})", where(el)) from None
    if len(certs) == 1:
        return certs[0], []
    # The signer is the certificate that issues none of the others; a self-signed root never is.
    issuers = {c.cert.issuer for c in certs}
    leaf = next((c for c in certs if c.cert.subject not in issuers and c.cert.subject != c.cert.issuer), certs[0])
    return leaf, [c.cert for c in certs if c is not leaf]


MIN_RSA_BITS = 2048
CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
# Purposes that allow signing documents; a certificate that lists serverAuth and none of these is a web server's.
_SIGNING_PURPOSES = {x509.ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ExtendedKeyUsageOID.CODE_SIGNING,
                     x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")}


def _check_signer(leaf: x509.Certificate) -> None:
    """What the signing certificate itself must be, however it is trusted (a pin included): an end entity with
    a key of today's strength, not a CA's key and not a web server's certificate."""
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise _Invalid(Code.SIGNATURE_ALGORITHM, f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})")
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, CURVES):
        raise _Invalid(Code.SIGNATURE_ALGORITHM, f"an EC key on {key.curve.name} (P-256, P-384 or P-521)")
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise _Invalid(Code.SIGNATURE_UNTRUSTED, "a CA's certificate: an issuing key does not sign documents")
    except x509.ExtensionNotFound:
        pass
    try:
        purposes = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return
    if x509.ExtendedKeyUsageOID.SERVER_AUTH in purposes and not purposes & _SIGNING_PURPOSES:
        raise _Invalid(Code.SIGNATURE_UNTRUSTED, "a web server's certificate (extended key usage serverAuth)")


def _crypto(data: bytes, leaf: x509.Certificate, method: SignatureMethod, digest: DigestAlgorithm, at: datetime
            ) -> etree._Element:
    """signxml checks digest and signature value; returns the signed content, re-parsed from its canonical form."""
    config = SignatureConfiguration(
        location=f"{_HDR}/", expect_references=1, signature_methods=frozenset({method}),
        digest_algorithms=frozenset({digest}), verification_time=at,
    )
    try:
        # signxml canonicalises what it parses: give it a parser that keeps comments and PIs
        parser = thread_parser(huge=len(data) > HUGE_THRESHOLD, keep_comments=True)
        result = Verifier().verify(data, x509_cert=leaf, expect_config=config, parser=parser)
    except InvalidDigest as exc:
        raise _Invalid(Code.SIGNATURE_DIGEST_MISMATCH, str(exc)) from None
    except InvalidSignature as exc:
        raise _Invalid(Code.SIGNATURE_BAD_VALUE, str(exc)) from None
    except InvalidCertificate as exc:
        raise _Invalid(Code.SIGNATURE_UNTRUSTED, str(exc)) from None
    except (InvalidInput, SignXMLException, etree.DocumentInvalid, etree.XMLSyntaxError, ValueError) as exc:
        raise _Invalid(Code.SIGNATURE_MALFORMED, str(exc)) from None
    except Exception as exc:  # third-party code on hostile input: a failure to verify, never a crash
        log.warning("signxml failed on a signature: %r", exc)
        raise _Invalid(Code.SIGNATURE_MALFORMED, f"the signature cannot be processed ({type(exc).__name__})") from None
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None:
        raise _Invalid(Code.SIGNATURE_MALFORMED, "the signed content is not XML")
    return signed


_HASHES: dict[str, hashes.HashAlgorithm] = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                                              "sha512": hashes.SHA512(), "sha1": hashes.SHA1()}


def _hash_name(alg: SignatureMethod | DigestAlgorithm) -> str:
    return alg.name.rsplit("_", 1)[-1].lower()


def _needs_faithful_tree(data: bytes, parts: _Parts) -> bool:
    """True when the reader's tree (no PIs) is not what the canonical form is made of."""
    head = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    # the declaration is the very first thing, and is ``<?xml`` then a space: ``<?xml-stylesheet`` is a PI
    declarations = 1 if head.startswith(b"<?xml") and head[5:6] in (b" ", b"\t", b"\r", b"\n") else 0
    return data.count(b"<?") > declarations


def _keeps_comments(uri: str | None) -> bool:
    return uri is not None and uri.endswith("#WithComments")


def _signed_info_with_comments(data: bytes, loc: Located, parts: _Parts) -> etree._Element:
    """SignedInfo in the package parsed again keeping its comments (the reader's tree has none)."""
    root = etree.fromstring(data, thread_parser(huge=len(data) > HUGE_THRESHOLD, keep_comments=True))
    found = root.find(loc.root.getroottree().getelementpath(parts.signed_info))
    if found is None:  # the two parses differ only by comments: this cannot happen, and must not pass quietly
        raise _Invalid(Code.SIGNATURE_MALFORMED, "SignedInfo is not where it was when the package was read")
    return found


def _for_signxml(data: bytes, loc: Located, parts: _Parts) -> bytes:
    """The package as signxml must verify it: ``URI=""`` digests the document without its comments (XML-DSig 4.3.3.3),
    but signxml digests them under a ``#WithComments`` transform.  They are taken out, but for those inside
    SignedInfo (signed under a ``#WithComments`` CanonicalizationMethod); a removed comment's following text joins
    the text before it, as in the reader's tree."""
    if not _keeps_comments(parts.reference_c14n_uri) or b"<!--" not in data:
        return data
    signed_info = _signed_info_with_comments(data, loc, parts)
    root = signed_info.getroottree().getroot()
    kept = set(signed_info.iter(etree.Comment))
    for comment in [c for c in root.iter(etree.Comment) if c not in kept]:
        parent, previous, tail = comment.getparent(), comment.getprevious(), comment.tail or ""
        assert parent is not None  # the root's own siblings are not under it
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
        parent.remove(comment)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _check_no_outer_instructions(data: bytes) -> None:
    """Refuse processing instructions before or after the root element.  ``URI=""`` signs them (Canonical XML
    writes them, and xmlsec1, Santuario and .NET digest them), but signxml canonicalises the root element alone
    and the reader's parser drops them: one could be added to a signed package unnoticed by axis and refused by
    the recipient's verifier.  axis cannot verify such a package either way, so it says so."""
    root = etree.fromstring(data, thread_parser(huge=len(data) > HUGE_THRESHOLD, keep_comments=True))
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise _Invalid(Code.SIGNATURE_MALFORMED, f"a processing instruction outside the root element "
                           f"(<?{sibling.target} ...?>): verifiers disagree on whether it is signed")


def _c14n(node: etree._Element, uri: str | None, prefixes: tuple[str, ...] | None = None) -> bytes:
    exclusive = uri is not None and uri.startswith("http://www.w3.org/2001/10/xml-exc-c14n#")
    try:  # with comments where the tree has them (the reader's has none)
        with standalone(node, uri):  # SignedInfo: the xml:* attributes of its ancestors, as C14N writes a subset
            return etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=_keeps_comments(uri),
                                  inclusive_ns_prefixes=list(prefixes) if exclusive and prefixes else None)
    except etree.C14NError as exc:  # a relative namespace URI, which C14N must refuse
        raise _Invalid(Code.SIGNATURE_MALFORMED, f"the package cannot be canonicalised ({exc})") from None


def _digest_of_tree(root: etree._Element, sig: etree._Element, c14n_uri: str | None,
                    prefixes: tuple[str, ...] | None, digest: DigestAlgorithm) -> bytes:
    """The enveloped-signature transform on our own tree: canonicalise it with ``sig`` taken out, then put it back."""
    parent = sig.getparent()
    assert parent is not None
    index = parent.index(sig)
    previous = sig.getprevious()
    tail = sig.tail
    parent.remove(sig)
    if tail:  # the text after the signature stays in the document
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    try:
        return _canonical_digest(root, c14n_uri, prefixes, digest)
    finally:
        if tail:
            if previous is not None:
                previous.tail = previous.tail[: len(previous.tail) - len(tail)] or None  # type: ignore[index]
            else:
                parent.text = parent.text[: len(parent.text) - len(tail)] or None  # type: ignore[index]
        parent.insert(index, sig)
        sig.tail = tail


_SPLICE_MIN = 64 * 1024
_CONTENT_TRANSFER = q("ContentTransferEncoded")


def _canonical_digest(root: etree._Element, c14n_uri: str | None, prefixes: tuple[str, ...] | None,
                      digest: DigestAlgorithm) -> bytes:
    """Hash of the canonical form, without making libxml2 escape megabytes of base64 char by char.

    Canonicalisation changes a text node only by escaping ``& < > \\r``; a base64 attachment
    has none, so its canonical bytes are its ASCII bytes.  We canonicalise the tree with
    each such long text replaced by a marker and feed the hash the pieces with the texts
    spliced back in.  Anything unexpected falls back to canonicalising everything.
    """
    hasher = hashlib.new(_hash_name(digest))
    big = [el for el in root.iter(_CONTENT_TRANSFER)
           if el.text is not None and len(el.text) >= _SPLICE_MIN and el.text.isascii()
           and not any(c in el.text for c in "&<>\r")]
    if big:
        marker = f"axis-splice-{secrets.token_hex(16)}"
        texts = [el.text or "" for el in big]
        try:
            for el in big:
                el.text = marker
            canonical = _c14n(root, c14n_uri, prefixes)
        finally:
            for el, text in zip(big, texts):
                el.text = text
        pieces = canonical.split(marker.encode("ascii"))
        if len(pieces) == len(texts) + 1:
            for piece, text in zip(pieces, texts):
                hasher.update(piece)
                hasher.update(text.encode("ascii"))
            hasher.update(pieces[-1])
            return hasher.digest()
    hasher.update(_c14n(root, c14n_uri, prefixes))
    return hasher.digest()


def _verify_value(leaf: x509.Certificate, method: SignatureMethod, signed_info: bytes, value: bytes) -> None:
    key = leaf.public_key()
    algorithm = _HASHES[_hash_name(method)]
    try:
        if method.name.startswith("RSA_") and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, signed_info, padding.PKCS1v15(), algorithm)
        elif method.name.startswith("ECDSA_") and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(value) // 2  # XML-DSig writes r || s, cryptography wants DER
            if len(value) % 2 or half * 8 < key.curve.key_size:
                raise _Invalid(Code.SIGNATURE_BAD_VALUE, f"an ECDSA value of {len(value)} bytes")
            der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
            key.verify(der, signed_info, ec.ECDSA(algorithm))
        else:
            raise _Invalid(Code.SIGNATURE_MALFORMED, f"{method.name} does not match the certificate's key type")
    except CryptoInvalidSignature:
        raise _Invalid(Code.SIGNATURE_BAD_VALUE, "the SignatureValue does not verify with the certificate") from None


def _signed_info_as_signed(data: bytes, loc: Located, parts: _Parts) -> etree._Element:
    """SignedInfo as its CanonicalizationMethod reads it: under ``#WithComments``, with the comments inside it, which
    the reader's tree does not keep (they are signed: one added or removed breaks the SignatureValue)."""
    if not _keeps_comments(parts.c14n_uri) or b"<!--" not in data:
        return parts.signed_info
    return _signed_info_with_comments(data, loc, parts)


def _lean_crypto(data: bytes, loc: Located, sig: etree._Element, leaf: x509.Certificate, parts: _Parts) -> None:
    _verify_value(leaf, parts.method, _c14n(_signed_info_as_signed(data, loc, parts), parts.c14n_uri,
                                            parts.c14n_prefixes), parts.signature_value)
    if _digest_of_tree(loc.root, sig, parts.reference_c14n_uri, parts.reference_prefixes,
                       parts.digest) != parts.digest_value:
        raise _Invalid(Code.SIGNATURE_DIGEST_MISMATCH, "the digest of the package differs from the signed DigestValue")


def check(data: bytes, loc: Located, sender: str | None, trust: TrustStore, at: datetime,
          options: SignatureOptions = SignatureOptions()) -> SignatureVerdict:
    """Classify the package's signature and, for an XML-DSig one, verify it completely."""
    candidates = list(loc.root.iter(f"{{{DSIG_NS}}}Signature", q("Signature"), q("DigitalSignature")))
    empty_markers = [c for c in candidates if local_name(c) == "DigitalSignature" and len(c) == 0
                     and not (c.text or "").strip()]
    candidates = [c for c in candidates if c not in empty_markers]
    if not candidates:
        note = "an empty DigitalSignature element (.NET SDK)" if empty_markers else None
        return SignatureVerdict(SignatureClass.ABSENT, note=note)
    dsig = [c for c in candidates if c.tag == f"{{{DSIG_NS}}}Signature"]
    if not dsig:
        if any(_is_placeholder(c) for c in candidates):
            return SignatureVerdict(SignatureClass.PLACEHOLDER, note="the SDKVXP example's fixed signature block")
        return SignatureVerdict(SignatureClass.NONSTANDARD,
                                note=f"<{local_name(candidates[0])}> outside the XML-DSig namespace cannot be verified")
    if len(candidates) > 1:
        problem = Problem(Code.SIGNATURE_WRAPPING, f"{len(candidates)} signature elements; axis accepts exactly one",
                          where(candidates[1]))
        return SignatureVerdict(SignatureClass.INVALID, problem=problem)
    sig = dsig[0]
    if _is_placeholder(sig):
        return SignatureVerdict(SignatureClass.PLACEHOLDER, note="the SDKVXP example's fixed signature block")
    method_uri = digest_uri = None
    leaf: _Cert | None = None
    try:
        parts = _dissect(sig, loc, options)
        method_uri, digest_uri = parts.method.value, parts.digest.value
        leaf, intermediates = _certificates(parts.certificates)
        leaf.check(at)
        if _needs_faithful_tree(data, parts):
            _check_no_outer_instructions(data)
            if inherited(parts.signed_info, parts.c14n_uri):
                # signxml canonicalises SignedInfo as lxml does, without them: it would call a standard signature
                # invalid, and one made as lxml reads it valid.
                raise _Invalid(Code.SIGNATURE_MALFORMED, "processing instructions in a package whose SignedInfo "
                               "inherits xml:* attributes (xml:lang, xml:space, xml:base): axis cannot verify both")
            signed_root = _crypto(_for_signxml(data, loc, parts), leaf.cert, parts.method, parts.digest, at)
            if identity_fields(signed_root) != identity_fields(loc.root):
                raise _Invalid(Code.SIGNATURE_WRAPPING, "the fields axis routes on differ from the signed content")
        else:
            _lean_crypto(data, loc, sig, leaf.cert, parts)
        basis, why = trust.evaluate(leaf.cert, intermediates, sender, at, leaf_fingerprint=leaf.fingerprint)
        if basis is None:
            raise _Invalid(Code.SIGNATURE_UNTRUSTED, why)
        bound = leaf.agency
        if bound is not None and sender is not None and not same_agency(bound, sender):
            raise _Invalid(Code.SIGNATURE_SIGNER_MISMATCH,
                           f"the certificate is issued to {bound}, the sender is {sender}")
    except _Invalid as exc:
        problem = exc.problem
        if problem.where == Where():
            problem = Problem(problem.code, problem.detail, where(sig))
        return _verdict(SignatureClass.INVALID, leaf, method_uri, digest_uri, problem=problem)
    warnings = []
    if leaf.agency is None and basis == "ca":
        warnings.append(Problem(Code.SIGNATURE_UNBOUND_SIGNER, leaf.subject, where(sig)))
    if "sha1" in f"{method_uri}{digest_uri}":
        warnings.append(Problem(Code.SIGNATURE_LEGACY_SHA1, f"{method_uri} / {digest_uri}", where(sig)))
    return _verdict(SignatureClass.VALID, leaf, method_uri, digest_uri, trust=basis, warnings=tuple(warnings))


def _verdict(cls: SignatureClass, leaf: _Cert | None, method: str | None, digest: str | None,
             **kwargs: Any) -> SignatureVerdict:
    return SignatureVerdict(
        cls,
        signature_method=method,
        digest_method=digest,
        signer_subject=leaf.subject if leaf is not None else None,
        signer_fingerprint=leaf.fingerprint if leaf is not None else None,
        signer_agency=leaf.agency if leaf is not None else None,
        **kwargs,
    )
