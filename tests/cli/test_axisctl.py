"""axisctl as an operator runs it: real processes, real files, real keys."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from packages import edoc

from axis.storage.sqlite import open_database

AXISCTL = Path(sys.executable).with_name("axisctl")


def run(*args: str | Path, ok: int | None = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(AXISCTL), *map(str, args)], capture_output=True, text=True, timeout=120)
    if ok is not None:
        assert proc.returncode == ok, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    run("pki", "init", directory)
    run("pki", "issue", "000.00.00.G22", "--dir", directory, "--name", "Văn phòng Chính phủ")
    return directory


def test_pki_init_and_issue_write_keys_privately(pki_dir: Path) -> None:
    for key in ("ca.key", "000.00.00.G22.key"):
        assert stat.S_IMODE(os.stat(pki_dir / key).st_mode) == 0o600
    assert b"BEGIN CERTIFICATE" in (pki_dir / "000.00.00.G22.pem").read_bytes()
    assert run("pki", "init", pki_dir, ok=2).stderr.startswith("axisctl: ")  # no silent replacement of a CA


def test_pki_issue_registers_only_valid_codes(pki_dir: Path) -> None:
    proc = run("pki", "issue", "vxp.saas.03", "--dir", pki_dir, ok=1)
    assert "agency.invalid-code" in proc.stderr
    assert not (pki_dir / "vxp.saas.03.key").exists()
    run("pki", "issue", "H41", "--dir", pki_dir)  # the QĐ 20/2020 form is a valid registration


def test_sign_then_validate(pki_dir: Path, tmp_path: Path) -> None:
    unsigned = tmp_path / "doc.edxml"
    unsigned.write_bytes(edoc())
    signed = tmp_path / "doc.signed.edxml"
    run("sign", unsigned, "--key", pki_dir / "000.00.00.G22.key", "--cert", pki_dir / "000.00.00.G22.pem",
        "-o", signed)
    (line,) = lines(run("validate", signed, "--trust-ca", pki_dir / "ca.pem", "--require-signature"))
    assert line["acceptable"] is True and line["signature"]["class"] == "valid"
    assert line["signature"]["signer_agency"] == "000.00.00.G22" and line["signature"]["trust"] == "ca"
    assert (line["kind"], line["from"], line["to"], line["priority"]) == ("edoc", "000.00.00.G22",
                                                                          ["000.00.00.H41"], 2)
    assert line["attachments"][0]["type"] == "pdf" and line["attachments"][0]["size"] > 0
    # without a trust store the same signature is not trusted: no fallback to the system's web CAs
    (line,) = lines(run("validate", signed, ok=1))
    assert line["signature"]["reason"] == "signature.untrusted" and not line["acceptable"]
    # an unsigned package is acceptable as legacy, unless a signature is required
    assert lines(run("validate", unsigned))[0]["signature"]["class"] == "absent"
    (line,) = lines(run("validate", unsigned, "--require-signature", ok=1))
    assert [e["code"] for e in line["errors"]] == ["signature.required"]


def test_an_expired_certificate_is_reported_as_expired(pki_dir: Path, tmp_path: Path) -> None:
    run("pki", "issue", "000.00.00.H41", "--dir", pki_dir, "--stem", "old",
        "--not-before", "2020-01-01T00:00:00+07:00", "--not-after", "2021-01-01T00:00:00+07:00")
    package = tmp_path / "status.edxml"
    package.write_bytes(edoc(sender="<edXML:From><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:From>",
                             to=("000.00.00.G22",)))
    run("sign", package, "--key", pki_dir / "old.key", "--cert", pki_dir / "old.pem", "-o", package)
    (line,) = lines(run("validate", package, "--trust-ca", pki_dir / "ca.pem", ok=1))
    assert line["signature"]["reason"] == "signature.cert-expired"


def test_validate_the_interop_samples(interop: Path, expected: dict[str, dict]) -> None:
    files = sorted(interop.rglob("*.edxml"))
    out = lines(run("validate", *files, ok=1))  # two samples are not well-formed
    assert len(out) == len(files)
    for line in out:
        want = expected[Path(line["file"]).relative_to(interop).as_posix()]
        assert line["acceptable"] is want["wellformed"]
        if want["wellformed"]:
            assert line["kind"] == want["kind"] and line["from"] == want["from"]
            assert line["signature"]["class"] in want["signature"]
            assert len(line["attachments"]) == want["attachments"]
            if want["kind"] == "edoc":
                assert line["to"] == want["to"] and line["business_doc_type"] == want["business_doc_type"]
            if want["kind"] == "status":
                assert line["status_code"] == want["status_code"].zfill(2)
        else:
            assert line["errors"][0]["code"] == "xml.not-well-formed" and line["errors"][0]["where"]["line"] >= 1
    good = [f for f in files if expected[f.relative_to(interop).as_posix()]["wellformed"]]
    run("validate", *good)  # exit 0: all acceptable


def test_usage_and_file_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    assert run("validate", tmp_path / "missing.edxml", ok=1).stdout.count("file.unreadable") == 1
    assert run("validate", "x", "--pin", "nonsense", ok=2).stderr.startswith("axisctl: --pin")
    assert run("sign", tmp_path / "missing.edxml", "--key", "k", "--cert", "c", ok=1).stderr.startswith("axisctl:")
    assert run(ok=2).returncode == 2


def test_stats_and_overdue_errors_are_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "axisd.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "var"}"\n[axis]\ncode = "000.00.99.H41"\n')
    c = ("--config", config)
    assert "no axis database" in run("stats", "--from", "2026-11-01", "--to", "2026-11-30", *c, ok=1).stderr
    (tmp_path / "var").mkdir()
    open_database(tmp_path / "var")
    assert "--from expects a date" in run("stats", "--from", "1/11/2026", "--to", "2026-11-30", *c, ok=1).stderr
    assert "before it starts" in run("stats", "--from", "2026-11-30", "--to", "2026-11-01", *c, ok=1).stderr
    assert "--agency 'x'" in run("overdue", "--agency", "x", *c, ok=1).stderr
    assert "--under 'H41': not a registered agency" in run("stats", "--from", "2026-11-01", "--to", "2026-11-30",
                                                           "--under", "H41", *c, ok=1).stderr
    assert "no overdue documents" in run("overdue", *c).stdout
    assert "(no documents in this period)" in run("stats", "--from", "2026-11-01", "--to", "2026-11-30", *c).stdout
    config.write_text(config.read_text() + '[deadlines]\ndays = ["someday"]\n')
    assert "deadlines.days" in run("stats", "--from", "2026-11-01", "--to", "2026-11-30", *c, ok=1).stderr


def test_pki_issue_prints_its_validity_in_vietnam_time(pki_dir: Path) -> None:
    issued = lines(run("pki", "issue", "000.00.00.H41", "--dir", pki_dir, "--key-kind", "ec"))[0]
    assert issued["not_before"].endswith("+07:00") and issued["not_after"].endswith("+07:00"), issued


@pytest.mark.parametrize("command", [["dead-letters"], ["resend", "--all"], ["audit"], ["reload"], ["trace", "x"],
                                     ["retention", "--days", "10", "--batch", "5"]])
def test_store_commands_with_a_missing_or_bad_config_print_one_line(tmp_path: Path, command: list[str]) -> None:
    assert run(*command, "--config", tmp_path / "missing.toml", ok=2).stderr.startswith("axisctl: ")
    bad = tmp_path / "axisd.toml"
    bad.write_text('[server]\nport = "x"\n')
    assert "server.port" in run(*command, "--config", bad, ok=2).stderr


def test_reload_never_signals_a_process_that_is_not_axisd(tmp_path: Path) -> None:
    """The pid file of a daemon that was killed stays, and its number may be another program's now."""
    other = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "axisd.pid").write_text(f"{other.pid}\n")
        assert "stale" in run("reload", "--data-dir", tmp_path, "--timeout", "0.5", ok=1).stderr
        assert other.poll() is None  # SIGHUP would have ended it
    finally:
        other.kill()
        other.wait()


def test_retention_of_more_than_a_century_is_refused(tmp_path: Path) -> None:
    open_database(tmp_path)
    assert "--days expects 1..36500" in run("retention", "--data-dir", tmp_path, "--days", "200000", ok=1).stderr


def test_a_client_command_against_something_that_is_not_http_prints_one_line() -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        assert "did not answer in HTTP" in run("mailbox", "--token", "t", "--url", url, ok=1).stderr
    finally:
        server.close()


@pytest.mark.parametrize("command", [["dead-letters"], ["resend", "--all"], ["audit"], ["trace", "x"],
                                     ["retention", "--days", "10", "--batch", "5"]])
def test_store_commands_on_a_database_sqlite_cannot_use_print_one_line(tmp_path: Path, command: list[str]) -> None:
    """What SQLite says (a damaged file, another process holding the write lock past the busy timeout) is one line
    and exit 1, as README promises for the store commands, not a traceback."""
    (tmp_path / "axis.sqlite3").write_bytes(b"this is not an SQLite database, it was damaged" * 100)
    proc = run(*command, "--data-dir", tmp_path, ok=1)
    assert proc.stderr.startswith("axisctl: ") and "not a database" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_resend_without_ids_is_bad_usage_and_one_naming_no_dead_letter_says_so(tmp_path: Path) -> None:
    """README: the store commands print one line on error and exit 1, 2 for bad usage.  ``resend`` with neither ids
    nor --all exited 1; ``resend ID`` that requeued nothing exited 1 with no error line at all."""
    open_database(tmp_path)
    proc = run("resend", "--data-dir", tmp_path, ok=2)
    assert proc.stderr == "axisctl: name the message ids to resend, or --all\n"
    proc = run("resend", "--data-dir", tmp_path, "0123456789abcdef0123456789abcdef", ok=1)
    assert proc.stderr.startswith("axisctl: ") and len(proc.stderr.splitlines()) == 1
    assert "no dead letter" in proc.stderr and "0123456789abcdef0123456789abcdef" in proc.stderr
    assert run("resend", "--data-dir", tmp_path, "--all").stdout == "requeued 0 dead letter(s)\n"
