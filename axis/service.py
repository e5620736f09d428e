"""The running axis: the Twisted side of the pipeline, wired to the domain and the store.

wire bytes → (check pool) intake → (writer thread) durable store → answer → delivery.

CPU work (parsing, verifying, signing receipts) runs on the reactor's thread pool;
writes go to the single writer thread, which commits them in groups; reads run on
their own small pool with one read-only connection per thread.  The reactor thread
only moves results around.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from axis import business
from axis.errors import AxisError, Code
from axis.intake import Intake, Policy, Prepared, Refused
from axis.metrics import Metrics
from axis.registry import Agency, Route
from axis.storage.base import TAKEN_BACK, UNDELIVERED, AckResult, MailboxItem, ReadStore, State, Stored, WriteStore
from axis.storage.sqlite import SqliteStore, checkpoint
from axis.storage.writer import Writer
from axis.vntime import iso, parse_iso
from axis.vntime import now as vn_now
from axis.workers.pool import IntakePool

log = logging.getLogger(__name__)
T = TypeVar("T")


SQLITE_FULL = 13  # "database or disk is full"


def _storage_error(failure: Failure) -> Failure:
    """A database error becomes the taxonomy's ``storage.full`` (the disk is full) or ``storage.unavailable``
    (503 both: nothing was done, the client sends again later).  What SQLite said goes to the log, for the
    operator; the client gets the code's own message."""
    if failure.check(sqlite3.Error):
        exc = failure.value
        full = getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or "disk is full" in str(exc)
        detail = str(exc)
        if "locked" in detail:  # BEGIN IMMEDIATE waited busy_timeout for a lock another process holds
            detail += " (another process holds the database file's write lock: a backup tool, a sqlite3 shell?)"
        log.error("storage error: %s", detail)
        return Failure(AxisError.of(Code.STORAGE_FULL if full else Code.STORAGE_UNAVAILABLE))
    return failure


class Workers:
    """A few plain threads for CPU-bound calls, results back on the reactor thread.

    Lighter than Twisted's ThreadPool on the hot path (one C-level queue put per call, one
    ``callFromThread`` per result): at a thousand packages a second the hand-offs matter.
    """

    def __init__(self, reactor: Any, count: int, name: str) -> None:
        self.reactor = reactor
        self.count = count
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.count):
            thread = threading.Thread(target=self._work, name=f"{self.name}-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(10)
        self._threads.clear()

    def run(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        d: Deferred[T] = Deferred()
        self._queue.put((d, fn, args))
        return d

    def _work(self) -> None:
        call_from_thread = self.reactor.callFromThread
        while True:
            item = self._queue.get()
            if item is None:
                return
            d, fn, args = item
            try:
                result = fn(*args)
            except BaseException:
                call_from_thread(d.errback, Failure())
            else:
                call_from_thread(d.callback, result)


class AxisService:
    def __init__(self, reactor: Any, policy: Policy, intake: Intake, db_path: Path, metrics: Metrics,
                 group_commit_max: int = 512, read_threads: int = 2, cpu_threads: int = 2,
                 group_commit_linger: float = 0.0) -> None:
        """``group_commit_linger``: 0 (none) unless given; the daemon passes ``[storage] group_commit_linger``."""
        self.reactor = reactor
        self.policy = policy  # replaced whole on reload; readers take one reference per request
        self.intake = intake
        self.db_path = db_path
        self.metrics = metrics
        self.writer = Writer(lambda: SqliteStore(db_path, sync_apart=True), reactor.callFromThread, group_commit_max,
                             on_group=metrics.store_group_size.observe, on_sync=metrics.store_sync_seconds.observe,
                             linger=group_commit_linger)
        self.reads = Workers(reactor, read_threads, "axis-db-read")
        self.cpu = Workers(reactor, cpu_threads, "axis-intake")
        self._local = threading.local()
        self._readers: list[SqliteStore] = []
        self._readers_lock = threading.Lock()
        self.on_accepted: list[Callable[[Prepared], None]] = []  # e.g. wake the pusher
        self.pool: IntakePool | None = None  # intake processes, when configured
        self.running = False

    # -- life cycle

    def start(self) -> None:
        self.writer.start()
        self.reads.start()
        self.cpu.start()
        self.running = True

    def stop(self) -> None:
        self.running = False
        self.cpu.stop()
        self.writer.stop()
        self.reads.stop()
        with self._readers_lock:
            for store in self._readers:
                store.close()
            self._readers.clear()
        if self.writer.broken is None:  # after a failed fsync, only a restart's recovery decides what is on disk
            try:
                checkpoint(self.db_path)
            except sqlite3.Error as exc:
                log.warning("stopping: the WAL could not be checkpointed into the database file: %s", exc)

    # -- the store, from the reactor

    def _reader(self) -> ReadStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = SqliteStore(self.db_path, readonly=True)
            self._local.store = store
            with self._readers_lock:
                self._readers.append(store)
        return store  # type: ignore[no-any-return]

    def read(self, fn: Callable[..., T], *args: Any, within: float | None = None) -> Deferred[T]:
        """Run ``fn(read_store, *args)`` on a read thread; with ``within``, its reads stop after that many seconds
        (AxisError ``http.timeout``): the request waiting for it is answered by then, and the thread is needed."""
        def run() -> T:
            store = self._reader()
            if within is None:
                return fn(store, *args)
            with store.within(within):
                return fn(store, *args)
        return self.reads.run(run).addErrback(_storage_error)

    def write(self, fn: Callable[[WriteStore], T]) -> Deferred[T]:
        """Run ``fn(write_store)`` in the next group commit; fires once it is durable."""
        d: Deferred[T] = Deferred()

        def done(value: Any, error: BaseException | None) -> None:
            if error is None:
                d.callback(value)
            else:
                d.errback(Failure(error))
        d.addErrback(_storage_error)

        self.writer.submit(fn, done)
        return d

    # -- axis's own hop and times

    def hop_time(self) -> str:
        return iso()

    def hop(self) -> str:
        """The trace of this axis on a delivery: its code and the time (``X-Axis-Trace``)."""
        return f"{self.intake.axis_code};{iso()}"

    @staticmethod
    def age_seconds(accepted_at: str) -> float:
        return max((vn_now() - parse_iso(accepted_at)).total_seconds(), 0.0)

    # -- accepting a package

    def submit(self, agency: Agency | Route, data: bytes) -> Deferred[tuple[Prepared, Stored]]:
        """Check, route and store a package from ``agency`` (or relayed by the axis behind a route); fires with
        (prepared, stored) once durable, or fails with :class:`axis.intake.Refused` / a storage error."""
        policy = self.policy
        started = time.perf_counter()
        d = self.pool.prepare(agency.key, data) if self.pool is not None else None
        if d is None:  # no intake processes (configured so, starting, or all crashed): our own threads
            d = self.cpu.run(self.intake.prepare, policy, agency, data)

        def store(prepared: Prepared) -> Deferred[tuple[Prepared, Stored]]:
            self.metrics.observe_signature(prepared.message.signature)
            stored = self.write(lambda s: business.store(s, prepared.message, self.intake.axis_code))
            return stored.addCallback(lambda result: (prepared, result))

        def accepted(result: tuple[Prepared, Stored]) -> tuple[Prepared, Stored]:
            prepared, stored = result
            self.metrics.accept_seconds.observe(time.perf_counter() - started)
            if not stored.duplicate:
                self.metrics.count_accepted(prepared.message.kind)
                if log.isEnabledFor(logging.DEBUG):  # the ledger is the record; this line is for debugging
                    log.debug("accepted %s from %s for %s", prepared.message.kind, agency.key,
                              ", ".join(code for code, _ in prepared.recipients),
                              extra={"message_id": stored.message_id, "agency": agency.key})
                if prepared.needs_push:
                    for hook in self.on_accepted:
                        hook(prepared)
            return result

        def refused(failure: Failure) -> Failure:
            """A package refused by its checks had a signature verdict too (an ``invalid`` one always is refused)."""
            if failure.check(Refused) and failure.value.verdict:
                signature = failure.value.verdict.get("signature")
                if isinstance(signature, dict):
                    self.metrics.observe_signature(signature.get("class"))
            return failure

        d.addCallbacks(store, refused)
        d.addCallback(accepted)
        return d

    # -- a recipient taking its packages (both doors)

    def fetch(self, agency: Agency | Route, message_id: str) -> Deferred[tuple[MailboxItem, bytes]]:
        """One package of ``agency``'s mailbox (or a ``pull`` route's), its original bytes; the first fetch marks
        it delivered.  Fails with ``message.not-found``, or ``message.withdrawn`` for a copy its sender took back."""

        def fetched(found: tuple[MailboxItem, bytes] | None) -> Any:
            if found is None:
                raise AxisError.of(Code.MESSAGE_NOT_FOUND, message_id)
            item = found[0]
            if item.state in TAKEN_BACK:
                raise AxisError.of(Code.MESSAGE_WITHDRAWN, f"{message_id} ({item.state.value})")
            if item.state not in UNDELIVERED:
                return found
            at = self.hop_time()

            def first_fetch(changed: bool) -> tuple[MailboxItem, bytes]:
                if changed:
                    mode = "peer" if isinstance(agency, Route) else "pull"
                    self.metrics.delivered.labels(agency=agency.key, mode=mode).inc()
                    self.metrics.accept_to_delivered_seconds.labels(mode=mode).observe(
                        self.age_seconds(item.accepted_at))
                return found

            return self.write(lambda s: s.mark_fetched(agency.key, message_id, at)).addCallback(first_fetch)

        return self.read(lambda s: s.fetch(agency.key, message_id)).addCallback(fetched)

    def acknowledge(self, agency: Agency | Route, message_id: str, result: AckResult,
                    reason: str | None) -> Deferred[State]:
        at = self.hop_time()
        return self.write(lambda s: s.acknowledge(agency.key, message_id, result, reason, at))
