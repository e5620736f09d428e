"""The writer on its own: packages per second and ack latency, fsync at COMMIT or apart (run by hand).

Stores single-recipient packages through :class:`axis.storage.writer.Writer` into a fresh
database under ``--dir`` (a real disk: the fsync is what is measured), as the daemon does
(``business.store`` in a savepoint, group commit), in a closed loop of ``--in-flight``
outstanding writes (as many senders waiting for their answer).  Once with the daemon's
writer (``SqliteStore(sync_apart=True)``: COMMIT, then the fsync on the syncer thread while
the next group runs) and once with ``synchronous=FULL`` (the fsync inside COMMIT), in turn,
``--rounds`` times.  No HTTP, no intake: this is the writer's own ceiling.

With ``--rate R`` it is an open loop instead: packages to ``--recipients`` random agencies
submitted at R a second, as the intake processes hand them over, with the daemon's writer
and each group-commit linger of ``--linger`` (milliseconds) in turn.  It reports the process's
CPU milliseconds per package (the writer and syncer threads, and the feeder's small share),
the ack latency and the mean group: what a linger saves and what it costs.

    .venv/bin/python bench/bench_writer.py [--seconds 4] [--in-flight 32] [--rounds 2]
    .venv/bin/python bench/bench_writer.py --rate 500 [--recipients 63] [--linger 0,5,10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_load import agency_codes  # noqa: E402
from profile_store import AXIS, Maker  # noqa: E402

from axis import business  # noqa: E402
from axis.storage.base import NewMessage, WriteStore  # noqa: E402
from axis.storage.sqlite import SqliteStore, open_database  # noqa: E402
from axis.storage.writer import Writer  # noqa: E402


def _storing(msg: NewMessage) -> Callable[[WriteStore], object]:
    """The daemon's job for one package."""
    return lambda store: business.store(store, msg, AXIS)


def _percentiles(latencies: list[float]) -> dict[str, float]:
    latencies.sort()
    return {"p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}


def run(path: Path, apart: bool, seconds: float, in_flight: int, maker: Maker) -> dict[str, float]:
    messages = [maker.message(1) for _ in range(int(seconds * 4000) + in_flight)]
    latencies: list[float] = []
    groups: list[int] = []
    lock = threading.Lock()
    finished = threading.Event()
    state = {"next": 0, "done": 0, "deadline": 0.0}
    writer = Writer(lambda: SqliteStore(path, sync_apart=apart), lambda report: report(), on_group=groups.append)
    writer.start()

    def submit() -> None:
        with lock:
            i = state["next"]
            if i >= len(messages) or time.perf_counter() > state["deadline"]:
                return
            state["next"] = i + 1
        msg, started = messages[i], time.perf_counter()

        def done(value: object, error: BaseException | None, started: float = started) -> None:
            if error is not None:
                raise SystemExit(f"bench: a write failed: {error}")
            latencies.append(time.perf_counter() - started)
            with lock:
                state["done"] += 1
                if state["done"] == state["next"] and time.perf_counter() > state["deadline"]:
                    finished.set()
            submit()
        writer.submit(_storing(msg), done)

    start = time.perf_counter()
    state["deadline"] = start + seconds
    for _ in range(in_flight):
        submit()
    finished.wait(seconds + 60)
    elapsed = time.perf_counter() - start
    writer.stop()
    return {"per_s": len(latencies) / elapsed, **_percentiles(latencies), "group": statistics.mean(groups)}


def run_rate(path: Path, rate: float, seconds: float, recipients: int, linger: float,
             maker: Maker) -> dict[str, float]:
    """The daemon's writer fed ``rate`` packages a second (open loop): CPU per package, ack latency, group."""
    messages = [maker.message(recipients) for _ in range(int(seconds * rate))]
    latencies: list[float] = []
    groups: list[int] = []
    all_done = threading.Event()
    writer = Writer(lambda: SqliteStore(path, sync_apart=True), lambda report: report(), on_group=groups.append,
                    linger=linger)
    writer.start()
    cpu, start = time.process_time(), time.perf_counter()
    for i, msg in enumerate(messages):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)

        def done(value: object, error: BaseException | None, due: float = due) -> None:
            if error is not None:
                raise SystemExit(f"bench: a write failed: {error}")
            latencies.append(time.perf_counter() - due)
            if len(latencies) == len(messages):
                all_done.set()
        writer.submit(_storing(msg), done)
    all_done.wait(seconds + 60)
    used = time.process_time() - cpu
    writer.stop()
    return {"cpu_ms": 1000 * used / len(messages), **_percentiles(latencies), "group": statistics.mean(groups)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preload", type=int, default=8000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--rate", type=float, default=None, help="open loop: packages submitted per second")
    parser.add_argument("--recipients", type=int, default=1, help="with --rate: recipients of each package")
    parser.add_argument("--linger", default="0,5,10", help="with --rate: group-commit lingers to compare (ms)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="axis-writer-", dir=args.dir) as tmp:
        path = open_database(Path(tmp))
        maker = Maker(agency_codes(1000))
        store = SqliteStore(path)
        for _ in range(args.preload // 200):
            with store.transaction():
                for _ in range(200):
                    business.store(store, maker.message(1), AXIS)
        store.close()
        if args.rate is not None:
            lingers = [float(v) for v in args.linger.split(",")]
            print(f"{args.rate:g}/s, {args.recipients} recipient(s) each")
            print(f"{'round':<6} {'linger ms':>9} {'CPU ms/pkg':>11} {'p50 ms':>8} {'p99 ms':>8} {'group':>6}")
            for r in range(args.rounds):
                for linger in lingers:
                    res = run_rate(path, args.rate, args.seconds, args.recipients, linger / 1000, maker)
                    print(f"{r:<6} {linger:>9g} {res['cpu_ms']:>11.3f} {res['p50_ms']:>8.2f} {res['p99_ms']:>8.2f} "
                          f"{res['group']:>6.1f}", flush=True)
            return 0
        print(f"{'round':<6} {'fsync':<8} {'packages/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'group':>6}")
        for r in range(args.rounds):
            for apart in (True, False):
                res = run(path, apart, args.seconds, args.in_flight, maker)
                print(f"{r:<6} {'apart' if apart else 'COMMIT':<8} {res['per_s']:>11.0f} {res['p50_ms']:>8.2f} "
                      f"{res['p99_ms']:>8.2f} {res['group']:>6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
