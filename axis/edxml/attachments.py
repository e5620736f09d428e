"""Attachment content: ContentId normalisation, base64 decoding and type sniffing.

Producers disagree on ``cid:`` prefixes and content types (the VNPT library zips every
file and may still label it ``application/pdf`` or ``text/plain``), so axis matches ids
without the prefix and trusts the bytes, not the label.  Nothing is ever unzipped here: of a zip, only its
central directory is read (no decompression), to see what it claims to unzip to.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import zipfile
from dataclasses import dataclass

from axis.edxml.model import Sniffed

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_PDF_MAGIC = b"%PDF-"

_TYPE_OF_SNIFF = {
    "zip": ("application/zip", "application/x-zip-compressed", "application/x-zip"),
    "pdf": ("application/pdf",),
}


def normalize_content_id(raw: str | None) -> str | None:
    """``cid:209``, ``<209>`` and ``209`` are the same id."""
    if raw is None:
        return None
    value = raw.strip()
    if value[:4].lower() == "cid:":
        value = value[4:].strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value or None


def sniff(content: bytes) -> Sniffed:
    if content.startswith(_ZIP_MAGIC):
        return "zip"
    if content.lstrip(b"\r\n\t ")[:5] == _PDF_MAGIC:
        return "pdf"
    return "other"


def declared_type_disagrees(declared: str | None, sniffed: Sniffed) -> bool:
    """True when a label says zip or pdf and the bytes say otherwise, or the bytes are zip/pdf under another label."""
    if not declared:
        return False
    label = declared.split(";", 1)[0].strip().lower()
    for kind, labels in _TYPE_OF_SNIFF.items():
        if label in labels:
            return sniffed != kind
    return sniffed in ("zip", "pdf") and label not in ("application/octet-stream", "")


# A zip that claims more than this uncompressed, or this many times its own size (past BOMB_FLOOR), is flagged.
BOMB_BYTES = 1 << 30
BOMB_RATIO = 1000
BOMB_FLOOR = 64 << 20


@dataclass(frozen=True, slots=True)
class Decoded:
    size: int
    sha256: str
    sniffed: Sniffed
    unzipped: int | None = None  # what a zip's central directory says its members unzip to (None: not a zip we read)

    @property
    def bomb(self) -> bool:
        u = self.unzipped
        return u is not None and (u > BOMB_BYTES or (u > BOMB_FLOOR and u > BOMB_RATIO * max(self.size, 1)))


def claimed_unzipped(content: bytes, depth: int = 3) -> int | None:
    """The total uncompressed size a zip's central directory declares for its members, counting what archives
    stored (not compressed) inside it declare in turn, ``depth`` levels down; None when it cannot be read as a
    zip.  Nothing is decompressed: only directories and local headers are read."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return None
    total = 0
    for info in members[:10_000]:
        inner = _stored_bytes(content, info) if depth > 0 and info.compress_type == zipfile.ZIP_STORED else None
        nested = claimed_unzipped(inner, depth - 1) if inner is not None and inner.startswith(_ZIP_MAGIC) else None
        total += max(info.file_size, nested or 0)
    return total


def _stored_bytes(content: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """A stored member's own bytes, located through its local header (whose extra field may differ in length)."""
    head = content[info.header_offset:info.header_offset + 30]
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return None
    start = info.header_offset + 30 + int.from_bytes(head[26:28], "little") + int.from_bytes(head[28:30], "little")
    return content[start:start + info.compress_size]


def decode(text: str | None) -> Decoded:
    """Decode base64 content strictly; raises ValueError saying what is wrong.

    The VNPT library writes one unbroken line; others wrap at 76 columns, so white
    space is allowed, but nothing else outside the base64 alphabet is.
    """
    if text is None:
        text = ""
    try:
        content = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        compact = "".join(text.split())
        try:
            content = binascii.a2b_base64(compact, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(_explain(compact, exc)) from None
    sniffed = sniff(content)
    return Decoded(size=len(content), sha256=hashlib.sha256(content).hexdigest(), sniffed=sniffed,
                   unzipped=claimed_unzipped(content) if sniffed == "zip" else None)


def _explain(compact: str, exc: Exception) -> str:
    for index, char in enumerate(compact):
        if not (char.isascii() and (char.isalnum() or char in "+/=")):
            return f"character {char!r} at position {index} is not base64"
    if len(compact) % 4:
        return f"{len(compact)} base64 characters is not a multiple of 4 (truncated?)"
    return f"not valid base64 ({exc})"
