"""The intake process: read jobs from stdin, answer on stdout, until stdin closes.

Started by :class:`axis.workers.pool.IntakePool` as ``python -m axis.workers.child --config
FILE --data-dir DIR``.  It loads the configuration and the receipt identity exactly as
the daemon does, says READY (with the files it read and its receipt key, which the daemon
compares with its own), then answers each JOB in order.  Logs go to stderr, which
the daemon points at its own log stream.  It ignores SIGINT and SIGHUP (the daemon
decides when it stops: it closes stdin, and the process finishes what it has and
exits) and dies with its parent because stdin then closes too.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from axis import logs
from axis.app import identity, load_config, settle, with_data_dir
from axis.errors import Code, Problem
from axis.intake import Intake, Refused
from axis.vntime import now as vn_now
from axis.workers.frames import ERROR, FAILED, HEADER, JOB, PREPARED, READY, REFUSED, encode, pack_prepared

log = logging.getLogger("axis.intake")


def _frames(stream: BinaryIO) -> Iterator[bytes]:
    """Frame bodies until stdin closes between two frames (the daemon's signal to finish)."""
    while True:
        header = stream.read(HEADER.size)
        if not header:
            return
        if len(header) != HEADER.size:
            raise EOFError("stdin closed inside a frame")
        (size,) = HEADER.unpack(header)
        body = stream.read(size)
        if len(body) != size:
            raise EOFError("stdin closed inside a frame")
        yield body


def serve(stdin: BinaryIO, out_fd: int, config_path: Path, data_dir: Path | None) -> int:
    def send(*frame: object) -> None:
        view = memoryview(encode(*frame))
        while view:
            view = view[os.write(out_fd, view):]

    try:
        loaded = load_config(config_path, lambda c: with_data_dir(c, data_dir))
        config, policy = loaded.config, loaded.policy
        intake = Intake(identity(config, create=False), config.axis.code, vn_now)
    except Exception as exc:  # the daemon reports it (a reload is refused, a start fails)
        send(FAILED, f"{type(exc).__name__}: {exc}")
        return 2
    registry = policy.registry
    settle()
    send(READY, {"pid": os.getpid(), "agencies": len(registry), "sources": loaded.sources,
                 "key_id": intake.signer.key_id})

    for body in _frames(stdin):
        kind, job_id, agency_key, data = pickle.loads(body)
        assert kind == JOB
        try:
            sender = registry.principal(agency_key)  # an agency, or the route of a relaying axis
            if sender is None:  # a reload removed it between the daemon's check and ours
                raise Refused((Problem(Code.AUTH_INVALID, f"{agency_key} is no longer registered"),))
            prepared = intake.prepare(policy, sender, data)
        except Refused as refused:
            send(REFUSED, job_id, refused)
        except Exception as exc:  # a bug: the daemon answers internal.error, the log keeps the details
            log.exception("intake of job %s failed", job_id)
            send(ERROR, job_id, f"{type(exc).__name__}: {exc}")
        else:
            send(PREPARED, job_id, pack_prepared(prepared))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="axis-intake", description="An intake process of axisd (internal).")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logs.setup(sys.stderr, twisted=False)
    return serve(sys.stdin.buffer, sys.stdout.fileno(), args.config, args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
