"""``[vxp]``: the door for agency systems built on the national axis's Java SDK (SDKVXP).

    [vxp]
    enabled = true        # serve the SDKVXP protocol
    prefix = "/vxp"       # the SDK's endpoint is then http://axis:8080/vxp (it appends "/sendEdoc", …)
    port = 0              # 0: on [server] port; otherwise a listener of its own (same host)

Agencies connect with their ``vxp_system_id`` and their HMAC secret (the SDK's ``secret``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axis.config._base import _Section

_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*")


@dataclass(frozen=True)
class VxpConfig:
    enabled: bool = True
    prefix: str = "/vxp"  # "" serves the operations at the root (only sensible on a port of its own)
    port: int = 0  # 0: the main listener

    @property
    def segments(self) -> tuple[bytes, ...]:
        return tuple(p.encode() for p in self.prefix.split("/") if p)


def read_vxp(path: Path, data: Any) -> VxpConfig:
    s = _Section(path, "vxp", data)
    enabled = s.get("enabled", bool, True)
    prefix = s.get("prefix", str, "/vxp").rstrip("/")
    if not _PREFIX.fullmatch(prefix):
        raise s.error("prefix", f'expected a path such as "/vxp" (letters, digits, ".", "_", "-", "~"), got {prefix!r}')
    s.used.add("port")
    port = s.data.get("port", 0)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise s.error("port", f"expected 0 (the main port) or a TCP port, got {port!r}")
    if not prefix and port == 0:
        raise s.error("prefix", "an empty prefix needs a port of its own (the root serves /v1, /metrics, …)")
    s.done()
    return VxpConfig(enabled=enabled, prefix=prefix, port=port)
