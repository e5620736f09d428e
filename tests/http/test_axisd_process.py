"""axisd as a real process on loopback: check packages over HTTP, metrics, limits, clean shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon import AgencySpec, token_of
from packages import edoc

AXISD = Path(sys.executable).with_name("axisd")
G22 = "000.00.00.G22"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "axisd.toml"
    (tmp_path / "agencies.toml").write_text(AgencySpec(G22).toml(tmp_path), encoding="utf-8")
    config.write_text('[server]\nhost = "127.0.0.1"\nport = 8080\ndata_dir = "var"\n'
                      '[axis]\ncode = "000.00.99.H41"\n'
                      '[registry]\nagencies = ["agencies.toml"]\n'
                      "[limits]\nmax_package_bytes = 200000\n")
    proc = subprocess.Popen([str(AXISD), "--config", str(config), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for _ in range(50):
            line = proc.stdout.readline()
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", line)
            if match:
                break
        else:
            pytest.fail("axisd did not start")
        yield match.group(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert (tmp_path / "var").is_dir()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


def post(url: str, body: bytes, token: str | None = token_of(G22)) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_check_over_http(daemon: str) -> None:
    status, body = post(daemon + "v1/check", edoc())
    assert status == 200 and body["acceptable"] and body["to"] == ["000.00.00.H41"]
    status, body = post(daemon + "v1/check", edoc(to=("000.00.00.H41", "000.00.00.H41")))
    assert status == 400 and body["errors"][0]["code"] == "edxml.duplicate-to"
    status, body = post(daemon + "v1/check", b"")
    assert status == 400 and body["errors"][0]["code"] == "body.empty"
    status, body = post(daemon + "v1/check", b"<x>" + b"a" * 300_000 + b"</x>")
    assert status == 413 and body["error"]["code"] == "body.too-large"
    # a check reads and verifies the whole package on axis's threads: for registered agencies only
    assert post(daemon + "v1/check", edoc(), token=None)[1]["error"]["code"] == "auth.missing"
    assert post(daemon + "v1/check", edoc(), token="not-a-token")[1]["error"]["code"] == "auth.invalid"
    with urllib.request.urlopen(daemon + "metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'axis_packages_checked_total{kind="edoc",result="ok"} 1.0' in metrics
    assert 'result="edxml.duplicate-to"' in metrics
    with urllib.request.urlopen(daemon + "healthz", timeout=10) as response:
        assert json.load(response) == {"status": "ok"}


def test_a_bad_configuration_is_refused_with_its_reason(tmp_path: Path) -> None:
    config = tmp_path / "axisd.toml"
    config.write_text("[server]\nport = \"eighty\"\n")
    proc = subprocess.run([str(AXISD), "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{config}: server.port: expected a positive integer" in proc.stderr
    assert "Traceback" not in proc.stderr


def _minimal_config(root: Path) -> Path:
    config = root / "axisd.toml"
    (root / "agencies.toml").write_text(AgencySpec(G22).toml(root), encoding="utf-8")
    config.write_text('[server]\nhost = "127.0.0.1"\nport = 8080\ndata_dir = "var"\nintake_processes = 0\n'
                      '[axis]\ncode = "000.00.99.H41"\n[registry]\nagencies = ["agencies.toml"]\n')
    return config


def test_a_port_already_taken_ends_axisd_with_an_error(tmp_path: Path) -> None:
    """It printed 'cannot listen', then logged a ReactorNotRunning traceback and ran on for ever without
    listening (its pusher and retention working on the store), and exited 0 when stopped."""


    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.Popen([str(AXISD), "--config", str(_minimal_config(tmp_path)), "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail("axisd kept running without listening:\n" + out + err)
    assert proc.returncode != 0
    assert "cannot listen on 127.0.0.1" in err
    assert "Traceback" not in out + err and "ReactorNotRunning" not in out + err
    assert not (tmp_path / "var" / "axisd.pid").exists()


def test_a_second_axisd_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    """Two daemons on one store both push every queued delivery and run retention; the second one's pid file
    replaced the first's (axisctl reload then signalled the second, and removed it on stopping)."""
    config = _minimal_config(tmp_path)
    first = subprocess.Popen([str(AXISD), "--config", str(config), "--port", "0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _listening(first)
        pid_file = tmp_path / "var" / "axisd.pid"
        assert pid_file.read_text().strip() == str(first.pid)
        second = subprocess.Popen([str(AXISD), "--config", str(config), "--port", "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            out, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            second.send_signal(signal.SIGTERM)
            out, err = second.communicate(timeout=15)
            pytest.fail("a second axisd ran on the same data directory:\n" + out + err)
        assert second.returncode == 2
        assert f"an axisd (pid {first.pid}) already runs on" in err
        assert "listening" not in out
        assert pid_file.read_text().strip() == str(first.pid)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_a_package_over_the_size_limit_is_counted_as_refused(daemon: str) -> None:
    """axis_packages_refused_total{reason} counts every package refused; one over max_package_bytes (413) was
    answered before anything counted it, on both doors."""
    big = b"<x>" + b"a" * 300_000 + b"</x>"
    status, body = post(daemon + "v1/packages", big)
    assert status == 413 and body["error"]["code"] == "body.too-large"
    request = urllib.request.Request(daemon + "vxp/sendEdoc", data=big, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    with urllib.request.urlopen(daemon + "metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'axis_packages_refused_total{reason="body.too-large"} 2.0' in metrics


def test_a_stale_pid_file_naming_the_process_that_started_axisd_does_not_stop_it(tmp_path: Path) -> None:
    """After a crash the pid file stays; in a container, say, its number may now be the shell that starts axisd
    (whose command line names axisd): that is not another axisd on the data directory."""
    config = _minimal_config(tmp_path)
    (tmp_path / "var").mkdir()
    shell = subprocess.Popen(["sh", "-c", f"'{AXISD}' --config '{config}' --port 0; true"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    (tmp_path / "var" / "axisd.pid").write_text(f"{shell.pid}\n")  # before axisd has even imported its modules
    try:
        assert shell.stdout is not None
        for _ in range(50):
            line = shell.stdout.readline()
            if "axisd: listening on" in line or not line:
                break
        assert "axisd: listening on" in line, shell.stderr.read() if shell.poll() is not None else line
    finally:
        daemon_pid = int((tmp_path / "var" / "axisd.pid").read_text()) if (tmp_path / "var" / "axisd.pid").exists() \
            else None
        if daemon_pid is not None and daemon_pid != shell.pid:
            os.kill(daemon_pid, signal.SIGTERM)
        try:
            shell.wait(timeout=15)
        except subprocess.TimeoutExpired:
            shell.kill()
            shell.wait()


def test_the_pid_file_stays_until_axisd_has_stopped(tmp_path: Path) -> None:
    """A SIGHUP during the stop is ignored (a reload would start intake processes and write to the store).  The pid file is what axisctl restore and a second axisd's start guard look for: it was removed when SIGTERM
    came, before the drain and the clean stop's WAL checkpoint, so while the daemon still wrote to the store (and
    would checkpoint its WAL into the file), both guards saw no axisd running."""
    from axis.storage.backup import running_daemon

    config = _minimal_config(tmp_path)
    proc = subprocess.Popen([str(AXISD), "--config", str(config), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lock = None
    try:
        url = _listening(proc)
        data_dir = tmp_path / "var"
        lock = sqlite3.connect(data_dir / "axis.sqlite3", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the package waits (up to 10 s)
        answers: list[int] = []
        sender = threading.Thread(target=lambda: answers.append(post(f"{url}v1/packages",
                                                                     edoc(sender=_from(G22), to=(G22,)))[0]))
        sender.start()
        time.sleep(1.0)  # the request is in flight, held by the lock
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        proc.send_signal(signal.SIGHUP)  # a reload asked during the drain: nothing new starts while axisd stops
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # draining: the package in flight is not answered yet
            seen = running_daemon(data_dir)
            if answers or proc.poll() is not None:
                break
            assert seen == proc.pid, "the pid file went while axisd still ran"
            time.sleep(0.05)
        assert proc.poll() is None and not answers  # still draining all along: the checks above meant something
        lock.execute("ROLLBACK")
        sender.join(timeout=20)
        assert proc.wait(timeout=20) == 0
        assert not (data_dir / "axisd.pid").exists()  # removed once stopped
        assert proc.stdout is not None and proc.stderr is not None
        log = proc.stdout.read() + proc.stderr.read()
        assert "stopping" in log and "configuration reload" not in log, log
    finally:
        if lock is not None:
            lock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("launch", [["-u", "-m", "axis.cli.axisd"], ["-X", "dev", "-m", "axis.cli.axisd"]])
def test_an_axisd_started_with_interpreter_options_is_the_running_daemon(tmp_path: Path, launch: list[str]) -> None:
    """As a container's CMD or a systemd unit starts it: a second axisd, or axisctl restore, must see it."""
    from axis.storage.backup import running_daemon

    config = _minimal_config(tmp_path)
    proc = subprocess.Popen([sys.executable, *launch, "--config", str(config), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _listening(proc)
        assert running_daemon(tmp_path / "var") == proc.pid
        second = subprocess.run([str(AXISD), "--config", str(config), "--port", "0"], capture_output=True,
                                text=True, timeout=30)
        assert second.returncode == 2 and "already runs" in second.stderr
    finally:
        proc.kill()
        proc.wait()


def _listening(proc: subprocess.Popen[str]) -> str:
    """The URL a started axisd says it listens on (it fails the test if the daemon does not say so)."""
    assert proc.stdout is not None
    for _ in range(50):
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", proc.stdout.readline())
        if match:
            return match.group(1)
    pytest.fail("axisd did not start")


def _from(code: str) -> str:
    return f"<edXML:From><edXML:OrganId>{code}</edXML:OrganId><edXML:OrganName>Cơ quan gửi</edXML:OrganName></edXML:From>"
