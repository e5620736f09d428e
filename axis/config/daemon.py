"""``axisd.toml`` as a whole: :func:`load` reads every section into one frozen :class:`AxisConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axis.config import pem
from axis.config._base import ConfigError, read_toml
from axis.config.deadlines import DeadlinesConfig, read_deadlines
from axis.config.delivery import DeliveryConfig, StorageConfig, read_delivery, read_storage
from axis.config.identity import IdentityConfig, read_identity
from axis.config.limits import read_limits
from axis.config.priority import PriorityConfig, read_priority
from axis.config.registry import read_registry
from axis.config.server import ServerConfig, read_server
from axis.config.signatures import SignatureConfig, read_signatures
from axis.config.vxp import VxpConfig, read_vxp
from axis.edxml.xmlsafe import ParseLimits
from axis.registry import Registry

SECTIONS = ("server", "limits", "signatures", "axis", "delivery", "storage", "priority", "deadlines", "vxp", "registry")


@dataclass(frozen=True)
class AxisConfig:
    source: Path  # the axisd.toml read
    server: ServerConfig
    limits: ParseLimits
    signatures: SignatureConfig
    axis: IdentityConfig
    delivery: DeliveryConfig
    storage: StorageConfig
    priority: PriorityConfig
    deadlines: DeadlinesConfig
    vxp: VxpConfig
    registry: Registry
    registry_files: tuple[Path, ...]  # the agency (TOML) and directory (CSV) files read, in order


def load(path: Path) -> AxisConfig:
    """Read ``path`` and every file it names; raise :class:`ConfigError` naming the file, key and problem.

    Only ``[axis] code`` is required; every other setting has a default.  Relative paths are resolved
    against the directory of the file they appear in.
    """
    path = Path(path)
    raw = read_toml(path)
    for name in raw:
        if name not in SECTIONS:
            raise ConfigError(path, name, f"unknown section (expected one of {', '.join(sorted(SECTIONS))})")
    server = read_server(path, raw.get("server", {}))
    limits = read_limits(path, raw.get("limits", {}))
    signatures = read_signatures(path, raw.get("signatures", {}))
    identity = read_identity(path, raw.get("axis", {}))
    delivery = read_delivery(path, raw.get("delivery", {}))
    storage = read_storage(path, raw.get("storage", {}))
    priority = read_priority(path, raw.get("priority", {}))
    deadlines = read_deadlines(path, raw.get("deadlines", {}))
    vxp = read_vxp(path, raw.get("vxp", {}))
    registry, files = read_registry(path, raw.get("registry", {}), signatures.require_valid_signature,
                                    frozenset(deadlines.calendars))
    # The TLS files are read here, not with their sections: axisctl's store commands read [server] alone, and
    # must work for an operator who may not read axisd's key.
    tls = server.tls
    pem.check_pair(path, "server.tls_cert", "server.tls_key", tls.cert, tls.key)
    pem.check_certificates(path, "server.client_ca", tls.client_ca)
    pem.check_pair(path, "delivery.tls_client_cert", "delivery.tls_client_key", delivery.tls_client_cert,
                   delivery.tls_client_key)
    pem.check_certificates(path, "delivery.tls_ca", delivery.tls_ca)
    return AxisConfig(source=path, server=server, limits=limits, signatures=signatures, axis=identity,
                      delivery=delivery, storage=storage, priority=priority, deadlines=deadlines, vxp=vxp,
                      registry=registry, registry_files=files)
