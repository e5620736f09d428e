"""``[signatures]``: the trust store for package signatures and the default signature policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    for p in (*signatures.trust_ca, *(p for ps in pins.values() for p in ps)):
        if not p.is_file():
            raise ConfigError(path, "signatures", f"certificate file {p} does not exist")
    return signatures
