"""Backup, restore and retention with real daemons: a backup taken while axisd accepts packages from several
threads holds every package answered 202 before it began, and a daemon started on its restore serves them with
their ledgers; a damaged backup and a running daemon are refused; the daemon's retention loop removes what is
past retention and nothing that waits."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemon import AXIS_CODE, AgencySpec, Axisd
from packages import edoc

from axis.cli.axisctl import main as axisctl_main
from axis.receipt import load_certificate, load_or_create_identity, verify_receipt
from axis.storage.backup import MANIFEST, sha256_file
from axis.storage.base import NewDelivery, NewMessage
from axis.storage.sqlite import SqliteStore, open_database

G22, H41 = "000.00.00.G22", "000.00.00.H41"
AXISCTL = Path(sys.executable).with_name("axisctl")
AGENCIES = [AgencySpec(G22, "Văn phòng Chính phủ"), AgencySpec(H41, "UBND tỉnh")]


def document(doc_id: str) -> bytes:
    sender = f"<edXML:From><edXML:OrganId>{G22}</edXML:OrganId><edXML:OrganName>VPCP</edXML:OrganName></edXML:From>"
    return edoc(sender=sender, to=(H41,), document_id=f"<edXML:DocumentId>{doc_id}</edXML:DocumentId>")


def axisctl(*args: str) -> subprocess.CompletedProcess[str]:
    """axisctl as its own process (beside a daemon that writes)."""
    return subprocess.run([str(AXISCTL), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def ctl(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """axisctl in this process (a second faster): the same exit code, standard output and error."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        code = axisctl_main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)
    return run


def test_a_backup_under_load_restores_every_accepted_package(tmp_path: Path, ctl: Callable[..., Any]) -> None:
    a = Axisd(tmp_path / "a", AGENCIES, server="intake_processes = 0")
    b = Axisd(tmp_path / "b", AGENCIES, server="intake_processes = 0")
    backup_dir = tmp_path / "backup"
    sent: dict[str, bytes] = {}
    receipts: dict[str, dict] = {}
    accepted_at: dict[str, float] = {}  # message id -> when its 202 came back
    lock = threading.Lock()
    stop = threading.Event()
    a.start()
    try:
        for n in range(10):  # some history first: fetched and acknowledged
            data = document(f"first-{n}")
            r = a.submit(data, G22)
            assert r.status == 202, r.body
            mid = r.json()["message_id"]
            sent[mid], receipts[mid], accepted_at[mid] = data, r.json()["receipt"], time.monotonic()
            assert a.request("GET", f"/v1/mailbox/{mid}", as_code=H41).status == 200
            assert a.request("POST", f"/v1/mailbox/{mid}/ack", b'{"result": "done"}', as_code=H41).status == 200

        errors: list[str] = []

        def load(t: int) -> None:
            n = 0
            while not stop.is_set():
                data = document(f"load-{t}-{n}")
                n += 1
                r = a.submit(data, G22)
                if r.status != 202:
                    errors.append(f"{r.status} {r.body!r}")
                    return
                with lock:
                    mid = r.json()["message_id"]
                    sent[mid], accepted_at[mid] = data, time.monotonic()

        threads = [threading.Thread(target=load, args=(t,), daemon=True) for t in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.7)
        begun = time.monotonic()
        out = axisctl("backup", str(backup_dir), "--config", str(a.config), "--pages", "4")
        ended = time.monotonic()
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(10)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("backup OK: ") and not errors, (out.stdout, errors)
        before = {mid for mid, at in accepted_at.items() if at < begun}
        after = {mid for mid, at in accepted_at.items() if at > ended}
        assert len(before) > 30 and after  # the daemon kept accepting during and after the backup

        manifest = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
        assert manifest["created_at"].endswith("+07:00") and manifest["integrity_check"] == "ok"
        assert "0008_retention" in manifest["migrations"] and manifest["axis_version"]
        files = {f["name"]: f for f in manifest["files"]}
        assert set(files) == {"axis.sqlite3", "axis-key.pem", "axis-cert.pem"}
        assert files["axis-key.pem"]["mode"] == "0600"
        for name, f in files.items():
            assert sha256_file(backup_dir / name) == f["sha256"]
        assert len(before) <= manifest["row_counts"]["messages"] < len(sent)

        # restore refuses the directory of a running daemon, even with --force
        out = ctl("restore", str(backup_dir), "--config", str(a.config), "--force")
        assert out.returncode == 1 and "stop it before restoring" in out.stderr and "Traceback" not in out.stderr
        sent_views = {mid: a.sent(mid, G22).json() for mid in before}
    finally:
        stop.set()
        a.kill()

    out = ctl("restore", str(backup_dir), "--config", str(b.config))
    assert out.returncode == 0, out.stderr
    assert (b.data_dir / "axis-key.pem").stat().st_mode & 0o777 == 0o600
    assert (b.data_dir / "axis-cert.pem").read_bytes() == (a.data_dir / "axis-cert.pem").read_bytes()
    out = ctl("restore", str(backup_dir), "--config", str(b.config))
    assert out.returncode == 1 and "--force" in out.stderr  # an existing database is not replaced by default

    b.start()
    try:
        with sqlite3.connect(b.data_dir / "axis.sqlite3") as db:
            assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == manifest["row_counts"]["messages"]
        cert = load_certificate(b.data_dir / "axis-cert.pem")
        for mid, answer in receipts.items():  # receipts signed before the backup still verify: the same identity
            assert verify_receipt(answer, cert).message_id == mid
        for mid in before:
            view = b.sent(mid, G22)
            assert view.status == 200 and view.json() == sent_views[mid]  # its ledgers as they were
            assert view.json()["events"][0]["event"] == "accepted"
        for mid in sorted(before):
            got = b.request("GET", f"/v1/mailbox/{mid}", as_code=H41)
            assert got.status == 200 and got.body == sent[mid]
        r = b.submit(document("after-restore"), G22)  # and it carries on
        assert r.status == 202, r.body
    finally:
        b.kill()


def test_a_damaged_backup_is_refused_and_nothing_is_restored(tmp_path: Path, ctl: Callable[..., Any]) -> None:
    data = tmp_path / "var"
    store = SqliteStore(open_database(data))
    with store.transaction():
        store.store_message(NewMessage("m1", "edoc", G22, "d1", G22, None, 0, "0" * 64, b"<x/>", "t", 1, None, b"{}",
                                       (NewDelivery(H41, "pull"),)))
    store.close()
    load_or_create_identity(data / "axis-key.pem", data / "axis-cert.pem", AXIS_CODE, "axis")
    out = ctl("backup", str(tmp_path / "backup"), "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    again = ctl("backup", str(tmp_path / "backup"), "--data-dir", str(data))
    assert again.returncode == 1 and "not empty" in again.stderr
    out = ctl("backup", str(tmp_path / "elsewhere"), "--data-dir", str(tmp_path / "no-such-dir"))
    assert out.returncode == 1 and "no axis database" in out.stderr and not (tmp_path / "elsewhere").exists()
    for name, damage in (("axis.sqlite3", lambda d: d[:4096] + bytes([d[4096] ^ 1]) + d[4097:]),
                         ("axis-key.pem", lambda d: d + b"\n")):
        copy = tmp_path / f"tampered-{name}"
        shutil.copytree(tmp_path / "backup", copy)
        (copy / name).write_bytes(damage((copy / name).read_bytes()))
        target = tmp_path / f"restored-{name}"
        out = ctl("restore", str(copy), "--data-dir", str(target))
        assert out.returncode == 1 and "damaged or was altered" in out.stderr and name in out.stderr, out.stderr
        assert not target.exists()
    out = ctl("restore", str(tmp_path / "nothing-here"), "--data-dir", str(tmp_path / "x"))
    assert out.returncode == 1 and "not an axis backup" in out.stderr
    out = ctl("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "fine"))
    assert out.returncode == 0 and (tmp_path / "fine" / "axis.sqlite3").exists()


def test_the_daemon_removes_what_is_past_retention_and_nothing_that_waits(tmp_path: Path,
                                                                          ctl: Callable[..., Any]) -> None:
    axisd = Axisd(tmp_path, AGENCIES, server="intake_processes = 0",
                  extra="[storage]\nretention_days = 30\nretention_interval = 0.2\nretention_batch = 2\n")
    axisd.start()
    try:
        ids = {}
        for name in ("old-done", "old-done-2", "old-done-3", "old-waiting", "recent-done"):
            r = axisd.submit(document(name), G22)
            assert r.status == 202, r.body
            ids[name] = r.json()["message_id"]
            if "done" in name:
                assert axisd.request("POST", f"/v1/mailbox/{ids[name]}/ack", b'{"result": "done"}',
                                     as_code=H41).status == 200
    finally:
        axisd.stop()
    with sqlite3.connect(axisd.data_dir / "axis.sqlite3") as db:  # make them 40 days old
        old_ns = time.time_ns() - 40 * 86400 * 10**9
        db.execute("UPDATE messages SET accepted_ns = ? WHERE id != ?", (old_ns, ids["recent-done"]))
    out = ctl("retention", "--dry-run", "--config", str(axisd.config), "--json")
    assert out.returncode == 0, out.stderr
    planned = json.loads(out.stdout)
    assert planned["messages"] == 3 and planned["kept_waiting"] == 1 and planned["dry_run"] is True

    axisd.start()
    try:
        axisd.wait_for(lambda: axisd.sent(ids["old-done-3"], G22).status == 404, what="retention")
        for name in ("old-done", "old-done-2"):
            assert axisd.sent(ids[name], G22).status == 404
            assert axisd.request("GET", f"/v1/mailbox/{ids[name]}", as_code=H41).status == 404
        assert axisd.sent(ids["recent-done"], G22).status == 200
        assert [i["message_id"] for i in axisd.mailbox(H41)] == [ids["old-waiting"]]  # waits, however old
        got = axisd.request("GET", f"/v1/mailbox/{ids['old-waiting']}", as_code=H41)
        assert got.status == 200 and got.body == document("old-waiting")
    finally:
        axisd.stop()
    with sqlite3.connect(axisd.data_dir / "axis.sqlite3") as db:
        assert db.execute("SELECT sum(messages), count(*) > 1 FROM retention_log").fetchone() == (3, 1)  # 2 a step
    out = ctl("retention", "--config", str(axisd.config))
    assert out.returncode == 0 and "removed 0 messages" in out.stdout and "kept 1 messages" in out.stdout
