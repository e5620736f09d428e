"""axisd configuration: a TOML file admins edit, read into frozen sections.

Each section is read by its own function and every error names the file, the key and
the problem (``conf/axisd.toml: limits.max_package_bytes: expected a positive integer``).
Relative paths are resolved against the file's directory, so the daemon can be started
from anywhere.  This holds the daemon's own settings; the agency registry and routes
arrive with the routing work (issue 3).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axis.edxml.xmlsafe import DEFAULT_LIMITS, ParseLimits


class ConfigError(Exception):
    def __init__(self, path: Path, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")
        self.path, self.key, self.problem = path, key, problem


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")


@dataclass(frozen=True)
class SignatureConfig:
    trust_ca: tuple[Path, ...] = ()
    pins: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    allow_sha1: bool = False
    require_valid_signature: bool = False


@dataclass(frozen=True)
class AxisConfig:
    source: Path
    server: ServerConfig
    limits: ParseLimits
    signatures: SignatureConfig


class _Section:
    def __init__(self, path: Path, name: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, name, "expected a table")
        self.path, self.name, self.data = path, name, data
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, kind: type, default: Any) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ConfigError(self.path, self.key(key), f"expected a positive integer, got {value!r}")
        if kind is not int and not isinstance(value, kind):
            raise ConfigError(self.path, self.key(key), f"expected {kind.__name__}, got {value!r}")
        return value

    def paths(self, key: str) -> tuple[Path, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) and v for v in values):
            raise ConfigError(self.path, self.key(key), "expected a list of file paths")
        return tuple(self.resolve(v) for v in values)

    def resolve(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else (self.path.parent / p)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(self.path, self.key(unknown[0]), "unknown setting (misspelt?)")


def load(path: Path) -> AxisConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"not valid TOML ({exc})") from None
    known = {"server", "limits", "signatures"}
    for name in raw:
        if name not in known:
            raise ConfigError(path, name, f"unknown section (expected one of {', '.join(sorted(known))})")

    s = _Section(path, "server", raw.get("server", {}))
    server = ServerConfig(host=s.get("host", str, "127.0.0.1"), port=s.get("port", int, 8080),
                          data_dir=s.resolve(s.get("data_dir", str, "var")))
    if server.port > 65535:
        raise ConfigError(path, "server.port", f"{server.port} is not a TCP port")
    s.done()

    lim = _Section(path, "limits", raw.get("limits", {}))
    limits = ParseLimits(max_bytes=lim.get("max_package_bytes", int, DEFAULT_LIMITS.max_bytes),
                         max_text=lim.get("max_text_bytes", int, DEFAULT_LIMITS.max_text))
    lim.done()

    sig = _Section(path, "signatures", raw.get("signatures", {}))
    pins_table = _Section(path, "signatures.pins", sig.get("pins", dict, {}))
    pins = {code: pins_table.paths(code) for code in pins_table.data}
    signatures = SignatureConfig(trust_ca=sig.paths("trust_ca"), pins=pins,
                                 allow_sha1=sig.get("allow_sha1", bool, False),
                                 require_valid_signature=sig.get("require_valid_signature", bool, False))
    sig.done()
    for p in (*signatures.trust_ca, *(p for ps in pins.values() for p in ps)):
        if not p.is_file():
            raise ConfigError(path, "signatures", f"certificate file {p} does not exist")
    return AxisConfig(source=path, server=server, limits=limits, signatures=signatures)
