"""What a reload may change in a running daemon, and what needs a restart (axis.app)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from axis.app import _restart_needed
from axis.config import AxisConfig, load

AXIS = '[axis]\ncode = "000.00.99.H41"\n'


@pytest.fixture
def config(tmp_path: Path) -> AxisConfig:
    path = tmp_path / "axisd.toml"
    path.write_text(AXIS, encoding="utf-8")
    return load(path)


@pytest.mark.parametrize("name", ["timeout", "poll_interval", "per_host", "connect_timeout", "upstream_poll_interval"])
def test_delivery_settings_read_once_need_a_restart(config: AxisConfig, name: str) -> None:
    """The upstream links keep the timeout they were made with, and the push loop its interval: a reload that
    changed them would report ok and not apply them."""
    changed = replace(config, delivery=replace(config.delivery, **{name: getattr(config.delivery, name) * 2}))
    assert _restart_needed(config, changed) == [f"delivery.{name}"]


@pytest.mark.parametrize("name", ["retry_initial", "retry_max", "dead_after", "concurrency"])
def test_delivery_settings_read_at_each_attempt_reload(config: AxisConfig, name: str) -> None:
    value = getattr(config.delivery, name)
    changed = replace(config, delivery=replace(config.delivery, **{name: value // 2 if isinstance(value, int)
                                                                   else value / 2}))
    assert _restart_needed(config, changed) == []
