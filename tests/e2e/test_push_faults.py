"""Push receivers that misbehave, against a real daemon: down, hanging before or after the headers, slow, 500,
200 with garbage, not HTTP at all.  Each has its documented outcome (README, "Push"), and one receiver that
hangs does not hold up the deliveries of any other agency."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon import AgencySpec, Axisd, Receiver, free_port
from test_business_flows import document

SENDER, PULL = "000.00.00.G22", "000.00.00.H41"


class Faulty:
    """A loopback server that reads a request and then does what ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode, self.port, self.requests = mode, free_port(), 0
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/inbox"

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
                b"content-length")))
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            if self.mode == "hang":
                self._stop.wait(60)
            elif self.mode == "headers-then-hang":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")
                self._stop.wait(60)
            elif self.mode == "slow":
                self._stop.wait(3)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            elif self.mode == "500":
                conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops")
            elif self.mode == "garbage-200":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\x00\xff<{]\x01")
            elif self.mode == "not-http":
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._conns:
            conn.close()


MODES = ("hang", "headers-then-hang", "slow", "500", "garbage-200", "not-http", "down")
CODES = {mode: f"000.00.{n + 10:02d}.H41" for n, mode in enumerate(MODES)}


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Axisd, dict[str, Faulty]]]:
    servers = {mode: Faulty(mode) for mode in MODES if mode != "down"}
    urls = {mode: s.url for mode, s in servers.items()} | {"down": f"http://127.0.0.1:{free_port()}/inbox"}
    agencies = [AgencySpec(SENDER)] + [AgencySpec(CODES[m], delivery="push", push_url=urls[m]) for m in MODES]
    axisd = Axisd(tmp_path_factory.mktemp("faults"), agencies, server="intake_processes = 0",
                  extra="concurrency = 8\nper_host = 2\n")
    # each attempt may take 1 s in all (the helper's default is 5 s); retries every 0.2 .. 1 s
    axisd.config.write_text(axisd.config.read_text().replace("timeout = 5\n", "timeout = 1\n"))
    axisd.start()
    try:
        yield axisd, servers
    finally:
        axisd.kill()
        for s in servers.values():
            s.close()


def test_each_kind_of_fault_has_its_outcome(faults: tuple[Axisd, dict[str, Faulty]]) -> None:
    axisd, _ = faults
    sent = {}
    for mode in MODES:
        r = axisd.submit(document(f"{SENDER},2026/11/22,{mode}/FAULT", (CODES[mode],)), SENDER)
        assert r.status == 202, r.body
        sent[mode] = r.json()["message_id"]

    def row(mode: str) -> dict:
        return axisd.sent(sent[mode], SENDER).json()["recipients"][0]  # type: ignore[no-any-return]

    # 200 with a body that means nothing: delivered (any 2xx is; the body is not read for meaning)
    axisd.wait_for(lambda: row("garbage-200")["state"] == "delivered", what="the garbage-200 delivery")
    expected = {"hang": "CancelledError", "headers-then-hang": "CancelledError", "slow": "CancelledError",
                "500": "HTTP 500", "not-http": "", "down": "ConnectionRefused"}
    for mode, fragment in expected.items():
        failing = axisd.wait_for(lambda m=mode: (r := row(m))["attempts"] >= 2 and r, timeout=30,
                                 what=f"two failed attempts for {mode}")
        assert failing["state"] == "queued" and fragment in failing["last_error"], (mode, failing)
        # counted once the failure is durable, a moment after readers can see its row
        axisd.wait_for(lambda m=mode: (axisd.metric(f'axis_delivery_failures_total{{agency="{CODES[m]}"}}') or 0) >= 2,
                       timeout=10, what=f"two failures of {mode} counted")
    assert axisd.request("GET", "/readyz").status == 200


def test_a_hanging_receiver_does_not_hold_up_other_agencies(tmp_path: Path) -> None:
    hang = Faulty("hang")
    healthy = Receiver()
    healthy.up()
    agencies = [AgencySpec(SENDER), AgencySpec(PULL), AgencySpec(CODES["hang"], delivery="push", push_url=hang.url),
                AgencySpec("000.00.20.H41", delivery="push", push_url=healthy.url)]
    # every attempt at the hanging receiver holds its slot for 30 s; four slots in all, two per receiver
    axisd = Axisd(tmp_path, agencies, server="intake_processes = 0", extra="concurrency = 4\nper_host = 2\n")
    axisd.config.write_text(axisd.config.read_text().replace("timeout = 5\n", "timeout = 30\n"))
    axisd.start()
    try:
        for n in range(8):
            assert axisd.submit(document(f"{SENDER},2026/11/22,{n}/HANG", (CODES["hang"],)), SENDER).status == 202
        axisd.wait_for(lambda: hang.requests >= 2, what="the hanging receiver holding its slots")
        started = time.monotonic()
        for n in range(5):
            r = axisd.submit(document(f"{SENDER},2026/11/22,{n}/OK", ("000.00.20.H41", PULL)), SENDER)
            assert r.status == 202
        axisd.wait_for(lambda: len(healthy.received) >= 5, timeout=15, what="the healthy agency's pushes")
        assert time.monotonic() - started < 15 and hang.requests == 2  # never more than per_host at it
        assert len(axisd.mailbox(PULL)) == 5
    finally:
        axisd.kill()
        hang.close()
        healthy.down()
