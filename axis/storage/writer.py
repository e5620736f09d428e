"""The single writer thread, with group commit.

Every write to the store is a *job*: a function of the store, queued from any thread.
The writer takes whatever jobs are waiting (up to ``max_batch``), runs each inside its
own savepoint of one transaction, commits once (one fsync for the whole group), and
only then reports each job's result.  While one group is being made durable the next
one gathers, so the commit cost is shared by as many packages as arrive meanwhile.

A job that raises is rolled back alone and reports its exception; a failed COMMIT
reports the failure to every job of the group (nothing of it was acknowledged).
Results are handed to ``deliver``, which the daemon sets to ``reactor.callFromThread``;
this module itself knows nothing of Twisted.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from axis.errors import AxisError
from axis.storage.base import WriteStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = Callable[[Any, BaseException | None], None]  # (result, error)


class _Job(Generic[T]):
    __slots__ = ("fn", "done")

    def __init__(self, fn: Callable[[WriteStore], T], done: Outcome) -> None:
        self.fn = fn
        self.done = done


_STOP = object()


class Writer:
    def __init__(self, open_store: Callable[[], WriteStore],
                 deliver: Callable[[Callable[[], None]], None], max_batch: int = 512) -> None:
        self._open_store = open_store
        self._deliver = deliver
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.jobs = 0
        self.last_error: BaseException | None = None

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                store = self._open_store()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop(store)

        self._thread = threading.Thread(target=run, name="axis-db-writer", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def submit(self, fn: Callable[[WriteStore], T], done: Outcome) -> None:
        """Queue ``fn``; ``done(result, error)`` is delivered once the group holding it is committed."""
        self._queue.put(_Job(fn, done))

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every queued job, then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def _loop(self, store: WriteStore) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._run(store, batch)
        close = getattr(store, "close", None)
        if close is not None:
            close()

    def _run(self, store: WriteStore, batch: list[_Job[Any]]) -> None:
        results: list[tuple[Any, BaseException | None]] = []
        storage_error: BaseException | None = None
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
            self.last_error = storage_error
        except Exception as exc:  # the commit failed: nothing of this group is durable
            log.error("a group of %d writes failed to commit: %s", len(batch), exc)
            self.last_error = exc
            results = [(None, exc)] * len(batch)
        self.batches += 1
        self.jobs += len(batch)
        pairs = [(job.done, res) for job, res in zip(batch, results)]

        def report() -> None:
            for done, (value, error) in pairs:
                try:
                    done(value, error)
                except Exception:
                    log.exception("a write callback failed")

        self._deliver(report)
