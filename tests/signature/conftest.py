"""Shared material for the signature tests: a throw-away PKI and a kit to build, sign and tamper with packages.

Keys are generated once per session (RSA key generation is the slow part) and only in
memory; nothing here is written to the repository.  Every signature is real: signed
with :func:`axis.signature.sign.sign_package` or, where a test needs a shape axis does
not produce itself (SHA-1, other canonicalisations, another certificate order), with
signxml directly, placed the way ``sign.py`` places it.
"""

from __future__ import annotations

import base64
import json
import os
import random
import types
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from packages import full_edoc
from signxml import SignatureConfiguration, XMLSigner, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidSignature

from axis.edxml import reader, xmlsafe
from axis.signature import pki
from axis.signature.pki import Issued
from axis.signature.sign import sign_package
from axis.signature.trust import TrustStore
from axis.signature.verify import SignatureClass, SignatureOptions, SignatureVerdict
from axis.signature.verify import check as check_signature
from axis.verdict import Checker, CheckOptions, Verdict
from axis.vntime import VN_TZ

QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
SENDER = "000.00.00.G22"
HEADER_LOCATION = f"{{{QCVN}}}edXMLEnvelope/{{{QCVN}}}edXMLHeader/"
"""signxml's ``SignatureConfiguration.location`` for a signature that is a child of edXMLHeader."""

REPO = Path(__file__).resolve().parents[2]

FROM_ELEMENT = b"<edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:OrganName>"
"""The From/OrganId of PACKAGE, unique in it (G22 also appears in DocumentId and the TraceHeader)."""


def pdf_bytes(size: int, seed: int = 2026) -> bytes:
    return b"%PDF-1.7\n" + random.Random(seed).randbytes(size)


def package(attachment: bytes | None = None) -> bytes:
    """An unsigned, well-formed, schema-valid document package from 000.00.00.G22."""
    return full_edoc(pdf_bytes(300) if attachment is None else attachment)


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace ``old`` by ``new`` where ``old`` occurs exactly once: a mutation that surely happened, in one place."""
    assert data.count(old) == 1, f"{old!r} occurs {data.count(old)} times"
    assert old != new
    return data.replace(old, new)


# ----------------------------------------------------------------------------- trees


def tree(data: bytes) -> etree._Element:
    """Parse keeping comments and processing instructions, so that re-serialising changes nothing that matters."""
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                                  remove_blank_text=False))


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def mutate(data: bytes, change: Callable[[etree._Element], Any]) -> bytes:
    root = tree(data)
    change(root)
    out = serialize(root)
    assert out != data
    return out


def header(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{QCVN}}}edXMLEnvelope/{{{QCVN}}}edXMLHeader")
    assert found is not None
    return found


def message_header(root: etree._Element) -> etree._Element:
    found = header(root).find(f"{{{QCVN}}}MessageHeader")
    assert found is not None
    return found


def signature(root: etree._Element) -> etree._Element:
    """The one ds:Signature of a package, wherever it is."""
    found = list(root.iter(f"{{{DSIG}}}Signature"))
    assert len(found) == 1, f"{len(found)} ds:Signature elements"
    return found[0]


def ds(parent: etree._Element, local: str) -> etree._Element:
    """The first ds:``local`` below ``parent``."""
    found = parent.find(f".//{{{DSIG}}}{local}")
    assert found is not None, local
    return found


def flip_base64(el: etree._Element, index: int = 10) -> None:
    """Change one bit of the bytes that the base64 text of ``el`` encodes."""
    raw = bytearray(base64.b64decode("".join((el.text or "").split())))
    raw[index] ^= 0x01
    el.text = base64.b64encode(bytes(raw)).decode("ascii")


def signatures_in(data: bytes) -> list[etree._Element]:
    """Every element that could be a signature: ds:Signature, and Signature/DigitalSignature in the QCVN namespace."""
    root = tree(data)
    return list(root.iter(f"{{{DSIG}}}Signature", f"{{{QCVN}}}Signature", f"{{{QCVN}}}DigitalSignature"))


def canonical(el: etree._Element) -> bytes:
    return etree.tostring(el, method="c14n", exclusive=False, with_comments=False)


# ----------------------------------------------------------------------------- signing by other means


class _LegacySigner(XMLSigner):
    """signxml refuses to *make* SHA-1 signatures; legacy agencies still do, so tests need some."""

    def check_deprecated_methods(self) -> None:
        return None


def sign_with_signxml(data: bytes, signer: Issued, *, method: SignatureMethod = SignatureMethod.RSA_SHA256,
                      digest: DigestAlgorithm = DigestAlgorithm.SHA256,
                      c14n: CanonicalizationMethod = CanonicalizationMethod.CANONICAL_XML_1_0,
                      certificates: Iterable[x509.Certificate] | None = None) -> bytes:
    """An enveloped ``URI=""`` signature, placed as sign.py does: ds:Signature Id="placeholder" last in the header."""
    root = tree(data)
    etree.SubElement(header(root), f"{{{DSIG}}}Signature", nsmap={"ds": DSIG}, Id="placeholder")
    certs = list(certificates) if certificates is not None else [signer.cert, *signer.chain]
    xml_signer = _LegacySigner(signature_algorithm=method, digest_algorithm=digest, c14n_algorithm=c14n)
    signed = xml_signer.sign(root, key=signer.key, cert=[c.public_bytes(Encoding.PEM).decode("ascii") for c in certs])
    return serialize(signed)


def resign_signed_info(root: etree._Element, signer: Issued) -> None:
    """Recompute SignatureValue over the (changed) SignedInfo, inclusive C14N 1.0, RSA-SHA256: a signer signing it."""
    sig = signature(root)
    signed_info = ds(sig, "SignedInfo")
    assert ds(signed_info, "CanonicalizationMethod").get("Algorithm") == CanonicalizationMethod.CANONICAL_XML_1_0.value
    assert isinstance(signer.key, rsa.RSAPrivateKey)
    value = signer.key.sign(canonical(signed_info), padding.PKCS1v15(), hashes.SHA256())
    ds(sig, "SignatureValue").text = base64.b64encode(value).decode("ascii")


# ----------------------------------------------------------------------------- the test PKI


@dataclass(frozen=True)
class Pki:
    ca: Issued
    agency: Issued
    """000.00.00.G22 (the sender of PACKAGE), RSA, issued by ``ca``."""
    agency_ec: Issued
    """000.00.00.G22, ECDSA P-256, issued by ``ca``."""
    other_agency: Issued
    """000.00.00.H41, issued by ``ca``: a recipient, not the sender."""
    no_usage: Issued
    """000.00.00.G22 without digitalSignature/nonRepudiation."""
    expired: Issued
    not_yet_valid: Issued
    foreign_ca: Issued
    foreign_agency: Issued
    """000.00.00.G22, issued by ``foreign_ca``, which no test trust store holds unless it says so."""

    @property
    def trust(self) -> TrustStore:
        return TrustStore(cas=(self.ca.cert,))


@pytest.fixture(scope="session")
def test_pki() -> Pki:
    now = datetime.now(VN_TZ)
    ca = pki.create_ca("axis signature tests root CA")
    foreign_ca = pki.create_ca("somebody else's CA")
    return Pki(
        ca=ca,
        agency=pki.issue(ca, SENDER, "Văn phòng Chính phủ"),
        agency_ec=pki.issue(ca, SENDER, "Văn phòng Chính phủ (EC)", key_kind="ec"),
        other_agency=pki.issue(ca, "000.00.00.H41", "UBND tỉnh Nghệ An"),
        no_usage=pki.issue(ca, SENDER, signing_usage=False),
        expired=pki.issue(ca, SENDER, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)),
        not_yet_valid=pki.issue(ca, SENDER, not_before=now + timedelta(days=1), not_after=now + timedelta(days=400)),
        foreign_ca=foreign_ca,
        foreign_agency=pki.issue(foreign_ca, SENDER),
    )


@pytest.fixture(scope="session")
def signed(test_pki: Pki) -> bytes:
    """PACKAGE signed by the sender's RSA certificate with axis's own signer."""
    return sign_package(package(), test_pki.agency)


@pytest.fixture(scope="session")
def signed_pi(test_pki: Pki) -> bytes:
    """A package with a processing instruction inside the root, signed: it is verified through signxml."""
    data = replace_once(package(), b"<edXML:edXMLEnvelope ", b"<?axis-note routed by test?>\n  <edXML:edXMLEnvelope ")
    out = sign_package(data, test_pki.agency)
    assert b"<?axis-note routed by test?>" in out
    return out


# ----------------------------------------------------------------------------- judging


def judge(data: bytes, trust: TrustStore, *, clock: Callable[[], datetime] | None = None,
          options: CheckOptions = CheckOptions()) -> Verdict:
    """The whole pipeline, as the command line and the doors run it."""
    if clock is None:
        return Checker(trust, options).check(data)
    return Checker(trust, options, clock=clock).check(data)


def signxml_accepts(data: bytes, cert: Any) -> bool:
    """signxml's own opinion, with the certificate given and the signature where axis requires it."""
    config = SignatureConfiguration(location=HEADER_LOCATION, expect_references=1)
    try:
        XMLVerifier().verify(data, x509_cert=cert, expect_config=config)
    except (InvalidDigest, InvalidSignature):
        return False
    return True


def verify_only(data: bytes, trust: TrustStore, *, sender: str | None = SENDER, at: datetime | None = None,
                options: SignatureOptions = SignatureOptions()) -> SignatureVerdict:
    """``axis.signature.verify.check`` alone, on the tree the reader parses."""
    loc = reader.locate(xmlsafe.parse(data).root)
    return check_signature(data, loc, sender, trust, at or datetime.now(VN_TZ), options)


def assert_refused(verdict: Verdict, code: str) -> None:
    """The signature is ``invalid`` for exactly ``code``, the verdict carries that error, and it is not acceptable."""
    sig = verdict.signature
    assert sig is not None, verdict.to_dict()
    assert sig.cls is SignatureClass.INVALID, verdict.to_dict()
    assert sig.reason == code, verdict.to_dict()
    assert code in [p.code.code for p in verdict.errors], verdict.to_dict()
    assert not verdict.acceptable


def assert_valid(verdict: Verdict, trust_basis: str = "ca") -> None:
    sig = verdict.signature
    assert sig is not None, verdict.to_dict()
    assert sig.cls is SignatureClass.VALID, verdict.to_dict()
    assert sig.problem is None and sig.reason is None
    assert sig.trust == trust_basis, verdict.to_dict()
    assert verdict.acceptable, verdict.to_dict()


# ----------------------------------------------------------------------------- interop samples


def interop_dir() -> Path | None:
    env = os.environ.get("AXIS_INTEROP_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "interop"
    return path if (path / "expected.json").is_file() else None


NO_INTEROP = "interop samples not found (set AXIS_INTEROP_DIR or provide ../shared/interop/ next to the project)"


@pytest.fixture(scope="session")
def interop() -> Path:
    path = interop_dir()
    if path is None:
        pytest.skip(NO_INTEROP)
    return path


def interop_expected() -> dict[str, Any]:
    path = interop_dir()
    if path is None:
        return {}
    data: dict[str, Any] = json.loads((path / "expected.json").read_text(encoding="utf-8"))
    return {name: info for name, info in data.items() if not name.startswith("_")}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``interop_sample``: (relative name, expected reading) of each well-formed public sample."""
    if "interop_sample" not in metafunc.fixturenames:
        return
    samples = sorted((name, info) for name, info in interop_expected().items() if info.get("wellformed"))
    if not samples:
        metafunc.parametrize("interop_sample", [pytest.param(None, marks=pytest.mark.skip(reason=NO_INTEROP))],
                             ids=["no-interop-samples"])
        return
    metafunc.parametrize("interop_sample", samples, ids=[name.rpartition("/")[2] for name, _ in samples])


# ----------------------------------------------------------------------------- the kit


@pytest.fixture(scope="session")
def kit() -> types.SimpleNamespace:
    """The helpers above, for test modules (which do not import conftest: its module name is not unique)."""
    names = (
        "QCVN", "DSIG", "SENDER", "HEADER_LOCATION", "FROM_ELEMENT", "package", "pdf_bytes", "replace_once", "tree",
        "serialize", "mutate", "header", "message_header", "signature", "ds", "flip_base64", "signatures_in",
        "canonical", "sign_with_signxml", "resign_signed_info", "judge", "verify_only", "assert_refused",
        "assert_valid", "signxml_accepts",
    )
    return types.SimpleNamespace(**{name: globals()[name] for name in names})
