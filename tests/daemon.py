"""A real axisd for end-to-end tests: its own configuration and data in a temporary directory,
a real process on a loopback port, real HTTP, and a push receiver to deliver to.

Everything is bounded: every wait has a deadline, and the process is killed at teardown.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axis.auth import hmac_header
from axis.signature import pki

AXISD = Path(sys.executable).with_name("axisd")
AXIS_CODE = "000.00.99.H41"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_of(code: str) -> str:
    return f"token-{code}"


@dataclass
class AgencySpec:
    code: str
    name: str = "Cơ quan thử nghiệm"
    delivery: str = "pull"
    push_url: str | None = None
    signature: str = "legacy"
    hmac_secret: bytes | None = None
    parent: str | None = None
    calendar: str | None = None
    vxp_system_id: str | None = None

    def toml(self, secrets_dir: Path) -> str:
        lines = ["[[agency]]", f'code = "{self.code}"', f'name = "{self.name}"', f'delivery = "{self.delivery}"',
                 f'token_sha256 = "{hashlib.sha256(token_of(self.code).encode()).hexdigest()}"',
                 f'signature = "{self.signature}"']
        if self.push_url:
            lines.append(f'push_url = "{self.push_url}"')
        if self.parent:
            lines.append(f'parent = "{self.parent}"')
        if self.calendar:
            lines.append(f'calendar = "{self.calendar}"')
        if self.vxp_system_id:
            lines.append(f'vxp_system_id = "{self.vxp_system_id}"')
        if self.hmac_secret:
            path = secrets_dir / f"{self.code}.hmac"
            path.write_bytes(self.hmac_secret)
            path.chmod(0o600)
            lines.append(f'hmac_secret_file = "{path}"')
        return "\n".join(lines) + "\n"


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Axisd:
    """One daemon configuration in ``root``; start, stop, kill and restart it like an operator would."""

    def __init__(self, root: Path, agencies: list[AgencySpec], dead_after: float = 30, extra: str = "",
                 pki_dir: Path | None = None, server: str = "", routes: str = "", request_timeout: float = 20,
                 axis_code: str = AXIS_CODE) -> None:
        self.root = root
        self.conf = root / "conf"
        self.conf.mkdir(parents=True, exist_ok=True)
        secrets = self.conf / "secrets"
        secrets.mkdir(exist_ok=True)
        self.agencies = agencies
        self.data_dir = root / "var"
        (self.conf / "agencies.toml").write_text("".join(a.toml(secrets) + "\n" for a in agencies) + routes,
                                                 encoding="utf-8")
        trust = f'trust_ca = ["{pki_dir / "ca.pem"}"]' if pki_dir is not None else ""
        self.config = self.conf / "axisd.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = 8080\ndata_dir = "{self.data_dir}"\nrequest_timeout = {request_timeout}\n{server}\n'
            f'[axis]\ncode = "{axis_code}"\nname = "Trục thử nghiệm"\n'
            f"[signatures]\n{trust}\n"
            f'[registry]\nagencies = ["agencies.toml"]\n'
            f"[delivery]\npoll_interval = 0.2\nretry_initial = 0.2\nretry_max = 1\ndead_after = {dead_after}\n"
            f"connect_timeout = 2\ntimeout = 5\n{extra}", encoding="utf-8")
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []

    # -- process

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen([str(AXISD), "--config", str(self.config), "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = threading.Event()
        self.door = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.search(r"axisd: listening on https?://127\.0\.0\.1:(\d+)/", line)
                if m:
                    self.port = int(m.group(1))
                    found.set()
                if line.startswith("axisd: VXP door on "):
                    self.door.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("axisd did not start:\n" + "".join(self.output))

    def wait_for_door(self, timeout: float = 30.0) -> None:
        """Until the VXP door listens: on a port of its own it may do so after the main port."""
        if not self.door.wait(timeout):
            raise AssertionError("the VXP door did not start:\n" + "".join(self.output))

    def stop(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def children(self) -> list[int]:
        """The pids of the daemon's child processes (its intake processes)."""
        assert self.proc is not None
        out: list[int] = []
        task_dir = Path(f"/proc/{self.proc.pid}/task")
        for task in task_dir.iterdir():
            try:
                out.extend(int(p) for p in (task / "children").read_text().split())
            except OSError:
                pass
        return sorted(out)

    def metric(self, name: str) -> float | None:
        """One sample of /metrics (``name`` with its labels, as exposed), or None when absent."""
        for line in self.request("GET", "/metrics").body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def log_lines(self) -> list[str]:
        return list(self.output)

    # -- HTTP

    def request(self, method: str, path: str, body: bytes = b"", as_code: str | None = None,
                headers: dict[str, str] | None = None, hmac_secret: bytes | None = None,
                timeout: float = 20.0) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if as_code is not None and hmac_secret is not None:
            h["Authorization"] = hmac_header(as_code, hmac_secret, method, path, body)
        elif as_code is not None:
            h["Authorization"] = f"Bearer {token_of(as_code)}"
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.read(), {k.lower(): v for k, v in r.getheaders()})
        finally:
            conn.close()

    def submit(self, data: bytes, as_code: str) -> Response:
        return self.request("POST", "/v1/packages", data, as_code, {"Content-Type": "application/xml"})

    def mailbox(self, as_code: str) -> list[dict[str, Any]]:
        r = self.request("GET", "/v1/mailbox", as_code=as_code)
        assert r.status == 200, r.body
        return r.json()["items"]  # type: ignore[no-any-return]

    def sent(self, message_id: str, as_code: str) -> Response:
        return self.request("GET", f"/v1/sent/{message_id}", as_code=as_code)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n" + "".join(self.output[-30:]))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A push endpoint on a fixed loopback port that can be down, up, or answer errors."""

    port: int = field(default_factory=free_port)
    status: int = 200
    received: list[Received] = field(default_factory=list)
    on_post: Callable[[Received], None] | None = None  # runs before the answer: the recipient acting meanwhile
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/inbox"

    def up(self) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                outer.received.append(got)
                status = outer.status
                if status < 300 and outer.on_post is not None:
                    outer.on_post(got)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def make_pki(directory: Path, codes: list[str], key_kind: str = "ec") -> dict[str, pki.Issued]:
    """A test CA and one signing certificate per agency code (UID = the code).  EC keys by default: they are
    made in microseconds, where RSA keys take a tenth of a second each."""
    ca = pki.create_ca("axis e2e test CA", key_kind=key_kind)
    pki.write(ca, directory, "ca")
    return {code: pki.issue(ca, code, f"Cơ quan {code}", key_kind=key_kind) for code in codes}
