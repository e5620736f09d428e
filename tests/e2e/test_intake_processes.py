"""Intake processes under a real axisd: packages are checked there, a crashed one is replaced, a reload
starts a generation with the new configuration, and SIGKILL of the daemon leaves no process behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from daemon import AgencySpec, Axisd
from test_exchange import document

G22, H41, G12 = "000.00.00.G22", "000.00.00.H41", "000.00.00.G12"
AXISCTL = Path(sys.executable).with_name("axisctl")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_intake_processes_check_packages_and_are_replaced_when_they_die(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(H41)], server="intake_processes = 2")
    axisd.start()
    try:
        axisd.wait_for(lambda: axisd.metric("axis_intake_processes_ready") == 2, what="two intake processes")
        first = axisd.children()
        assert len(first) == 2
        answers = [axisd.submit(document(G22, (H41,), f"000.00.00.G22,2026/11/22,{n}/VPCP"), G22) for n in range(6)]
        assert [a.status for a in answers] == [202] * 6
        refused = axisd.submit(b"<not-edxml/>", G22)  # a refusal crosses the pipe too
        assert refused.status == 400 and refused.json()["error"]["code"] == "edxml.not-edxml"

        os.kill(first[0], signal.SIGKILL)
        axisd.wait_for(lambda: axisd.metric("axis_intake_process_restarts_total") == 1, what="a restart")
        axisd.wait_for(lambda: axisd.metric("axis_intake_processes_ready") == 2, what="two ready again")
        second = axisd.children()
        assert len(second) == 2 and first[0] not in second and first[1] in second
        assert axisd.submit(document(G22, (H41,), "000.00.00.G22,2026/11/22,99/VPCP"), G22).status == 202
        assert len(axisd.mailbox(H41)) == 7
        assert not [line for line in axisd.log_lines() if '"level": "error"' in line and "intake" not in line]
    finally:
        axisd.kill()


def test_a_reload_starts_intake_processes_that_know_the_new_registry(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(H41)], server="intake_processes = 1")
    axisd.start()
    try:
        axisd.wait_for(lambda: axisd.metric("axis_intake_processes_ready") == 1, what="an intake process")
        before = axisd.children()
        data = document(G22, (G12,), "000.00.00.G22,2026/11/22,5/VPCP")
        refused = axisd.submit(data, G22)
        assert refused.status == 422 and refused.json()["error"]["code"] == "route.unknown-recipient"
        agencies = axisd.conf / "agencies.toml"
        agencies.write_text(agencies.read_text() + AgencySpec(G12).toml(axisd.conf / "secrets"))
        out = subprocess.run([str(AXISCTL), "reload", "--config", str(axisd.config)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        after = axisd.wait_for(lambda: [p for p in axisd.children() if p not in before], what="a new generation")
        assert axisd.metric("axis_intake_processes_ready") == 1
        assert axisd.submit(data, G22).status == 202  # routed by a process that read the new registry
        axisd.wait_for(lambda: not any(_alive(p) for p in before), what="the old generation to exit")
        assert axisd.children() == after
    finally:
        axisd.kill()


def test_a_configuration_behind_a_symlink_that_is_pointed_elsewhere_reloads(tmp_path: Path) -> None:
    """As a Kubernetes ConfigMap is updated: the directory the daemon was given is a symlink, swapped for one to a
    new directory.  The intake processes read the configuration through the same path as the daemon, not the
    directory it first led to (every reload was then refused: "changed in between")."""
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(H41)], server="intake_processes = 1")
    new = tmp_path / "conf-2"
    shutil.copytree(axisd.conf, new)
    (new / "agencies.toml").write_text((new / "agencies.toml").read_text() + AgencySpec(G12).toml(new / "secrets"))
    live = tmp_path / "live"
    live.symlink_to(axisd.conf, target_is_directory=True)
    axisd.config = live / "axisd.toml"
    axisd.start()
    try:
        axisd.wait_for(lambda: axisd.metric("axis_intake_processes_ready") == 1, what="an intake process")
        (tmp_path / "live.new").symlink_to(new, target_is_directory=True)
        os.replace(tmp_path / "live.new", live)  # the swap, in one step
        out = subprocess.run([str(AXISCTL), "reload", "--config", str(axisd.config)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert axisd.submit(document(G22, (G12,), "000.00.00.G22,2026/11/22,6/VPCP"), G22).status == 202
    finally:
        axisd.kill()


def test_no_intake_process_outlives_a_killed_daemon(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(G22)], server="intake_processes = 2")
    axisd.start()
    axisd.wait_for(lambda: axisd.metric("axis_intake_processes_ready") == 2, what="two intake processes")
    children = axisd.children()
    axisd.kill()  # SIGKILL: the children see their stdin close
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in children)


def test_without_intake_processes_the_daemon_checks_packages_itself(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(H41)], server="intake_processes = 0")
    axisd.start()
    try:
        assert axisd.children() == []
        assert axisd.submit(document(G22, (H41,), "000.00.00.G22,2026/11/22,1/VPCP"), G22).status == 202
        assert axisd.metric("axis_intake_processes_ready") == 0
    finally:
        axisd.kill()
