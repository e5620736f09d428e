"""A full disk under a real daemon: the data directory on a small tmpfs that is then filled up.  New packages are
refused with 503 ``storage.full`` and nothing half-stored, what was accepted is kept (listed; fetching waits, since a first fetch is recorded), and service comes
back by itself once space returns (/readyz says so before any package comes)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon import AgencySpec, Axisd
from test_exchange import document

H41, G09 = "000.00.00.H41", "000.00.00.G09"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "var"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_refuses_new_packages_and_recovers_by_itself(small_disk: Path) -> None:
    axisd = Axisd(small_disk.parent, [AgencySpec(H41), AgencySpec(G09)], server="intake_processes = 0")
    assert axisd.data_dir == small_disk
    axisd.start()
    try:
        before = [axisd.submit(document(H41, (G09,), f"000.00.00.H41,2026/11/22,{n}/FULL"), H41) for n in range(3)]
        assert [r.status for r in before] == [202] * 3
        filler = fill(small_disk)
        answers = []
        for n in range(3, 40):  # some may still fit in pages SQLite already has; then the disk says no
            r = axisd.submit(document(H41, (G09,), f"000.00.00.H41,2026/11/22,{n}/FULL"), H41)
            answers.append((n, r.status, r.json().get("error", {}).get("code")))
            if r.status == 503:
                break
        n_full, status, code = answers[-1]
        assert (status, code) == (503, "storage.full"), answers
        assert all(s in (202, 503) for _, s, _ in answers)
        assert "disk of axis is full" in r.json()["error"]["message"]
        assert b"database or disk is full" not in r.body  # what SQLite said is for the log, not for the client
        assert any("database or disk is full" in line for line in axisd.output)
        # what was accepted is kept and served
        items = axisd.mailbox(G09)
        assert {i["document_id"] for i in items} >= {f"000.00.00.H41,2026/11/22,{n}/FULL" for n in range(3)}
        assert f"000.00.00.H41,2026/11/22,{n_full}/FULL" not in {i["document_id"] for i in items}
        # a first fetch is recorded (a write): it waits for space too, with the same clear answer
        fetched = axisd.request("GET", f"/v1/mailbox/{items[0]['message_id']}", as_code=G09)
        assert (fetched.status, fetched.json()["error"]["code"]) == (503, "storage.full")
        ready = axisd.request("GET", "/readyz")
        assert ready.status == 503 and ready.json()["reason"] == "the last commit failed (see the log)", ready.body
        # space returns: /readyz sees it by itself (its own probe write: a load balancer sends nothing meanwhile),
        # and the same package goes through, with no restart
        filler.unlink()
        axisd.wait_for(lambda: axisd.request("GET", "/readyz").status == 200, what="ready again, with no traffic")
        again = axisd.wait_for(lambda: (x := axisd.submit(document(H41, (G09,), f"000.00.00.H41,2026/11/22,"
                                                                   f"{n_full}/FULL"), H41)).status == 202 and x,
                               what="acceptance once space returned")
        assert again.json()["duplicate"] is False
        assert axisd.request("GET", f"/v1/mailbox/{items[0]['message_id']}", as_code=G09).status == 200
        assert axisd.proc is not None and axisd.proc.poll() is None
        assert not any("Traceback" in line for line in axisd.output)
    finally:
        axisd.kill()
