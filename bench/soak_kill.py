"""The long kill soak (issue 6): axisd under load, SIGKILLed at random moments many times, restarted each
time; then every invariant of tests/soak.py is checked and the figures printed.  Run by hand::

    .venv/bin/python bench/soak_kill.py                      # 60 kills, 100 documents per sender
    .venv/bin/python bench/soak_kill.py --kills 200 --documents 300 --intake-processes 2 --json-out /tmp/soak.json

``make test`` runs a short version (tests/e2e/test_crash_recovery.py).  Everything stays on loopback and
every wait is bounded; the temporary directory is removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from soak import Soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--documents", type=int, default=100, help="per sender (three senders)")
    parser.add_argument("--intake-processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="axis-soak-"))
    soak = Soak(root, kills=args.kills, documents=args.documents, seed=args.seed,
                intake_processes=args.intake_processes)
    started = time.monotonic()
    try:
        figures = soak.run(timeout=args.timeout)
    finally:
        soak.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
