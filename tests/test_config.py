"""Configuration errors name the file, the key and the problem; the demo config is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from axis.config import ConfigError, load

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_configuration_loads() -> None:
    config = load(ROOT / "conf" / "axisd.toml")
    assert config.server.port == 8080 and config.server.host == "127.0.0.1"
    assert config.server.data_dir == (ROOT / "conf" / "../var")
    assert config.limits.max_bytes == 64 * 1024 * 1024


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("[server]\nport = -1\n", "server.port", "positive integer"),
    ("[server]\nport = 70000\n", "server.port", "not a TCP port"),
    ("[server]\nprot = 80\n", "server.prot", "unknown setting"),
    ("[limits]\nmax_package_bytes = \"big\"\n", "limits.max_package_bytes", "positive integer"),
    ("[signatures]\ntrust_ca = [\"missing.pem\"]\n", "signatures", "does not exist"),
    ("[signatures]\nallow_sha1 = \"yes\"\n", "signatures.allow_sha1", "expected bool"),
    ("[routing]\n", "routing", "unknown section"),
    ("[server\n", "", "not valid TOML"),
])
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = tmp_path / "axisd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.key == key and fragment in info.value.problem
    assert str(info.value).startswith(str(path))
