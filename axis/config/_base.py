"""What every configuration module shares: the error, typed access to one table, durations and sizes.

Every error names the file, the key and the problem (``conf/axisd.toml: server.port: 70000 is not a
TCP port``), so an operator can go straight to the line.  Values that may be secrets are never put
in a message.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from axis import sources


class ConfigError(Exception):
    """A configuration file is wrong: ``path``, the ``key`` within it ("" for the whole file), the problem."""

    def __init__(self, path: Path, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")
        self.path, self.key, self.problem = path, key, problem


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_SYNTAX = 'seconds, or a number with a unit: "500ms", "5s", "10m", "24h", "5d"'

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)")
_SIZE_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
               "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
SIZE_SYNTAX = 'bytes, or a number with a unit: "512KiB", "64MiB", "10MB", "1GiB"'
# Durations and periods become nanoseconds added to the clock (SQLite integers: 64 bits, 292 years in all):
# beyond a century they overflowed at run time, and every push poll or retention run failed.
MAX_DAYS = 36500
MAX_SECONDS = MAX_DAYS * 86400.0


def parse_duration(value: object) -> float:
    """Seconds from an int or float (seconds) or a string such as ``"500ms"``, ``"5s"``, ``"10m"``,
    ``"24h"``, ``"5d"``.  Raises ValueError for anything else, and for negative or infinite values."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration ({DURATION_SYNTAX}), got {value!r}")
    if isinstance(value, int | float):
        # tomllib reads integers of any size: float() of a huge one raised OverflowError, not this ValueError
        seconds = float(value) if not isinstance(value, int) or abs(value) <= 2**63 else math.inf
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration ({DURATION_SYNTAX}), got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a duration ({DURATION_SYNTAX}), got {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as ``"64MiB"`` (binary units) or ``"10MB"`` (decimal units).
    Raises ValueError for anything else, for negative values and for fractions of a byte."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size ({SIZE_SYNTAX}), got {value!r}")
    if isinstance(value, int):
        size: float = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        size = float(match.group(1)) * _SIZE_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a size ({SIZE_SYNTAX}), got {value!r}")
    if isinstance(size, int) and size > 2**63:  # tomllib reads integers of any size; float() of one overflowed
        raise ValueError(f"expected a size ({SIZE_SYNTAX}), got an integer of {len(str(size))} digits")
    if size < 0 or not float(size).is_integer():
        raise ValueError(f"expected a whole number of bytes ({SIZE_SYNTAX}), got {value!r}")
    return int(size)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a ConfigError naming it."""
    try:
        text = sources.read_bytes(path).decode("utf-8")
        return tomllib.loads(text.replace("\r\n", "\n").replace("\r", "\n"))  # newlines as read_text() reads them
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot be read ({exc.strerror or exc})") from None


class _Section:
    """One TOML table: typed getters that record which keys were read, and ``done()`` refusing the rest.

    ``name`` prefixes every key in errors (``server`` gives ``server.port``); it may be changed once
    more is known (``agency[3]`` becomes ``agency[3] (000.00.00.H41)`` after its code is read).
    """

    def __init__(self, path: Path, name: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, name, "expected a table")
        self.path, self.name, self.data = path, name, data
        self.used: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.path, self.key(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, kind: type, default: Any) -> Any:
        """The value of ``key`` (``default`` when absent); ``int`` means a positive integer."""
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise self.error(key, f"expected a positive integer, got {value!r}")
        if kind is not int and not isinstance(value, kind):
            raise self.error(key, f"expected {kind.__name__}, got {value!r}")
        return value

    def required(self, key: str, kind: type, example: str = "") -> Any:
        if key not in self.data:
            self.used.add(key)
            raise self.error(key, "required" + (f" ({example})" if example else ""))
        return self.get(key, kind, None)

    def text(self, key: str, default: str | None = None) -> str | None:
        """A non-blank string, stripped of surrounding whitespace."""
        if key not in self.data:
            self.used.add(key)
            return default
        value = self.get(key, str, default)
        if not value.strip():
            raise self.error(key, "must not be empty")
        return value.strip()  # type: ignore[no-any-return]

    def duration(self, key: str, default: float, *, positive: bool = True) -> float:
        self.used.add(key)
        if key not in self.data:
            return default
        try:
            seconds = parse_duration(self.data[key])
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if positive and seconds <= 0:
            raise self.error(key, f"must be more than zero, got {self.data[key]!r}")
        if seconds > MAX_SECONDS:
            raise self.error(key, f"at most {MAX_DAYS}d (a century), got {self.data[key]!r}")
        return seconds

    def size(self, key: str, default: int) -> int:
        self.used.add(key)
        if key not in self.data:
            return default
        try:
            size = parse_size(self.data[key])
        except ValueError as exc:
            raise self.error(key, f"expected a positive integer or a size ({SIZE_SYNTAX}), "
                                  f"got {self.data[key]!r}") from exc
        if size <= 0:
            raise self.error(key, f"expected a positive integer or a size ({SIZE_SYNTAX}), got {self.data[key]!r}")
        return size

    def paths(self, key: str) -> tuple[Path, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) and v for v in values):
            raise self.error(key, "expected a list of file paths")
        return tuple(self.resolve(v) for v in values)

    def path_value(self, key: str) -> Path | None:
        """An optional single file path, resolved against the file's directory."""
        value = self.get(key, str, None)
        if value is None:
            return None
        if not value:
            raise self.error(key, "expected a file path, got an empty string")
        return self.resolve(value)

    def resolve(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else (self.path.parent / p)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown setting (misspelt?)")
