"""Benchmark: read + validate + verify of signed edXML packages, on one core.

Run by hand (`make bench` or `.venv/bin/python bench/bench_envelope.py`); never part of
the test suite.  It builds a throw-away PKI, signs a ~5 KB and a ~1 MB document
package, then runs the full verdict pipeline (hardened parse, XSD, typed model,
attachments, signature classification and verification, trust) repeatedly on one
CPU, and reports packages per second (best of several rounds, since shared machines
are noisy) and the peak memory of one check of each size.

Targets (issue 2): >= 1,500/s at 5 KB and >= 50/s at 1 MB on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from axis.signature import pki
from axis.signature.sign import sign_package
from axis.signature.trust import TrustStore
from axis.verdict import Checker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from packages import full_edoc  # noqa: E402  (the package the signature tests sign)


def package(target_bytes: int) -> bytes:
    """An unsigned package of about ``target_bytes`` (the signature adds about 2.5 KB)."""
    overhead = len(full_edoc(b"")) + 2600
    return full_edoc(b"%PDF-1.7\n" + os.urandom(max(0, (target_bytes - overhead) * 3 // 4)))


def rate(checker: Checker, data: bytes, seconds: float, rounds: int) -> tuple[float, float]:
    results = []
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            verdict = checker.check(data)
            count += 1
        assert verdict.acceptable and verdict.signature and verdict.signature.cls.value == "valid", verdict.to_dict()
        results.append(count / elapsed)
    return max(results), statistics.median(results)


def peak_memory(checker: Checker, data: bytes) -> int:
    tracemalloc.start()
    checker.check(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of one round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    ca = pki.create_ca()
    agency = pki.issue(ca, "000.00.00.G22", "Văn phòng Chính phủ")
    checker = Checker(TrustStore(cas=(ca.cert,)))
    report = {"machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                          "python": platform.python_version()}, "pinned_to_one_core": hasattr(os, "sched_setaffinity")}
    for label, size, target in (("5KB", 5_000, 1500), ("1MB", 1_000_000, 50)):
        signed = sign_package(package(size), agency)
        best, median = rate(checker, signed, args.seconds, args.rounds)
        report[label] = {"bytes": len(signed), "per_second_best": round(best, 1), "per_second_median": round(median, 1),
                         "target": target, "meets_target": best >= target,
                         "peak_traced_memory_bytes": peak_memory(checker, signed)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
