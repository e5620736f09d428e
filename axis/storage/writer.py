"""The single writer thread, with group commit.

Every write to the store is a *job*: a function of the store, queued from any thread.
The writer takes whatever jobs are waiting (up to ``max_batch``; under load, also those
submitted within the *linger* of the first, see :func:`_batches`), runs each inside its
own savepoint of one transaction, and commits once.  The group is then handed to the
*syncer* thread, which makes it durable (``store.make_durable()``: one fsync for every
group committed since the last one) and only then reports each job's result.  While
the syncer waits on the disk the writer is already running the next group, so the
disk's latency no longer limits how many packages a second one writer can take: the
groups simply grow.  Results are reported in commit order.

A job that raises is rolled back alone and reports its exception; a failed COMMIT
reports the failure to every job of the group (nothing of it was acknowledged).  A
failed sync *breaks* the writer: that group, every one committed after it and every
later job are answered ``storage.unavailable`` until the daemon restarts (see
:meth:`Writer._break`).  Results are handed to ``deliver``, which the daemon sets to
``reactor.callFromThread``; this module itself knows nothing of Twisted.

A committed group is visible to the store's readers before it is durable (for the
time of its fsync, and of the groups ahead of it).  Only a crash of the machine, or
a failed sync, in that window can undo it; its senders then hold no receipt and send
again.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from axis.errors import AxisError, Code
from axis.storage.base import WriteStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = Callable[[Any, BaseException | None], None]  # (result, error)


class _Job(Generic[T]):
    __slots__ = ("fn", "done", "at")

    def __init__(self, fn: Callable[[WriteStore], T], done: Outcome) -> None:
        self.fn = fn
        self.done = done
        self.at = time.monotonic()  # submitted


_STOP = object()


def _batches(source: queue.SimpleQueue[Any], most: float = math.inf, linger: float = 0.0) -> Iterator[list[Any]]:
    """What is waiting in ``source`` (at least one item, at most ``most``) at a time, until ``_STOP``; the items
    before a ``_STOP`` still come out.

    With a ``linger`` (the writer's groups; the items are then jobs, with the time they were submitted), a group
    whose first job was submitted less than ``linger`` seconds after the job before it (they keep coming) also
    takes every job submitted until ``linger`` after its first.  Under load the groups grow, and with them the
    writes that each page written to the WAL and each fsync carry: a group of one package writes about as many
    pages as a group of four.  The wait counts from the submission: a job waits only what is left of the linger, so
    one that already waited that long for a busy writer goes at once (no time is lost while work is waiting), and
    so does a job after a quiet spell."""
    clock = time.monotonic
    previous = -math.inf  # when the last job taken was submitted
    while True:
        item = source.get()
        if item is _STOP:
            return
        batch = [item]
        deadline = item.at + linger if linger > 0 and item.at - previous < linger else -math.inf
        stopping = False
        while len(batch) < most:
            try:
                item = source.get_nowait()
            except queue.Empty:
                wait = deadline - clock()
                if wait <= 0:
                    break
                try:
                    item = source.get(timeout=wait)
                except queue.Empty:
                    break
            if item is _STOP:
                stopping = True
                break
            batch.append(item)
        if linger > 0:
            previous = batch[-1].at
        yield batch
        if stopping:
            return


class Writer:
    def __init__(self, open_store: Callable[[], WriteStore],
                 deliver: Callable[[Callable[[], None]], None], max_batch: int = 512,
                 on_group: Callable[[int], None] = lambda writes: None,
                 on_sync: Callable[[float], None] = lambda seconds: None, linger: float = 0.0) -> None:
        """``on_group(writes)`` after each group's COMMIT, ``on_sync(seconds)`` after each fsync (for metrics; both on
        the writer's threads).  ``linger``: how long a group may wait for more writes while they keep coming (see
        :func:`_batches`)."""
        self._linger = linger
        self._on_group = on_group
        self._on_sync = on_sync
        self._open_store = open_store
        self._deliver = deliver
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._committed: queue.SimpleQueue[Any] = queue.SimpleQueue()  # (reports, committed?) for the syncer
        self._thread: threading.Thread | None = None
        self._syncer: threading.Thread | None = None
        self.batches = 0
        self.jobs = 0
        self._last_error: BaseException | None = None
        self.broken: AxisError | None = None  # a failed fsync: every write is refused until axisd restarts

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        opened: list[WriteStore] = []

        def run() -> None:
            try:
                store = self._open_store()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            opened.append(store)
            ready.set()
            self._loop(store)

        self._thread = threading.Thread(target=run, name="axis-db-writer", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        self._syncer = threading.Thread(target=self._sync_loop, args=(opened[0],), name="axis-db-sync", daemon=True)
        self._syncer.start()

    def submit(self, fn: Callable[[WriteStore], T], done: Outcome) -> None:
        """Queue ``fn``; ``done(result, error)`` is delivered once the group holding it is durable."""
        self._queue.put(_Job(fn, done))

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every queued job, make it durable and report it, then stop both threads."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        if self._syncer is not None:
            self._syncer.join(timeout)
            self._syncer = None

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    @property
    def last_error(self) -> BaseException | None:
        """The last group's storage error (``None`` once a group commits again), or for good what broke the store."""
        return self.broken or self._last_error

    def _loop(self, store: WriteStore) -> None:
        try:
            for batch in _batches(self._queue, self._max_batch, self._linger):
                self._run(store, batch)
        finally:
            self._committed.put(_STOP)  # the syncer reports what it holds, then closes the store

    def _run(self, store: WriteStore, batch: list[_Job[Any]]) -> None:
        results: list[tuple[Any, BaseException | None]] = []
        storage_error: BaseException | None = None
        committed = True
        if self.broken is not None:  # not even run: a "duplicate" answer could name a commit the disk lost
            self._committed.put(([(job.done, (None, self.broken)) for job in batch], False))
            return
        try:
            with store.transaction():
                for job in batch:
                    try:
                        with store.savepoint():
                            results.append((job.fn(store), None))
                    except AxisError as exc:  # a refusal (unknown message, …): this job alone is rolled back
                        results.append((None, exc))
                    except Exception as exc:  # the store failed under this job: rolled back, and noted for /readyz
                        storage_error = exc
                        results.append((None, exc))
            self._last_error = storage_error
        except Exception as exc:  # the commit failed: nothing of this group is durable
            log.error("a group of %d writes failed to commit: %s", len(batch), exc)
            self._last_error = exc
            results = [(None, exc)] * len(batch)
            committed = False
        self.batches += 1
        self.jobs += len(batch)
        self._committed.put(([(job.done, res) for job, res in zip(batch, results)], committed))
        try:
            self._on_group(len(batch))
        except Exception:
            log.exception("the writer's group callback failed")

    def _sync_loop(self, store: WriteStore) -> None:
        for groups in _batches(self._committed):  # every group committed by now shares one sync
            self._sync(store, groups)
        close = getattr(store, "close", None)
        if close is not None:
            close()

    def _sync(self, store: WriteStore, groups: list[tuple[list[tuple[Outcome, tuple[Any, BaseException | None]]],
                                                          bool]]) -> None:
        pairs = [pair for reports, _ in groups for pair in reports]
        if any(committed for _, committed in groups) and self.broken is None:
            started = time.perf_counter()
            try:
                store.make_durable()
            except Exception as exc:
                self._break(exc, len(pairs))
            else:
                try:
                    self._on_sync(time.perf_counter() - started)
                except Exception:
                    log.exception("the writer's sync callback failed")
        if self.broken is not None:  # these groups, and any committed after a failed sync, are not durable
            pairs = [(done, (None, self.broken)) for done, _ in pairs]

        def report() -> None:
            for done, (value, error) in pairs:
                try:
                    done(value, error)
                except Exception:
                    log.exception("a write callback failed")

        try:
            self._deliver(report)
        except Exception:  # the reactor is gone (stopping): nobody is waiting for these any more
            log.exception("the results of %d writes could not be handed over", len(pairs))

    def _break(self, exc: BaseException, count: int) -> None:
        """An fsync failed.  The kernel may have dropped those pages and will not say so again (a later fsync of
        the file succeeds), and every later commit chains onto them in the WAL: nothing more can be promised
        durable, so nothing more is accepted.  A restart recovers what is really on disk; what was acknowledged
        before is there."""
        self.broken = AxisError.of(Code.STORAGE_UNAVAILABLE, f"the disk failed to make writes durable ({exc}); "
                                   "axisd refuses every write until it is restarted")
        log.critical("making %d committed writes durable failed: %s; every write is refused from now on: restart "
                     "axisd (after checking the disk) to recover what is on disk", count, exc)
