"""Attachment content: ContentId normalisation, base64 decoding and type sniffing.

Producers disagree on ``cid:`` prefixes and content types (the VNPT library zips every
file and may still label it ``application/pdf`` or ``text/plain``), so axis matches ids
without the prefix and trusts the bytes, not the label.  Nothing is ever unzipped here.
"""

from __future__ import annotations

import binascii
import hashlib
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


@dataclass(frozen=True, slots=True)
class Decoded:
    size: int
    sha256: str
    sniffed: Sniffed


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
    return Decoded(size=len(content), sha256=hashlib.sha256(content).hexdigest(), sniffed=sniff(content))


def _explain(compact: str, exc: Exception) -> str:
    for index, char in enumerate(compact):
        if not (char.isascii() and (char.isalnum() or char in "+/=")):
            return f"character {char!r} at position {index} is not base64"
    if len(compact) % 4:
        return f"{len(compact)} base64 characters is not a multiple of 4 (truncated?)"
    return f"not valid base64 ({exc})"
