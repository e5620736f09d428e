"""Structure-aware mutations of edXML packages, shared by the atheris harness and the Hypothesis test.

A mutation parses the package (comments kept), changes its tree the way a confused or hostile
producer would (elements dropped, repeated, moved, renamed into other namespaces, nested
deep, fields given odd values, attachments replaced by odd bytes), serialises it, and
sometimes breaks the bytes afterwards.  Every choice goes through a :class:`Chooser`, so
the same code is driven by ``random.Random`` (atheris, the fallback loop) or by Hypothesis
draws (which then shrink).
"""

from __future__ import annotations

import base64
import random
import re
import zlib
from copy import deepcopy
from pathlib import Path
from typing import Protocol, Sequence, TypeVar

from lxml import etree

T = TypeVar("T")

QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

NAMES: tuple[str, ...] = tuple(sorted(
    {n for p in SCHEMAS.glob("*.xsd") for n in re.findall(r'name="([A-Za-z]+)"', p.read_text(encoding="utf-8"))}
    | {"Signature", "SignedInfo", "SignatureValue", "KeyInfo", "X509Data", "X509Certificate", "Reference",
       "DigestValue", "DigestMethod", "Transforms", "Transform", "CanonicalizationMethod", "SignatureMethod",
       "DigitalSignature", "Bussiness", "Business", "AttachmentEncoded", "Attachment", "ContentTransferEncoded"}))
NAMESPACES: tuple[str | None, ...] = (QCVN, QCVN, QCVN, DSIG, None, "urn:other", QCVN + "/", "")

TEXTS: tuple[str, ...] = (
    "", " ", "\t\n", "null", "NULL", "0", "1", "2", "3", "4", "5", "01", "03", "13", "15", "16", "99", "999", "-1",
    "+1", "007", "1e3", "4294967296", "9" * 40, "9" * 5000, "²", "٣", "０３", "①", "1.5", "true",
    "000.00.00.G22", "000.00.00.H41", "000.00.00.h41", " 000.00.00.H41 ", "000.00.00.H41\u200b", "H41.18",
    "H37.DN.001", "G12.18", "vxp.saas.03", "01.02.G22", "020100107370", "001.00.20.TT2", "000.00.00.G00",
    "000.00.00", "....", ".", "a" * 300,
    "2026/11/20", "2026/11/20 09:00:00", "2026-11-20", "2026-11-20T09:00:00+07:00", "2026/02/30", "2026/13/01",
    "0000/00/00", "9999/12/31 23:59:59", "2026/11/20 24:00:00", "2026/11/20 9:0:0", "20261120", "2026/1/2",
    "1900/01/01", "99999/01/01", "2026/11/20 09:00:00.123",
    "000.00.00.G22,2026/11/20,123/VPCP-TTĐT", ",,", "000.00.00.G22,,", "cid:1", "cid:", "<1>", "cid:<1>", "1",
    "application/pdf", "application/zip", "text/plain; charset=utf-8", "application/octet-stream",
    "Văn phòng Chính phủ", "\u0000"[:0], "\ufeff", "\U0001f600", "e\u0301", "\u202e", "&", "<", "]]>",
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments", "#xpointer(/)", "#id", "AAAA", "QQ==", "====", "MIIB",
)


def _claiming_zip() -> bytes:
    """A zip whose one member claims 4 GiB; the stream is tiny (only the headers matter for sniffing)."""
    data = zlib.compress(b"\0" * 4096, 9)[2:-4]
    name = b"bomb.bin"
    local = (b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x21\x00" + zlib.crc32(b"\0" * 4096).to_bytes(4, "little")
             + len(data).to_bytes(4, "little") + b"\xff\xff\xff\xff" + len(name).to_bytes(2, "little") + b"\0\0")
    return local + name + data


PAYLOADS: tuple[bytes, ...] = (
    b"", b"%PDF-1.7\n%%EOF", b"\n\t %PDF-", b"PK\x03\x04", b"PK\x05\x06" + bytes(18), _claiming_zip(), b"\0" * 64,
    bytes(range(256)), "Văn bản".encode("utf-8"), b"<edXML/>",
)

BYTE_TOKENS: tuple[bytes, ...] = (
    b"<", b">", b"/>", b"</", b"&", b"&amp;", b"&#0;", b"&#x110000;", b"&lt;", b"<!--", b"-->", b"<![CDATA[", b"]]>",
    b"<?xml version='1.0'?>", b"<?pi x?>", b"<!DOCTYPE x>", b"<!DOCTYPE x [<!ENTITY e 'x'>]>", b"<!ENTITY",
    b'xmlns="urn:x"', b'xmlns:edXML="urn:x"', b'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"', b"\x00", b"\xc3",
    b"\xc3\x28", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xff\xfe", b"\r", b"\r\n", b"\n", b"=", b"cid:", b'"', b"'",
    b"edXML:", b"ds:", b"<edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:To>",
)


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False,
                          huge_tree=False)


def _text(c: Chooser) -> str:
    kind = c.integer(0, 9)
    if kind <= 6:
        return c.choice(TEXTS)
    if kind == 7:
        return c.choice(TEXTS) * c.integer(2, 50)
    if kind == 8:
        return base64.b64encode(c.choice(PAYLOADS)).decode("ascii")
    return "".join(chr(c.integer(0x20, 0x2FFF)) for _ in range(c.integer(1, 12)))


def _tag(c: Chooser) -> str:
    ns = c.choice(NAMESPACES)
    name = c.choice(NAMES)
    return f"{{{ns}}}{name}" if ns else name


def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def mutate_tree(root: etree._Element, c: Chooser) -> None:
    """One change to ``root`` (in place)."""
    els = _elements(root)
    el = c.choice(els)
    parent = el.getparent()
    op = c.integer(0, 13)
    if op == 0 and parent is not None:  # drop
        parent.remove(el)
    elif op == 1 and parent is not None:  # repeat
        el.addnext(deepcopy(el))
    elif op == 2 and parent is not None:  # move elsewhere (never into itself)
        inside = set(el.iter())
        targets = [t for t in els if t not in inside]
        if targets:
            c.choice(targets).append(el)
    elif op == 3 and parent is not None and len(parent) > 1:  # swap with a sibling
        other = c.choice(list(parent))
        if other is not el:
            i, j = parent.index(el), parent.index(other)
            parent[i], parent[j] = deepcopy(other), deepcopy(el)
    elif op in (4, 5):  # an odd value
        if len(el) and c.integer(0, 1):
            c.choice(list(el)).tail = _text(c)
        else:
            el.text = _text(c)
    elif op == 6:  # attributes: one odd one, or thousands
        if c.integer(0, 9):
            name = c.choice(("Id", "URI", "Algorithm", "version", "id", "{http://www.w3.org/XML/1998/namespace}lang",
                             "PrefixList", "{urn:x}a"))
            el.set(name, _text(c))
        else:
            value = _text(c)
            for i in range(c.choice((100, 1000, 3000))):
                el.set(f"a{i}", value)
    elif op == 7:  # rename, maybe into another namespace
        el.tag = _tag(c)
    elif op == 8:  # a new element
        new = etree.SubElement(el, _tag(c))
        new.text = _text(c)
        if len(el) > 1 and c.integer(0, 1):
            el.insert(c.integer(0, len(el) - 1), new)
    elif op == 9 and parent is not None:  # bury it deep
        depth = c.choice((2, 10, 100, 255, 256, 300, 2048, 3000))
        outer = wrapper = etree.Element(_tag(c))
        for _ in range(depth - 1):
            wrapper = etree.SubElement(wrapper, wrapper.tag)
        el.addprevious(outer)
        wrapper.append(el)
    elif op == 10:  # comments and processing instructions, which canonical forms treat apart
        node = etree.Comment(_text(c).replace("--", "- -").rstrip("-")) if c.integer(0, 1) \
            else etree.ProcessingInstruction("axis", _text(c).replace("?>", "? >"))
        el.insert(c.integer(0, len(el)), node)
    elif op == 11:  # an attachment's content
        targets = [t for t in els if isinstance(t.tag, str) and t.tag.endswith("ContentTransferEncoded")] or [el]
        target = c.choice(targets)
        encoded = base64.b64encode(c.choice(PAYLOADS)).decode("ascii")
        cut = c.integer(0, 3)
        target.text = encoded[: len(encoded) - cut] if cut else encoded
    elif op == 12 and len(el):  # children reversed (element order varies between producers)
        kids = list(el)
        for k in kids:
            el.remove(k)
        for k in reversed(kids):
            el.append(k)
    elif op == 13:  # a namespace declaration game: the same element under another prefix
        nsmap = {c.choice(("edXML", "ds", "x", None)): c.choice((QCVN, DSIG, "urn:x"))}
        new = etree.Element(el.tag, nsmap=nsmap)  # type: ignore[arg-type]
        new.text, new.tail = el.text, el.tail
        for k, v in el.attrib.items():
            new.set(k, v)
        for kid in list(el):
            new.append(kid)
        if parent is not None:
            parent.replace(el, new)


def mutate_bytes(data: bytes, c: Chooser) -> bytes:
    buf = bytearray(data)
    op = c.integer(0, 6)
    at = c.integer(0, len(buf)) if buf else 0
    if op == 0 and buf:
        buf[min(at, len(buf) - 1)] = c.integer(0, 255)
    elif op == 1:
        del buf[at:]
    elif op == 2:
        buf[at:at] = c.choice(BYTE_TOKENS)
    elif op == 3:
        del buf[at:at + c.integer(1, 64)]
    elif op == 4 and buf:  # repeat a slice
        end = min(len(buf), at + c.integer(1, 200))
        buf[at:at] = buf[at:end] * c.integer(2, 20)
    elif op == 5:  # the prolog
        prologs = (b"", b'<?xml version="1.0" encoding="UTF-8"?>\n', b'<?xml version="1.1"?>',
                   b'<?xml version="1.0" encoding="utf-16"?>', b"\xef\xbb\xbf", b"<!DOCTYPE edXML>", b"  \n",
                   b'<?xml version="1.0" encoding="windows-1258"?>', b'<?xml version="1.0" standalone="yes"?>')
        body = buf[buf.find(b"?>") + 2:] if buf.startswith(b"<?xml") else buf
        buf = bytearray(c.choice(prologs)) + body
    elif op == 6 and buf:  # splice the end onto the start
        cut = c.integer(0, len(buf))
        buf = buf[cut:] + buf[:cut]
    return bytes(buf)


def mutate(data: bytes, c: Chooser, *, steps: int | None = None) -> bytes:
    """Some tree changes (when ``data`` parses), then perhaps some byte changes."""
    n = steps if steps is not None else c.integer(1, 4)
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    out = data
    if root is not None:
        for _ in range(n):
            mutate_tree(root, c)
        out = etree.tostring(root.getroottree(), xml_declaration=c.integer(0, 3) > 0, encoding="UTF-8")
    if root is None or c.integer(0, 3) == 0:
        for _ in range(c.integer(1, 3)):
            out = mutate_bytes(out, c)
    return out
