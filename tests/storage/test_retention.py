"""Retention on real SQLite files: whole documents past retention go in small steps, oldest first; waiting packages,
recent ones and everything of a document still in use stay, with their ledgers untouched; an interrupted run
continues; the ledgers' triggers let nothing else remove a row."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from axis.storage import retention
from axis.storage.base import AckResult, BusinessEvent, NewDelivery, NewMessage
from axis.storage.sqlite import SqliteStore, open_database
from axis.vntime import iso

G22, H41, G12 = "000.00.00.G22", "000.00.00.H41", "000.00.00.G12"
DAY = retention.DAY_NS
NOW = time.time_ns()
OLD = NOW - 2200 * DAY  # six years ago
DAYS = 1825
CUTOFF = retention.cutoff_ns(DAYS, NOW)
AT = iso()


def msg(mid: str, accepted_ns: int, *, doc: str | None = None, sender: str = G22, to: tuple[str, ...] = (H41,),
        data: bytes | None = None, status_of: str | None = None) -> NewMessage:
    body = data if data is not None else f"<package {mid}/>".encode()
    business = None
    if status_of is not None:  # a status about G22's document ``status_of``, sent by its recipient ``sender``
        business = BusinessEvent(G22, status_of, sender, "03", sender, AT)
    return NewMessage(
        message_id=mid, kind="status" if status_of else "edoc", sender=sender,
        document_id=status_of or doc or f"doc-{mid}", doc_sender=G22, status_code="03" if status_of else None,
        priority=0, sha256=hashlib.sha256(body).hexdigest(), data=body, accepted_at=AT, accepted_ns=accepted_ns,
        signature="valid", receipt=b"{}", deliveries=tuple(NewDelivery(c, "pull") for c in to), business=business)


def put(store: SqliteStore, m: NewMessage, done: bool = True) -> None:
    with store.transaction():
        store.store_message(m)
        if done:
            for d in m.deliveries:
                store.mark_fetched(d.recipient, m.message_id, AT)
                store.acknowledge(d.recipient, m.message_id, AckResult.DONE, None, AT)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(open_database(tmp_path))
    s.conn.execute("PRAGMA synchronous = OFF")  # thousands of tiny transactions; durability is not tested here
    yield s
    s.close()


def ids(store: SqliteStore) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT id FROM messages")}


def rows_of(store: SqliteStore, mids: set[str]) -> list[tuple]:
    """Every ledger, delivery, request and payload row of these messages: what must stay untouched."""
    marks = ",".join("?" * len(mids))
    seqs = f"(SELECT seq FROM messages WHERE id IN ({marks}))"
    out: list[tuple] = []
    for table, key in (("transport_ledger", "message_seq"), ("business_ledger", "message_seq"),
                       ("deliveries", "message_seq"), ("requests", "message_seq"), ("messages", "seq")):
        out += [(table, *r) for r in store.conn.execute(f"SELECT * FROM {table} WHERE {key} IN {seqs} ORDER BY 1, 2",
                                                        list(mids))]
    out += [("payloads", *r) for r in store.conn.execute(
        f"SELECT sha256, size FROM payloads WHERE sha256 IN (SELECT sha256 FROM messages WHERE id IN ({marks})) "
        "ORDER BY 1", list(mids))]
    return out


def world(store: SqliteStore, old_documents: int = 450) -> set[str]:
    """Old finished documents (some with old statuses), and the messages that must stay; returns the latter."""
    for n in range(old_documents):
        put(store, msg(f"old{n}", OLD + n))
        if n % 3 == 0:
            put(store, msg(f"old{n}-s", OLD + n + 1, sender=H41, to=(G22,), status_of=f"doc-old{n}"))
    keep: set[str] = set()
    put(store, msg("waiting", OLD + 10), done=False)  # old, never fetched: never removed
    keep.add("waiting")
    put(store, msg("waiting-status", OLD + 20, sender=H41, to=(G22,), status_of="doc-waiting"))
    keep.add("waiting-status")  # finished and old, but its document still waits: kept with it
    put(store, msg("half", OLD + 30, to=(H41, G12)), done=False)
    with store.transaction():  # one recipient acknowledged, the other still processing
        store.acknowledge(H41, "half", AckResult.DONE, None, AT)
        store.acknowledge(G12, "half", AckResult.PROCESSING, None, AT)
    keep.add("half")
    put(store, msg("lively", OLD + 40))  # an old document with a recent status: in use, kept whole
    put(store, msg("lively-s", NOW - DAY, sender=H41, to=(G22,), status_of="doc-lively"))
    keep |= {"lively", "lively-s"}
    put(store, msg("shared-old", OLD + 50, data=b"<same bytes/>"))  # its payload is shared with a recent message
    put(store, msg("shared-new", NOW - DAY, sender=G12, data=b"<same bytes/>"))
    keep.add("shared-new")
    for n in range(5):
        put(store, msg(f"recent{n}", NOW - 10 * DAY + n))
        keep.add(f"recent{n}")
    return keep


def run(store: SqliteStore, limit: int = 200) -> tuple[retention.Counts, int]:
    total, cursor, steps = retention.Counts(), retention.START, 0
    while True:
        with store.transaction():
            step = retention.step(store.conn, CUTOFF, cursor, limit)
        total.add(step.removed)
        steps += 1
        if step.done:
            return total, steps
        cursor = step.cursor


def test_what_is_past_retention_goes_in_steps_and_the_rest_stays_untouched(store: SqliteStore) -> None:
    keep = world(store)
    before = rows_of(store, keep)
    planned, kept = retention.dry_run(store.conn, CUTOFF, 200)
    assert ids(store) >= keep and len(ids(store)) == 450 + 150 + len(keep) + 1  # the dry run changed nothing

    total, steps = run(store, limit=200)
    assert ids(store) == keep
    assert rows_of(store, keep) == before  # kept messages: ledgers, deliveries and payloads as they were
    assert steps >= 3  # 601 messages, 200 a step
    assert total.messages == 601 and total.to_dict() == planned.to_dict()
    assert {r[0] for r in store.conn.execute(f"SELECT id FROM messages WHERE seq IN ({','.join(map(str, kept))})")} \
        == {"waiting", "waiting-status", "half", "lively"}
    assert total.payloads == 600 and total.transport_entries == 601 * 4  # accepted, queued, delivered, acknowledged
    # orphaned payloads went, the shared one stayed; nothing refers to a removed message any more
    assert store.conn.execute("SELECT count(*) FROM payloads").fetchone()[0] == len(keep)
    for table in ("transport_ledger", "business_ledger", "deliveries", "requests"):
        assert store.conn.execute(f"SELECT count(*) FROM {table} WHERE message_seq NOT IN "
                                  "(SELECT seq FROM messages)").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM retention_doomed").fetchone()[0] == 0
    log = store.conn.execute("SELECT sum(messages), count(*) FROM retention_log").fetchone()
    assert log == (601, steps - 1) or log == (601, steps)  # one row per step that removed something
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert run(store)[0].messages == 0  # a second run finds nothing


def test_oldest_go_first_and_each_step_is_small(store: SqliteStore) -> None:
    world(store, old_documents=300)
    with store.transaction():
        first = retention.step(store.conn, CUTOFF, retention.START, 50)
    assert 50 <= first.removed.messages <= 51 and not first.done  # a document goes with its status
    left = sorted(int(r[0][3:].split("-")[0]) for r in store.conn.execute("SELECT id FROM messages WHERE id LIKE 'old%'"))
    assert left[0] >= 37 and left == sorted(left)  # the oldest were the ones removed


def test_an_interrupted_run_loses_nothing_and_the_next_one_continues(store: SqliteStore, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    keep = world(store)
    with store.transaction():
        retention.step(store.conn, CUTOFF, retention.START, 100)
    after_one = ids(store)

    real = retention.remove

    def crash(conn: sqlite3.Connection, seqs: list[int], cutoff: int, at: str) -> retention.Counts:
        real(conn, seqs, cutoff, at)
        raise KeyboardInterrupt  # killed in the middle of a step, its deletes done, before the commit

    monkeypatch.setattr(retention, "remove", crash)
    with pytest.raises(KeyboardInterrupt), store.transaction():
        retention.step(store.conn, CUTOFF, retention.START, 100)
    monkeypatch.setattr(retention, "remove", real)
    assert ids(store) == after_one  # the interrupted step left nothing half-removed
    store.close()

    again = SqliteStore(tmp_path / "axis.sqlite3")  # a new process, from the start
    try:
        run(again)
        assert {r[0] for r in again.conn.execute("SELECT id FROM messages")} == keep
    finally:
        again.close()


def test_only_retention_removes_and_never_what_waits(store: SqliteStore) -> None:
    put(store, msg("old", OLD))
    put(store, msg("old-s", OLD + 1, sender=H41, to=(G22,), status_of="doc-old"))
    put(store, msg("queued", OLD), done=False)
    put(store, msg("fresh", NOW))
    c = store.conn

    def seq(mid: str) -> int:
        return int(c.execute("SELECT seq FROM messages WHERE id = ?", (mid,)).fetchone()[0])

    for sql, args in (("DELETE FROM transport_ledger WHERE message_seq = ?", (seq("old"),)),
                      ("DELETE FROM business_ledger", ()),
                      ("UPDATE transport_ledger SET detail = 'x' WHERE message_seq = ?", (seq("old"),))):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            c.execute(sql, args)
    with pytest.raises(sqlite3.DatabaseError, match="only by retention"):
        c.execute("DELETE FROM messages WHERE seq = ?", (seq("old"),))
    with pytest.raises(sqlite3.DatabaseError, match="still waiting"):
        c.execute("DELETE FROM deliveries WHERE message_seq = ?", (seq("queued"),))
    with pytest.raises(sqlite3.DatabaseError, match="still waiting"):
        c.execute("INSERT INTO retention_doomed (seq) VALUES (?)", (seq("queued"),))
    with pytest.raises(sqlite3.DatabaseError, match="less than a day"):
        c.execute("INSERT INTO retention_doomed (seq) VALUES (?)", (seq("fresh"),))
    c.execute("INSERT INTO retention_log (at, cutoff, messages, transport_entries, business_entries, payloads, "
              "payload_bytes) VALUES ('', '', 0, 0, 0, 0, 0)")
    for sql in ("DELETE FROM retention_log", "UPDATE retention_log SET messages = 1"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            c.execute(sql)
    c.rollback()
    # a cutoff in the future (a wrong setting, a clock jump) still cannot remove what is less than a day old
    with pytest.raises(sqlite3.DatabaseError, match="less than a day"), store.transaction():
        retention.step(c, NOW + DAY, retention.START, 10)
    assert ids(store) == {"old", "old-s", "queued", "fresh"}


def test_dry_run_counts_exactly_what_a_run_removes(store: SqliteStore) -> None:
    world(store, old_documents=120)
    planned, kept = retention.dry_run(store.conn, CUTOFF, 25)
    total, _ = run(store, limit=25)
    assert planned.to_dict() == total.to_dict() and planned.messages == 161


def test_the_daemon_loop_runs_one_small_step_per_writer_job(store: SqliteStore) -> None:
    from twisted.internet.defer import succeed
    from twisted.internet.task import Clock

    for n in range(5):
        put(store, msg(f"old{n}", OLD + n))
    put(store, msg("recent", NOW - DAY))
    jobs: list[retention.Step] = []

    def write(fn):  # the writer: each job in a transaction of its own, its result once committed
        with store.transaction():
            result = fn(store)
        jobs.append(result)
        return succeed(result)

    clock = Clock()
    loop = retention.RetentionLoop(clock, write, DAYS, interval=3600, limit=2, pause=0.5, now_ns=lambda: NOW)
    loop.start()  # at once, then every interval
    assert len(jobs) == 1 and ids(store) == {"old2", "old3", "old4", "recent"}  # waits between steps
    clock.advance(0.5)
    clock.advance(0.5)
    assert [j.removed.messages for j in jobs] == [2, 2, 1] and loop.runs == 1 and loop.last.messages == 5
    assert ids(store) == {"recent"}
    clock.advance(3600)
    assert len(jobs) == 4 and jobs[-1].removed.messages == 0 and loop.runs == 2
    loop.stop()
    clock.advance(7200)
    assert len(jobs) == 4


def test_a_dead_letter_is_never_removed_however_old(store: SqliteStore) -> None:
    """A dead letter was accepted (202) and never delivered; ``axisctl resend`` may still send it.  Removing it
    would lose a package nobody received, as surely as removing one still queued."""
    body = b"<pushed, never taken/>"
    pushed = dataclasses.replace(msg("dead", OLD), deliveries=(NewDelivery(H41, "push", "http://127.0.0.1:1/in"),),
                                 sha256=hashlib.sha256(body).hexdigest(), data=body)
    put(store, pushed, done=False)
    (job,) = store.due_pushes(NOW, 10)
    with store.transaction():
        assert store.push_failed(job, AT, "connection refused", OLD + DAY, None)  # given up: a dead letter
    assert [j.message_id for j, _, _ in store.dead_letters(10)] == ["dead"]
    planned, kept = retention.dry_run(store.conn, CUTOFF, 10)
    assert planned.messages == 0 and len(kept) == 1
    assert run(store)[0].messages == 0 and ids(store) == {"dead"}
    seq = store.conn.execute("SELECT seq FROM messages WHERE id = 'dead'").fetchone()[0]
    with pytest.raises(sqlite3.DatabaseError, match="still waiting"):  # the triggers refuse it too
        store.conn.execute("INSERT INTO retention_doomed (seq) VALUES (?)", (seq,))
    with pytest.raises(sqlite3.DatabaseError, match="still waiting"):
        store.conn.execute("DELETE FROM deliveries WHERE message_seq = ?", (seq,))
    store.conn.rollback()
    with store.transaction():
        assert store.resend(["dead"], AT, NOW) == 1  # and it can still be sent


def test_a_document_goes_together_with_the_packages_that_act_on_it_under_another_document_id(
        store: SqliteStore) -> None:
    """A replacement (or a revoke naming Bussiness/DocumentId) has a DocumentId of its own, but its requests and
    axis's 15 are entries of the document it acts on.  Removed apart from that document, they cut its history in
    the middle (the replaced copy then had no replacement, and its recipient could speak for it again), or they
    outlived it and came back as the history of a new document under that DocumentId."""
    from axis import business

    def edoc(mid: str, doc: str, to: tuple[str, ...], **links: object) -> NewMessage:
        return dataclasses.replace(msg(mid, OLD + len(ids(store)), doc=doc, to=to), **links)  # type: ignore[arg-type]

    def stored(m: NewMessage) -> None:
        with store.transaction(), store.savepoint():
            business.store(store, m, "000.00.99.H41")

    # 1. Kept: the replaced document still waits for G12, its replacement for H41 is finished.
    stored(edoc("x", "doc-x", (H41, G12)))
    with store.transaction():
        store.acknowledge(G12, "x", AckResult.PROCESSING, None, AT)  # G12 still works on it
    stored(edoc("z", "doc-z", (H41,), business_type=3, original_id="doc-x", replaces=(("doc-x", (H41,)),)))
    with store.transaction():  # H41 never saw x (superseded), took z and finished
        store.acknowledge(H41, "z", AckResult.DONE, None, AT)
    assert store.history(G22, "doc-x", H41) == ["replace", "15"]
    # 2. Removed: a document whose replacement still waits for its recipient.
    stored(edoc("y", "doc-y", (H41,)))
    stored(edoc("w", "doc-w", (H41,), business_type=3, original_id="doc-y", replaces=(("doc-y", (H41,)),)))
    assert store.history(G22, "doc-y", H41) == ["replace", "15"]

    run(store)
    assert {"x", "z", "y", "w"} <= ids(store)  # neither goes without the other while one of them is in use
    assert store.history(G22, "doc-x", H41) == ["replace", "15"]
    assert store.history(G22, "doc-y", H41) == ["replace", "15"]
    for table in ("business_ledger", "requests"):  # nothing is left of a document that went
        assert store.conn.execute(f"SELECT count(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM messages m "
                                  "WHERE m.document_id = t.document_id AND m.doc_sender = t.doc_sender)"
                                  ).fetchone()[0] == 0
    with store.transaction():  # once both are finished, both go, and nothing of them stays behind
        store.acknowledge(G12, "x", AckResult.DONE, None, AT)
        store.acknowledge(H41, "w", AckResult.DONE, None, AT)
    run(store)
    assert not {"x", "z", "y", "w"} & ids(store)
    for table in ("business_ledger", "requests"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_migration_0009_upgrades_a_database_made_before_it(tmp_path: Path) -> None:
    """An existing database (its schema at 0008) gets the new triggers on the next start, its rows untouched, and
    starting again changes nothing."""
    from sqlite_utils import Database

    from axis.storage.sqlite import DB_NAME, migrations

    db = Database(tmp_path / DB_NAME)
    migrations.apply(db, stop_before="0009_retention_keeps_dead_letters")
    db.close()
    old = SqliteStore(tmp_path / DB_NAME)
    old.conn.execute("PRAGMA synchronous = OFF")
    put(old, msg("before", OLD), done=False)
    old.close()
    for _ in range(2):
        open_database(tmp_path)
    s = SqliteStore(tmp_path / DB_NAME)
    try:
        assert ids(s) == {"before"}
        assert "dead letter" in s.conn.execute("SELECT sql FROM sqlite_master WHERE name = "
                                               "'deliveries_no_delete_waiting'").fetchone()[0]
    finally:
        s.close()
