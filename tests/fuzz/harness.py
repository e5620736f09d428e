"""What the fuzzers and the fuzz tests share: the checker under test, the seeds, and the contract.

The contract, for any bytes: ``Checker.check`` returns a :class:`Verdict`, raises nothing, never
answers ``internal.error`` (that code is how ``check`` reports an exception of ours), its verdict
is consistent and serialisable, and it comes back (no hang).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from axis.errors import Code
from axis.signature.trust import TrustStore
from axis.verdict import Checker, Verdict
from axis.vntime import VN_TZ

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
JUDGED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=VN_TZ)
"""The fixed time the corpus is judged at (its certificates are valid from 2026-01-01 for a century)."""
HANG_SECONDS = 5.0


_WARM_UP = ('<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader><MessageHeader>'
            '{}<Bogus/></MessageHeader></edXMLHeader></edXMLEnvelope></edXML>')


def make_checker() -> Checker:
    """The default policy, trusting the corpus CA, judging at :data:`JUDGED_AT`; warmed up.

    The first schema failure of each kind builds the xmlschema explainer (about 0.7 s of CPU,
    once per process): paid here, so that no input is blamed for it by a hang guard.
    """
    checker = Checker(TrustStore.from_files([HERE / "trust" / "ca.pem"]), clock=lambda: JUDGED_AT)
    for body in ("", "<StatusCode>03</StatusCode>"):
        checker.check(_WARM_UP.format(body).encode("ascii"))
    return checker


def interop_dir() -> Path:
    return Path(os.environ.get("AXIS_INTEROP_DIR", HERE.parents[2].parent / "shared" / "interop"))


def seed_files(*, with_interop: bool = True) -> list[Path]:
    """The committed corpus, then the interop samples when they are there (read in place, never copied)."""
    files = sorted(CORPUS.glob("*.edxml"))
    if with_interop:
        files += sorted(interop_dir().glob("**/*.edxml"))
    return files


def expected() -> dict[str, str]:
    data: dict[str, str] = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
    return data


class ContractBroken(AssertionError):
    pass


def check_contract(checker: Checker, data: bytes) -> Verdict:
    """Run ``checker`` on ``data`` and raise :class:`ContractBroken` if any part of the contract fails."""
    verdict = checker.check(data)
    if not isinstance(verdict, Verdict):
        raise ContractBroken(f"check returned {type(verdict).__name__}")
    internal = [p for p in verdict.problems if p.code is Code.INTERNAL]
    if internal:
        try:  # say which exception: the unguarded call raises it
            checker._check(data)
        except Exception as exc:
            raise ContractBroken(f"internal.error: {exc!r}") from exc
        raise ContractBroken("internal.error, but the unguarded check does not raise")
    if verdict.acceptable != (verdict.package is not None and not verdict.errors):
        raise ContractBroken("acceptable disagrees with the package and the errors")
    if verdict.package is None and not verdict.errors:
        raise ContractBroken("no package and no error")
    if verdict.size != len(data):
        raise ContractBroken(f"size {verdict.size} for {len(data)} bytes")
    summary: dict[str, Any] = verdict.to_dict()
    json.dumps(summary, ensure_ascii=False)  # what the doors send back
    for problem in verdict.problems:
        str(problem)
        problem.to_dict()
    return verdict


def check_with_guard(checker: Checker, data: bytes, seconds: float = HANG_SECONDS) -> Verdict:
    """:func:`check_contract` in a thread; a ContractBroken (a hang) when it has not returned after ``seconds``.

    Only a guard against hangs: it is generous by orders of magnitude (seeds take milliseconds).
    """
    result: list[Verdict] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(check_contract(checker, data))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            failure.append(exc)

    worker = threading.Thread(target=run, name="fuzz-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise ContractBroken(f"no verdict after {seconds} s for {len(data)} bytes starting {data[:80]!r} (a hang)")
    if failure:
        raise failure[0]
    return result[0]
