"""The writer thread's cost per package, for 1 and for 63 recipients, on a real SQLite file (run by hand).

Stores packages the way the daemon's writer does (``business.store`` in a savepoint, groups of
``--batch`` per ``BEGIN IMMEDIATE`` … ``COMMIT`` with ``synchronous=FULL``) into a fresh database
under ``--dir``, after ``--preload`` single-recipient packages (mailboxes that already hold
something, as during bench/bench_load.py).  Prints thread CPU ms per package (and wall ms, which
includes the fsyncs), so two versions of the insert path can be compared back to back.

    .venv/bin/python bench/profile_store.py [--batch 24] [--groups 40] [--preload 8000]
    .venv/bin/python bench/profile_store.py --sync-apart --moves 1500   # the commits that move mailbox entries
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_load import FANOUT, agency_codes  # noqa: E402

from axis import business  # noqa: E402
from axis.storage import sqlite  # noqa: E402
from axis.storage.base import NewDelivery, NewMessage  # noqa: E402
from axis.storage.sqlite import SqliteStore, open_database  # noqa: E402
from axis.vntime import iso  # noqa: E402

AXIS = "000.00.99.H41"


class Maker:
    def __init__(self, codes: list[str], seed: int = 7) -> None:
        self.codes = codes
        self.rng = random.Random(seed)
        self.n = 0
        self.data = b"x" * 4800

    def message(self, n_to: int) -> NewMessage:
        self.n += 1
        sender = self.codes[self.n % 64]
        to = self.rng.sample(self.codes[64:], n_to)
        data = self.data + str(self.n).encode()
        receipt = b'{"receipt": {"recipients": [' + b", ".join(b'"%s"' % c.encode() for c in to) + b"]}}" + b"s" * 300
        return NewMessage(
            message_id=hashlib.md5(data).hexdigest(), kind="edoc", sender=sender,
            document_id=f"{sender},2026/11/22,{self.n}/S", doc_sender=sender, status_code=None, priority=2,
            sha256=hashlib.sha256(data).hexdigest(), data=data, accepted_at=iso(), accepted_ns=time.time_ns(),
            signature="valid", receipt=receipt, deliveries=tuple(NewDelivery(c, "pull", None) for c in to))


def run(store: SqliteStore, maker: Maker, n_to: int, batch: int, groups: int) -> tuple[float, float]:
    msgs = [[maker.message(n_to) for _ in range(batch)] for _ in range(groups)]
    cpu, wall = time.thread_time(), time.perf_counter()
    for group in msgs:
        with store.transaction():
            for msg in group:
                with store.savepoint():
                    business.store(store, msg, AXIS)
        store.make_durable()
    n = batch * groups
    return (time.thread_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n


def moves(store: SqliteStore, maker: Maker, groups: int) -> None:
    """Commit times of groups of two 63-recipient packages (as the daemon commits them under a fan-out load), those
    whose commit moves the fresh mailbox entries into the large table apart."""
    plain: list[float] = []
    moving: list[float] = []
    for _ in range(groups):
        msgs = [maker.message(FANOUT) for _ in range(2)]
        will_move = store._unfiled + len(msgs) * FANOUT >= sqlite.FILE_EVERY
        t = time.perf_counter()
        with store.transaction():
            for msg in msgs:
                with store.savepoint():
                    business.store(store, msg, AXIS)
        (moving if will_move else plain).append(time.perf_counter() - t)
        store.make_durable()
    plain.sort()
    moving.sort()
    filed = store.conn.execute("SELECT count(*) FROM mailbox_filed").fetchone()[0]
    print(f"{filed} entries filed; a commit of 2x{FANOUT}: median {plain[len(plain) // 2] * 1000:.1f} ms; "
          f"one that moves the fresh entries ({len(moving)} of them): median {moving[len(moving) // 2] * 1000:.1f} ms, "
          f"max {moving[-1] * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--preload", type=int, default=8000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--moves", type=int, default=0, help="instead: this many groups of two 63-recipient "
                        "packages, and how long the commits that move the fresh mailbox entries take")
    parser.add_argument("--sync-apart", action="store_true", help="the daemon's writer: COMMIT without its fsync, "
                        "then make_durable() (timed here on the same thread)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="axis-store-", dir=args.dir) as tmp:
        path = open_database(Path(tmp))
        store = SqliteStore(path, sync_apart=args.sync_apart)
        maker = Maker(agency_codes(1000))
        for _ in range(args.preload // 200):
            with store.transaction():
                for _ in range(200):
                    business.store(store, maker.message(1), AXIS)
        if args.moves:
            moves(store, maker, args.moves)
            store.close()
            return 0
        print(f"{'round':<6} {'1: CPU ms':>10} {'wall':>8} {f'{FANOUT}: CPU ms':>12} {'wall':>8} {'ratio':>6}")
        for r in range(args.rounds):
            one = run(store, maker, 1, args.batch, args.groups)
            many = run(store, maker, FANOUT, args.batch, args.groups)
            print(f"{r:<6} {one[0]:>10.3f} {one[1]:>8.3f} {many[0]:>12.3f} {many[1]:>8.3f} {many[0] / one[0]:>6.2f}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
