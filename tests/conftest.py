"""Shared fixtures: the interop samples beside the project, and a builder for hand-made packages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]

# axis refuses a secret file (HMAC secret, private key) that other users may read (axis.config._base.exposed_secret):
# the files the tests write are private, as an operator's must be, and the tests of that refusal set modes themselves.
# Git keeps no mode but 644 and 755, so the demo's secret comes out of a checkout open to all (`make run` fixes it too).
os.umask(0o077)
for _secret in (ROOT / "conf" / "secrets").glob("*.hmac"):
    _secret.chmod(0o600)


def interop_dir() -> Path:
    return Path(os.environ.get("AXIS_INTEROP_DIR", ROOT.parent / "shared" / "interop"))


@pytest.fixture(scope="session")
def interop() -> Path:
    path = interop_dir()
    if not (path / "expected.json").is_file():
        pytest.skip(f"interop samples not found at {path} (set AXIS_INTEROP_DIR)")
    return path


@pytest.fixture(scope="session")
def expected(interop: Path) -> dict[str, dict]:
    data = json.loads((interop / "expected.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}
