"""Per-agency statistics over a period: who sent, received, accepted, refused, finished what, how fast.

Provincial offices score administrative reform with these numbers, so each is defined exactly, over
the *documents axis accepted in the period* (new documents and replacements, not revokes or updates),
as their ledgers stand when the report is made (``as_of``):

* ``sent``: documents the agency sent.
* ``received``: copies addressed to it, except those taken back before it fetched them (it never had them).
* ``accepted``, ``refused``, ``done``: received copies it answered with 03, 02, 06 (at any time).
* ``overdue``: received copies answered late, or not yet answered and past the deadline
  (:mod:`axis.deadlines`).
* ``median_to_01`` / ``_03`` / ``_06``: the median time in seconds from axis accepting the document to
  the agency's first 01, 03, 06, over the received copies that have one (None when none has); times are
  whole milliseconds, so a median is exact (to half a millisecond).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from axis.deadlines import WorkCalendar, progress
from axis.storage.base import DocumentCopy
from axis.vntime import VN_TZ, iso

COLUMNS = ("agency", "name", "sent", "received", "accepted", "refused", "done", "overdue", "median_to_01",
           "median_to_03", "median_to_06")


@dataclass
class AgencyStats:
    agency: str
    name: str | None = None
    sent: int = 0
    received: int = 0
    accepted: int = 0
    refused: int = 0
    done: int = 0
    overdue: int = 0
    times: dict[str, list[int]] = field(default_factory=lambda: {"01": [], "03": [], "06": []})  # milliseconds

    def median(self, code: str) -> float | None:
        values = self.times[code]
        return statistics.median(values) / 1000 if values else None

    def to_dict(self) -> dict[str, Any]:
        return {"agency": self.agency, "name": self.name, "sent": self.sent, "received": self.received,
                "accepted": self.accepted, "refused": self.refused, "done": self.done, "overdue": self.overdue,
                "median_to_01": self.median("01"), "median_to_03": self.median("03"),
                "median_to_06": self.median("06")}


@dataclass(frozen=True)
class Report:
    start: str  # first day (ISO date, Vietnam time)
    end: str  # last day, included
    as_of: datetime
    agencies: tuple[AgencyStats, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.start, "to": self.end, "as_of": iso(self.as_of),
                "agencies": [a.to_dict() for a in self.agencies]}


def selection(agencies: AbstractSet[str]) -> str | frozenset[str]:
    """What the store selects a scope's copies by (:meth:`ReadStore.copies`): one code as itself, its indexed case."""
    return next(iter(agencies)) if len(agencies) == 1 else frozenset(agencies)


def period(start: date, end: date) -> tuple[str, str]:
    """The ISO bounds of the days ``start`` to ``end`` included, Vietnam time: [first moment, first moment after)."""
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    if end >= date.max:  # its bound, the first moment of the next day, is no date (OverflowError: a 500, a traceback)
        raise ValueError(f"the period must end before {date.max}, got {end}")
    return (iso(datetime.combine(start, time(), VN_TZ)), iso(datetime.combine(end + timedelta(days=1), time(), VN_TZ)))


def _ms(later: datetime, earlier: datetime) -> int:
    delta = later - earlier
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def report(copies: Iterable[DocumentCopy], calendar_for: Callable[[str], WorkCalendar], start: str, end: str,
           now: datetime, include: Callable[[str], bool] = lambda code: True,
           name_of: Callable[[str], str | None] = lambda code: None) -> Report:
    """The statistics of the agencies ``include`` accepts, from the copies of the period's documents."""
    rows: dict[str, AgencyStats] = {}

    def row(code: str) -> AgencyStats:
        found = rows.get(code)
        if found is None:
            found = rows[code] = AgencyStats(code, name_of(code))
        return found

    counted: set[str] = set()
    for copy in copies:
        if copy.added_by is None and copy.message_id not in counted and include(copy.sender):  # its own copies count it
            counted.add(copy.message_id)
            row(copy.sender).sent += 1
        if not include(copy.recipient):
            continue
        p = progress(copy, calendar_for(copy.recipient))
        if p.taken_back:
            continue
        r = row(copy.recipient)
        r.received += 1
        r.accepted += p.accepted is not None
        r.refused += p.refused is not None
        r.done += p.done is not None
        r.overdue += p.overdue(now)
        for code, moment in (("01", p.arrived), ("03", p.accepted), ("06", p.done)):
            if moment is not None:
                r.times[code].append(_ms(moment, p.received))
    return Report(start, end, now, tuple(rows[code] for code in sorted(rows)))
