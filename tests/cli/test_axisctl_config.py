"""axisctl check-config and axisctl token, run in-process."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from axis.cli.axisctl import main
from axis.config import load

ROOT = Path(__file__).resolve().parents[2]


def test_check_config_on_the_demo(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert out == "axisctl: conf/axisd.toml: OK (3 agencies: 2 pull, 1 push; 0 routes)\n" and err == ""


def test_check_config_refuses_with_the_file_key_and_problem(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "agencies.toml").write_text('[[agency]]\ncode = "H41"\nname = "x"\ndelivery = "push"\n'
                                            f'token_sha256 = "{"ab" * 32}"\n')
    config = tmp_path / "axisd.toml"
    config.write_text('[axis]\ncode = "H41.99"\n[registry]\nagencies = ["agencies.toml"]\n')
    assert main(["check-config", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f'axisctl: {tmp_path / "agencies.toml"}: agency[1] (H41).push_url: required when delivery = "push"\n'


def test_check_config_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_token_prints_a_token_and_the_line_to_paste(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token"]) == 0
    out, err = capsys.readouterr()
    token, line = out.splitlines()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert line == f'token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"'
    assert token not in err
    assert main(["token"]) == 0 and capsys.readouterr().out.splitlines()[0] != token  # random each time

    # the printed line, pasted as is, registers the agency under that token
    (tmp_path / "agencies.toml").write_text(f'[[agency]]\ncode = "H41"\nname = "x"\n{line}\n')
    config = tmp_path / "axisd.toml"
    config.write_text('[axis]\ncode = "H41.99"\n[registry]\nagencies = ["agencies.toml"]\n')
    registry = load(config).registry
    assert registry.by_token_sha256(hashlib.sha256(token.encode()).digest()) is registry.get("H41")


def test_check_config_refuses_a_certificate_axisd_would_refuse(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """axisd refused to start on a pinned certificate file that is not PEM; check-config said OK."""
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    (tmp_path / "agencies.toml").write_text('[[agency]]\ncode = "H41"\nname = "x"\ncertificates = ["junk.pem"]\n'
                                            f'token_sha256 = "{"ab" * 32}"\n')
    config = tmp_path / "axisd.toml"
    config.write_text('[axis]\ncode = "H41.99"\n[registry]\nagencies = ["agencies.toml"]\n')
    assert main(["check-config", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (f"axisctl: {tmp_path / 'agencies.toml'}: agency[1] (H41).certificates: "
                                       f"{tmp_path / 'junk.pem'} holds no PEM certificate\n")
