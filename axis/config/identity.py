"""``[axis]``: this axis's own identity, the code it records in the hops and receipts it signs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axis import receipt, sources
from axis.agencycode import parse_strict
from axis.config._base import _Section
from axis.errors import AxisError


@dataclass(frozen=True)
class IdentityConfig:
    code: str  # canonical (QCVN 102) form of this axis's agency code, e.g. "000.00.99.H41"
    name: str = "axis"
    key: Path | None = None  # PEM private key signing receipts; None: generated under data_dir at first start
    cert: Path | None = None  # its certificate; given together with key


def read_identity(path: Path, data: Any) -> IdentityConfig:
    s = _Section(path, "axis", data)
    text = s.required("code", str, 'this axis\'s own agency code, e.g. code = "000.00.99.H41"')
    try:
        code = parse_strict(text).canonical
    except AxisError as exc:
        raise s.error("code", exc.problem.detail) from None
    name = s.text("name", "axis")
    key, cert = s.path_value("key"), s.path_value("cert")
    s.done()
    if (key is None) != (cert is None):
        missing = "cert" if cert is None else "key"
        raise s.error(missing, "required when " + ("key" if missing == "cert" else "cert") + " is set: "
                      "give the receipt signing key and its certificate together")
    for item, p in (("key", key), ("cert", cert)):
        if p is not None and not p.is_file():
            raise s.error(item, f"file {p} does not exist")
    if key is not None and cert is not None:
        _check_receipt_pair(s, key, cert)
    return IdentityConfig(code=code, name=name or "axis", key=key, cert=cert)


def _check_receipt_pair(s: _Section, key: Path, cert: Path) -> None:
    """The receipt key and certificate read as axisd reads them at start: check-config passed a key that was not
    PEM, or not the certificate's, and axisd then could not start."""
    try:
        certificate = receipt.load_certificate(cert)
    except OSError as exc:
        raise s.error("cert", f"{cert}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise s.error("cert", str(exc)) from None
    exposed = sources.exposed_secret(key)
    if exposed is not None:
        raise s.error("key", exposed)
    try:
        receipt.ReceiptSigner(receipt.load_key(key), certificate)
    except OSError as exc:
        raise s.error("key", f"{key}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise s.error("key", str(exc)) from None
