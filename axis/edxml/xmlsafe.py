"""Hardened parsing of untrusted package bytes.

The rules, and why:
- no DTD at all (internal or external), hence no entity declarations: edXML
  never needs one, and DTDs are how XXE and billion-laughs attacks get in;
- no network and no entity expansion in the parser itself (defence in depth);
- UTF-8 only, as QCVN 102:2016 packages are; other bytes are refused, not guessed;
- a size limit on the whole package, and a much smaller limit on any text node
  outside ``ContentTransferEncoded``: only attachments may carry long base64;
- comments and processing instructions are dropped while parsing, so that text
  read from a field is the text a canonicalised signature covers
  (``<OrganId>H41<!---->X</OrganId>`` reads as ``H41X``, as signed).

The original bytes are kept untouched with their SHA-256; nothing here rewrites a package.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

from lxml import etree

from axis.edxml.names import local_name, where
from axis.errors import AxisError, Code, Where

# libxml2 refuses text nodes over 10,000,000 bytes unless XML_PARSE_HUGE is on.  We switch
# it on only for inputs that could hold such a node, and enforce our own text limit after.
HUGE_THRESHOLD = 9_000_000
_ATTACHMENT_TEXT = "ContentTransferEncoded"


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_bytes: int = 64 * 1024 * 1024
    """Largest package accepted, attachments included."""
    max_text: int = 64 * 1024
    """Longest text node or attribute value outside an attachment's ContentTransferEncoded."""


DEFAULT_LIMITS = ParseLimits()


@dataclass(frozen=True, slots=True)
class ParsedXml:
    data: bytes
    """The bytes exactly as received."""
    sha256: str
    root: etree._Element


_local = threading.local()


def thread_parser(*, huge: bool, keep_comments: bool = False) -> etree.XMLParser:
    """One parser per thread and mode: lxml parsers are not thread-safe."""
    key = f"parser-{huge}-{keep_comments}"
    parser = getattr(_local, key, None)
    if parser is None:
        parser = make_parser(huge=huge, keep_comments=keep_comments)
        setattr(_local, key, parser)
    return parser


def make_parser(*, huge: bool = False, keep_comments: bool = False) -> etree.XMLParser:
    """The one hardened configuration; ``keep_comments`` keeps comments and PIs (for canonicalisation)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=huge,
        remove_comments=not keep_comments,
        remove_pis=not keep_comments,
        remove_blank_text=False,
        collect_ids=False,
        # Never let the bytes choose: libxml2 recognises UTF-16/UTF-32 from the first bytes even without a BOM
        # (and then every byte search in this module and in verify.py looks for the wrong bytes).
        encoding="utf-8",
    )


_XML_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _line_col(data: bytes, offset: int) -> Where:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return Where(line=line, column=column)


def _check_declared_encoding(data: bytes) -> None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        raise AxisError.of(Code.BODY_NOT_UTF8, "the package starts with a UTF-16/UTF-32 byte order mark",
                           Where(line=1, column=1))
    if b"\x00" in data[:4]:  # '<' or '<?xm' as UTF-16/UTF-32 without a BOM: libxml2 would guess the encoding
        raise AxisError.of(Code.BODY_NOT_UTF8, "the package starts as UTF-16/UTF-32 text (a NUL byte)",
                           Where(line=1, column=1))
    head = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    m = _XML_DECL_ENCODING.match(head)
    if m and m.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise AxisError.of(Code.BODY_NOT_UTF8, f"the XML declaration says encoding={m.group(1).decode('ascii')!r}",
                           Where(line=1))


def _check_utf8(data: bytes) -> None:
    """Called only when libxml2 refused the bytes (it checks UTF-8 itself): say exactly where they are wrong."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AxisError.of(Code.BODY_NOT_UTF8, f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8",
                           _line_col(data, exc.start)) from None


def _check_prolog(data: bytes) -> None:
    """Refuse any DOCTYPE before parsing: the cheapest and surest XXE / billion-laughs defence."""
    start = data.find(b"<!DOCTYPE")  # XML keywords are case-sensitive
    if start == -1:
        return
    # A DOCTYPE is only legal in the prolog; one anywhere else makes the document ill-formed
    # anyway, so refusing every occurrence loses nothing.
    rest = data[start:]
    end = rest.find(b"]>")
    decl = rest[: end + 2] if end != -1 else rest[: rest.find(b">") + 1]
    where_ = _line_col(data, start)
    if b"<!ENTITY" in decl:
        raise AxisError.of(Code.XML_FORBIDDEN_ENTITY, "the DOCTYPE declares entities", where_)
    kind = "an external DTD" if (b"SYSTEM" in decl or b"PUBLIC" in decl) else "a DTD"
    raise AxisError.of(Code.XML_FORBIDDEN_DTD, f"the package declares {kind}", where_)


def _syntax_problem(exc: etree.XMLSyntaxError) -> AxisError:
    line, column = exc.position if exc.position else (None, None)
    message = re.sub(r",? line \d+, column \d+$", "", (exc.msg or str(exc)).strip())
    w = Where(line=line or None, column=column or None)
    # libxml2's structural limits are not about the package's size (that is checked before parsing):
    # a 35 KB package nested 5,000 deep must not be answered 413.
    depth = re.match(r"Excessive depth in document: (\d+)", message)
    if depth:
        return AxisError.of(Code.XML_LIMIT, f"elements are nested more than {depth.group(1)} levels deep", w)
    if message.startswith("Name too long"):
        return AxisError.of(Code.XML_LIMIT, "an element, attribute or namespace prefix name is too long", w)
    if "huge" in message.lower() or "too long" in message.lower():
        return AxisError.of(Code.BODY_TOO_LARGE, message, w)
    return AxisError.of(Code.XML_NOT_WELL_FORMED, message, w)


def _check_text_lengths(root: etree._Element, max_text: int) -> None:
    for el in root.iter():
        text = el.text
        if text is not None and len(text) > max_text and local_name(el) != _ATTACHMENT_TEXT:
            raise AxisError.of(Code.XML_TEXT_TOO_LONG,
                               f"{len(text)} characters in <{local_name(el)}> (limit {max_text})", where(el))
        tail = el.tail
        if tail is not None and len(tail) > max_text:
            parent = el.getparent()
            raise AxisError.of(Code.XML_TEXT_TOO_LONG, f"{len(tail)} characters of loose text (limit {max_text})",
                               where(parent if parent is not None else el))
        for name, value in el.attrib.items():
            if len(value) > max_text:
                raise AxisError.of(Code.XML_TEXT_TOO_LONG, f"attribute {name} has {len(value)} characters",
                                   where(el))


def parse(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedXml:
    """Parse untrusted bytes, or raise :class:`AxisError` saying precisely why not."""
    if not data or not data.strip():
        raise AxisError.of(Code.BODY_EMPTY, "no XML in the body")
    if len(data) > limits.max_bytes:
        raise AxisError.of(Code.BODY_TOO_LARGE, f"{len(data)} bytes (limit {limits.max_bytes})")
    _check_declared_encoding(data)
    _check_prolog(data)
    try:
        root = etree.fromstring(data, thread_parser(huge=len(data) > HUGE_THRESHOLD))
    except etree.XMLSyntaxError as exc:
        _check_utf8(data)
        raise _syntax_problem(exc) from None
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:  # defence in depth
        raise AxisError.of(Code.XML_FORBIDDEN_DTD, "the package declares a DTD", Where(line=1))
    for entity in root.iter(etree.Entity):
        raise AxisError.of(Code.XML_FORBIDDEN_ENTITY, f"entity reference {entity.text}", where(entity.getparent()))
    if len(data) > limits.max_text:  # else no text node can be that long
        _check_text_lengths(root, limits.max_text)
    return ParsedXml(data=data, sha256=sha256_hex(data), root=root)
