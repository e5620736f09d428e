"""The SQLite store on real files: durability rules, mailbox order, acknowledgements, push bookkeeping, ledgers."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from axis.errors import AxisError, Code
from axis.storage.base import AckResult, BusinessEvent, NewDelivery, NewMessage, State, WriteStore
from axis.storage.sqlite import SqliteStore, checkpoint, open_database
from axis.storage.writer import Writer

AT = "2026-11-22T10:00:00.000+07:00"
G22, H41, G12 = "000.00.00.G22", "000.00.00.H41", "000.00.00.G12"


def message(n: int, *, to: tuple[str, ...] = (H41,), priority: int = 0, data: bytes | None = None,
            mode: str = "pull", kind: str = "edoc", business: BusinessEvent | None = None) -> NewMessage:
    body = data if data is not None else f"<package {n}/>".encode()
    return NewMessage(
        message_id=f"m{n}", kind=kind, sender=G22, document_id=f"doc-{n}", doc_sender=G22, status_code=None,
        priority=priority, sha256=hashlib.sha256(body).hexdigest(), data=body, accepted_at=AT,
        accepted_ns=1_000_000 + n, signature="valid", receipt=b'{"receipt": %d}' % n,
        deliveries=tuple(NewDelivery(code, mode, "http://127.0.0.1:1/x" if mode == "push" else None) for code in to),
        business=business)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(open_database(tmp_path))
    yield s
    s.close()


def put(store: SqliteStore, *messages: NewMessage) -> list:
    with store.transaction():
        return [store.store_message(m) for m in messages]


def test_mailbox_is_most_urgent_first_then_oldest(store: SqliteStore) -> None:
    put(store, message(1), message(2, priority=3), message(3), message(4, priority=3))
    assert [i.message_id for i in store.mailbox(H41, 10)] == ["m2", "m4", "m1", "m3"]
    assert store.mailbox(G12, 10) == []
    assert [i.message_id for i in store.mailbox(H41, 2)] == ["m2", "m4"]


def test_the_same_bytes_from_the_same_sender_are_found_and_cannot_be_stored_twice(store: SqliteStore) -> None:
    assert store.duplicate(G22, hashlib.sha256(b"<same/>").hexdigest()) is None
    (first,) = put(store, message(1, data=b"<same/>", to=(H41, G12)))
    again = store.duplicate(G22, hashlib.sha256(b"<same/>").hexdigest())
    assert not first.duplicate and again.duplicate and again.message_id == "m1" and again.receipt == first.receipt
    assert again.deliveries == ((G12, State.QUEUED), (H41, State.QUEUED))
    with pytest.raises(sqlite3.IntegrityError):  # the unique index backs the rule up
        put(store, message(2, data=b"<same/>"))
    assert len(store.mailbox(H41, 10)) == 1


def test_fetch_ack_and_ledger(store: SqliteStore) -> None:
    put(store, message(1, to=(H41, G12)))
    item, data = store.fetch(H41, "m1")
    assert data == b"<package 1/>" and item.state is State.QUEUED
    assert store.fetch("000.00.00.G09", "m1") is None  # not a recipient: nothing to see
    with store.transaction():
        assert store.mark_fetched(H41, "m1", AT) is True
        assert store.mark_fetched(H41, "m1", AT) is False  # only the first fetch delivers
        assert store.acknowledge(H41, "m1", AckResult.PROCESSING, None, AT) is State.PROCESSING
        assert store.acknowledge(H41, "m1", AckResult.DONE, None, AT) is State.DONE
        assert store.acknowledge(H41, "m1", AckResult.DONE, None, AT) is State.DONE  # idempotent
        assert store.acknowledge(G12, "m1", AckResult.FAIL, "bad attachment", AT) is State.FAILED
    with pytest.raises(AxisError) as err:
        store.acknowledge(H41, "m1", AckResult.FAIL, None, AT)
    assert err.value.code.code == "http.bad-request"
    with pytest.raises(AxisError):
        store.acknowledge(H41, "nope", AckResult.DONE, None, AT)
    assert store.mailbox(H41, 10) == [] and store.mailbox(G12, 10) == []
    view = store.message("m1")
    assert view is not None
    events = [(e.recipient, e.event) for e in view.ledger]
    assert events == [(None, "accepted"), (None, "queued"), (H41, "delivered"), (H41, "processing"),
                      (H41, "acknowledged"), (G12, "delivered"), (G12, "failed")]
    assert "pull: 000.00.00.H41, 000.00.00.G12" in view.ledger[1].detail


@pytest.mark.parametrize("statement", ["UPDATE transport_ledger SET at = 'x'", "DELETE FROM transport_ledger",
                                       "UPDATE business_ledger SET status_code = '06'", "DELETE FROM business_ledger"])
def test_ledgers_are_append_only(store: SqliteStore, statement: str) -> None:
    put(store, message(1))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        with store.transaction():
            store.conn.execute("INSERT INTO business_ledger (doc_sender, document_id, recipient, status_code, author, "
                               "message_seq, at) VALUES ('a', 'b', 'c', '01', 'c', 1, 'now')")
            store.conn.execute(statement)


def test_business_events_are_recorded_per_document(store: SqliteStore) -> None:
    put(store, message(1))
    event = BusinessEvent(G22, "doc-1", H41, "03", H41, AT, "2026-11-22T09:59:00.000+07:00", "đã tiếp nhận", "s1")
    status = NewMessage(
        message_id="s1", kind="status", sender=H41, document_id="doc-1", doc_sender=G22, status_code="03",
        priority=0, sha256="a" * 64, data=b"<status/>", accepted_at=AT, accepted_ns=5, signature="absent",
        receipt=b"{}", deliveries=(NewDelivery(G22, "pull"),), business=event)
    put(store, status)
    trace = store.trace("doc-1")
    assert [v.message_id for v in trace] == ["m1", "s1"]
    assert [(b.recipient, b.status_code, b.author, b.description) for b in trace[0].business] == [
        (H41, "03", H41, "đã tiếp nhận")]
    assert store.trace("doc-1", "000.00.00.G09") == []


def test_push_retries_dead_letters_and_resend(store: SqliteStore) -> None:
    put(store, message(1, to=(G12,), mode="push"), message(2, to=(G12,), mode="push", priority=4))
    jobs = store.due_pushes(now_ns=10**12, limit=10)
    assert [j.message_id for j in jobs] == ["m2", "m1"]
    job = jobs[1]
    with store.transaction():
        assert store.push_failed(job, AT, "connection refused", now_ns=100, next_attempt_ns=10**13)
    assert [j.message_id for j in store.due_pushes(10**12, 10)] == ["m2"]  # m1 waits for its next attempt
    retry = store.due_pushes(10**13, 10)[1]
    assert retry.attempts == 1 and retry.first_failure_ns == 100
    with store.transaction():
        assert store.push_failed(retry, AT, "connection refused", now_ns=200, next_attempt_ns=None)
    dead = store.dead_letters(10)
    assert [(j.message_id, j.attempts, err) for j, err, _ in dead] == [("m1", 2, "connection refused")]
    with store.transaction():
        assert store.resend(["m1"], AT, now_ns=300) == 1
        assert store.resend(None, AT, now_ns=300) == 0
    again = [j for j in store.due_pushes(10**12, 10) if j.message_id == "m1"][0]
    assert again.attempts == 0
    with store.transaction():
        assert store.push_succeeded(again, AT, "pushed (HTTP 200)")
        assert not store.push_succeeded(again, AT, "pushed twice")  # only a queued delivery can succeed
    view = store.message("m1")
    assert view is not None and view.deliveries[0].state is State.DELIVERED
    assert [e.event for e in view.ledger if e.recipient] == ["failed", "dead", "resent", "delivered"]


def _dead(store: SqliteStore, n: int) -> None:
    """Message ``n`` to G12 by push, given up (a dead letter)."""
    put(store, message(n, to=(G12,), mode="push"))
    job = next(j for j in store.due_pushes(10**12, 10) if j.message_id == f"m{n}")
    with store.transaction():
        assert store.push_failed(job, AT, "connection refused", now_ns=100, next_attempt_ns=None)


def _events(store: SqliteStore, message_id: str) -> list[str]:
    view = store.message(message_id)
    assert view is not None
    return [e.event for e in view.ledger if e.recipient]


@pytest.mark.parametrize("ack", [None, AckResult.PROCESSING, AckResult.DONE, AckResult.FAIL])
def test_a_dead_letter_the_recipient_takes_is_delivered(store: SqliteStore, ack: AckResult | None) -> None:
    # Push gave up, yet the agency fetched it (or acknowledged it): it has the package, so it was delivered,
    # and from then on it is a delivered copy like any other.
    _dead(store, 1)
    with store.transaction():
        if ack is None:
            assert store.mark_fetched(G12, "m1", AT) is True
            assert store.mark_fetched(G12, "m1", AT) is False
        else:
            store.acknowledge(G12, "m1", ack, None, AT)
    expected = {None: State.DELIVERED, AckResult.PROCESSING: State.PROCESSING, AckResult.DONE: State.DONE,
                AckResult.FAIL: State.FAILED}[ack]
    view = store.message("m1")
    assert view is not None and view.deliveries[0].state is expected
    assert _events(store, "m1") == ["dead", "delivered"] + (
        [] if ack is None else [{"processing": "processing", "done": "acknowledged", "fail": "failed"}[ack.value]])
    assert store.dead_letters(10) == []
    with store.transaction():
        assert store.resend(None, AT, now_ns=300) == 0  # nothing to resend: it arrived


def test_a_fetch_wins_over_a_push_in_flight(store: SqliteStore) -> None:
    put(store, message(1, to=(G12,), mode="push"))
    job = store.due_pushes(10**12, 10)[0]
    with store.transaction():
        store.mark_fetched(G12, "m1", AT)
        assert not store.push_failed(job, AT, "timeout", 1, 2)
        assert not store.push_succeeded(job, AT, "late")


def test_queue_depths_by_priority(store: SqliteStore) -> None:
    put(store, message(1, to=(H41, G12)), message(2, priority=2))
    depths = {d.priority: (d.depth, d.oldest_ns) for d in store.queue_depths()}
    assert depths == {0: (2, 1_000_001), 2: (1, 1_000_002)}


def test_readers_see_only_committed_data(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    writer, reader = SqliteStore(path), SqliteStore(path, readonly=True)
    with writer.transaction():
        writer.store_message(message(1))
        assert reader.mailbox(H41, 10) == []
    assert [i.message_id for i in reader.mailbox(H41, 10)] == ["m1"]
    with pytest.raises(sqlite3.OperationalError):
        reader.conn.execute("DELETE FROM payloads")


def test_writer_commits_groups_and_isolates_a_failing_job(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    results: list[tuple[object, BaseException | None]] = []
    done = threading.Event()
    writer = Writer(lambda: SqliteStore(path), lambda report: report(), max_batch=64)
    writer.start()

    def collect(value: object, error: BaseException | None) -> None:
        results.append((value, error))
        if len(results) == 41:
            done.set()

    def boom(store: WriteStore) -> None:
        store.store_message(message(999))
        raise RuntimeError("this job fails")

    for n in range(20):
        writer.submit(lambda s, n=n: s.store_message(message(n)).message_id, collect)
    writer.submit(boom, collect)
    for n in range(20, 40):
        writer.submit(lambda s, n=n: s.store_message(message(n)).message_id, collect)
    assert done.wait(30)
    writer.stop()
    assert [v for v, e in results if e is None] == [f"m{n}" for n in range(40)]
    assert [str(e) for v, e in results if e is not None] == ["this job fails"]
    assert writer.jobs == 41 and writer.batches <= 41
    reader = SqliteStore(path, readonly=True)
    assert len(reader.mailbox(H41, 1000)) == 40 and reader.message("m999") is None  # rolled back alone


def test_writer_reports_a_failed_commit_to_every_job(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    outcomes: list[BaseException | None] = []

    def locked_store() -> SqliteStore:
        store = SqliteStore(path)
        store.conn.execute("PRAGMA busy_timeout = 50")
        return store

    blocker = sqlite3.connect(path, timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database: the group cannot commit
    writer = Writer(locked_store, lambda report: report())
    writer.start()
    for n in range(3):
        writer.submit(lambda s, n=n: s.store_message(message(n)), lambda v, e: outcomes.append(e))
    deadline = time.monotonic() + 20
    while len(outcomes) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    blocker.rollback()
    writer.stop()
    assert len(outcomes) == 3 and all(isinstance(e, sqlite3.OperationalError) for e in outcomes)
    assert writer.last_error is not None
    assert SqliteStore(path, readonly=True).mailbox(H41, 10) == []  # nothing of the failed group is there


def _plan_of(store: SqliteStore, call: Callable[[], object]) -> str:
    """The query plan of the statement ``call`` runs (what SQLite would really do, whatever the text)."""
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        store.conn.set_trace_callback(None)
    sql = next(s for s in seen if s.lstrip().upper().startswith("SELECT"))
    return " | ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))


def test_mailbox_and_queue_depth_use_the_indexes_of_waiting_deliveries(store: SqliteStore) -> None:
    from axis.storage.base import PENDING_STATES
    from axis.storage.sqlite import _WAITING
    assert _WAITING == "({})".format(",".join(f"'{s.value}'" for s in PENDING_STATES))
    put(store, message(1), message(2))
    plan = _plan_of(store, lambda: store.mailbox(H41, 10))
    assert "SEARCH x USING PRIMARY KEY (recipient=?)" in plan, plan
    assert "TEMP B-TREE" not in plan  # the table's key gives the order
    assert "USING INDEX deliveries_queue" in _plan_of(store, lambda: store.queue_depths())


def _boxed_rows(store: SqliteStore) -> tuple[list[tuple], list[tuple]]:  # type: ignore[type-arg]
    """(what the mailbox tables hold, what they must hold: every waiting delivery an agency takes itself)."""
    held = sorted(store.conn.execute("SELECT recipient, priority, message_seq FROM mailbox_filed UNION ALL "
                                     "SELECT recipient, priority, message_seq FROM mailbox_fresh"))
    due = sorted(store.conn.execute("SELECT recipient, priority, message_seq FROM deliveries WHERE state IN "
                                    "('queued','delivered','processing') AND mode NOT IN ('upstream','peer')"))
    return held, due


def test_the_mailbox_tables_follow_every_change_of_the_deliveries(store: SqliteStore) -> None:
    """Random traffic, fetches, acknowledgements (a done one taken again), withdrawals, dead letters and resends,
    with the fresh entries moved at random commits: the tables hold exactly the waiting deliveries, and each
    mailbox lists them as the deliveries table alone orders them."""
    import random

    from axis.storage import sqlite as backend
    rng = random.Random(11)
    agencies = (H41, G12, "000.00.00.A01", "000.00.00.B02")
    n = 0
    for _ in range(120):
        with store.transaction():
            for _ in range(rng.randrange(1, 4)):
                n += 1
                mode = rng.choice(("pull", "pull", "push"))
                store.store_message(message(n, to=tuple(rng.sample(agencies, rng.randrange(1, 4))), mode=mode,
                                            priority=rng.randrange(5), kind=rng.choice(("edoc", "status"))))
            for _ in range(rng.randrange(3)):
                who, m = rng.choice(agencies), f"m{rng.randrange(1, n + 1)}"
                action = rng.randrange(5)
                try:
                    with store.savepoint():  # as the service runs each, refused ones (not this agency's) change nothing
                        if action == 0:
                            store.mark_fetched(who, m, AT)
                        elif action in (1, 2):
                            store.acknowledge(who, m, rng.choice(list(AckResult)), None, AT)
                        elif action == 3 and (d := store._delivery(who, m)) is not None and d[1] == "queued":
                            store.take_back(m, who, State.WITHDRAWN, AT, "withdrawn")
                        else:
                            for job in store.due_pushes(2**62, 2):
                                store.push_failed(job, AT, "refused", now_ns=1, next_attempt_ns=None)
                            if rng.random() < 0.3:
                                store.resend(None, AT, now_ns=2)
                except AxisError:
                    pass
            if rng.random() < 0.2:
                store._unfiled = backend.FILE_EVERY  # this commit moves the fresh entries
        held, due = _boxed_rows(store)
        assert held == due
        for who in agencies:
            order = [f"m{r[0]}" for r in store.conn.execute(
                "SELECT m.seq FROM deliveries d JOIN messages m ON m.seq = d.message_seq WHERE d.recipient = ? AND "
                "d.state IN ('queued','delivered','processing') AND d.mode NOT IN ('upstream','peer') "
                "ORDER BY m.priority DESC, m.seq", (who,))]
            order = [store.conn.execute("SELECT id FROM messages WHERE seq = ?", (int(m[1:]),)).fetchone()[0]
                     for m in order]
            assert [i.message_id for i in store.mailbox(who, 1000)] == order
            assert [i.message_id for i in store.mailbox(who, 5)] == order[:5]
            assert store.pending_count(who) == len(order)
            assert store.pending_count(who, "status") == sum(i.kind == "status" for i in store.mailbox(who, 1000))
    filed, fresh = (store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in backend._MAILBOX_TABLES)
    assert filed > 0 and fresh > 0  # both were read from


def test_fresh_entries_are_moved_in_one_pass_once_enough_are_waiting(store: SqliteStore, monkeypatch) -> None:
    from axis.storage import sqlite as backend
    monkeypatch.setattr(backend, "FILE_EVERY", 3)
    put(store, message(1, priority=1), message(2))
    assert store.conn.execute("SELECT count(*) FROM mailbox_filed").fetchone()[0] == 0
    put(store, message(3, priority=4))  # the third delivery: this commit moves all three
    assert store.conn.execute("SELECT count(*) FROM mailbox_fresh").fetchone()[0] == 0
    put(store, message(4, priority=1))
    assert [i.message_id for i in store.mailbox(H41, 10)] == ["m3", "m1", "m4", "m2"]  # across both tables
    fair = [i.message_id for i in store.mailbox(H41, 2, oldest=1)]
    assert fair == ["m3", "m1"] and [i.message_id for i in store.mailbox(H41, 3, oldest=1)] == ["m3", "m1", "m2"]


def test_the_migration_files_the_deliveries_already_waiting(tmp_path: Path) -> None:
    """A database from before 0011: its waiting deliveries were in the partial index; they go to mailbox_filed."""
    path = open_database(tmp_path)
    store = SqliteStore(path)
    put(store, message(1), message(2, to=(G12, H41), priority=3), message(3, mode="push"))
    with store.transaction():
        store.acknowledge(H41, "m1", AckResult.DONE, None, AT)
    conn = store.conn
    for trigger in ("mailbox_in", "mailbox_back", "mailbox_out"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE mailbox_filed")
    conn.execute("DROP TABLE mailbox_fresh")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0011_mailbox_tables'")
    conn.execute("CREATE INDEX deliveries_mailbox ON deliveries(recipient, priority DESC, message_seq) "
                 "WHERE state IN ('queued','delivered','processing') AND mode != 'upstream'")
    conn.commit()
    store.close()
    open_database(tmp_path)
    store = SqliteStore(path)
    try:
        assert store.conn.execute("SELECT count(*) FROM mailbox_fresh").fetchone()[0] == 0
        held, due = _boxed_rows(store)
        assert held == due and len(held) == 3  # m2 for two agencies, m3 for H41; not the acknowledged m1
        assert [i.message_id for i in store.mailbox(H41, 10)] == ["m2", "m3"]
        assert store.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_mailbox'").fetchone()[0] == 0
    finally:
        store.close()


def test_a_flood_of_urgent_packages_does_not_starve_the_mailbox(store: SqliteStore) -> None:
    put(store, message(1), message(2, priority=1), *(message(n, priority=4) for n in range(3, 23)))
    strict = [i.message_id for i in store.mailbox(H41, 8)]
    assert "m1" not in strict and "m2" not in strict  # strictly by priority, the oldest would wait forever
    fair = store.mailbox(H41, 8, oldest=2)
    assert len(fair) == 8 and {"m1", "m2"} <= {i.message_id for i in fair}
    assert [i.priority for i in fair] == sorted((i.priority for i in fair), reverse=True)  # still shown by urgency
    assert [i.message_id for i in store.mailbox(H41, 100, oldest=25)] == \
        [i.message_id for i in store.mailbox(H41, 100)]  # when everything fits, nothing changes


def test_a_flood_of_urgent_pushes_does_not_starve_the_queue(store: SqliteStore) -> None:
    put(store, message(1, mode="push"), *(message(n, priority=3, mode="push") for n in range(2, 12)))
    assert "m1" not in [j.message_id for j in store.due_pushes(2**62, 4)]
    fair = [j.message_id for j in store.due_pushes(2**62, 4, oldest=1)]
    assert len(fair) == 4 and "m1" in fair


def peer_message(n: int, to: tuple[str, ...], priority: int = 0) -> NewMessage:
    """A message for agencies behind the lower axis of the pull route "nghe-an"."""
    m = message(n, to=to, priority=priority)
    return NewMessage(**{**m.__dict__, "deliveries": tuple(NewDelivery(code, "peer", "nghe-an") for code in to)})


def test_a_lower_axis_takes_each_package_once_for_all_its_recipients(store: SqliteStore) -> None:
    behind = ("000.00.01.H41", "000.00.02.H41")
    put(store, peer_message(1, behind), peer_message(2, behind[:1], priority=3), message(3))
    peer = "route:nghe-an"
    assert [i.message_id for i in store.mailbox(peer, 10)] == ["m2", "m1"]  # urgent first, each once
    assert [i.message_id for i in store.mailbox(peer, 1)] == ["m2"]
    assert store.pending_count(peer) == 2 and store.pending_count(peer, "status") == 0
    assert store.mailbox(behind[0], 10) == [] and store.fetch(behind[0], "m1") is None  # not an agency's mailbox
    assert [i.message_id for i in store.mailbox(H41, 10)] == ["m3"]
    assert store.fetch(peer, "m3") is None  # nor is an agency's copy the lower axis's

    item, data = store.fetch(peer, "m1")
    assert item.state is State.QUEUED and data == b"<package 1/>"
    with store.transaction():
        assert store.mark_fetched(peer, "m1", AT) is True
        assert store.mark_fetched(peer, "m1", AT) is False
    with store.transaction():
        assert store.acknowledge(peer, "m1", AckResult.DONE, None, AT) is State.DONE
        assert store.acknowledge(peer, "m1", AckResult.DONE, None, AT) is State.DONE  # again: idempotent
    view = store.message("m1")
    assert {d.recipient: d.state for d in view.deliveries} == {code: State.DONE for code in behind}
    assert [(e.recipient, e.event) for e in view.ledger if e.recipient is not None] == [
        (behind[0], "delivered"), (behind[1], "delivered"), (behind[0], "acknowledged"), (behind[1], "acknowledged")]
    assert "fetched by the axis of route nghe-an" in view.ledger[2].detail
    assert [i.message_id for i in store.mailbox(peer, 10)] == ["m2"]
    assert store.due_pushes(time.time_ns(), 10) == []  # nobody pushes what a lower axis pulls
    with pytest.raises(AxisError):
        with store.transaction():
            store.acknowledge(peer, "m9", AckResult.DONE, None, AT)


def test_one_transfer_upstream_delivers_every_copy_behind_the_route(store: SqliteStore) -> None:
    m = message(1, to=("000.00.00.G22", "000.00.00.G12"))
    put(store, NewMessage(**{**m.__dict__, "deliveries": tuple(NewDelivery(d.recipient, "upstream", "national")
                                                                    for d in m.deliveries)}))
    jobs = store.due_pushes(time.time_ns(), 10)
    assert len(jobs) == 1 and jobs[0].kind == "edoc"  # one job per package and route: the transfer carries both
    with store.transaction():
        assert store.push_succeeded(jobs[0], AT, "sent to the upstream axis") is True
    assert {d.state for d in store.message("m1").deliveries} == {State.DELIVERED}
    assert store.due_pushes(time.time_ns(), 10) == []


def test_ledgers_stay_in_order_when_the_clock_is_set_back(store: SqliteStore) -> None:
    put(store, message(1))
    earlier = "2026-11-22T09:00:00.000+07:00"  # an hour before AT: the clock was set back after the acceptance
    with store.transaction():
        store.mark_fetched(H41, "m1", earlier)
        store.acknowledge(H41, "m1", AckResult.DONE, None, "2026-11-22T09:30:00.000+07:00")
    times = [e.at for e in store.message("m1").ledger]
    assert times == sorted(times) and times[0] == AT and earlier not in times
    status = BusinessEvent(G22, "doc-1", H41, "03", H41, AT, None, None, "m2")
    put(store, message(2, kind="status", business=status))
    late = BusinessEvent(G22, "doc-1", H41, "05", H41, earlier, None, None, "m3")
    put(store, message(3, kind="status", business=late))
    assert [b.at for b in store.message("m1").business] == [AT, AT]


def test_a_retry_scheduled_before_the_clock_went_back_is_due(store: SqliteStore) -> None:
    put(store, message(1, mode="push"))
    (job,) = store.due_pushes(time.time_ns(), 10)
    later = time.time_ns() + 7_200 * 10**9  # scheduled two hours ahead: the clock has since gone back an hour
    with store.transaction():
        store.push_failed(job, AT, "HTTP 500", time.time_ns(), later)
    now = time.time_ns()
    assert store.due_pushes(now, 10) == []
    assert [j.message_id for j in store.due_pushes(now, 10, horizon_ns=now + 660 * 10**9)] == ["m1"]


def test_every_recipient_of_a_fan_out_gets_its_own_delivery_row_whatever_its_mode(store: SqliteStore) -> None:
    # Deliveries are inserted one statement per (mode, target): each row must still carry its own mode and target,
    # only pushes are due for an attempt, and a code that looks like a number stays the text it was.
    pulls = tuple(f"{i:03d}.00.00.H41" for i in range(63)) + ("020100107370",)
    deliveries = (tuple(NewDelivery(code, "pull") for code in pulls)
                  + (NewDelivery(G12, "push", "http://127.0.0.1:1/g12"), NewDelivery(G22, "push", "http://127.0.0.1:1/g22"),
                     NewDelivery("000.00.00.K01", "upstream", "national")))
    msg = message(1, priority=3)
    put(store, NewMessage(**{**msg.__dict__, "deliveries": deliveries}))
    rows = store.conn.execute("SELECT recipient, typeof(recipient), mode, target, state, priority, accepted_ns, "
                              "next_attempt_ns, updated_at FROM deliveries WHERE message_seq = 1").fetchall()
    assert sorted(r[0] for r in rows) == sorted(d.recipient for d in deliveries)
    by_code = {r[0]: r[1:] for r in rows}
    for d in deliveries:
        due = None if d.mode == "pull" else msg.accepted_ns
        assert by_code[d.recipient] == ("text", d.mode, d.target, "queued", 3, msg.accepted_ns, due, AT)
    assert all(len(store.mailbox(code, 10)) == 1 for code in pulls)
    assert {j.recipient for j in store.due_pushes(msg.accepted_ns, 10)} == {G12, G22, "000.00.00.K01"}
    view = store.message("m1")
    assert view is not None and [e.event for e in view.ledger] == ["accepted", "queued"]
    assert view.ledger[1].detail.startswith("pull: 000.00.00.H41, 001.00.00.H41")
    assert "push: 000.00.00.G12, 000.00.00.G22; upstream: 000.00.00.K01" in view.ledger[1].detail


def test_a_recipient_twice_in_one_package_is_refused_whole(store: SqliteStore) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        put(store, message(1, to=(H41, G12, H41)))
    assert store.conn.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)
    assert store.conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)


def _run_writer(path: Path, jobs: list[Callable[[WriteStore], object]]) -> list[tuple[object, BaseException | None]]:
    """Submit ``jobs`` while the writer is held, so that they form one group; their outcomes in order."""
    results: list[tuple[object, BaseException | None]] = []
    done, hold = threading.Event(), threading.Event()
    writer = Writer(lambda: SqliteStore(path), lambda report: report(), max_batch=64)
    writer.start()
    writer.submit(lambda s: hold.wait(10), lambda v, e: None)  # the writer waits here while the group gathers

    def collect(value: object, error: BaseException | None) -> None:
        results.append((value, error))
        if len(results) == len(jobs):
            done.set()
    for job in jobs:
        writer.submit(job, collect)
    hold.set()
    assert done.wait(30)
    writer.stop()
    return results


def test_a_job_refused_before_it_writes_is_run_once_and_the_others_commit(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    calls: list[int] = []

    def refused(store: WriteStore) -> None:
        calls.append(1)
        store.duplicate(G22, "0" * 64)  # reads only, then refuses
        raise AxisError.of(Code.DOCUMENT_CONFLICT, "refused before writing")

    jobs: list[Callable[[WriteStore], object]] = [lambda s, n=n: s.store_message(message(n)).message_id
                                                  for n in range(5)]
    results = _run_writer(path, [*jobs[:2], refused, *jobs[2:]])
    assert [v for v, e in results] == ["m0", "m1", None, "m2", "m3", "m4"]
    assert isinstance(results[2][1], AxisError) and results[2][1].code is Code.DOCUMENT_CONFLICT
    assert calls == [1]  # nothing to roll back: the group was not run again
    reader = SqliteStore(path, readonly=True)
    assert sorted(i.message_id for i in reader.mailbox(H41, 100)) == ["m0", "m1", "m2", "m3", "m4"]


def test_a_job_refused_after_it_wrote_is_rolled_back_alone(tmp_path: Path) -> None:
    path = open_database(tmp_path)

    def half_done(store: WriteStore) -> None:
        store.store_message(message(999, to=(G12,)))
        raise AxisError.of(Code.DOCUMENT_CONFLICT, "refused after writing")

    results = _run_writer(path, [lambda s: s.store_message(message(1)).message_id, half_done,
                                 lambda s: s.store_message(message(2)).message_id])
    assert [v for v, e in results] == ["m1", None, "m2"]
    assert isinstance(results[1][1], AxisError) and results[1][1].code is Code.DOCUMENT_CONFLICT
    reader = SqliteStore(path, readonly=True)
    assert reader.message("m999") is None and reader.mailbox(G12, 10) == []
    assert sorted(i.message_id for i in reader.mailbox(H41, 10)) == ["m1", "m2"]  # each stored once
    assert reader.conn.execute("SELECT count(*) FROM transport_ledger").fetchone() == (4,)


ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c WHERE x < 1e15"


def test_a_read_past_its_deadline_is_stopped_and_the_store_reads_on(tmp_path: Path) -> None:
    """A read its request no longer waits for (a year of statistics, say) gives its thread back."""
    reader = SqliteStore(open_database(tmp_path), readonly=True)
    try:
        started = time.monotonic()
        with pytest.raises(AxisError) as caught, reader.within(0.2):
            reader.conn.execute(ENDLESS).fetchone()
        assert caught.value.code is Code.HTTP_TIMEOUT and "0.2 s" in str(caught.value)
        assert time.monotonic() - started < 3
        with reader.within(5):  # in time: the answer, not an error
            assert reader.mailbox(H41, 10) == []
        # the deadline is gone with its block: a long statement runs to its end
        assert reader.conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
                                   "SELECT count(*) FROM c").fetchone() == (300000,)
    finally:
        reader.close()


def test_an_error_of_sqlite_within_a_deadline_is_not_taken_for_the_deadline(tmp_path: Path) -> None:
    reader = SqliteStore(open_database(tmp_path), readonly=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"), reader.within(5):
            reader.conn.execute("SELECT * FROM nothing_here")
    finally:
        reader.close()


def test_a_failed_transfer_upstream_counts_for_every_copy_behind_the_route(store: SqliteStore) -> None:
    """One transfer carries the package for all of them: a failed one is a failed attempt of each, and they are
    tried again together (not each on its own schedule, the package sent once per copy) and given up together."""
    m = message(1, to=("000.00.00.G22", "000.00.00.G12"))
    put(store, NewMessage(**{**m.__dict__, "deliveries": tuple(NewDelivery(d.recipient, "upstream", "national")
                                                                    for d in m.deliveries)}))
    now = time.time_ns()
    first = store.due_pushes(now, 10)[0]
    with store.transaction():
        assert store.push_failed(first, AT, "ConnectionRefusedError", now, now + 10**12)
    assert store.due_pushes(now, 10) == []  # the other copy went in that attempt too: not due before the retry
    jobs = store.due_pushes(now + 10**12, 10)
    assert [(j.attempts, j.first_failure_ns) for j in jobs] == [(1, now)]  # one job for the transfer
    with store.transaction():
        assert store.push_failed(jobs[0], AT, "refused by the upstream axis", now, None)
    assert {d.state for d in store.message("m1").deliveries} == {State.DEAD}
    assert {d.attempts for d in store.message("m1").deliveries} == {2}


def test_a_checkpoint_a_reader_holds_up_says_so(tmp_path: Path) -> None:
    """The clean stop's checkpoint (0c75588) while another process reads a snapshot (axisctl backup): SQLite answers
    "busy" in the pragma's row, not with an error, so the stop said nothing and axis.sqlite3 lacked the latest."""
    path = open_database(tmp_path)
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM messages").fetchone()  # a snapshot older than what follows
    writer = SqliteStore(path)
    put(writer, message(1))
    writer.close()
    try:
        with pytest.raises(sqlite3.OperationalError, match="busy"):
            checkpoint(path)
    finally:
        reader.close()
    checkpoint(path)  # nothing holds it now


def test_a_mailbox_is_read_from_one_state_of_both_tables(tmp_path: Path, monkeypatch) -> None:
    """A commit that moves the fresh entries between the reads of the two tables hides nothing from the reader."""
    from axis.storage import sqlite as backend
    path = open_database(tmp_path)
    writer, reader = SqliteStore(path), SqliteStore(path, readonly=True)
    put(writer, message(1), message(2, priority=2))

    class Between:  # the reader's connection, with the writer's move committed after its first table's read
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn, self.moved = conn, False

        def __getattr__(self, name: str) -> object:
            return getattr(self.conn, name)

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            cursor = self.conn.execute(sql, *args)
            if "FROM mailbox_filed" in sql and not self.moved:
                self.moved = True
                monkeypatch.setattr(backend, "FILE_EVERY", 0)
                put(writer, message(3))  # this commit moves m1, m2 and m3 into mailbox_filed
                assert writer.conn.execute("SELECT count(*) FROM mailbox_fresh").fetchone()[0] == 0
            return cursor

    try:
        reader.conn = Between(reader.conn)  # type: ignore[assignment]
        assert [i.message_id for i in reader.mailbox(H41, 10)] == ["m2", "m1"]  # as it was when the read began
        assert reader.conn.moved and [i.message_id for i in reader.mailbox(H41, 10)] == ["m2", "m1", "m3"]
        assert reader.pending_count(H41) == 3
    finally:
        reader.close()
        writer.close()
