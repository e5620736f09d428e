"""Kill axisd while it works, again and again, and prove afterwards that nothing was lost or doubled.

A real daemon on loopback carries documents from senders to two pull recipients and one push recipient:

* each sender sends its documents one after the other and retries each one (the same bytes, so the
  same DocumentId) until it holds a receipt, whatever happens to the connection;
* each pull recipient lists its mailbox, fetches, acknowledges and answers every document with status
  03 (retried until accepted), and keeps everything it fetched;
* the push receiver answers 200 and keeps every request, with its ``Idempotency-Key``;
* meanwhile the daemon is SIGKILLed at random moments and started again on the same data directory.

Then, with the daemon up and quiet, :func:`check` compares what everyone saw with the store itself:
every receipt's message is there once, each recipient received each document (one message, however many
times it was fetched), the push receiver got each one (duplicates only under one key), every delivery is
finished, and both ledgers say exactly that.  Used by ``tests/e2e/test_crash_recovery.py`` (a short run)
and ``bench/soak_kill.py`` (the long one).
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon import AgencySpec, Axisd, Receiver
from test_business_flows import document, status_of

SENDERS = ("000.00.00.G22", "000.00.00.G12", "000.00.00.H14")
PULL = ("000.00.01.H41", "000.00.02.H41")
PUSH = "000.00.03.H41"


@dataclass
class Soak:
    root: Path
    kills: int
    documents: int  # per sender
    seed: int = 1
    intake_processes: int = 1
    axisd: Axisd = field(init=False)
    receiver: Receiver = field(init=False)
    receipts: dict[tuple[str, str], str] = field(default_factory=dict)  # (sender, DocumentId) -> message id
    fetched: dict[str, list[tuple[str, str, bytes]]] = field(default_factory=lambda: defaultdict(list))
    answered: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # recipient -> DocumentIds
    sent_bytes: dict[tuple[str, str], bytes] = field(default_factory=dict)
    kill_times: list[float] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.receiver = Receiver()
        agencies = [AgencySpec(code) for code in SENDERS + PULL]
        agencies.append(AgencySpec(PUSH, delivery="push", push_url=self.receiver.url))
        self.axisd = Axisd(self.root, agencies, dead_after=3600, request_timeout=10,
                           server=f"intake_processes = {self.intake_processes}")

    # -- the actors

    def _try(self, what: str, fn: Any) -> Any:
        """One request; None when the daemon is down or answered 5xx (the caller tries again)."""
        try:
            r = fn()
        except OSError:
            self.retries[what] += 1
            return None
        if r.status >= 500:
            self.retries[what] += 1
            return None
        return r

    def sender(self, code: str) -> None:
        for n in range(self.documents):
            doc = f"{code},2026/11/22,{n + 1}/SOAK"
            data = document(doc, PULL + (PUSH,), sender=code)
            self.sent_bytes[(code, doc)] = data
            while True:
                r = self._try("send", lambda: self.axisd.submit(data, code))
                if r is not None:
                    assert r.status == 202, (r.status, r.body)
                    self.receipts[(code, doc)] = r.json()["message_id"]
                    break
                time.sleep(0.02)

    def recipient(self, code: str) -> None:
        rng = random.Random(code)
        while not self.stop.is_set():
            r = self._try("list", lambda: self.axisd.request("GET", "/v1/mailbox?kind=edoc&limit=50", as_code=code))
            if r is None:
                time.sleep(0.05)
                continue
            items = r.json()["items"]
            if not items:
                time.sleep(0.05)
            for item in items:
                got = self._try("fetch", lambda: self.axisd.request("GET", f"/v1/mailbox/{item['message_id']}",
                                                                     as_code=code))
                if got is None or got.status != 200:
                    break
                self.fetched[code].append((item["message_id"], item["document_id"], got.body))
                if rng.random() < 0.1:  # now and then a recipient is slow to acknowledge: the kill may come first
                    time.sleep(0.05)
                while not self.stop.is_set():  # an acknowledgement is idempotent: again until it is answered
                    ack = self._try("ack", lambda: self.axisd.request(
                        "POST", f"/v1/mailbox/{item['message_id']}/ack", b'{"result": "done"}', as_code=code))
                    if ack is not None:
                        assert ack.status == 200, ack.body
                        break
                    time.sleep(0.02)
                self._answer(code, item["from"], item["document_id"])

    def _answer(self, code: str, doc_sender: str, doc: str) -> None:
        if doc in self.answered[code]:
            return
        data = status_of(code, doc_sender, doc, "03")
        while not self.stop.is_set():
            r = self._try("status", lambda: self.axisd.submit(data, code))
            if r is not None:
                assert r.status == 202, (r.status, r.body)
                self.answered[code].add(doc)
                return
            time.sleep(0.02)

    def killer(self) -> None:
        rng = random.Random(self.seed)
        for _ in range(self.kills):
            time.sleep(rng.uniform(0.05, 0.6))
            self.axisd.signal(signal.SIGKILL)
            self.kill_times.append(time.monotonic())
            assert self.axisd.proc is not None
            self.axisd.proc.wait(10)
            self.axisd.proc = None
            self.axisd.start()

    # -- the run

    def run(self, timeout: float = 600) -> dict[str, Any]:
        self.receiver.up()
        self.axisd.start()
        started = time.monotonic()
        senders = [threading.Thread(target=self.sender, args=(c,), daemon=True) for c in SENDERS]
        recipients = [threading.Thread(target=self.recipient, args=(c,), daemon=True) for c in PULL]
        killer = threading.Thread(target=self.killer, daemon=True)
        for t in senders + recipients + [killer]:
            t.start()
        try:
            killer.join(timeout)
            for t in senders:
                t.join(max(1.0, timeout - (time.monotonic() - started)))
            assert not killer.is_alive() and not any(t.is_alive() for t in senders), "the soak did not finish in time"
            self._drain(timeout - (time.monotonic() - started))
        finally:
            self.stop.set()
            for t in recipients:
                t.join(10)
        return check(self)

    def _drain(self, timeout: float) -> None:
        """Wait until the pull recipients have answered everything and the push receiver has everything."""
        want = {doc for _, doc in self.receipts}
        deadline = time.monotonic() + max(timeout, 5)
        while time.monotonic() < deadline:
            pushed = {r.headers.get("idempotency-key") for r in self.receiver.received}
            if all(self.answered[c] >= want for c in PULL) and set(self.receipts.values()) <= pushed:
                return
            time.sleep(0.1)
        raise AssertionError("not everything arrived: " + json.dumps(
            {c: len(want - self.answered[c]) for c in PULL}) + "".join(self.axisd.output[-20:]))

    def close(self) -> None:
        self.stop.set()
        self.axisd.kill()
        self.receiver.down()


def check(soak: Soak) -> dict[str, Any]:
    """Every invariant of the run; raises AssertionError naming the first that fails.  Returns the figures."""
    db = sqlite3.connect(f"file:{soak.axisd.data_dir / 'axis.sqlite3'}?mode=ro", uri=True)
    try:
        q = db.execute
        # 1. Every receipt names a message that is stored, once per (sender, DocumentId), with the bytes sent.
        rows = q("SELECT m.id, m.sender, m.document_id, p.data FROM messages m JOIN payloads p ON p.sha256 = m.sha256 "
                 "WHERE m.kind = 'edoc'").fetchall()
        per_document = Counter((sender, doc) for _, sender, doc, _ in rows)
        assert all(n == 1 for n in per_document.values()), [k for k, n in per_document.items() if n > 1]
        stored = {(sender, doc): (mid, data) for mid, sender, doc, data in rows}
        assert set(stored) == set(soak.receipts), "a document without a receipt, or a receipt without a document"
        for key, message_id in soak.receipts.items():
            assert stored[key] == (message_id, soak.sent_bytes[key]), key
        # 2. Each pull recipient got each document as one message with the sent bytes (a fetch may repeat
        #    after a kill between the fetch and the acknowledgement: the same message again, never another).
        lost = doubled = 0
        for code in PULL:
            by_doc: dict[str, set[str]] = defaultdict(set)
            for message_id, doc, body in soak.fetched[code]:
                by_doc[doc].add(message_id)
                assert body == soak.sent_bytes[next(k for k in soak.receipts if k[1] == doc)]
            lost += len({doc for _, doc in soak.receipts} - set(by_doc))
            doubled += sum(1 for ids in by_doc.values() if len(ids) > 1)
        assert (lost, doubled) == (0, 0), f"{lost} copies lost, {doubled} documents seen as two messages"
        # 3. The push receiver got each message, under its one Idempotency-Key, with the same bytes every time.
        keys: dict[str, set[bytes]] = defaultdict(set)
        for got in soak.receiver.received:
            keys[got.headers["idempotency-key"]].add(got.body)
        assert set(keys) == set(soak.receipts.values()) and all(len(b) == 1 for b in keys.values())
        # 4. Every delivery is finished, and the transport ledger tells each one's story exactly once.
        states = Counter(q("SELECT d.mode, d.state FROM deliveries d JOIN messages m ON m.seq = d.message_seq "
                           "WHERE m.kind = 'edoc'").fetchall())
        n = len(soak.receipts)
        assert states == Counter({("pull", "done"): 2 * n, ("push", "delivered"): n}), states
        events = Counter(q("SELECT t.recipient, t.event FROM transport_ledger t JOIN messages m ON m.seq = t.message_seq "
                           "WHERE m.kind = 'edoc' AND t.recipient IS NOT NULL").fetchall())
        for code in PULL:
            assert events[(code, "delivered")] == n and events[(code, "acknowledged")] == n, (code, events)
        assert events[(PUSH, "delivered")] == n, events
        whole = Counter(e for (e,) in q("SELECT t.event FROM transport_ledger t JOIN messages m "
                                         "ON m.seq = t.message_seq WHERE m.kind = 'edoc' AND t.recipient IS NULL"))
        assert whole == Counter({"accepted": n, "queued": n}), whole
        # 5. The business ledger has each recipient's 03 once per document, and nothing else.
        business = Counter(q("SELECT recipient, status_code FROM business_ledger").fetchall())
        assert business == Counter({(code, "03"): n for code in PULL}), business
        # 6. Ledger times never go backwards within a message.
        for (seq,) in q("SELECT seq FROM messages"):
            times = [t for (t,) in q("SELECT at FROM transport_ledger WHERE message_seq = ? ORDER BY id", (seq,))]
            assert times == sorted(times), (seq, times)
        duplicated_pushes = len(soak.receiver.received) - n
        return {"kills": len(soak.kill_times), "documents": n, "deliveries": 3 * n, "lost": lost, "duplicated": doubled,
                "push_redeliveries_same_key": duplicated_pushes, "refetches_same_message": sum(
                    len(soak.fetched[c]) for c in PULL) - 2 * n, "client_retries": dict(soak.retries)}
    finally:
        db.close()
