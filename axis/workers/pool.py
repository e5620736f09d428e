"""The daemon's side of the intake processes: spawn, dispatch, respawn, replace on reload, stop.

Each job goes to the ready process with the fewest jobs in flight.  When no process is
ready (starting, or all of them crashed) :meth:`IntakePool.prepare` returns ``None`` and
the daemon checks the package in its own threads: slower, never stuck.

A process that dies takes its in-flight jobs with it: they are answered ``internal.error``
(nothing was stored, so the sender may send again) and not retried elsewhere, because the
package that killed one process would kill the next.  The process is started again after
a back-off.  A reload starts a whole new generation that loads the new configuration; it
takes over only once every process of it is ready, and the old generation finishes its
queued jobs (stdin closed) and exits.  If the new generation cannot start, the reload is
refused and the old one keeps serving.

Each process names the configuration files it read and what they held (:mod:`axis.sources`),
and the key it signs receipts with.  One that read other bytes than the daemon's own load (an
edit came in between) is stopped before it serves: it would check packages against another
registry than the one the daemon authenticates with; so is one whose receipt key is not the
daemon's (axis's identity replaced or removed on disk: only a restart takes a new one).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from axis.errors import AxisError, Code, Problem
from axis.intake import Prepared
from axis.sources import differences
from axis.workers.frames import ERROR, FAILED, JOB, PREPARED, READY, REFUSED, Decoder, encode, unpack_prepared

log = logging.getLogger(__name__)


class StartFailed(Exception):
    """An intake process ended (or hung) before it was ready; the message says why when it told us."""


class _Child(ProcessProtocol):
    def __init__(self, pool: IntakePool, index: int, sources: dict[str, str] | None) -> None:
        self.pool = pool
        self.index = index
        self.sources = sources  # the files the daemon's configuration was read from (None: not compared)
        self.decoder = Decoder()
        self.jobs: dict[int, tuple[Deferred[Prepared], bytes]] = {}
        self.ready: Deferred[dict[str, Any]] = Deferred()
        self.is_ready = False
        self.retiring = False
        self.exited = False
        self.why_not: str | None = None  # the child's own FAILED message
        self.ended: Deferred[None] = Deferred()
        self.started_at = pool.reactor.seconds()

    @property
    def pid(self) -> int | None:
        return getattr(self.transport, "pid", None)

    def submit(self, job_id: int, agency_key: str, data: bytes) -> Deferred[Prepared]:
        d: Deferred[Prepared] = Deferred()
        self.jobs[job_id] = (d, data)
        assert self.transport is not None
        self.transport.write(encode(JOB, job_id, agency_key, data))
        return d

    def retire(self) -> None:
        """No new jobs; the process answers what it has, sees stdin close, and exits."""
        self.retiring = True
        if not self.exited and self.transport is not None:
            self.transport.closeStdin()

    def kill(self) -> None:
        if not self.exited and self.transport is not None:
            try:
                self.transport.signalProcess("KILL")
            except ProcessExitedAlready:
                pass

    # -- ProcessProtocol

    def childDataReceived(self, fd: int, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except Exception as exc:  # not our child speaking: stop trusting it
            log.error("intake process %s sent an unreadable frame (%s); killing it", self.pid, exc)
            self.kill()
            return
        for frame in frames:
            self._frame(frame)

    def _frame(self, frame: tuple[Any, ...]) -> None:
        kind = frame[0]
        if kind in (PREPARED, REFUSED, ERROR):
            entry = self.jobs.pop(frame[1], None)
            if entry is None:
                return
            d, data = entry
            if kind == PREPARED:
                d.callback(unpack_prepared(frame[2], data))
            elif kind == REFUSED:
                d.errback(Failure(frame[2]))
            else:
                log.error("intake process %s failed on a package: %s", self.pid, frame[2])
                d.errback(Failure(AxisError(Problem(Code.INTERNAL))))
        elif kind == READY:
            info = frame[1]
            differ = [] if self.sources is None else differences(self.sources, info.get("sources") or {})
            if differ:  # it would check packages against another registry than the daemon's
                self.why_not = (f"it read other configuration files than axisd did ({', '.join(differ)} changed in "
                                "between): reload again once the files are as they should be")
            elif self.pool.key_id is not None and info.get("key_id") != self.pool.key_id:
                self.why_not = (f"it signs receipts with another key (key_id {info.get('key_id')}) than axisd "
                                f"(key_id {self.pool.key_id}): axis's identity changed on disk; restart axisd to "
                                "take the new one")
            if self.why_not is not None:
                self.kill()
                return
            self.is_ready = True
            self.ready.callback(frame[1])
        elif kind == FAILED:
            self.why_not = frame[1]

    def processEnded(self, reason: Failure) -> None:
        self.exited = True
        self.is_ready = False
        jobs, self.jobs = self.jobs, {}
        for d, _ in jobs.values():
            d.errback(Failure(AxisError(Problem(Code.INTERNAL, "the intake process ended; send the package again"))))
        if not self.ready.called:
            why = self.why_not or f"exited before it was ready ({reason.value})"
            self.ready.errback(Failure(StartFailed(why)))
        elif not self.retiring and not reason.check(ProcessDone):
            log.error("intake process %s ended: %s; %d packages in it answered internal.error", self.pid,
                      reason.value, len(jobs))
        self.ended.callback(None)
        self.pool._ended(self)


class IntakePool:
    def __init__(self, reactor: Any, command: Sequence[str], count: int, sources: dict[str, str] | None = None,
                 key_id: str | None = None, start_timeout: float = 120.0,
                 on_change: Callable[[int, bool], None] = lambda ready, restarted: None) -> None:
        """``command`` runs :mod:`axis.workers.child` (its arguments included); ``sources``, the files the daemon's
        configuration was read from (:func:`axis.app.load_config`), and ``key_id``, its receipt key's: a process
        that read other bytes, or would sign receipts with another key, is stopped before it serves;
        ``on_change(ready, restarted)`` reports the number of ready processes, and whether one was just started
        again after a crash."""
        self.reactor = reactor
        self.command = list(command)
        self.count = count
        self.sources = sources  # the serving generation's: a process started again must have read the same
        self.key_id = key_id  # the daemon's for its whole life: axis's identity changes only with a restart
        self.start_timeout = start_timeout
        self.on_change = on_change
        self.children: list[_Child] = []  # the serving generation
        self._others: set[_Child] = set()  # starting for a reload, or retiring
        self._next_job = 0
        self._backoff = 1.0
        self._stopping = False

    @staticmethod
    def child_command(config_path: os.PathLike[str] | str, data_dir: os.PathLike[str] | str) -> list[str]:
        return [sys.executable, "-m", "axis.workers.child", "--config", os.fspath(config_path),
                "--data-dir", os.fspath(data_dir)]

    # -- life cycle

    def start(self) -> Deferred[None]:
        """Start the first generation.  The daemon does not wait for it: until a process is ready, packages
        are checked in the daemon's threads."""
        generation = [self._spawn(i, self.sources) for i in range(self.count)]
        self.children = generation
        d = self._all_ready(generation)

        def failed(failure: Failure) -> None:
            log.error("intake processes could not start (%s); checking packages in the daemon's threads, "
                      "trying again", failure.getErrorMessage())
        d.addErrback(failed)
        return d

    def replace(self, sources: dict[str, str] | None = None) -> Deferred[None]:
        """A new generation with the configuration as it is on disk now, which must be what the daemon read
        (``sources``); fires once it serves, or fails with :class:`StartFailed` (the old generation then serves on)."""
        generation = [self._spawn(i, sources) for i in range(self.count)]
        self._others.update(generation)

        def serve(_: object) -> None:
            old, self.children = self.children, generation
            self.sources = sources
            self._others.difference_update(generation)
            for child in old:
                self._others.add(child)
                child.retire()
            self._changed()

        def refuse(failure: Failure) -> Failure:
            for child in generation:
                child.retiring = True
                child.kill()
            return failure

        return self._all_ready(generation).addCallbacks(serve, refuse)

    def stop(self, timeout: float = 30.0) -> Deferred[None]:
        """Let every process finish its queued jobs and exit (killed after ``timeout``)."""
        self._stopping = True
        everyone = [*self.children, *self._others]
        for child in everyone:
            child.retire()
        waits = [c.ended for c in everyone if not c.exited]
        if not waits:
            return succeed(None)
        def kill_all() -> None:
            for child in everyone:
                child.kill()
        killer = self.reactor.callLater(timeout, kill_all)
        d = DeferredList(waits)
        d.addBoth(lambda _: killer.cancel() if killer.active() else None)
        return d  # type: ignore[return-value]

    # -- jobs

    def prepare(self, agency_key: str, data: bytes) -> Deferred[Prepared] | None:
        """Hand one package to the least busy ready process, or ``None`` when none is ready."""
        best: _Child | None = None
        for child in self.children:
            if child.is_ready and (best is None or len(child.jobs) < len(best.jobs)):
                best = child
        if best is None:
            return None
        self._next_job += 1
        return best.submit(self._next_job, agency_key, data)

    @property
    def ready(self) -> int:
        return sum(1 for c in self.children if c.is_ready)

    # -- inside

    def _spawn(self, index: int, sources: dict[str, str] | None) -> _Child:
        child = _Child(self, index, sources)
        # stdin and stdout are the job pipes; the child's stderr is our stdout, where the daemon logs.
        self.reactor.spawnProcess(child, self.command[0], self.command, env=dict(os.environ),
                                  childFDs={0: "w", 1: "r", 2: 1})
        timer = self.reactor.callLater(self.start_timeout, child.kill)

        def settled(result: Any) -> Any:
            if timer.active():
                timer.cancel()
            if not isinstance(result, Failure):
                log.info("intake process %s ready (%s agencies)", result.get("pid"), result.get("agencies"))
                self._changed()
            return result
        child.ready.addBoth(settled)
        return child

    def _all_ready(self, generation: list[_Child]) -> Deferred[None]:
        d = DeferredList([c.ready for c in generation], fireOnOneErrback=True, consumeErrors=True)

        def first_error(failure: Failure) -> Failure:
            return failure.value.subFailure  # type: ignore[no-any-return,union-attr]
        return d.addCallbacks(lambda _: None, first_error)

    def _ended(self, child: _Child) -> None:
        self._others.discard(child)
        self._changed()
        if self._stopping or child.retiring or child not in self.children:
            return
        if self.reactor.seconds() - child.started_at > 60:
            self._backoff = 1.0
        delay, self._backoff = self._backoff, min(self._backoff * 2, 30.0)
        self.reactor.callLater(delay, self._respawn, child)

    def _respawn(self, dead: _Child) -> None:
        if self._stopping or dead not in self.children:
            return
        fresh = self._spawn(dead.index, self.sources)
        self.children[self.children.index(dead)] = fresh
        def failed(failure: Failure) -> None:
            log.error("intake process could not start again (%s); trying later", failure.getErrorMessage())
        fresh.ready.addCallbacks(lambda _: self.on_change(self.ready, True), failed)

    def _changed(self, *_: object) -> None:
        self.on_change(self.ready, False)
