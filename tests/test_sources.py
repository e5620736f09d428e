"""What a load read: every file through axis.sources, by real path and content, compared between two loads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from axis import sources
from axis.app import load_config


def test_reads_are_noted_by_real_path_and_content_only_while_recording(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.csv"
    a.write_bytes(b"alpha")
    b.write_text("x,y\nNghệ An,1\n", encoding="utf-8")
    assert sources.read_bytes(a) == b"alpha"  # no recording: nothing noted, nothing fails
    monkeypatch.chdir(tmp_path)
    with sources.recording() as seen:
        assert sources.read_bytes("a.txt") == b"alpha"  # relative: noted by its real path
        with sources.open_text(b, encoding="utf-8", newline="") as text:
            assert text.read() == "x,y\nNghệ An,1\n"
    assert seen == {str(a.resolve()): hashlib.sha256(b"alpha").hexdigest(),
                    str(b.resolve()): hashlib.sha256(b.read_bytes()).hexdigest()}


def test_differences_name_the_files_read_differently_or_by_one_load_only() -> None:
    ours = {"/c/axisd.toml": "1", "/c/agencies.toml": "2", "/c/a.pem": "3"}
    assert sources.differences(ours, dict(ours)) == []
    assert sources.differences(ours, {**ours, "/c/agencies.toml": "9", "/c/new.csv": "4"}) == [
        "/c/agencies.toml", "/c/new.csv"]
    assert sources.differences(ours, {}) == sorted(ours)


def test_a_load_notes_every_file_of_the_configuration(tmp_path: Path) -> None:
    """The configuration, its agency files and directories, secrets and certificates: an edit of any one of them
    between the daemon's load and an intake process's shows."""
    from daemon import AgencySpec, Axisd

    axisd = Axisd(tmp_path, [AgencySpec("000.00.00.G22", hmac_secret=b"a-secret-of-sixteen-bytes-or-more"),
                             AgencySpec("000.00.00.H41")])
    loaded = load_config(axisd.config)
    conf = axisd.config.parent.resolve()
    assert {str(conf / "axisd.toml"), str(conf / "agencies.toml")} <= loaded.sources.keys()
    assert [p for p in loaded.sources if p.endswith("/000.00.00.G22.hmac")], loaded.sources  # the secret file
    before = loaded.sources
    (conf / "agencies.toml").write_text((conf / "agencies.toml").read_text() + "\n# an edit\n")
    assert sources.differences(before, load_config(axisd.config).sources) == [str(conf / "agencies.toml")]
