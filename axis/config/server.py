"""``[server]``: where axisd listens, where it keeps its state, how long a request may take."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axis.config._base import ConfigError, _Section


@dataclass(frozen=True)
class TlsConfig:
    """HTTPS for the doors: the server's certificate chain and key; optionally client certificates from
    ``client_ca`` (asked for, or with ``require_client_cert`` demanded)."""

    cert: Path | None = None
    key: Path | None = None
    client_ca: tuple[Path, ...] = ()
    require_client_cert: bool = False

    @property
    def enabled(self) -> bool:
        return self.cert is not None


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")  # resolved against the configuration file's directory
    request_timeout: float = 60.0  # seconds axis may take to answer a request once it has received it
    receive_timeout: float = 120.0  # seconds a client may take to send one request, from its first byte to its last
    # processes that check packages and sign receipts (0: the daemon's own threads do it); default one per core
    intake_processes: int = field(default_factory=lambda: _auto())
    tls: TlsConfig = TlsConfig()


def _auto() -> int:
    """One per core this process may run on, less the core the daemon itself needs (its reactor and writer), at
    least one.  On two cores two intake processes were slower than one (bench/bench_load.py): four busy processes
    on two cores take turns, and each turn starts on caches another one emptied."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _intake_processes(s: _Section) -> int:
    """``"auto"`` (the default: one per CPU core but one, at least 1) or a count 0..64 (0: no separate processes)."""
    raw = s.get("intake_processes", object, "auto")
    if raw == "auto":
        return _auto()
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 64:
        raise s.error("intake_processes", f'expected "auto" or a count 0..64, got {raw!r}')
    return raw


def _tls(s: _Section) -> TlsConfig:
    cert, key = s.path_value("tls_cert"), s.path_value("tls_key")
    client_ca, required = s.paths("client_ca"), s.get("require_client_cert", bool, False)
    if (cert is None) != (key is None):
        raise s.error("tls_key" if key is None else "tls_cert", "give tls_cert and tls_key together")
    for name, file in (("tls_cert", cert), ("tls_key", key), *(("client_ca", ca) for ca in client_ca)):
        if file is not None and not file.is_file():
            raise s.error(name, f"{file} does not exist")
    if client_ca and cert is None:
        raise s.error("client_ca", "client certificates need TLS: give tls_cert and tls_key")
    if required and not client_ca:
        raise s.error("require_client_cert", "give the CAs of the client certificates in client_ca")
    return TlsConfig(cert, key, client_ca, required)


def read_server(path: Path, data: Any) -> ServerConfig:
    s = _Section(path, "server", data)
    # Non-blank (s.text): an empty host listened on every interface, an empty data_dir was the file's directory.
    host, data_dir = s.text("host", "127.0.0.1") or "127.0.0.1", s.text("data_dir", "var") or "var"
    server = ServerConfig(host=host, port=s.get("port", int, 8080), data_dir=s.resolve(data_dir),
                          request_timeout=s.duration("request_timeout", 60.0),
                          receive_timeout=s.duration("receive_timeout", 120.0),
                          intake_processes=_intake_processes(s), tls=_tls(s))
    if server.port > 65535:
        raise ConfigError(path, "server.port", f"{server.port} is not a TCP port")
    s.done()
    return server
