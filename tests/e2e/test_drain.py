"""SIGTERM drains: axisd stops listening, refuses new requests on open connections with 503 ``http.stopping``,
answers every request it had already received, and exits 0 with nothing lost."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

from daemon import AgencySpec, Axisd, token_of
from test_exchange import document

H41, G09 = "000.00.00.H41", "000.00.00.G09"


def test_sigterm_answers_what_is_in_flight_then_exits(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(H41), AgencySpec(G09)], request_timeout=20, server="intake_processes = 0")
    axisd.start()
    answers: dict[int, int] = {}
    try:
        idle = http.client.HTTPConnection("127.0.0.1", axisd.port, timeout=20)  # an open keep-alive connection
        idle.request("GET", "/healthz")
        assert idle.getresponse().read() == b'{"status": "ok"}'
        # open connections of SDK clients, on the VXP door (unauthenticated: the refusal comes before any check)
        sdk = {operation: http.client.HTTPConnection("127.0.0.1", axisd.port, timeout=20)
               for operation in ("sendEdoc", "getReceivedEdocList", "downloadEdoc")}
        for conn in sdk.values():
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b'{"status": "ok"}'
        lock = sqlite3.connect(axisd.data_dir / "axis.sqlite3", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # every package now waits in the writer: in flight when SIGTERM comes

        def send(n: int) -> None:
            answers[n] = axisd.submit(document(H41, (G09,), f"000.00.00.H41,2026/11/22,{n}/DRAIN"), H41).status

        senders = [threading.Thread(target=send, args=(n,)) for n in range(6)]
        for t in senders:
            t.start()
        # six received and waiting (the seventh in flight is the /metrics request asking)
        axisd.wait_for(lambda: axisd.metric("axis_http_requests_in_flight") == 7, what="six requests in flight")
        axisd.signal(signal.SIGTERM)
        time.sleep(0.5)
        # New work on an open connection is refused with a reason, and no new connection is taken.
        idle.request("POST", "/v1/packages", document(H41, (G09,), "000.00.00.H41,2026/11/22,99/DRAIN"),
                     {"Authorization": f"Bearer {token_of(H41)}"})
        refused = idle.getresponse()
        assert refused.status == 503 and json.loads(refused.read())["error"]["code"] == "http.stopping"
        # ... and on the VXP door, in the envelope the SDK reads (vxp-protocol.md §4, §8)
        for operation, conn in sdk.items():
            method = "GET" if operation == "downloadEdoc" else "POST"
            conn.request(method, f"/vxp/{operation}", b"" if method == "GET" else b"{}")
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == 503, (operation, body)
            if operation == "downloadEdoc":  # any non-empty body would be saved as the document
                assert (body, answer.getheader("X-Axis-Error")) == (b"", "http.stopping")
                continue
            envelope = json.loads(body)
            assert (envelope.get("status"), envelope.get("ErrorCode")) == ("FAIL", "http.stopping"), envelope
            assert envelope["ErrorDesc"].startswith("axis is stopping") and body.isascii()
            assert envelope.get("DocId", None) == ("" if operation == "sendEdoc" else None), envelope
        try:
            http.client.HTTPConnection("127.0.0.1", axisd.port, timeout=2).request("GET", "/healthz")
            raise AssertionError("a new connection was accepted while stopping")
        except ConnectionRefusedError:
            pass
        assert axisd.proc is not None and axisd.proc.poll() is None  # still finishing the six
        lock.execute("ROLLBACK")
        lock.close()
        for t in senders:
            t.join(20)
        assert answers == {n: 202 for n in range(6)}
        assert axisd.proc.wait(20) == 0
        axisd.proc = None
        axisd.start()
        assert {i["document_id"] for i in axisd.mailbox(G09)} == {f"000.00.00.H41,2026/11/22,{n}/DRAIN"
                                                                  for n in range(6)}
    finally:
        axisd.kill()



def test_a_clean_stop_leaves_the_database_file_whole(tmp_path: Path) -> None:
    """After SIGTERM the packages accepted lived partly in axis.sqlite3-wal (no connection checkpointed it: the
    writer's closed first, and the readers' are read-only), so a copy of axis.sqlite3 taken with axisd stopped, the
    file README's "What to keep" names, lacked them."""
    axisd = Axisd(tmp_path, [AgencySpec(H41), AgencySpec(G09)], server="intake_processes = 0")
    axisd.start()
    try:
        for n in range(3):
            assert axisd.submit(document(H41, (G09,), f"000.00.00.H41,2026/11/22,{n}/STOP"), H41).status == 202
        assert len(axisd.mailbox(G09)) == 3
        assert axisd.stop() == 0
    finally:
        axisd.kill()
    wal = axisd.data_dir / "axis.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes((axisd.data_dir / "axis.sqlite3").read_bytes())
    db = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (3,)
    finally:
        db.close()
