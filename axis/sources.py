"""The files a configuration was read from, and what they held.

axisd and each of its intake processes read the configuration themselves (at start and at
every reload).  An edit made between two of those reads would leave them serving different
registries without a word.  Every file read while loading goes through :func:`read_bytes`
(or :func:`open_text`);
inside :func:`recording` it is noted (its real path and the SHA-256 of its bytes), so that
two loads can be compared (:func:`differences`).  And a file of secrets that other users of
the machine may read is refused (:func:`exposed_secret`).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, TextIO

_SEEN: ContextVar[dict[str, str] | None] = ContextVar("axis_sources_seen", default=None)


def exposed_secret(file: Path) -> str | None:
    """Why a file of secrets (an HMAC secret, a private key) must not be used: other users of the machine may read
    or change it, and whoever reads it can act as axis or as an agency.  Refused, as ssh and PostgreSQL refuse such
    keys; a group that may only read it (mode 0640) is allowed.  ``None`` when it is private, or cannot be looked at
    (the caller then says why it cannot read it)."""
    try:
        mode = file.stat().st_mode & 0o777
    except OSError:
        return None
    if mode & 0o027:
        return (f"{file} is open to other users of this machine (mode {mode:04o}): make it readable by axisd only "
                f"(chmod 600 {file}, or 640 for axisd's group)")
    return None


def read_bytes(path: str | PathLike[str]) -> bytes:
    """The file's bytes, noted by the recording in force (if any)."""
    with open(path, "rb") as f:
        data = f.read()
    seen = _SEEN.get()
    if seen is not None:  # by real path: the daemon may name a file relatively, its intake processes absolutely
        seen[os.path.realpath(path)] = hashlib.sha256(data).hexdigest()
    return data


class _Hashing(io.RawIOBase):
    """A file read through, hashing what it gives; noted in ``seen`` when closed."""

    def __init__(self, path: str | PathLike[str], seen: dict[str, str] | None) -> None:
        self.file: BinaryIO = open(path, "rb")  # noqa: SIM115  # closed by close()
        self.path, self.seen, self.sha = os.path.realpath(path), seen, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.file.readinto(buffer)  # type: ignore[attr-defined]
        self.sha.update(memoryview(buffer)[:n])
        return int(n)

    def close(self) -> None:
        if not self.closed:
            self.file.close()
            if self.seen is not None:
                self.seen[self.path] = self.sha.hexdigest()
        super().close()


def open_text(path: str | PathLike[str], encoding: str, newline: str | None = None) -> TextIO:
    """The file as a text stream (a national directory is not held whole in memory), noted when it is closed."""
    return io.TextIOWrapper(io.BufferedReader(_Hashing(path, _SEEN.get())), encoding=encoding, newline=newline)


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Note every :func:`read_bytes` of this thread (or task) until the block ends: real path -> SHA-256."""
    seen: dict[str, str] = {}
    token = _SEEN.set(seen)
    try:
        yield seen
    finally:
        _SEEN.reset(token)


def differences(ours: dict[str, str], theirs: dict[str, str]) -> list[str]:
    """The files two loads read differently (content changed in between, or read by one only), sorted."""
    return sorted(path for path in ours.keys() | theirs.keys() if ours.get(path) != theirs.get(path))
