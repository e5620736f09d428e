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

Crypto (canonicalisation, digests, signature values) is signxml's; the structure
rules that defeat signature wrapping, the algorithm policy and the trust decision
are ours, checked before and after, so that each failure has its own reason.
"""

from __future__ import annotations

import base64
import binascii
import enum
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature, SignXMLException

from axis.agencycode import same_agency
from axis.edxml.names import DSIG_NS, element_path, local_name, q, where
from axis.edxml.reader import Located
from axis.edxml.xmlsafe import HUGE_THRESHOLD
from axis.errors import Code, Problem, Where
from axis.signature.trust import TrustBasis, TrustStore, agency_of, fingerprint

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
    signature_method: str | None = None
    digest_method: str | None = None
    signer_subject: str | None = None
    signer_fingerprint: str | None = None
    signer_agency: str | None = None
    trust: TrustBasis | None = None

    @property
    def reason(self) -> str | None:
        return self.problem.code.code if self.problem else None

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
    """From, To, DocumentId, ResponseFor, StatusCode and the whole Bussiness block, as text."""
    fields: list[Any] = [tuple("".join(el.itertext()).strip() for el in root.iterfind(p)) for p in _IDENTITY_PATHS]
    fields.extend(
        tuple((local_name(e), (e.text or "").strip()) for b in root.iterfind(p) for e in b.iter())
        for p in _BUSINESS_PATHS
    )
    return tuple(fields)


_local = threading.local()


def _verifier_parser(huge: bool) -> etree.XMLParser:
    """Like the reader's hardened parser, but keeping comments: signxml canonicalises what it parses."""
    key = "huge" if huge else "normal"
    parser = getattr(_local, key, None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=huge,
                                 collect_ids=False, remove_blank_text=False)
        setattr(_local, key, parser)
    return parser


def _is_placeholder(sig: etree._Element) -> bool:
    for el in sig.iter():
        name = local_name(el)
        text = "".join((el.text or "").split())
        if name == "SignatureValue" and text == PLACEHOLDER_SIGNATURE_VALUE:
            return True
        if name == "X509Certificate" and text == PLACEHOLDER_CERTIFICATE:
            return True
    return False


def _ds(el: etree._Element, path: str) -> list[etree._Element]:
    return el.findall(path, namespaces={"ds": DSIG_NS})


def _one_ds(el: etree._Element, path: str) -> etree._Element:
    found = _ds(el, path)
    if len(found) != 1:
        raise _Invalid(Code.SIGNATURE_MALFORMED, f"expected one {path}, found {len(found)}", where(el))
    return found[0]


def _check_structure(sig: etree._Element, loc: Located, options: SignatureOptions
                     ) -> tuple[SignatureMethod, DigestAlgorithm]:
    """Wrapping defences and algorithm policy, before any crypto."""
    if sig.getparent() is not loc.header:
        raise _Invalid(Code.SIGNATURE_WRAPPING,
                       f"the signature is at {element_path(sig)}; it must be a direct child of edXMLHeader", where(sig))
    signed_info = _one_ds(sig, "ds:SignedInfo")
    c14n = _one_ds(signed_info, "ds:CanonicalizationMethod").get("Algorithm")
    method_uri = _one_ds(signed_info, "ds:SignatureMethod").get("Algorithm")
    refs = _ds(signed_info, "ds:Reference")
    if len(refs) != 1:
        raise _Invalid(Code.SIGNATURE_WRAPPING, f"the signature has {len(refs)} references; axis requires one, "
                       "covering the whole package", where(signed_info))
    ref = refs[0]
    if ref.get("URI") != "":
        raise _Invalid(Code.SIGNATURE_WRAPPING, f"the reference URI is {ref.get('URI')!r}; it must be \"\" "
                       "(the whole package)", where(ref))
    transforms = [t.get("Algorithm") for t in _ds(ref, "ds:Transforms/ds:Transform")]
    if _ENVELOPED not in transforms:
        raise _Invalid(Code.SIGNATURE_MALFORMED, "the reference lacks the enveloped-signature transform", where(ref))
    for uri in [c14n, *transforms]:
        if uri != _ENVELOPED and uri not in _C14N:
            raise _Invalid(Code.SIGNATURE_ALGORITHM, f"transform or canonicalisation {uri!r} is not allowed",
                           where(signed_info))
    digest_uri = _one_ds(ref, "ds:DigestMethod").get("Algorithm")
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
    return method, digest


def _certificates(sig: etree._Element) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The signing certificate and the others in KeyInfo (intermediates)."""
    els = _ds(sig, "ds:KeyInfo/ds:X509Data/ds:X509Certificate")
    if not els:
        raise _Invalid(Code.SIGNATURE_MALFORMED, "KeyInfo carries no X509Certificate", where(sig))
    certs = []
    for el in els:
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split()),
                                                                         validate=True)))
        except (ValueError, binascii.Error) as exc:
            raise _Invalid(Code.SIGNATURE_MALFORMED, f"an X509Certificate cannot be read ({exc})", where(el)) from None
    issuers = {c.issuer for c in certs}
    leaves = [c for c in certs if c.subject not in issuers or c.subject == c.issuer] or certs
    leaf = leaves[0]
    return leaf, [c for c in certs if c is not leaf]


def _check_validity(leaf: x509.Certificate, at: datetime) -> None:
    if at < leaf.not_valid_before_utc:
        raise _Invalid(Code.SIGNATURE_CERT_NOT_YET_VALID, f"valid from {leaf.not_valid_before_utc.isoformat()}")
    if at > leaf.not_valid_after_utc:
        raise _Invalid(Code.SIGNATURE_CERT_EXPIRED, f"expired {leaf.not_valid_after_utc.isoformat()}")


def _crypto(data: bytes, leaf: x509.Certificate, method: SignatureMethod, digest: DigestAlgorithm, at: datetime
            ) -> etree._Element:
    """signxml checks digest and signature value; returns the signed content, re-parsed from its canonical form."""
    config = SignatureConfiguration(
        location=f"{_HDR}/", expect_references=1, signature_methods=frozenset({method}),
        digest_algorithms=frozenset({digest}), verification_time=at,
    )
    try:
        result = XMLVerifier().verify(data, x509_cert=leaf, expect_config=config,
                                      parser=_verifier_parser(len(data) > HUGE_THRESHOLD))
    except InvalidDigest as exc:
        raise _Invalid(Code.SIGNATURE_DIGEST_MISMATCH, str(exc)) from None
    except InvalidSignature as exc:
        raise _Invalid(Code.SIGNATURE_BAD_VALUE, str(exc)) from None
    except InvalidCertificate as exc:
        raise _Invalid(Code.SIGNATURE_UNTRUSTED, str(exc)) from None
    except (InvalidInput, SignXMLException, etree.DocumentInvalid, etree.XMLSyntaxError, ValueError) as exc:
        raise _Invalid(Code.SIGNATURE_MALFORMED, str(exc)) from None
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None:
        raise _Invalid(Code.SIGNATURE_MALFORMED, "the signed content is not XML")
    return signed


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
    leaf: x509.Certificate | None = None
    try:
        method, digest = _check_structure(sig, loc, options)
        method_uri, digest_uri = method.value, digest.value
        leaf, intermediates = _certificates(sig)
        _check_validity(leaf, at)
        signed_root = _crypto(data, leaf, method, digest, at)
        if identity_fields(signed_root) != identity_fields(loc.root):
            raise _Invalid(Code.SIGNATURE_WRAPPING, "the fields axis routes on differ from the signed content")
        basis, why = trust.evaluate(leaf, intermediates, sender, at)
        if basis is None:
            raise _Invalid(Code.SIGNATURE_UNTRUSTED, why)
        bound = agency_of(leaf)
        if bound is not None and sender is not None and not same_agency(bound, sender):
            raise _Invalid(Code.SIGNATURE_SIGNER_MISMATCH, f"the certificate is issued to {bound}, the sender is {sender}")
    except _Invalid as exc:
        problem = exc.problem
        if problem.where == Where():
            problem = Problem(problem.code, problem.detail, where(sig))
        return _verdict(SignatureClass.INVALID, leaf, method_uri, digest_uri, problem=problem)
    return _verdict(SignatureClass.VALID, leaf, method_uri, digest_uri, trust=basis,
                    note="legacy SHA-1 accepted" if "sha1" in f"{method_uri}{digest_uri}" else None)


def _verdict(cls: SignatureClass, leaf: x509.Certificate | None, method: str | None, digest: str | None,
             **kwargs: Any) -> SignatureVerdict:
    return SignatureVerdict(
        cls,
        signature_method=method,
        digest_method=digest,
        signer_subject=leaf.subject.rfc4514_string() if leaf is not None else None,
        signer_fingerprint=fingerprint(leaf) if leaf is not None else None,
        signer_agency=agency_of(leaf) if leaf is not None else None,
        **kwargs,
    )
