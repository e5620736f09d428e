"""What a reload may change in a running daemon, and what needs a restart; the policy built from a configuration
(axis.app)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from daemon import AgencySpec, Axisd, make_pki
from packages import FROM, edoc

from axis.app import _restart_needed, build_policy, identity, with_data_dir
from axis.config import AxisConfig, load
from axis.intake import Intake
from axis.signature.sign import sign_package
from axis.vntime import now

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


def test_a_signed_package_from_an_agency_written_as_its_vxp_system_id(tmp_path: Path) -> None:
    """The SDK's gateway writes the agency's system id as From: the registry resolves it, and the policy built from
    the configuration judges the signature as that agency's (its certificate names the agency, not the id)."""
    g22, h41 = "000.00.00.G22", "000.00.00.H41"
    certs = make_pki(tmp_path / "pki", [g22])
    axisd = Axisd(tmp_path, [AgencySpec(g22, signature="require", vxp_system_id="vxp.saas.02", hmac_secret=b"s" * 32), AgencySpec(h41)],
                  pki_dir=tmp_path / "pki")
    axisd.data_dir.mkdir(parents=True)
    config = with_data_dir(load(axisd.config), axisd.data_dir)
    policy = build_policy(config)
    agency = policy.registry.get("vxp.saas.02")
    assert agency is not None and agency.key == g22
    data = sign_package(edoc(sender=FROM.replace(f">{g22}<", ">vxp.saas.02<"), to=(h41,)), certs[g22])
    prepared = Intake(identity(config), config.axis.code, now).prepare(policy, agency, data)
    assert prepared.message.sender == g22
    assert prepared.signature is not None and prepared.signature["class"] == "valid"
