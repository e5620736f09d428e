"""``[signatures]``: the trust store for package signatures and the default signature policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axis.config import pem
from axis.config._base import ConfigError, _Section


@dataclass(frozen=True)
class SignatureConfig:
    trust_ca: tuple[Path, ...] = ()
    pins: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    allow_sha1: bool = False
    require_valid_signature: bool = False  # also the default policy of agencies that do not set one


def read_signatures(path: Path, data: Any) -> SignatureConfig:
    sig = _Section(path, "signatures", data)
    pins_table = _Section(path, "signatures.pins", sig.get("pins", dict, {}))
    pins = {code: pins_table.paths(code) for code in pins_table.data}
    signatures = SignatureConfig(trust_ca=sig.paths("trust_ca"), pins=pins,
                                 allow_sha1=sig.get("allow_sha1", bool, False),
                                 require_valid_signature=sig.get("require_valid_signature", bool, False))
    sig.done()
    _check_files(path, "signatures.trust_ca", signatures.trust_ca)
    for code, files in pins.items():
        _check_files(path, f"signatures.pins.{code}", files)
    return signatures


def _check_files(path: Path, key: str, files: tuple[Path, ...]) -> None:
    """Each file exists and holds PEM certificates, checked at load as axisd reads them at start (check-config
    passed a file that was not PEM, and axisd then refused to start); the error names the very key."""
    for file in files:
        if not file.is_file():
            raise ConfigError(path, key, f"certificate file {file} does not exist")
    pem.check_certificates(path, key, files)
