"""Regenerate the fuzzing seed corpus in tests/fuzz/corpus/ and the CA that signed it (tests/fuzz/trust/ca.pem).

    .venv/bin/python tests/fuzz/make_corpus.py          # about a minute (the 1 GiB zip bomb is compressed once)

The corpus is committed; run this only to change it.  Every seed is small (the largest is
a few tens of KB).  The interop samples are not copied (their README asks not to): the
fuzzer reads them from ../shared/interop/ when they are there.  Signed seeds are signed by
a throw-away CA made here, valid from 2026-01-01 for a hundred years; the harness and the
tests trust that CA and judge at the fixed time :data:`JUDGED_AT`, so the seeds stay valid.

Seeds named ``crash-*`` made the checker fail before a fix (as a fuzzer found them, or rebuilt
from its traceback), kept byte for byte (this script leaves them and their lines in
``expected.json`` alone).  ``expected.json`` maps each seed to what the checker must say about
it: ``"acceptable"`` or the one error code it must carry.  It is written from the table below, by hand, not
from the checker's output, and this script refuses to write a corpus that disagrees.
"""

from __future__ import annotations

import base64
import bz2
import json
import struct
import sys
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from packages import NS, edoc, full_edoc, status  # noqa: E402

from axis.signature import pki  # noqa: E402
from axis.signature.sign import sign_package  # noqa: E402
from axis.signature.verify import PLACEHOLDER_SIGNATURE_VALUE  # noqa: E402
from axis.vntime import VN_TZ  # noqa: E402

CORPUS = HERE / "corpus"
TRUST = HERE / "trust"
ISSUED_FROM = datetime(2026, 1, 1, tzinfo=VN_TZ)
JUDGED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=VN_TZ)
GIB = 1 << 30
FOUND = "crash-"
"""Seeds named so made the checker fail before a fix (an internal.error, a crash or a hang): never regenerated."""

# ----------------------------------------------------------------------------- zip files, by hand


def _zip(members: list[tuple[str, int, bytes, int, int]], *, zip64_claim: int | None = None) -> bytes:
    """A zip archive of (name, method, compressed bytes, crc32, uncompressed size) members.

    ``zip64_claim`` writes every member with a ZIP64 extra field claiming that uncompressed size.
    """
    out, central = bytearray(), bytearray()
    for name, method, data, crc, size in members:
        raw_name = name.encode("ascii")
        extra = b""
        usize = size
        if zip64_claim is not None:
            extra = struct.pack("<HHQQ", 0x0001, 16, zip64_claim, len(data))
            usize = 0xFFFFFFFF
        csize = 0xFFFFFFFF if zip64_claim is not None else len(data)
        version = 45 if zip64_claim is not None else (46 if method == 12 else 20)
        offset = len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", version, 0, method, 0, 0x21, crc, csize, usize,
                           len(raw_name), len(extra)) + raw_name + extra + data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", version, version, 0, method, 0, 0x21, crc,
                               csize, usize, len(raw_name), len(extra), 0, 0, 0, 0, offset) + raw_name + extra
    cd_offset = len(out)
    out += central
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)


def _bz2_zeros(size: int) -> tuple[bytes, int]:
    comp, crc, chunk = bz2.BZ2Compressor(9), 0, bytes(1 << 24)
    parts = []
    for _ in range(size // len(chunk)):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    return b"".join(parts), crc


def zip_bombs() -> dict[str, bytes]:
    """Three attachments that unzip to gigabytes; none is bigger than a few KB."""
    one_gib, crc = _bz2_zeros(GIB)  # a real one: a bzip2 member that expands to 1 GiB of zeros
    real = _zip([("zeros.bin", 12, one_gib, crc, GIB)])
    nested = _zip([(f"part{i}.zip", 0, real, zlib.crc32(real), len(real)) for i in range(16)])  # 16 GiB
    claims = _zip([("claims.bin", 8, zlib.compress(b"axis", 9)[2:-4], zlib.crc32(b"axis"), 4)],
                  zip64_claim=(1 << 63) - 1)  # the header claims 8 EiB; the content is 4 bytes
    return {"bzip2-1gib": real, "nested-16gib": nested, "zip64-claims-8eib": claims}


# ----------------------------------------------------------------------------- packages


def attachment(content: bytes | str, *, cid: str = "cid:1", ctype: str = "application/pdf",
               name: str = "a.pdf") -> str:
    text = content if isinstance(content, str) else base64.b64encode(content).decode("ascii")
    return (f"<Attachment><ContentId>{cid}</ContentId><AttachmentName>{name}</AttachmentName>"
            f"<ContentType>{ctype}</ContentType>"
            f'<edXML:ContentTransferEncoded xmlns:edXML="{NS}">{text}</edXML:ContentTransferEncoded></Attachment>')


def reference(*, cid: str = "cid:1", ctype: str = "application/pdf", name: str = "a.pdf") -> str:
    return (f"<edXML:Reference><edXML:ContentId>{cid}</edXML:ContentId><edXML:ContentType>{ctype}"
            f"</edXML:ContentType><edXML:AttachmentName>{name}</edXML:AttachmentName></edXML:Reference>")


def with_zip(content: bytes) -> bytes:
    return edoc(manifest=reference(ctype="application/zip", name="a.zip"),
                attachments=attachment(content, ctype="application/zip", name="a.zip"))


def nested(depth: int) -> bytes:
    return edoc(extra_header="<edXML:ApplicationType>" + "<edXML:N>" * depth + "x" + "</edXML:N>" * depth + "</edXML:ApplicationType>")


SDK_PLACEHOLDER = (
    '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
    '<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
    '<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/><Reference URI="">'
    '<Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></Transforms>'
    '<DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>'
    "<DigestValue>FwgIqsSYJshUS2+wlOM61L+q7Aw=</DigestValue></Reference></SignedInfo>"
    "<SignatureValue>{value}</SignatureValue><KeyInfo><X509Data><X509Certificate>MIIB</X509Certificate>"
    "</X509Data></KeyInfo></Signature>")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"""


def seeds(signer: pki.Issued, signer_ec: pki.Issued, other: pki.Issued) -> dict[str, tuple[bytes, str]]:
    """name → (bytes, expected): "acceptable" or the error code the verdict must carry."""
    base = edoc()
    full = full_edoc(b"%PDF-1.7\n" + bytes(range(256)) * 2)
    signed = sign_package(full, signer)
    out: dict[str, tuple[bytes, str]] = {
        # well-formed packages of every shape
        "edoc": (base, "acceptable"),
        "edoc-full": (full, "acceptable"),
        "status-03": (status(), "acceptable"),
        "status-13-no-code": (status(code="13", response_for="<edXML:ResponseFor><edXML:OrganId>000.00.00.G22"
                                                           "</edXML:OrganId></edXML:ResponseFor>"),
                              "edxml.missing-field"),
        "edoc-revoke": (edoc(business="<edXML:Bussiness><edXML:BussinessDocType>1</edXML:BussinessDocType>"
                                      "<edXML:BussinessDocReason>Thu hồi</edXML:BussinessDocReason></edXML:Bussiness>"),
                        "acceptable"),
        "edoc-replace": (edoc(business="<edXML:Bussiness><edXML:BussinessDocType>3</edXML:BussinessDocType>"
                                       "<edXML:ReplacementInfoList><edXML:ReplacementInfo><edXML:DocumentId>"
                                       "000.00.00.G22,2026/11/01,1/VPCP</edXML:DocumentId><edXML:OrganIdList>"
                                       "<edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:OrganIdList>"
                                       "</edXML:ReplacementInfo></edXML:ReplacementInfoList></edXML:Bussiness>"),
                         "acceptable"),
        "edoc-update-receivers": (edoc(business="<edXML:Bussiness><edXML:BussinessDocType>2</edXML:BussinessDocType>"
                                                "<edXML:BussinessDocumentInfo><edXML:DocumentInfo>1</edXML:DocumentInfo>"
                                                "<edXML:ReceiverList><edXML:Receiver><edXML:ReceiverType>1"
                                                "</edXML:ReceiverType><edXML:OrganId>000.00.00.H41</edXML:OrganId>"
                                                "</edXML:Receiver></edXML:ReceiverList></edXML:BussinessDocumentInfo>"
                                                "</edXML:Bussiness>"), "acceptable"),
        "edoc-many-to": (edoc(to=tuple(f"000.00.{i:02d}.H41" for i in range(40))), "acceptable"),
        "edoc-qd20-and-wild-codes": (edoc(to=("H41.18", "vxp.saas.03", "01.02.G22")), "acceptable"),
        "edoc-null-trace": (edoc(trace="<edXML:TraceHeader><edXML:OrganId>null</edXML:OrganId><edXML:Timestamp>"
                                       "2026/13/40 25:61:61</edXML:Timestamp></edXML:TraceHeader>"), "acceptable"),
        "priority-superscript-two": (base.replace(b"<edXML:Priority>2<", "<edXML:Priority>²<".encode(), 1),
                                     "edxml.invalid-value"),
        "priority-5000-digits": (base.replace(b"<edXML:Priority>2<", b"<edXML:Priority>" + b"9" * 5000 + b"<", 1),
                                 "edxml.invalid-value"),
        "business-arabic-indic-three": (edoc(business="<edXML:Bussiness><edXML:BussinessDocType>٣"
                                                      "</edXML:BussinessDocType></edXML:Bussiness>"),
                                        "edxml.invalid-value"),
        "date-arabic-indic": (base.replace(b"<edXML:PromulgationDate>2026/11/20<",
                                           "<edXML:PromulgationDate>٢٠٢٦/١١/٢٠<".encode(), 1), "edxml.bad-date"),
        "edoc-duplicate-to": (edoc(to=("000.00.00.H41", "000.00.00.H41")), "edxml.duplicate-to"),
        "edoc-two-attachments": (edoc(manifest=reference() + reference(cid="&lt;2&gt;", ctype="text/plain", name="b.txt"),
                                      attachments=attachment(b"%PDF-1.4 x") + attachment(b"hello", cid="2",
                                                                                         ctype="text/plain",
                                                                                         name="b.txt")),
                                 "acceptable"),
        "edoc-no-attachments": (edoc(manifest="", attachments=""), "acceptable"),
        # signatures
        "signed-rsa": (signed, "acceptable"),
        "signed-ec": (sign_package(full, signer_ec), "acceptable"),
        "signed-with-pi": (sign_package(full.replace(b"<edXML:edXMLEnvelope ", b"<?note x?><edXML:edXMLEnvelope ", 1),
                                        signer), "acceptable"),
        "signed-with-comment": (sign_package(full.replace(b"<edXML:Subject>", b"<!-- c --><edXML:Subject>", 1),
                                             signer), "acceptable"),
        "signed-by-other-agency": (sign_package(full, other), "signature.signer-mismatch"),
        "signed-then-changed": (signed.replace(b"000.00.00.H14", b"000.00.00.H15", 1), "signature.digest-mismatch"),
        "signed-twice": (signed.replace(b"</edXML:edXMLHeader>", signed[signed.index(b"<ds:Signature"):
                                                                         signed.index(b"</ds:Signature>") + 15]
                                        + b"</edXML:edXMLHeader>", 1), "signature.wrapping"),
        "signature-placeholder": (edoc(signature=SDK_PLACEHOLDER.format(value=PLACEHOLDER_SIGNATURE_VALUE)), "acceptable"),
        "signature-nonstandard": (edoc(signature="<edXML:Signature>abc</edXML:Signature>"), "acceptable"),
        # attachments
        "zip-small": (with_zip(_zip([("a.txt", 0, b"axis", zlib.crc32(b"axis"), 4)])), "acceptable"),
        "base64-truncated": (edoc(attachments=attachment(base64.b64encode(b"%PDF-1.7 truncated").decode()[:-3])),
                             "attachment.invalid-base64"),
        "base64-bad-char": (edoc(attachments=attachment("JVBERi0x*LjcK")), "attachment.invalid-base64"),
        "base64-padding-inside": (edoc(attachments=attachment("QQ==QQ==")), "attachment.invalid-base64"),
        "base64-wrapped-76": (edoc(attachments=attachment("\n".join(
            base64.b64encode(b"%PDF-1.7\n" + bytes(600)).decode()[i:i + 76] for i in range(0, 812, 76)))),
            "acceptable"),
        "base64-empty": (edoc(attachments=attachment("")), "acceptable"),
        "attachment-missing": (edoc(attachments=""), "attachment.missing"),
        "attachment-duplicate-id": (edoc(attachments=attachment(b"%PDF-1") + attachment(b"%PDF-2")),
                                    "attachment.duplicate-id"),
        # hostile XML
        "xxe": (b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                b'<edXML xmlns="' + NS.encode() + b'">&xxe;</edXML>', "xml.forbidden-entity"),
        "billion-laughs": (BILLION_LAUGHS, "xml.forbidden-entity"),
        "parameter-entity": (b'<!DOCTYPE x [<!ENTITY % r SYSTEM "http://127.0.0.1:9/x.dtd"> %r;]><x/>',
                             "xml.forbidden-entity"),
        "external-dtd": (b'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/e.dtd"><edXML xmlns="' + NS.encode() + b'"/>',
                         "xml.forbidden-dtd"),
        "doctype-after-root": (base.replace(b"</edXML>", b"<!DOCTYPE x></edXML>"), "xml.forbidden-dtd"),
        "undeclared-entity": (edoc(extra_header="<edXML:X>&nbsp;</edXML:X>"), "xml.not-well-formed"),
        "character-references": (edoc(extra_header="<edXML:ApplicationType>&#x1F600;&#233;&lt;&amp;</edXML:ApplicationType>"), "acceptable"),
        "bad-character-reference": (edoc(extra_header="<edXML:X>&#0;</edXML:X>"), "xml.not-well-formed"),
        "nesting-200": (nested(200), "acceptable"),
        "nesting-300": (nested(300), "xml.limit-exceeded"),
        "name-too-long": (base.replace(b"<edXML:Subject>", b"<edXML:Subject " + b"a" * 60000 + b"='1'>", 1),
                          "xml.limit-exceeded"),
        "attributes-2000": (base.replace(b"<edXML:Subject>", ("<edXML:Subject " + " ".join(
            f"a{i}='{i}'" for i in range(2000)) + ">").encode(), 1), "acceptable"),
        "namespaces-2000": (base.replace(b"<edXML:Subject>", ("<edXML:Subject " + " ".join(
            f"xmlns:n{i}='urn:{i}'" for i in range(2000)) + ">").encode(), 1), "acceptable"),
        "text-over-limit": (edoc(extra_header="<edXML:X>" + "a" * (64 * 1024 + 1) + "</edXML:X>"),
                            "xml.text-too-long"),
        "cdata-everywhere": (edoc(sender="<edXML:From><edXML:OrganId><![CDATA[000.00.00.G22]]></edXML:OrganId>"
                                         "</edXML:From>"), "acceptable"),
        "wrong-namespace": (base.replace(NS.encode(), b"urn:not-qcvn"), "edxml.not-edxml"),
        "no-envelope": (b'<edXML xmlns="' + NS.encode() + b'"/>', "edxml.not-edxml"),
        "two-envelopes": (base.replace(b"<AttachmentEncoded>", b'<edXML:edXMLEnvelope xmlns:edXML="' + NS.encode()
                                       + b'"/><AttachmentEncoded>', 1), "edxml.duplicate-field"),
        "truncated-half": (base[: len(base) // 2], "xml.not-well-formed"),
        # encodings
        "utf8-invalid-in-field": (base.replace(b"V/v th", b"V/v \xc3\x28th", 1), "body.not-utf8"),
        "utf8-overlong-slash": (base.replace(b"V/v", b"V\xc0\xafv", 1), "body.not-utf8"),
        "utf8-surrogate": (base.replace(b"V/v", b"V\xed\xa0\x80v", 1), "body.not-utf8"),
        "utf8-truncated-at-end": (base + b"\xe1\xba", "body.not-utf8"),
        "utf16-bom": (b"\xff\xfe" + base.decode("utf-8").encode("utf-16-le"), "body.not-utf8"),
        "encoding-latin1": (base.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1), "body.not-utf8"),
        "nul-byte": (base.replace(b"V/v", b"V\x00v", 1), "xml.not-well-formed"),
        "bom-utf8": (b"\xef\xbb\xbf" + base, "acceptable"),
        "empty": (b"", "body.empty"),
        "whitespace": (b" \r\n\t", "body.empty"),
    }
    for name, bomb in zip_bombs().items():
        out[f"zipbomb-{name}"] = (with_zip(bomb), "acceptable")  # relayed as opaque bytes: axis never unzips
    return out


def main() -> None:
    sys.path.insert(0, str(HERE))
    from harness import make_checker  # the checker the harness and the tests use (trusts trust/ca.pem)

    ca = pki.create_ca("axis fuzz corpus CA", days=36500, now=ISSUED_FROM + timedelta(minutes=5))
    issue: Callable[..., pki.Issued] = lambda code, **kw: pki.issue(ca, code, not_before=ISSUED_FROM,  # noqa: E731
                                                                    days=36500, **kw)
    table = seeds(issue("000.00.00.G22"), issue("000.00.00.G22", key_kind="ec"), issue("000.00.00.H41"))
    TRUST.mkdir(exist_ok=True)
    (TRUST / "ca.pem").write_bytes(ca.cert_pem)
    checker = make_checker()
    wrong = []
    for name, (data, want) in table.items():
        verdict = checker.check(data)
        got = "acceptable" if verdict.acceptable else ",".join(p.code.code for p in verdict.errors)
        if (want == "acceptable") != verdict.acceptable or (want != "acceptable" and want not in got.split(",")):
            wrong.append(f"{name}: expected {want}, the checker says {got}")
    if wrong:
        sys.exit("\n".join(wrong))
    CORPUS.mkdir(exist_ok=True)
    found = json.loads((HERE / "expected.json").read_text(encoding="utf-8")) if (HERE / "expected.json").exists() \
        else {}
    found = {k: v for k, v in found.items() if k.startswith(FOUND)}  # inputs the fuzzers found: kept as they are
    for old in CORPUS.iterdir():
        if not old.name.startswith(FOUND):
            old.unlink()
    for name, (data, _) in table.items():
        (CORPUS / f"{name}.edxml").write_bytes(data)
    listing = {f"{k}.edxml": v for k, (_, v) in table.items()} | found
    (HERE / "expected.json").write_text(json.dumps(dict(sorted(listing.items())), indent=1) + "\n", encoding="utf-8")
    total = sum(len(d) for d, _ in table.values())
    print(f"{len(table)} seeds, {total} bytes, largest {max(len(d) for d, _ in table.values())} bytes")


if __name__ == "__main__":
    main()
