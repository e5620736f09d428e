"""One intake process on its own, fed job frames on stdin as axisd feeds it: its CPU per package (run by hand).

Builds a configuration like bench/bench_load.py's (1000 pull agencies, signing senders), signs
``--packages`` distinct documents to 1 and to 63 random recipients, starts ``python -m
axis.workers.child`` and writes every job to it at once, reads every answer, and reports the
process's CPU time (utime + stime, from READY to the last answer) per package.  No daemon, HTTP or writer around it,
so the figure is the intake process's own, with the packages as varied as in the load benchmark.

    .venv/bin/python bench/bench_child.py [--packages 400]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import bench_load as B  # noqa: E402
from daemon import AgencySpec, Axisd  # noqa: E402

from axis.app import identity, with_data_dir  # noqa: E402
from axis.config import load  # noqa: E402
from axis.workers.frames import JOB, PREPARED, READY, Decoder, encode  # noqa: E402


def run_child(config: Path, data_dir: Path, agency_key: str, bodies: list[bytes],
              rate: float = 0.0, batch: int = 1) -> tuple[float, int]:
    """(CPU seconds the process spent on the packages, packages prepared): from READY to the last answer."""
    proc = subprocess.Popen([sys.executable, "-m", "axis.workers.child", "--config", str(config),
                             "--data-dir", str(data_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    decoder, frames = Decoder(), []
    while not frames:
        frames = decoder.feed(os.read(proc.stdout.fileno(), 65536))
    assert frames[0][0] == READY, frames[0]
    ready_cpu = cpu_of(proc.pid)
    stdin = proc.stdin

    def feed() -> None:
        start = time.monotonic()
        for i, body in enumerate(bodies):
            if rate and i % batch == 0:  # jobs as they arrive in the daemon: the process waits and wakes for each
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            stdin.write(encode(JOB, i, agency_key, body))
            if rate and i % batch == batch - 1:
                stdin.flush()
        stdin.close()
    writer = threading.Thread(target=feed)
    writer.start()
    prepared, done_cpu = 0, 0.0
    while True:
        chunk = os.read(proc.stdout.fileno(), 1 << 20)
        if not chunk:
            break
        for frame in decoder.feed(chunk):
            if frame[0] == PREPARED:
                prepared += 1
                if prepared == len(bodies):  # before the process exits (its teardown is not a package's)
                    done_cpu = cpu_of(proc.pid)
            else:
                raise SystemExit(f"bench: the intake process answered {frame[0]}: {frame[2:]}")
    writer.join()
    proc.wait()
    return done_cpu - ready_cpu, prepared


def cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.0, help="feed jobs one by one at this rate per second "
                        "(default: all at once)")
    parser.add_argument("--batch", type=int, default=1, help="with --rate, write the jobs this many at a time")
    parser.add_argument("--key-kind", choices=("rsa", "ec"), default="rsa", help="the sender's signing key")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="axis-child-") as tmp:
        root = Path(tmp)
        codes = B.agency_codes(1000)
        sender = codes[0]
        B._CERTS.update(B.make_pki(root / "pki", [sender], key_kind=args.key_kind))
        axisd = Axisd(root, [AgencySpec(c) for c in codes], pki_dir=root / "pki")
        axisd.data_dir.mkdir(parents=True, exist_ok=True)
        identity(with_data_dir(load(axisd.config), axisd.data_dir))  # as axisd makes it at start (processes never do)
        rng = random.Random(3)
        jobs = {n: [(sender, tuple(rng.sample(codes[1:], n)), f"{sender},2026/11/22,{n}-{i}/CHILD")
                    for i in range(args.packages)] for n in (1, B.FANOUT)}
        with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1,
                                                    mp_context=multiprocessing.get_context("fork")) as pool:
            bodies = {n: list(pool.map(B._sign_one, js, chunksize=32)) for n, js in jobs.items()}
        for r in range(args.rounds):
            cpu = {}
            for n in (1, B.FANOUT):
                seconds, done = run_child(axisd.config, axisd.data_dir, sender, bodies[n], args.rate, args.batch)
                assert done == args.packages
                cpu[n] = 1000 * seconds / done
            print(f"round {r}: intake process CPU per package: 1 recipient {cpu[1]:.3f} ms, {B.FANOUT} recipients "
                  f"{cpu[B.FANOUT]:.3f} ms (x{cpu[B.FANOUT] / cpu[1]:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
