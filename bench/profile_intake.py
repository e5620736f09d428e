"""Where an intake process's time goes, per package, for 1 and for 63 recipients (run by hand).

Builds a configuration like bench/bench_load.py's (1000 pull agencies, signing senders with an RSA
certificate, or EC with ``--key-kind ec``, from a throw-away CA), signs one document to 1 and one to 63
recipients, then times, in this process, each stage of an intake process's work on them: parse, locate, schema, read, signature,
the whole ``Checker.check``, the whole ``Intake.prepare``, and the pickled answer frame.  With
``--profile N`` it prints a cProfile of ``Intake.prepare`` on the 63-recipient document instead.

    .venv/bin/python bench/profile_intake.py [--repeat 400] [--profile 30]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_load import FANOUT, agency_codes, document  # noqa: E402
from daemon import AgencySpec, Axisd, make_pki  # noqa: E402

from axis.app import build_policy, identity, with_data_dir  # noqa: E402
from axis.config import load  # noqa: E402
from axis.edxml import reader, xmlsafe  # noqa: E402
from axis.intake import Intake  # noqa: E402
from axis.signature.sign import sign_package  # noqa: E402
from axis.signature.verify import check as check_signature  # noqa: E402
from axis.vntime import now as vn_now  # noqa: E402
from axis.workers.frames import PREPARED, encode  # noqa: E402


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """CPU microseconds per call, the best of five runs of ``repeat`` calls (CPU time: the machine is shared)."""
    best = float("inf")
    for _ in range(5):
        t = time.thread_time()
        for _ in range(repeat):
            fn()
        best = min(best, (time.thread_time() - t) / repeat)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="cProfile this many prepare() calls")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--key-kind", choices=("rsa", "ec"), default="rsa", help="the sender's signing key")
    parser.add_argument("--recipients", type=int, default=FANOUT, choices=(1, FANOUT),
                        help="which document --profile runs on")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="axis-prof-") as tmp:
        root = Path(tmp)
        codes = agency_codes(1000)
        senders = codes[:4]
        certs = make_pki(root / "pki", senders, key_kind=args.key_kind)
        axisd = Axisd(root, [AgencySpec(c) for c in codes], pki_dir=root / "pki")
        config = with_data_dir(load(axisd.config), axisd.data_dir)
        axisd.data_dir.mkdir(parents=True, exist_ok=True)
        policy = build_policy(config)
        intake = Intake(identity(config), config.axis.code, vn_now)
        sender = senders[0]
        agency = policy.registry.get(policy.registry.destination(sender).code)  # type: ignore[union-attr]
        assert agency is not None
        docs = {n: sign_package(document(sender, tuple(codes[10:10 + n]), f"{sender},2026/11/22,{n}/PROF"),
                                certs[sender]) for n in (1, FANOUT)}

        if args.profile:
            data = docs[args.recipients]
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.profile):
                intake.prepare(policy, agency, data)
            prof.disable()
            pstats.Stats(prof).sort_stats(args.sort).print_stats(45)
            return 0

        rows: dict[str, dict[int, float]] = {}
        for n, data in docs.items():
            checker = policy.checker
            parsed = xmlsafe.parse(data, checker.options.limits)
            located = reader.locate(parsed.root)
            package, _ = reader.read(located)
            prepared = intake.prepare(policy, agency, data)
            frame = replace(prepared, message=replace(prepared.message, data=b""))
            now = checker.clock()
            stages: dict[str, Callable[[], Any]] = {
                "parse": lambda d=data: xmlsafe.parse(d, checker.options.limits),
                "locate": lambda r=parsed.root: reader.locate(r),
                "schema": lambda r=parsed.root, k=located.kind: checker.schemas.validate(r, k),
                "read": lambda loc=located: reader.read(loc),
                "signature": lambda d=data, loc=located: check_signature(d, loc, sender, checker.trust, now,
                                                                         checker.options.signature),
                "check (all)": lambda d=data: checker.check(d),
                "prepare (all)": lambda d=data: intake.prepare(policy, agency, d),
                "answer frame": lambda f=frame: encode(PREPARED, 1, f),
            }
            for name, fn in stages.items():
                rows.setdefault(name, {})[n] = timed(fn, args.repeat)
            rows.setdefault("bytes", {})[n] = len(data)
            rows.setdefault("frame bytes", {})[n] = len(encode(PREPARED, 1, frame))
            del package
        print(f"{'µs per package':<16} {'1':>10} {FANOUT:>10} {'per extra':>10}")
        for name, r in rows.items():
            extra = (r[FANOUT] - r[1]) / (FANOUT - 1)
            print(f"{name:<16} {r[1]:>10.1f} {r[FANOUT]:>10.1f} {extra:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
