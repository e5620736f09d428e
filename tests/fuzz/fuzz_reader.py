"""Coverage-guided fuzzing of the whole package check (parse, locate, XSD, read, signature) with atheris.

    make fuzz                     # the same as:
    mkdir -p var/fuzz/corpus
    nice -n 10 .venv/bin/python tests/fuzz/fuzz_reader.py -runs=1000000 -timeout=5 -rss_limit_mb=2048 \\
        -max_len=131072 -dict=tests/fuzz/edxml.dict -artifact_prefix=var/fuzz/ \\
        var/fuzz/corpus tests/fuzz/corpus ../shared/interop/vnpt-sdk

libFuzzer's flags apply (``-help=1``).  The first directory receives the inputs that reach new
code (keep it out of the repository); the others are read as seeds.  A crash, an
``internal.error`` verdict or a broken verdict (see :mod:`harness`) stops the run with the
traceback and writes the input as ``var/fuzz/crash-<sha1>``; an input that takes more
than ``-timeout`` seconds is written as ``timeout-<sha1>``; one that makes the process use
more than ``-rss_limit_mb`` as ``oom-<sha1>``.  Add such an input to tests/fuzz/corpus/ (and a
line to expected.json) once it is fixed.

Half the mutations are libFuzzer's own byte mutations (guided by the dictionary), half are
the structure-aware ones of :mod:`mutations` (elements dropped, repeated, moved, renamed,
nested deep, odd field values, odd attachments).

Without atheris (``pip install atheris``, or ``pip install -e '.[fuzz]'``), or with
``--no-atheris``, the same harness runs as a plain loop: the seeds mutated by :mod:`mutations`
and a few byte mutations, no coverage guidance, each input under a SIGALRM guard of
``-timeout`` seconds; it understands ``-runs=``, ``-timeout=``, ``-seed=`` and seed
directories, ``-artifact_prefix=``, and writes a failing input as ``crash-<sha1>`` (or
``timeout-<sha1>``).
"""

from __future__ import annotations

import hashlib
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    if "--no-atheris" in sys.argv:
        raise ImportError("--no-atheris")
    import atheris
except ImportError:
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["axis", "harness"]):
        import harness

        from axis.verdict import Checker
else:
    import harness

    from axis.verdict import Checker

import mutations  # noqa: E402  (not instrumented: it is the fuzzer, not the code under test)

CHECKER: Checker = harness.make_checker()


def test_one_input(data: bytes) -> None:
    harness.check_contract(CHECKER, data)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        out = atheris.Mutate(data, max_size)
    else:
        out = mutations.mutate(data, mutations.RandomChooser(rng))
    return out[:max_size]


# ----------------------------------------------------------------------------- without atheris


class _Hang(BaseException):
    """Not an Exception: the code under test must not be able to catch it."""


def _flags(argv: list[str]) -> tuple[dict[str, str], list[Path]]:
    flags = {a[1:].split("=", 1)[0]: a.split("=", 1)[1] for a in argv if a.startswith("-") and "=" in a}
    dirs = [Path(a) for a in argv if not a.startswith("-")]
    return flags, dirs


def _write(prefix: str, kind: str, data: bytes) -> str:
    name = f"{prefix}{kind}-{hashlib.sha1(data).hexdigest()}"
    Path(name).write_bytes(data)
    return name


def fallback(argv: list[str]) -> int:
    flags, dirs = _flags(argv)
    runs, timeout = int(flags.get("runs", "100000")), float(flags.get("timeout", "5"))
    rng = random.Random(int(flags.get("seed", "0")) or None)
    prefix = flags.get("artifact_prefix", "")
    seeds = [p.read_bytes() for d in dirs for p in sorted(d.glob("**/*")) if p.is_file()]
    seeds = seeds or [p.read_bytes() for p in harness.seed_files()]
    chooser = mutations.RandomChooser(rng)

    def alarm(signum: int, frame: Any) -> None:
        raise _Hang()

    signal.signal(signal.SIGALRM, alarm)
    start = last = time.monotonic()
    print(f"#0 fallback loop (no atheris): {len(seeds)} seeds, {runs} runs", flush=True)
    for n in range(1, runs + 1):
        data = rng.choice(seeds)
        data = mutations.mutate(data, chooser) if rng.random() < 0.8 else mutations.mutate_bytes(data, chooser)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            harness.check_contract(CHECKER, data)
        except _Hang:
            print(f"timeout after {timeout} s: {_write(prefix, 'timeout', data)}", flush=True)
            return 1
        except Exception:
            signal.setitimer(signal.ITIMER_REAL, 0)
            print(f"crash: {_write(prefix, 'crash', data)}", flush=True)
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        now = time.monotonic()
        if now - last > 30 or n == runs:
            last = now
            print(f"#{n} exec/s: {n / (now - start):.0f}", flush=True)
    print(f"Done {runs} runs in {time.monotonic() - start:.0f} second(s)", flush=True)
    return 0


def main() -> None:
    argv = [a for a in sys.argv if a != "--no-atheris"]
    if atheris is None:
        sys.exit(fallback(argv[1:]))
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
