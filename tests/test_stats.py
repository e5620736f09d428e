"""Statistics are exact: random traffic through the business rules into a real SQLite store, then the report
compared with a count made here, independently, over the raw ledger tables."""

from __future__ import annotations

import hashlib
import itertools
import random
import sqlite3
import statistics
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from axis import business, deadlines, stats
from axis.deadlines import WorkCalendar
from axis.errors import AxisError
from axis.storage.base import BusinessEvent, NewDelivery, NewMessage
from axis.storage.sqlite import SqliteStore, open_database
from axis.vntime import VN_TZ, iso, parse_iso

AXIS = "000.00.99.H41"
AGENCIES = ("000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17", "000.00.01.H41")
EVERY_DAY = WorkCalendar(days=frozenset(range(7)), end_of_day=time(17, 0))
START = datetime(2026, 11, 14, 7, 0, tzinfo=VN_TZ)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=VN_TZ)  # after the traffic


class Traffic:
    """Agencies sending documents, statuses, recalls, revokes and replacements at increasing times."""

    def __init__(self, store: SqliteStore, rnd: random.Random) -> None:
        self.store, self.rnd = store, rnd
        self.clock = START
        self.n = itertools.count(1)
        self.documents: list[tuple[str, str, tuple[str, ...]]] = []  # (sender, document id, recipients)
        self.stored = self.refused = self.added = 0

    def tick(self) -> str:
        self.clock += timedelta(minutes=self.rnd.randint(1, 45))
        return iso(self.clock)

    def put(self, msg: NewMessage) -> bool:
        try:
            with self.store.transaction(), self.store.savepoint():
                business.store(self.store, msg, AXIS)
        except AxisError:
            self.refused += 1
            return False
        self.stored += 1
        return True

    def message(self, kind: str, sender: str, document_id: str, to: tuple[str, ...], at: str, **extra: Any) -> NewMessage:
        n = next(self.n)
        data = f"<{kind} {n}/>".encode()
        return NewMessage(
            message_id=f"m{n}", kind=kind, sender=sender, document_id=document_id, doc_sender=extra.pop("doc_sender",
                                                                                                        sender),
            status_code=extra.pop("status_code", None), priority=self.rnd.randint(0, 4),
            sha256=hashlib.sha256(data).hexdigest(), data=data, accepted_at=at, accepted_ns=n, signature="absent",
            receipt=b"{}", deliveries=tuple(NewDelivery(c, "pull") for c in to), **extra)

    def new_document(self, business_type: int | None = None, replaces: tuple[str, tuple[str, ...]] | None = None) -> None:
        if replaces is None:
            sender = self.rnd.choice(AGENCIES)
            to = tuple(self.rnd.sample([a for a in AGENCIES if a != sender], self.rnd.randint(1, 3)))
        else:
            sender, to = replaces[0], replaces[1]
        doc = f"{sender},2026/11/{self.rnd.randint(10, 30)},{next(self.n)}/VB"
        at = self.tick()
        extra: dict[str, Any] = {"business_type": business_type}
        if replaces is not None:
            extra["replaces"] = ((replaces[2], to),)
            extra["original_id"] = replaces[2]
        if self.put(self.message("edoc", sender, doc, to, at, **extra)):
            self.documents.append((sender, doc, to))

    def recent(self) -> tuple[str, str, tuple[str, ...]]:
        """Mostly one of the latest documents (answers within hours or days), sometimes any."""
        pool = self.documents if self.rnd.random() < 0.1 else self.documents[-15:]
        return self.rnd.choice(pool)

    def status(self) -> None:
        sender, doc, to = self.recent()
        recipient = self.rnd.choice(to)
        code = self.rnd.choice(("01", "01", "02", "03", "03", "04", "05", "06", "06", "13", "15", "16"))
        author, counterparty = (sender, recipient) if code == "13" else (recipient, sender)
        at = self.tick()
        self.put(self.message("status", author, doc, (counterparty,), at, doc_sender=sender, status_code=code,
                              business=BusinessEvent(sender, doc, recipient, code, author, at)))

    def request(self, business_type: int) -> None:
        """A revoke (1) or an update (2) of a recent document; half the updates add a recipient, which is a party
        to the document from then on (its statuses, and later requests, may name it)."""
        index = self.documents.index(self.recent())
        sender, doc, to = self.documents[index]
        others = [a for a in AGENCIES if a != sender and a not in to]
        added = (self.rnd.choice(others),) if business_type == 2 and others and self.rnd.random() < 0.5 else ()
        if self.put(self.message("edoc", sender, doc, to + added, self.tick(), business_type=business_type,
                                 original_id=doc)) and added:
            self.documents[index] = (sender, doc, to + added)
            self.added += 1

    def replace(self) -> None:
        sender, doc, to = self.recent()
        self.new_document(business_type=3, replaces=(sender, to, doc))

    def fetch_some(self) -> None:
        """Recipients fetch part of their mailboxes, so some revokes and replacements find copies unfetched."""
        at = iso(self.clock)
        for agency in AGENCIES:
            for item in self.store.mailbox(agency, 1000):
                if self.rnd.random() < 0.5:
                    with self.store.transaction():
                        self.store.mark_fetched(agency, item.message_id, at)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            roll = self.rnd.random()
            if roll < 0.3 or not self.documents:
                self.new_document()
            elif roll < 0.85:
                self.status()
            elif roll < 0.88:
                self.request(1)
            elif roll < 0.91:
                self.request(2)
            elif roll < 0.95:
                self.replace()
            else:
                self.fetch_some()


def deadline(received: datetime) -> datetime:
    """Every day worked until 17:00 (the calendar of this test), computed here on its own."""
    end = datetime.combine(received.date(), time(17, 0), VN_TZ)
    return end if received < end else end + timedelta(days=1)


def count_over_ledgers(db: Path, start: str, end: str, now: datetime) -> dict[str, dict[str, Any]]:
    """The statistics as a clerk would count them, straight from the tables."""
    conn = sqlite3.connect(db)
    docs = conn.execute("SELECT seq, id, sender, document_id, accepted_at FROM messages WHERE kind = 'edoc' AND "
                        "coalesce(business_type, 0) IN (0, 3) AND accepted_at >= ? AND accepted_at < ?",
                        (start, end)).fetchall()
    rows: dict[str, dict[str, Any]] = {}

    def row(code: str) -> dict[str, Any]:
        return rows.setdefault(code, {"sent": 0, "received": 0, "accepted": 0, "refused": 0, "done": 0, "overdue": 0,
                                      "01": [], "03": [], "06": []})

    # Each copy: (document, its sender, recipient, when received, state).  A recipient an update added received
    # its copy with the first update that carried it, counted in the period of that update.
    copies = []
    for seq, _, sender, doc, accepted_at in docs:
        row(sender)["sent"] += 1
        copies += [(doc, sender, recipient, accepted_at, state) for recipient, state in conn.execute(
            "SELECT recipient, state FROM deliveries WHERE message_seq = ?", (seq,))]
    for seq, sender, doc, accepted_at in conn.execute(
            "SELECT seq, sender, original_id, accepted_at FROM messages WHERE kind = 'edoc' AND business_type = 2 "
            "AND accepted_at >= ? AND accepted_at < ?", (start, end)).fetchall():
        for recipient, state in conn.execute("SELECT recipient, state FROM deliveries WHERE message_seq = ?", (seq,)):
            carried_before = conn.execute(
                "SELECT 1 FROM messages m JOIN deliveries d ON d.message_seq = m.seq WHERE m.seq < ? AND "
                "d.recipient = ? AND m.kind = 'edoc' AND m.sender = ? AND (m.document_id = ? AND "
                "coalesce(m.business_type, 0) IN (0, 3) OR m.original_id = ? AND m.business_type = 2)",
                (seq, recipient, sender, doc, doc)).fetchone()
            if carried_before is None:
                copies.append((doc, sender, recipient, accepted_at, state))
    for doc, sender, recipient, accepted_at, state in copies:
        received = parse_iso(accepted_at)
        if state in ("withdrawn", "superseded"):
            continue
        r = row(recipient)
        r["received"] += 1
        ledger = conn.execute("SELECT status_code, at FROM business_ledger WHERE document_id = ? AND doc_sender = ? "
                              "AND recipient = ? ORDER BY id", (doc, sender, recipient)).fetchall()
        first: dict[str, datetime] = {}
        for code, at in ledger:
            first.setdefault(code, parse_iso(at))
        r["accepted"] += "03" in first
        r["refused"] += "02" in first
        r["done"] += "06" in first
        for code in ("01", "03", "06"):
            if code in first:
                r[code].append(round((first[code] - received).total_seconds() * 1000))
        answers = [first[c] for c in ("01", "02", "03") if c in first]
        # Closed: a 15 answering a recall, a revoke or a replacement (the latest request before it).
        requests = [(at, "13") for code, at in ledger if code == "13"] + [
            (at, kind) for kind, at in conn.execute(
                "SELECT q.request, m.accepted_at FROM requests q JOIN messages m ON m.seq = q.message_seq "
                "WHERE q.document_id = ? AND q.doc_sender = ? AND q.recipient = ?", (doc, sender, recipient))]
        closed = None
        for code, at in ledger:
            if code == "15":
                before = [kind for when, kind in sorted(requests) if when <= at]
                if before and before[-1] != "update":
                    closed = parse_iso(at)
                    break
        due = deadline(received)
        if answers:
            r["overdue"] += min(answers) > due
        else:
            r["overdue"] += min(closed or now, now) > due
    conn.close()
    return {code: {**{k: v for k, v in r.items() if k not in ("01", "03", "06")},
                   **{f"median_to_{c}": statistics.median(r[c]) / 1000 if r[c] else None for c in ("01", "03", "06")}}
            for code, r in rows.items()}


@pytest.fixture
def traffic(tmp_path: Path) -> Iterator[Traffic]:
    store = SqliteStore(open_database(tmp_path))
    t = Traffic(store, random.Random(20261122))
    t.run(1000)
    yield t
    store.close()


def _report(t: Traffic, first: date, last: date, agency: str | None = None) -> dict[str, dict[str, Any]]:
    start, end = stats.period(first, last)
    got = stats.report(t.store.copies(start, end, agency), lambda code: EVERY_DAY, first.isoformat(),
                       last.isoformat(), NOW, (lambda code: True) if agency is None else agency.__eq__)
    return {a.agency: {k: v for k, v in a.to_dict().items() if k not in ("agency", "name")} for a in got.agencies}


def test_the_report_equals_a_count_over_the_ledgers(traffic: Traffic) -> None:
    assert traffic.stored > 600 and traffic.refused > 50  # the traffic is varied: some steps were refused
    assert traffic.added > 5  # and updates added recipients
    for first, last in ((date(2026, 11, 14), date(2026, 12, 1)), (date(2026, 11, 16), date(2026, 11, 21))):
        start, end = stats.period(first, last)
        expected = count_over_ledgers(traffic.store.path, start, end, NOW)
        got = _report(traffic, first, last)
        assert got == expected
        totals = {k: sum(r[k] for r in got.values()) for k in ("sent", "received", "accepted", "refused", "done",
                                                                "overdue")}
        assert all(totals.values()), totals  # every figure is exercised, none is trivially zero


def test_one_agency_alone_gets_the_same_figures_as_in_the_whole_report(traffic: Traffic) -> None:
    first, last = date(2026, 11, 14), date(2026, 11, 30)
    whole = _report(traffic, first, last)
    for agency in AGENCIES:
        assert _report(traffic, first, last, agency) == {agency: whole[agency]}


def test_the_period_is_whole_days_in_vietnam_time() -> None:
    assert stats.period(date(2026, 11, 1), date(2026, 11, 30)) == (
        "2026-11-01T00:00:00.000+07:00", "2026-12-01T00:00:00.000+07:00")
    with pytest.raises(ValueError, match="ends"):
        stats.period(date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(ValueError, match="9999-12-31"):  # its end, the next day's first moment, is no date
        stats.period(date(9999, 12, 1), date.max)


def test_overdue_from_unanswered_copies_equals_overdue_from_all(traffic: Traffic) -> None:
    """The gauge and ``axisctl overdue`` read only unanswered copies (and only the steps that can close them):
    the same copies as folding every copy with every step."""
    start = iso(START)
    everything = traffic.store.copies(start, None)
    waiting = traffic.store.copies(start, None, unanswered=True)
    assert 0 < len(waiting) < len(everything)
    moments = [START + timedelta(hours=h) for h in range(0, 24 * 18, 7)]
    for now in moments:
        full = [p.copy.message_id + p.copy.recipient for p in deadlines.overdue(everything, lambda c: EVERY_DAY, now)]
        fast = [p.copy.message_id + p.copy.recipient for p in deadlines.overdue(waiting, lambda c: EVERY_DAY, now)]
        assert fast == full
        # The gauge: the same copies one at a time (every copy of the added ones too), their recipients only.
        gauge = deadlines.overdue_recipients(traffic.store.each_copy(start, None, unanswered=True),
                                             lambda c: EVERY_DAY, now)
        assert sorted(gauge) == sorted(p.copy.recipient for p in deadlines.overdue(everything, lambda c: EVERY_DAY,
                                                                                    now))
    assert fast  # at the end, some are overdue
    for agency in AGENCIES:
        mine = traffic.store.copies(start, None, agency, unanswered=True)
        assert {(c.message_id, c.recipient) for c in mine} == {
            (c.message_id, c.recipient) for c in waiting if agency in (c.sender, c.recipient)}


def test_the_store_selects_the_copies_of_a_set_of_agencies(traffic: Traffic) -> None:
    """An agency with agencies under it (its stats scope) gets its scope's copies from the store, not every copy
    of the period to filter in Python: a year of a province's traffic would be held in memory for one request."""
    start = iso(START)
    everything = traffic.store.copies(start, None)
    for scope in ({AGENCIES[0], AGENCIES[1]}, set(AGENCIES[1:]), {AGENCIES[2]}, {"000.00.00.Z99"}):
        mine = traffic.store.copies(start, None, scope)
        assert {(c.message_id, c.recipient, c.steps) for c in mine} == {
            (c.message_id, c.recipient, c.steps) for c in everything if scope & {c.sender, c.recipient}}
    assert 0 < len(traffic.store.copies(start, None, {AGENCIES[0], AGENCIES[1]})) < len(everything)


def test_a_copy_an_update_added_counts_from_the_first_update_that_carried_it(tmp_path: Path) -> None:
    store = SqliteStore(open_database(tmp_path))
    t = Traffic(store, random.Random(1))
    g22, h41, g17 = AGENCIES[0], AGENCIES[1], AGENCIES[3]
    doc = f"{g22},2026/11/20,1/VB"
    first, second, third = (f"2026-11-{day}T09:00:00.000+07:00" for day in (20, 21, 22))
    assert t.put(t.message("edoc", g22, doc, (h41,), first))
    assert t.put(t.message("edoc", g22, doc, (h41, g17), second, business_type=2, original_id=doc))
    assert t.put(t.message("edoc", g22, doc, (h41, g17), third, business_type=2, original_id=doc))  # carries it again
    t.put(t.message("status", g17, doc, (g22,), third, doc_sender=g22, status_code="01",
                    business=BusinessEvent(g22, doc, g17, "01", g17, third)))
    copies = store.copies(first, None)
    assert [(c.recipient, c.accepted_at, c.message_id, c.added_by) for c in copies] == [
        (h41, first, "m1", None), (g17, second, "m1", "m2")]  # the document's copy, received with the update
    assert copies[1].steps == (("update", third), ("01", third))  # the second update asks it as a party
    assert [c.recipient for c in store.copies(second, None)] == [g17]  # in the period of the update
    assert store.copies(second, None, unanswered=True) == []  # answered with 01
    report = stats.report(store.copies(first, None), lambda code: EVERY_DAY, "2026-11-20", "2026-11-22", NOW,
                          lambda code: True)
    figures = {a.agency: (a.sent, a.received) for a in report.agencies}
    assert figures[g22] == (1, 0) and figures[h41] == (0, 1) and figures[g17] == (0, 1)  # sent once
    store.close()
