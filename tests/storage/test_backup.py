"""Which process the pid file names: the guard of ``axisctl restore`` and ``reload`` and of a second axisd's start."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from axis.storage.backup import running_daemon


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line names ``axisd`` (as the daemon's does) and that is not axisd's ancestor."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "/opt/axis/.venv/bin/axisd"])
    for _ in range(200):  # until its exec is done: before, /proc shows the command line of its parent
        if b"axisd" in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
            break
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def named(tmp_path: Path, pid: int) -> Path:
    (tmp_path / "axisd.pid").write_text(f"{pid}\n")
    return tmp_path


def test_a_live_process_whose_command_line_names_axisd_is_the_daemon(tmp_path: Path, sleeper: subprocess.Popen[bytes]
                                                                     ) -> None:
    assert running_daemon(named(tmp_path, sleeper.pid)) == sleeper.pid


def test_a_stale_pid_file_names_no_daemon(tmp_path: Path) -> None:
    assert running_daemon(tmp_path) is None  # no file
    (tmp_path / "axisd.pid").write_text("not a pid\n")
    assert running_daemon(tmp_path) is None
    gone = subprocess.Popen([sys.executable, "-c", "pass", "axisd"])
    gone.wait()
    assert running_daemon(named(tmp_path, gone.pid)) is None  # no such process any more
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "axisctl", "reload"])
    try:  # another program has the number now: "axisctl" is not axisd (the old check took any "axis")
        assert running_daemon(named(tmp_path, other.pid)) is None
    finally:
        other.kill()
        other.wait()


def test_this_process_and_those_that_started_it_are_no_daemon(tmp_path: Path) -> None:
    """In a container whose pids repeat, the dead daemon's number may be the shell that runs ``axisctl reload``
    (or starts axisd), whose command line may name axisd: SIGHUP would end that shell."""
    check = "from axis.storage.backup import running_daemon; print(running_daemon(Path(sys.argv[1])))"
    itself = (f"{sys.executable} -c 'import os, sys; from pathlib import Path; "
              f"Path(sys.argv[1], \"axisd.pid\").write_text(str(os.getpid())); {check}' {tmp_path} axisd")
    # the shell (whose command line names axisd) writes its own pid, then runs the check as its child
    parent = f"echo $$ > {tmp_path}/axisd.pid; {sys.executable} -c 'import sys; from pathlib import Path; {check}' " \
             f"{tmp_path}; : axisd"
    for shell in (itself, parent):
        out = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == "None", out.stdout + out.stderr
