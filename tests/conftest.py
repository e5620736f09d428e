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
