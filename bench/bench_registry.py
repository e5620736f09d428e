"""The national-scale registry: load time of 111,339 agencies (target: under 3 s) and lookup cost.

Run by hand: ``.venv/bin/python bench/bench_registry.py [--count N] [--repeat R]``.  The
directory is generated (tests/directory.py: half the codes in each grammar, Vietnamese names,
a token hash on each), written as CSV under a temporary directory, and loaded through the
daemon's own ``axis.config.load`` — the path a reload takes.  Lookups are timed in both
grammars, hits and misses, to show they stay constant-time as the registry grows.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from directory import national_directory  # noqa: E402

from axis.agencycode import parse_strict  # noqa: E402
from axis.config import load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=111_339)
    parser.add_argument("--repeat", type=int, default=3, help="loads to time (the best and worst are shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        codes = national_directory(root / "national.csv", count=args.count)
        print(f"generated {len(codes):,} agencies ({(root / 'national.csv').stat().st_size / 1e6:.1f} MB CSV) "
              f"in {time.perf_counter() - started:.1f} s")
        (root / "axisd.toml").write_text('[axis]\ncode = "000.00.99.H41"\n[registry]\ndirectories = ["national.csv"]\n')
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            config = load(root / "axisd.toml")
            times.append(time.perf_counter() - started)
        registry = config.registry
        print(f"load: best {min(times):.2f} s, worst {max(times):.2f} s over {args.repeat} loads "
              f"(target < 3 s); {len(registry):,} agencies")
        sample = random.Random(1).sample(codes, 10_000)
        other_forms = [next(iter(parse_strict(c).equivalents() - {c}), c) for c in sample]
        misses = [f"{n:03d}.99.99.Z{n % 100:02d}" for n in range(10_000)]
        for label, keys in (("as written", sample), ("other grammar", other_forms), ("unknown codes", misses)):
            started = time.perf_counter()
            found = sum(registry.get(k) is not None for k in keys)
            per = (time.perf_counter() - started) / len(keys) * 1e6
            print(f"lookup {label:<14} {per:6.2f} µs each ({found:,}/{len(keys):,} found)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
