"""Statistics and overdue benchmark: a month of a province's traffic in a real SQLite store, then the report
and the overdue count timed.  Run by hand, never in the test suite::

    .venv/bin/python bench/bench_stats.py                  # 60,000 documents, 3 recipients each
    .venv/bin/python bench/bench_stats.py --documents 200000 --recipients 4 --agencies 800

Setup (not timed): ``--documents`` new documents over 30 days from ``--agencies`` agencies, each to
``--recipients`` of them, then for most copies 01 and 03 (some 02), for some 04–06, a few recalls
answered with 15, all through the same business rules axisd applies (``axis.business.store``), in
group commits.  Timed: ``stats.report`` over the whole month and over one agency, and the overdue
gauge's query (the last ``--watch-days`` days, unanswered copies only), each the best of three, with
the peak memory of the process.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axis import business, deadlines, stats  # noqa: E402
from axis.deadlines import WorkCalendar  # noqa: E402
from axis.storage.base import BusinessEvent, NewDelivery, NewMessage  # noqa: E402
from axis.storage.sqlite import SqliteStore, open_database  # noqa: E402
from axis.vntime import VN_TZ, iso  # noqa: E402

AXIS = "000.00.99.H41"
FIRST = date(2026, 10, 1)


def code(n: int) -> str:
    return f"000.{n // 100:02d}.{n % 100:02d}.H41"


def fill(store: SqliteStore, documents: int, recipients: int, agencies: int, rnd: random.Random) -> int:
    """The month's traffic; returns how many packages were stored."""
    seq = 0
    stored = 0
    start = datetime.combine(FIRST, datetime.min.time(), VN_TZ)
    span = 30 * 86400

    def message(kind: str, sender: str, doc: str, doc_sender: str, to: list[str], at: datetime,
                event: BusinessEvent | None = None, code_: str | None = None) -> NewMessage:
        nonlocal seq
        seq += 1
        data = f"<{kind} {seq}/>".encode()
        return NewMessage(f"m{seq}", kind, sender, doc, doc_sender, code_, rnd.randint(0, 4),
                          hashlib.sha256(data).hexdigest(), data, iso(at), seq, "absent", b"{}",
                          tuple(NewDelivery(c, "pull") for c in to), business=event)

    batch: list[NewMessage] = []

    def flush() -> None:
        nonlocal stored
        with store.transaction():
            for msg in sorted(batch, key=lambda m: m.accepted_at):
                with store.savepoint():
                    business.store(store, msg, AXIS)
                    stored += 1
        batch.clear()

    times = sorted(rnd.uniform(0, span) for _ in range(documents))
    pending: list[NewMessage] = []  # statuses, stored once their document is (in time order)
    for n, offset in enumerate(times):
        at = start + timedelta(seconds=offset)
        sender = code(rnd.randrange(agencies))
        to = rnd.sample([code(i) for i in range(agencies) if code(i) != sender][:200], recipients)
        doc = f"{sender},{at:%Y/%m/%d},{n}/VB"
        batch.append(message("edoc", sender, doc, sender, to, at))
        for recipient in to:
            t = at
            steps = ["01", "02"] if rnd.random() < 0.05 else ["01", "03", "04", "05", "06"][:rnd.randint(0, 5)]
            if rnd.random() < 0.02:
                steps = ["13", "15"]
            for step in steps:
                t += timedelta(seconds=rnd.expovariate(1 / 14400))
                author = sender if step == "13" else recipient
                other = recipient if step == "13" else sender
                pending.append(message("status", author, doc, sender, [other], t,
                                       BusinessEvent(sender, doc, recipient, step, author, iso(t)), step))
        if len(batch) >= 500:
            flush()
    flush()
    pending.sort(key=lambda m: m.accepted_at)
    for i in range(0, len(pending), 2000):
        batch.extend(pending[i:i + 2000])
        flush()
    return stored


def best_of(n: int, fn):  # type: ignore[no-untyped-def]
    result, best = None, float("inf")
    for _ in range(n):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return result, best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=60000)
    ap.add_argument("--recipients", type=int, default=3)
    ap.add_argument("--agencies", type=int, default=400)
    ap.add_argument("--watch-days", type=int, default=30)
    ap.add_argument("--dir", help="where the database goes (default: a temporary directory)")
    args = ap.parse_args()
    rnd = random.Random(7)
    directory = Path(args.dir or tempfile.mkdtemp(prefix="axis-bench-stats-"))
    store = SqliteStore(open_database(directory))
    t = time.perf_counter()
    stored = fill(store, args.documents, args.recipients, args.agencies, rnd)
    print(f"setup: {stored} packages stored in {time.perf_counter() - t:.1f} s "
          f"({(directory / 'axis.sqlite3').stat().st_size / 1e6:.0f} MB) in {directory}")
    reader = SqliteStore(store.path, readonly=True)
    calendar = WorkCalendar()
    last = FIRST + timedelta(days=29)
    start, end = stats.period(FIRST, last)
    now = datetime.combine(last + timedelta(days=2), datetime.min.time(), VN_TZ)

    def whole() -> stats.Report:
        return stats.report(reader.copies(start, end), lambda c: calendar, FIRST.isoformat(), last.isoformat(), now)

    report, seconds = best_of(3, whole)
    copies = sum(a.received for a in report.agencies)
    print(f"stats, whole month: {len(report.agencies)} agencies, {copies} copies received, {seconds:.2f} s")
    one = code(1)

    def single() -> stats.Report:
        return stats.report(reader.copies(start, end, one), lambda c: calendar, FIRST.isoformat(), last.isoformat(),
                            now, one.__eq__)

    _, seconds = best_of(3, single)
    print(f"stats, one agency: {seconds * 1000:.0f} ms")
    since = iso(now - timedelta(days=args.watch_days))

    def gauge() -> list[deadlines.Progress]:
        return deadlines.overdue(reader.copies(since, None, unanswered=True), lambda c: calendar, now)

    found, seconds = best_of(3, gauge)
    print(f"overdue gauge ({args.watch_days} days): {len(found)} overdue, {seconds:.2f} s per refresh")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
