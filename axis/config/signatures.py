"""``[signatures]``: the trust store for package signatures and the default signature policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axis.agencycode import parse_strict
from axis.config import pem
from axis.config._base import ConfigError, _Section
from axis.errors import AxisError


@dataclass(frozen=True)
class SignatureConfig:
    trust_ca: tuple[Path, ...] = ()
    pins: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # by canonical agency code
    allow_sha1: bool = False
    require_valid_signature: bool = False  # also the default policy of agencies that do not set one


def read_signatures(path: Path, data: Any) -> SignatureConfig:
    sig = _Section(path, "signatures", data)
    pins_table = _Section(path, "signatures.pins", sig.get("pins", dict, {}))
    pins, written = _pins(pins_table)
    signatures = SignatureConfig(trust_ca=sig.paths("trust_ca"), pins=pins,
                                 allow_sha1=sig.get("allow_sha1", bool, False),
                                 require_valid_signature=sig.get("require_valid_signature", bool, False))
    sig.done()
    _check_files(path, "signatures.trust_ca", signatures.trust_ca)
    for code, files in pins.items():
        _check_files(path, pins_table.key(written[code]), files)
    return signatures


def _pins(table: _Section) -> tuple[dict[str, tuple[Path, ...]], dict[str, str]]:
    """The pins by canonical agency code, and each canonical code's text as written.

    A pin names an agency as ``[[agency]] code`` does (either grammar, one agency once): keyed as written, "H41"
    and the certificates of [[agency]] 000.00.00.H41 became two pins of which the trust store kept one, and a
    code no package carries (``h41``) was a pin never applied.
    """
    pins: dict[str, tuple[Path, ...]] = {}
    written: dict[str, str] = {}
    for text in table.data:
        try:
            key = parse_strict(text).canonical
        except AxisError as exc:
            raise table.error(text, exc.problem.detail) from None
        if key in written:
            raise table.error(text, f"{key} is the same agency as {table.key(written[key])}")
        pins[key], written[key] = table.paths(text), text
    return pins, written


def _check_files(path: Path, key: str, files: tuple[Path, ...]) -> None:
    """Each file exists and holds PEM certificates, checked at load as axisd reads them at start (check-config
    passed a file that was not PEM, and axisd then refused to start); the error names the very key."""
    for file in files:
        if not file.is_file():
            raise ConfigError(path, key, f"certificate file {file} does not exist")
    pem.check_certificates(path, key, files)
