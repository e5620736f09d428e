"""Crafted inputs on which the fast path (verify._lean_crypto) must not be more lenient than a correct verifier.

Each case starts from a package really signed with the test PKI, changed the way an attacker holding it
could change it, and compares axis's verdict with signxml's.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature

from axis.signature.verify import SignatureClass


def signxml_accepts(kit: SimpleNamespace, data: bytes, cert: object) -> bool:
    config = SignatureConfiguration(location=kit.HEADER_LOCATION, expect_references=1)
    try:
        XMLVerifier().verify(data, x509_cert=cert, expect_config=config)
    except (InvalidDigest, InvalidSignature):
        return False
    return True


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
    assert not signxml_accepts(kit, data, test_pki.agency.cert)
    verdict = kit.judge(data, test_pki.trust)
    assert not verdict.acceptable, verdict.to_dict()
    assert verdict.signature is None or verdict.signature.cls is not SignatureClass.VALID, verdict.to_dict()
