"""Attachments that unzip to gigabytes: axis never unzips, so they cost what their bytes cost, and the verdict flags
them (``attachment.zip-bomb``, a warning: the package is relayed unopened) from what their directories claim.

axis decodes an attachment's base64, hashes it and sniffs its first bytes (``PK\\x03\\x04`` is
"zip"); it never opens the archive (axis/edxml/attachments.py).  These tests hold it to
that: with every decompressor in the standard library booby-trapped, the bombs of the
corpus still get a complete verdict, and the Python memory used while checking one stays
within a small multiple of its size.
"""

from __future__ import annotations

import base64
import bz2
import hashlib
import io
import lzma
import tracemalloc
import zipfile
import zlib
from typing import Any

import harness
import pytest
from lxml import etree

from axis.edxml.model import EdocPackage

CHECKER = harness.make_checker()
BOMBS = sorted(p.name for p in harness.CORPUS.glob("zipbomb-*.edxml"))
GIB = 1 << 30


def attachment_bytes(data: bytes) -> bytes:
    root = etree.fromstring(data)
    (text,) = root.iter("{http://www.mic.gov.vn/TBT/QCVN_102_2016}ContentTransferEncoded")
    return base64.b64decode(text.text or "")


def claimed_size(archive: bytes) -> int:
    """What the archive says it unzips to, nested archives included: read from the central directories only."""
    total = 0
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        for info in zf.infolist():
            if info.compress_type == zipfile.ZIP_STORED and info.filename.endswith(".zip"):
                start = info.header_offset + 30 + len(info.filename)  # a stored member is its own bytes
                total += claimed_size(archive[start:start + info.compress_size])
            else:
                total += info.file_size
    return total


def test_the_corpus_has_bombs_that_claim_gigabytes_in_a_few_kilobytes() -> None:
    assert len(BOMBS) >= 3
    for name in BOMBS:
        data = (harness.CORPUS / name).read_bytes()
        archive = attachment_bytes(data)
        assert archive.startswith(b"PK\x03\x04")
        assert len(data) < 32_000
        assert claimed_size(archive) >= GIB, name


def test_the_real_bomb_really_expands() -> None:
    """The bzip2 one is not only a claim: its first 64 MiB are zeros, and the stream goes on (bounded reads)."""
    archive = attachment_bytes((harness.CORPUS / "zipbomb-bzip2-1gib.edxml").read_bytes())
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        (info,) = zf.infolist()  # the central directory only; ZipFile.open would inflate it all at once
    assert info.compress_type == zipfile.ZIP_BZIP2 and info.file_size == GIB
    start = info.header_offset + 30 + len(info.filename)
    stream, seen = bz2.BZ2Decompressor(), 0
    chunk = stream.decompress(archive[start:start + info.compress_size], max_length=1 << 20)
    while seen < 64 << 20:
        assert chunk and chunk == bytes(len(chunk))
        seen += len(chunk)
        chunk = stream.decompress(b"", max_length=1 << 20)
    assert not stream.eof


@pytest.fixture
def no_decompression(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way the standard library has to decompress now fails the test."""
    def trap(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("axis tried to decompress an attachment")

    for module, names in ((zlib, ("decompress", "decompressobj")), (bz2, ("decompress", "BZ2Decompressor")),
                          (lzma, ("decompress", "LZMADecompressor"))):
        for name in names:
            monkeypatch.setattr(module, name, trap)
    # zipfile may read the central directory (what axis does), never a member's content
    monkeypatch.setattr(zipfile.ZipFile, "open", trap)
    monkeypatch.setattr(zipfile.ZipFile, "read", trap)
    monkeypatch.setattr(zipfile, "ZipExtFile", trap)


@pytest.mark.parametrize("name", BOMBS)
def test_a_zip_bomb_attachment_gets_a_verdict_without_being_unzipped(name: str, no_decompression: None) -> None:
    data = (harness.CORPUS / name).read_bytes()
    archive = base64.b64decode(etree.fromstring(data).findtext(
        ".//{http://www.mic.gov.vn/TBT/QCVN_102_2016}ContentTransferEncoded") or "")
    tracemalloc.start()
    try:
        verdict = harness.check_with_guard(CHECKER, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verdict.acceptable, [str(p) for p in verdict.problems]  # relayed as the opaque file it is
    assert isinstance(verdict.package, EdocPackage)
    (attachment,) = verdict.package.attachments
    assert attachment.sniffed == "zip"
    assert attachment.size == len(archive)  # the size of the archive, not of what it claims to hold
    assert attachment.sha256 == hashlib.sha256(archive).hexdigest()
    assert verdict.to_dict()["attachments"][0]["type"] == "zip"
    # and the verdict says what it is: the claimed size, read from the directories alone
    (warning,) = [p for p in verdict.warnings if p.code.code == "attachment.zip-bomb"]
    assert f"claim to unzip to {claimed_size(archive)} bytes" in warning.detail
    assert peak < 16 * 1024 * 1024, peak  # what unzipping even one member would exceed 64 times over
