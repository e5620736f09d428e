"""Retention: removing what is older than ``[storage] retention_days``, in small steps.

What goes is whole documents: a message goes only together with every message of its document (the same
``document_id`` and ``doc_sender``: the document, its statuses, the revokes and updates naming it, and the
packages acting on it under a DocumentId of their own, a replacement's, with their documents), and only when
all of them were accepted before the cutoff and none has a delivery still waiting (queued, delivered,
processing) or given up (dead: ``axisctl resend`` may still send it).  So a document's history is never cut in
the middle, and a package still waiting, or never delivered, is never removed, however old.  A message with no
document id is a group of its own.

A step examines the messages accepted before the cutoff, oldest first (by ``accepted_ns``, through its index),
removes at most ``limit`` messages (a little more when a document's group is larger) or about ``max_bytes`` of
payloads, and commits.  It returns a cursor (accepted_ns, seq) to continue from.  Every step is committed on
its own, so an interrupted run loses nothing and the next run simply continues (what is left past retention
is found again from the start).  Messages kept because their document still waits are re-examined at every
run.

The removal itself goes through migration ``0008_retention``: the messages are first named in
``retention_doomed`` (its triggers refuse a message that still waits or is less than a day old), the DELETE
triggers of the ledgers and of ``messages`` let rows go only while their message is named there, and the
table is emptied before the commit.  Payloads that no message references any more are deleted with them.
Each step is recorded in the append-only ``retention_log``.

This module knows SQL and nothing of Twisted, except :class:`RetentionLoop`, which runs the steps from the
daemon through the single writer.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from axis.storage.base import PENDING_STATES, State, WriteStore
from axis.vntime import VN_TZ, iso

log = logging.getLogger(__name__)

DAY_NS = 86400 * 1_000_000_000
# Waiting, or given up (a dead letter was never delivered and ``axisctl resend`` may still send it): kept.
_WAITING = "(" + ",".join(f"'{s.value}'" for s in (*PENDING_STATES, State.DEAD)) + ")"
DEFAULT_LIMIT = 200  # messages per step
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # payload bytes per step (freeing pages costs writes too)
SCAN_LIMIT = 5000  # messages examined per step at most, so a step stays short even among many kept ones


def cutoff_ns(retention_days: int, now_ns: int | None = None) -> int:
    """Messages accepted before this (``time.time_ns()`` scale) are past retention."""
    return (time.time_ns() if now_ns is None else now_ns) - retention_days * DAY_NS


def ns_iso(ns: int) -> str:
    return iso(datetime.fromtimestamp(0, VN_TZ) + timedelta(microseconds=ns // 1000))


@dataclass
class Counts:
    """What a step (or a whole run) removed, or would remove."""

    messages: int = 0
    deliveries: int = 0
    transport_entries: int = 0
    business_entries: int = 0
    requests: int = 0
    payloads: int = 0
    payload_bytes: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


Cursor = tuple[int, int]  # (accepted_ns, seq) of the last message examined
START: Cursor = (-1, 0)


@dataclass
class Plan:
    seqs: list[int]  # the messages to remove, whole documents
    cursor: Cursor  # continue after this message
    done: bool  # nothing past the cutoff is left after the cursor
    kept: set[int] = field(default_factory=set)  # past the cutoff, kept: their document still waits or is recent


@dataclass
class Step:
    removed: Counts
    cursor: Cursor
    done: bool
    kept: set[int]


def _group(conn: sqlite3.Connection, seq: int, document_id: str | None,
           doc_sender: str | None) -> list[tuple[int, int]]:
    """(seq, accepted_ns) of every message of the document ``seq`` belongs to, and of the documents acting on one
    another with it: a replacement, or a revoke or update naming ``Bussiness/DocumentId``, has a DocumentId of its
    own, yet its requests and axis's answers (15) are entries of the document it acts on.  Apart, removing one cut
    the other's history in the middle, or left entries that a new document under that DocumentId inherited."""
    seqs: set[int] = set()
    docs: set[tuple[str, str]] = set()
    new_seqs = [seq]
    new_docs = [(document_id, doc_sender)] if document_id is not None and doc_sender is not None else []
    while new_seqs or new_docs:
        found_docs: list[tuple[str, str]] = []
        for s in new_seqs:
            if s in seqs:
                continue
            seqs.add(s)
            found_docs += conn.execute(
                "SELECT document_id, doc_sender FROM messages WHERE seq = ?1 AND document_id IS NOT NULL "
                "AND doc_sender IS NOT NULL UNION SELECT original_id, doc_sender FROM messages WHERE seq = ?1 "
                "AND original_id IS NOT NULL AND doc_sender IS NOT NULL "
                "UNION SELECT document_id, doc_sender FROM requests WHERE message_seq = ?1 "
                "UNION SELECT document_id, doc_sender FROM business_ledger WHERE message_seq = ?1", (s,)).fetchall()
        found_seqs: list[int] = []
        for doc in (*new_docs, *found_docs):
            doc = (doc[0], doc[1])
            if doc in docs:
                continue
            docs.add(doc)
            found_seqs += [r[0] for r in conn.execute(
                "SELECT seq FROM messages WHERE document_id = ?1 AND doc_sender = ?2 "
                "UNION SELECT seq FROM messages WHERE original_id = ?1 AND doc_sender = ?2 "
                "UNION SELECT message_seq FROM requests WHERE document_id = ?1 AND doc_sender = ?2 "
                "UNION SELECT message_seq FROM business_ledger WHERE document_id = ?1 AND doc_sender = ?2", doc)]
        new_seqs, new_docs = [s for s in found_seqs if s not in seqs], []
    return [(r[0], r[1]) for r in conn.execute(
        f"SELECT seq, accepted_ns FROM messages WHERE seq IN ({_in(seqs)}) ORDER BY seq")]


def _in(seqs: Iterable[int]) -> str:
    return ",".join(str(int(s)) for s in seqs)


def plan(conn: sqlite3.Connection, cutoff: int, after: Cursor = START, limit: int = DEFAULT_LIMIT,
         max_bytes: int = DEFAULT_MAX_BYTES, exclude: set[int] | frozenset[int] = frozenset(),
         scan_limit: int = SCAN_LIMIT) -> Plan:
    """The next messages to remove after ``after`` (read only).  ``exclude``: already planned (a dry run)."""
    chosen: list[int] = []
    chosen_set: set[int] = set()
    kept: set[int] = set()
    size = 0
    cursor = after
    rows = conn.execute("SELECT seq, accepted_ns, document_id, doc_sender FROM messages "
                        "WHERE accepted_ns < ? AND (accepted_ns, seq) > (?, ?) ORDER BY accepted_ns, seq LIMIT ?",
                        (cutoff, *after, scan_limit)).fetchall()
    for seq, accepted_ns, document_id, doc_sender in rows:
        cursor = (accepted_ns, seq)
        if seq in chosen_set or seq in exclude or seq in kept:
            continue
        group = _group(conn, seq, document_id, doc_sender)
        members = [s for s, _ in group]
        if any(ns >= cutoff for _, ns in group) or conn.execute(
                f"SELECT 1 FROM deliveries WHERE message_seq IN ({_in(members)}) AND state IN {_WAITING} LIMIT 1"
        ).fetchone():
            kept.update(s for s, ns in group if ns < cutoff and s not in exclude)
            continue
        fresh = [s for s in members if s not in exclude and s not in chosen_set]
        if not fresh:
            continue
        chosen.extend(fresh)
        chosen_set.update(fresh)
        size += conn.execute(f"SELECT coalesce(sum(size), 0) FROM messages WHERE seq IN ({_in(fresh)})").fetchone()[0]
        if len(chosen) >= limit or size >= max_bytes:
            return Plan(chosen, cursor, False, kept)
    return Plan(chosen, cursor, len(rows) < scan_limit, kept)


def count(conn: sqlite3.Connection, seqs: list[int]) -> Counts:
    """What removing ``seqs`` would remove (read only).  Payloads: those no other message references."""
    if not seqs:
        return Counts()
    ids = _in(seqs)

    def n(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    counts = Counts(messages=len(seqs),
                    deliveries=n(f"SELECT count(*) FROM deliveries WHERE message_seq IN ({ids})"),
                    transport_entries=n(f"SELECT count(*) FROM transport_ledger WHERE message_seq IN ({ids})"),
                    business_entries=n(f"SELECT count(*) FROM business_ledger WHERE message_seq IN ({ids})"),
                    requests=n(f"SELECT count(*) FROM requests WHERE message_seq IN ({ids})"))
    counts.payloads, counts.payload_bytes = _orphans(conn, seqs, set(seqs))
    return counts


def _orphans(conn: sqlite3.Connection, seqs: list[int], going: set[int]) -> tuple[int, int]:
    """(count, bytes) of the payloads of ``seqs`` that no message outside ``going`` references."""
    shas: set[str] = set()
    for start in range(0, len(seqs), 500):
        shas.update(r[0] for r in conn.execute(
            f"SELECT DISTINCT sha256 FROM messages WHERE seq IN ({_in(seqs[start:start + 500])})"))
    number = size = 0
    for sha in shas:
        if all(r[0] in going for r in conn.execute("SELECT seq FROM messages WHERE sha256 = ?", (sha,))):
            row = conn.execute("SELECT size FROM payloads WHERE sha256 = ?", (sha,)).fetchone()
            if row is not None:
                number, size = number + 1, size + int(row[0])
    return number, size


def remove(conn: sqlite3.Connection, seqs: list[int], cutoff: int, at: str) -> Counts:
    """Remove ``seqs`` and what hangs off them, inside the caller's transaction, and record it."""
    if not seqs:
        return Counts()
    conn.executemany("INSERT INTO retention_doomed (seq) VALUES (?)", [(s,) for s in seqs])
    doomed = "(SELECT seq FROM retention_doomed)"
    shas = [r[0] for r in conn.execute(f"SELECT DISTINCT sha256 FROM messages WHERE seq IN {doomed}")]
    removed = Counts(messages=len(seqs))
    removed.transport_entries = conn.execute(f"DELETE FROM transport_ledger WHERE message_seq IN {doomed}").rowcount
    removed.business_entries = conn.execute(f"DELETE FROM business_ledger WHERE message_seq IN {doomed}").rowcount
    removed.requests = conn.execute(f"DELETE FROM requests WHERE message_seq IN {doomed}").rowcount
    removed.deliveries = conn.execute(f"DELETE FROM deliveries WHERE message_seq IN {doomed}").rowcount
    conn.execute(f"DELETE FROM messages WHERE seq IN {doomed}")
    for sha in shas:
        row = conn.execute("SELECT size FROM payloads WHERE sha256 = ? AND NOT EXISTS "
                           "(SELECT 1 FROM messages WHERE sha256 = ?)", (sha, sha)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM payloads WHERE sha256 = ?", (sha,))
            removed.payloads += 1
            removed.payload_bytes += int(row[0])
    conn.execute("INSERT INTO retention_log (at, cutoff, messages, first_seq, last_seq, transport_entries, "
                 "business_entries, payloads, payload_bytes) VALUES (?,?,?,?,?,?,?,?,?)",
                 (at, ns_iso(cutoff), removed.messages, min(seqs), max(seqs), removed.transport_entries,
                  removed.business_entries, removed.payloads, removed.payload_bytes))
    conn.execute("DELETE FROM retention_doomed")
    return removed


def step(conn: sqlite3.Connection, cutoff: int, after: Cursor = START, limit: int = DEFAULT_LIMIT,
         max_bytes: int = DEFAULT_MAX_BYTES, at: str | None = None) -> Step:
    """Plan and remove one step, inside the caller's transaction (the writer's, or the command line's)."""
    found = plan(conn, cutoff, after, limit, max_bytes)
    removed = remove(conn, found.seqs, cutoff, at or iso())
    return Step(removed, found.cursor, found.done, found.kept)


def dry_run(conn: sqlite3.Connection, cutoff: int, limit: int = DEFAULT_LIMIT) -> tuple[Counts, set[int]]:
    """What a run would remove now, and the messages past the cutoff it would keep (read only)."""
    total, kept, planned = Counts(), set[int](), set[int]()
    cursor, done = START, False
    while not done:
        found = plan(conn, cutoff, cursor, limit, exclude=planned)
        total.add(count(conn, found.seqs))
        planned.update(found.seqs)
        kept.update(found.kept)
        cursor, done = found.cursor, found.done
    # a payload shared by messages of two steps is counted by neither: count the whole run's orphans once
    total.payloads, total.payload_bytes = _orphans(conn, sorted(planned), planned)
    return total, kept - planned


def connection_of(store: WriteStore) -> sqlite3.Connection:
    return cast(Any, store).conn  # type: ignore[no-any-return]


class RetentionLoop:
    """Runs retention from the daemon every ``interval`` seconds: one small step per writer job, each committed
    before the next is queued, so packages keep flowing between steps.  A run stops when nothing past the cutoff
    is left, or when the daemon stops (the next start continues)."""

    def __init__(self, reactor: Any, write: Callable[[Callable[[WriteStore], Step]], Any], retention_days: int,
                 interval: float, limit: int = DEFAULT_LIMIT, pause: float = 0.01,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self.reactor = reactor
        self.write = write
        self.retention_days = retention_days
        self.interval = interval
        self.limit = limit
        self.pause = pause
        self.now_ns = now_ns
        self.runs = 0
        self.last: Counts | None = None
        self._loop: Any = None
        self._stopping = False

    def start(self) -> None:
        from twisted.internet.task import LoopingCall

        self._stopping = False
        self._loop = LoopingCall(self.run)
        self._loop.clock = self.reactor
        self._loop.start(self.interval, now=True)

    def stop(self) -> None:
        self._stopping = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def run(self) -> Any:
        """One run (a Deferred firing with its Counts, or None after logging a failure)."""
        from twisted.internet.defer import inlineCallbacks
        from twisted.internet.task import deferLater

        cutoff, limit = cutoff_ns(self.retention_days, self.now_ns()), self.limit

        @inlineCallbacks
        def steps() -> Any:
            total, cursor, started = Counts(), START, time.monotonic()
            while not self._stopping:
                def job(store: WriteStore, after: Cursor = cursor) -> Step:
                    return step(connection_of(store), cutoff, after, limit)
                done: Step = yield self.write(job)
                total.add(done.removed)
                if done.done:
                    break
                cursor = done.cursor
                yield deferLater(self.reactor, self.pause, lambda: None)
            self.runs += 1
            self.last = total
            if total.messages:
                log.info("retention: removed %d messages accepted before %s (%d transport and %d business ledger "
                         "entries, %d payloads, %d bytes) in %.1f s", total.messages, ns_iso(cutoff),
                         total.transport_entries, total.business_entries, total.payloads, total.payload_bytes,
                         time.monotonic() - started, extra={"event": "retention"})
            return total

        def failed(failure: Any) -> None:
            log.error("retention: a step failed (the next run continues): %s", failure.getErrorMessage(),
                      extra={"event": "retention"})

        return steps().addErrback(failed)
