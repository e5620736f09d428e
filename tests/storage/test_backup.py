"""Which process the pid file names: the guard of ``axisctl restore`` and ``reload`` and of a second axisd's start."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from axis.storage.backup import _is_axisd, running_daemon


def started(argv: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv)
    expected = b"".join(a.encode() + b"\0" for a in argv)
    for _ in range(500):  # until its exec is done: before, /proc shows the command line of its parent
        if Path(f"/proc/{proc.pid}/cmdline").read_bytes() == expected:
            break
        time.sleep(0.01)
    return proc


@pytest.fixture
def axisd_like(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose program is a script named axisd, as the console script's is (``python …/bin/axisd``)."""
    script = tmp_path / "bin" / "axisd"
    script.parent.mkdir()
    script.write_text("import time\ntime.sleep(30)\n")
    proc = started([sys.executable, str(script), "--config", "conf/axisd.toml"])
    yield proc
    proc.kill()
    proc.wait()


def named(directory: Path, pid: int) -> Path:
    (directory / "axisd.pid").write_text(f"{pid}\n")
    return directory


def test_a_live_process_whose_program_is_axisd_is_the_daemon(tmp_path: Path, axisd_like: subprocess.Popen[bytes]
                                                             ) -> None:
    assert running_daemon(named(tmp_path, axisd_like.pid)) == axisd_like.pid


@pytest.mark.parametrize("argv", [
    [sys.executable, "-c", "import time; time.sleep(30)", "axisctl", "reload"],  # "axis", not axisd
    [sys.executable, "-c", "import time; time.sleep(30)", "/var/log/axisd.log"],  # tail -f axisd.log, vim axisd.toml
    ["sh", "-c", "sleep 30; : /opt/axis/bin/axisd --config /etc/axis/axisd.toml"],  # the shell that started axisd
])
def test_a_program_that_merely_names_axisd_is_no_daemon(tmp_path: Path, argv: list[str]) -> None:
    """After a crash its number may be reused by any program: SIGHUP (axisctl reload) would end it, and a restore
    or a new axisd would be refused for it."""
    other = started(argv)
    try:
        assert running_daemon(named(tmp_path, other.pid)) is None
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize(("argv", "axisd"), [
    (["/opt/axis/.venv/bin/python", "/opt/axis/.venv/bin/axisd", "--config", "c"], True),  # the console script
    (["python3", "/opt/axis/bin/axisd"], True),  # bin/axisd: #!/usr/bin/env python3
    (["python3", "-s", "/usr/bin/axisd"], True),  # a shebang with options, as distribution packages write them
    (["python3", "-u", "-m", "axis.cli.axisd"], True),  # a container's CMD
    (["python3.11", "-X", "dev", "-W", "error", "-m", "axis.cli.axisd"], True),
    (["python3", "-maxis.cli.axisd"], True),
    (["/usr/local/bin/axisd", "--config", "c"], True),
    (["python3", "-c", "import axis", "axisd"], False),
    (["python3", "-m", "pytest", "axisd"], False),
    (["tail", "-F", "axis.cli.axisd"], False),  # pgrep -f, grep, tail: they merely name it
    (["sh", "-c", "axisd --config c"], False),
    ([""], False),  # a zombie's or a kernel thread's empty command line
])
def test_which_command_lines_are_axisd(argv: list[str], axisd: bool) -> None:
    assert _is_axisd([a.encode() for a in argv]) is axisd


def test_a_stale_pid_file_names_no_daemon(tmp_path: Path) -> None:
    assert running_daemon(tmp_path) is None  # no file
    (tmp_path / "axisd.pid").write_text("not a pid\n")
    assert running_daemon(tmp_path) is None
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert running_daemon(named(tmp_path, gone.pid)) is None  # no such process any more


def test_this_process_is_no_other_daemon(tmp_path: Path) -> None:
    """In a container whose pids repeat, a new axisd may get the number of the one that died (pid 1, say)."""
    script = tmp_path / "axisd"
    script.write_text("import os, sys\nfrom pathlib import Path\nfrom axis.storage.backup import _is_axisd, running_daemon\n"
                      "Path(sys.argv[1], 'axisd.pid').write_text(str(os.getpid()))\n"
                      "print(running_daemon(Path(sys.argv[1])))\n")
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "None", out.stdout + out.stderr
