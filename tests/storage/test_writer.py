"""The writer's group commit with the fsync apart: nothing is reported before it is on disk."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sqlite_store import H41, message

from axis.errors import AxisError, Code
from axis.storage.sqlite import WAL_CHECKPOINT_PAGES, SqliteStore, open_database
from axis.storage.writer import _STOP, Writer, _batches, _Job


class HeldSync(SqliteStore):
    """A real store whose fsync waits until the test lets it go (or fails, when told to)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, sync_apart=True)
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail: OSError | None = None
        self.synced = 0

    def make_durable(self) -> None:
        self.entered.set()
        assert self.release.wait(20)
        if self.fail is not None:
            raise self.fail
        super().make_durable()
        self.synced += 1


def _held_writer(path: Path, max_batch: int = 512) -> tuple[Writer, HeldSync]:
    """A started writer over a :class:`HeldSync` store, and that store."""
    holder: list[HeldSync] = []

    def open_store() -> HeldSync:
        holder.append(HeldSync(path))
        return holder[0]
    writer = Writer(open_store, lambda report: report(), max_batch=max_batch)
    writer.start()
    return writer, holder[0]


def _collect(n: int) -> tuple[list[tuple[object, BaseException | None]], threading.Event, object]:
    results: list[tuple[object, BaseException | None]] = []
    done = threading.Event()

    def collect(value: object, error: BaseException | None) -> None:
        results.append((value, error))
        if len(results) == n:
            done.set()
    return results, done, collect


def test_sync_apart_uses_normal_and_its_fsync_of_the_wal(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    apart, full = SqliteStore(path, sync_apart=True), SqliteStore(path)
    assert apart.conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL: COMMIT does not fsync
    assert full.conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL: COMMIT does
    assert apart.conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (WAL_CHECKPOINT_PAGES,)
    assert full.conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    with apart.transaction():
        apart.store_message(message(1))
    apart.make_durable()
    assert apart._wal is not None and os.fstat(apart._wal[0]).st_ino == os.stat(f"{path}-wal").st_ino
    full.make_durable()  # nothing to do: its COMMIT was durable
    assert full._wal is None
    apart.close()
    full.close()
    assert [i.message_id for i in SqliteStore(path, readonly=True).mailbox(H41, 10)] == ["m1"]


def test_nothing_is_reported_before_it_is_durable_and_groups_share_one_fsync(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    results, done, collect = _collect(30)
    writer, store = _held_writer(path, max_batch=4)
    for n in range(30):
        writer.submit(lambda s, n=n: s.store_message(message(n)).message_id, collect)
    assert store.entered.wait(10)
    deadline = time.monotonic() + 10
    while writer.batches < 8 and time.monotonic() < deadline:  # the writer goes on while the fsync is held
        time.sleep(0.01)
    assert writer.batches >= 8 and results == []  # committed (readers see it), not yet reported
    assert len(SqliteStore(path, readonly=True).mailbox(H41, 100)) == 30
    store.release.set()
    assert done.wait(20)
    writer.stop()
    assert [v for v, _ in results] == [f"m{n}" for n in range(30)]  # in commit order
    assert 1 <= store.synced < writer.batches  # the groups committed during one fsync shared the next


def test_a_failed_fsync_breaks_the_writer_until_a_restart(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    results, done, collect = _collect(5)
    writer, store = _held_writer(path)
    store.fail = OSError(5, "Input/output error")
    for n in range(5):
        writer.submit(lambda s, n=n: s.store_message(message(n)).message_id, collect)
    store.release.set()
    assert done.wait(20)
    assert all(value is None and isinstance(error, AxisError) and error.code is Code.STORAGE_UNAVAILABLE
               for value, error in results)
    # The disk answers again, but the kernel may have dropped those pages: nothing more is promised durable,
    # not even a duplicate's answer (it would name a commit that may be lost).
    store.fail = None
    later, again, collect_again = _collect(2)
    writer.submit(lambda s: s.store_message(message(9)).message_id, collect_again)
    writer.submit(lambda s: s.duplicate(message(0).sender, message(0).sha256), collect_again)
    assert again.wait(20)
    writer.stop()
    assert [(v, e.code if isinstance(e, AxisError) else e) for v, e in later] == [(None, Code.STORAGE_UNAVAILABLE)] * 2
    assert writer.last_error is writer.broken and "restarted" in str(writer.broken)  # /readyz stays red
    assert store.synced == 0
    assert SqliteStore(path, readonly=True).message("m9") is None  # the later job was never run


def test_a_replaced_wal_is_an_error_not_a_sync_of_another_file(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    store = SqliteStore(path, sync_apart=True)
    with store.transaction():
        store.store_message(message(1))
    store.make_durable()
    wal = Path(f"{path}-wal")
    wal.rename(tmp_path / "elsewhere")  # what a restore under a running daemon would do
    wal.write_bytes(b"")
    with pytest.raises(OSError, match="removed or replaced"):
        store.make_durable()
    store.close()


@pytest.mark.parametrize("apart", [True, False])
def test_stop_reports_every_queued_job(tmp_path: Path, apart: bool) -> None:
    path = open_database(tmp_path)
    results, done, collect = _collect(50)
    writer = Writer(lambda: SqliteStore(path, sync_apart=apart), lambda report: report(), max_batch=8)
    writer.start()
    for n in range(50):
        writer.submit(lambda s, n=n: s.store_message(message(n)).message_id, collect)
    writer.stop()
    assert done.is_set() and [v for v, _ in results] == [f"m{n}" for n in range(50)]


# -- group-commit linger (axis.storage.writer._batches)

def _job(at: float | None = None) -> _Job[None]:
    job: _Job[None] = _Job(lambda store: None, lambda value, error: None)
    if at is not None:
        job.at = at
    return job


def _timed(groups: Iterator[list[_Job[None]]]) -> tuple[list[_Job[None]], float]:
    started = time.monotonic()
    batch = next(groups)
    return batch, time.monotonic() - started


def test_a_group_waits_for_more_while_jobs_keep_coming() -> None:
    source: queue.SimpleQueue[object] = queue.SimpleQueue()
    groups = _batches(source, 100, linger=0.4)
    first = _job()
    source.put(first)
    assert _timed(groups)[0] == [first]  # nothing came before it: no wait
    second, third = _job(), _job()  # submitted just after the first: more are coming
    source.put(second)
    threading.Timer(0.1, source.put, (third,)).start()
    batch = next(groups)
    assert batch == [second, third]
    assert time.monotonic() >= second.at + 0.4  # it waited out the linger, counted from the submission


def test_a_job_after_a_quiet_spell_or_one_that_waited_goes_at_once() -> None:
    source: queue.SimpleQueue[object] = queue.SimpleQueue()
    groups = _batches(source, 100, linger=5.0)
    now = time.monotonic()
    earlier = _job(now - 20)
    quiet = _job(now - 10)  # submitted more than the linger after the job before it
    late = _job(now - 9.9)  # close behind it, but it has waited longer than the linger for the writer already
    source.put(earlier)
    next(groups)
    source.put(quiet)
    batch, waited = _timed(groups)
    assert batch == [quiet] and waited < 1.0
    source.put(late)
    batch, waited = _timed(groups)
    assert batch == [late] and waited < 1.0


def test_a_full_group_or_a_stop_ends_the_wait() -> None:
    source: queue.SimpleQueue[object] = queue.SimpleQueue()
    groups = _batches(source, 3, linger=5.0)
    jobs = [_job() for _ in range(5)]
    source.put(jobs[0])
    assert _timed(groups)[0] == jobs[:1]
    for job in jobs[1:]:
        source.put(job)
    batch, waited = _timed(groups)
    assert batch == jobs[1:4] and waited < 1.0  # full at three
    threading.Timer(0.05, source.put, (_STOP,)).start()  # comes while the group of the fifth waits for more
    batch, waited = _timed(groups)
    assert batch == jobs[4:] and waited < 1.0  # the stop does not wait out the linger, and ends the groups
    assert next(groups, None) is None


def test_the_writer_groups_writes_that_come_close_together(tmp_path: Path) -> None:
    path = open_database(tmp_path)
    groups: list[int] = []
    first_group = threading.Event()

    def on_group(writes: int) -> None:
        groups.append(writes)
        first_group.set()
    results, done, collect = _collect(6)
    writer = Writer(lambda: SqliteStore(path, sync_apart=True), lambda report: report(), on_group=on_group,
                    linger=0.5)
    writer.start()
    writer.submit(lambda s: s.store_message(message(0)).message_id, collect)
    assert first_group.wait(10)
    for n in range(1, 6):  # close behind the first (well within the linger): they wait for each other
        writer.submit(lambda s, n=n: s.store_message(message(n)).message_id, collect)
    assert done.wait(10)
    writer.stop()
    assert [v for v, _ in results] == [f"m{n}" for n in range(6)]
    assert groups == [1, 5]


def test_a_job_whose_error_rolls_the_whole_group_back_takes_no_later_job_out_of_the_group(tmp_path: Path) -> None:
    """SQLite rolls the whole transaction back on some errors (a full disk during a statement, SQLITE_FULL): the
    jobs after it must not run outside the group (each SAVEPOINT then began and RELEASE committed a transaction of
    its own, stored yet answered as failed), and every job of the group is answered with the real cause."""
    path = open_database(tmp_path)
    results, done, collect = _collect(3)

    def overflow(store: SqliteStore) -> None:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 8}")  # the disk is full a few pages from now
        store.store_message(message(2, data=b"x" * 200_000))

    writer = Writer(lambda: SqliteStore(path, sync_apart=True), lambda report: report())
    writer.submit(lambda s: s.store_message(message(1)).message_id, collect)  # queued before the start: one group
    writer.submit(overflow, collect)
    writer.submit(lambda s: s.store_message(message(3)).message_id, collect)
    writer.start()
    assert done.wait(20)
    writer.stop()
    assert all(value is None and isinstance(error, sqlite3.Error) and "full" in str(error)
               for value, error in results), results
    reader = SqliteStore(path, readonly=True)
    assert [reader.message(f"m{n}") for n in (1, 2, 3)] == [None, None, None]  # nothing of the group is stored
