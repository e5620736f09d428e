"""``[server]``: where axisd listens, where it keeps its state, how long a request may take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axis.config._base import ConfigError, _Section


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")  # resolved against the configuration file's directory
    request_timeout: float = 60.0  # seconds a request may take, body included


def read_server(path: Path, data: Any) -> ServerConfig:
    s = _Section(path, "server", data)
    server = ServerConfig(host=s.get("host", str, "127.0.0.1"), port=s.get("port", int, 8080),
                          data_dir=s.resolve(s.get("data_dir", str, "var")),
                          request_timeout=s.duration("request_timeout", 60.0))
    if server.port > 65535:
        raise ConfigError(path, "server.port", f"{server.port} is not a TCP port")
    s.done()
    return server
