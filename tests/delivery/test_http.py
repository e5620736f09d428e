"""bounded_request against real receivers on loopback (a real reactor, in a child process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import socket, sys, threading, time
    from twisted.internet import reactor
    from twisted.internet.defer import inlineCallbacks
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool
    from twisted.web.http_headers import Headers
    from axis.delivery.http import bounded_request

    MODE = sys.argv[1]
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    closed = []

    def serve():
        conn, _ = server.accept()
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            data += conn.recv(65536)
        if MODE == "small":
            conn.sendall(b"HTTP/1.1 201 Created\\r\\nContent-Length: 2\\r\\n\\r\\nok")
        else:  # headers, then a body one byte at a time, or far too much of it
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 10000000\\r\\n\\r\\n")
        started = time.monotonic()
        while time.monotonic() - started < 6:
            try:
                conn.send(b"x" * (65536 if MODE == "flood" else 1))
            except OSError:
                closed.append(round(time.monotonic() - started, 1))
                return
            time.sleep(0.001 if MODE == "flood" else 0.05)

    threading.Thread(target=serve, daemon=True).start()

    @inlineCallbacks
    def main():
        http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=True)))
        try:
            code, body = yield bounded_request(reactor, http, "POST", f"http://127.0.0.1:{port}/", Headers({}), b"x",
                                               1.0, 65536)
            print("answer:", code, body)
        except Exception as exc:
            print("ended:", type(exc).__name__)
        reactor.callLater(3, reactor.stop)

    reactor.callWhenRunning(main)
    reactor.run()
    print("closed:", bool(closed))
""")


def run(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60).stdout


def test_a_timed_out_answer_closes_the_connection_of_a_receiver_that_trickles() -> None:
    """Else every retry to such a receiver keeps one more socket open, and reads it, until descriptors run out."""
    out = run("trickle")
    assert "ended: CancelledError" in out and "closed: True" in out, out


def test_an_answer_too_long_is_refused_and_its_connection_closed() -> None:
    out = run("flood")
    assert "ended: AnswerTooLong" in out and "closed: True" in out, out


def test_a_whole_answer_is_read() -> None:
    assert "answer: 201 b'ok'" in run("small")
