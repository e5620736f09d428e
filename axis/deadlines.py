"""When a recipient must have answered a document, and whether it did in time.

A document not answered with 01 (arrived), 02 (refused) or 03 (accepted) by the end of the
recipient's working day is overdue (QĐ 28/2018 Điều 6 and 9: statuses tracked automatically; NĐ
30/2020 Điều 21: the sender is told the same day).  02 counts as an answer: a refusal is one, and
it may come without a 01.  The working day is the recipient's :class:`WorkCalendar`, in Vietnam
time: a document that arrives on a working day before its end is due at that end; one that arrives
later, or on a day off, is due at the end of the next working day.

A copy its sender took back before the deadline (withdrawn or superseded before it was fetched, or a
recall, revoke or replacement the recipient accepted with 15) is not overdue; one taken back later
was.  Pure domain code: the copies come from the store (:class:`axis.storage.base.DocumentCopy`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from axis import lifecycle
from axis.storage.base import TAKEN_BACK, DocumentCopy
from axis.vntime import VN_TZ, iso, parse_iso

ANSWERS = ("01", "02", "03")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and the end of the working day, Vietnam time.

    ``days`` are weekdays (0 Monday … 6 Sunday); ``holidays`` are days off that would be working days
    (Tết, national days); ``workdays`` are days worked that would be days off (a make-up Saturday).
    """

    name: str = "default"
    days: frozenset[int] = frozenset(range(5))
    end_of_day: time = time(17, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.days:  # the next working day would never come
            raise ValueError("a working calendar needs at least one working weekday")

    def is_working_day(self, day: date) -> bool:
        return day in self.workdays or (day.weekday() in self.days and day not in self.holidays)

    def deadline(self, received: datetime) -> datetime:
        """The end of the working day a document received at ``received`` belongs to."""
        local = received.astimezone(VN_TZ)
        day = local.date()
        if not self.is_working_day(day) or local.time() >= self.end_of_day:
            day += timedelta(days=1)
            while not self.is_working_day(day):  # ends: some weekday is a working day, holidays are finite
                day += timedelta(days=1)
        return datetime.combine(day, self.end_of_day, VN_TZ)

    def last_end_before(self, moment: datetime) -> datetime:
        """The latest end of a working day strictly before ``moment``.  A deadline is the first end of a working day
        after the document arrived, so a document is past its deadline at ``moment`` exactly when it arrived before
        this: one comparison instead of a deadline per document."""
        local = moment.astimezone(VN_TZ)
        day = local.date()
        while True:  # ends: some weekday is a working day, and holidays are finite
            if self.is_working_day(day):
                end = datetime.combine(day, self.end_of_day, VN_TZ)
                if end < local:
                    return end
            day -= timedelta(days=1)


@dataclass(frozen=True)
class Progress:
    """How far one copy went, with the first time of each step (None: not yet)."""

    copy: DocumentCopy
    received: datetime  # axis accepted the document
    deadline: datetime
    arrived: datetime | None = None  # first 01
    refused: datetime | None = None  # first 02
    accepted: datetime | None = None  # first 03
    done: datetime | None = None  # first 06
    answered: datetime | None = None  # first of 01, 02, 03
    closed: datetime | None = None  # taken back from the recipient (see the module)

    @property
    def taken_back(self) -> bool:
        """Withdrawn or superseded before it was fetched: the recipient never had it."""
        return self.copy.state in TAKEN_BACK

    def overdue(self, now: datetime) -> bool:
        """Answered after the deadline, or not answered and still the recipient's after it."""
        if self.answered is not None:
            return self.answered > self.deadline
        until = now if self.closed is None else min(self.closed, now)
        return until > self.deadline

    def late_by(self, now: datetime) -> timedelta:
        """How long after the deadline the answer came, or has not come until ``now``."""
        return (self.answered or now) - self.deadline


def progress(copy: DocumentCopy, calendar: WorkCalendar) -> Progress:
    """Fold a copy's steps (in ledger order, as :func:`axis.lifecycle.standing` does) into its progress."""
    received = parse_iso(copy.accepted_at)
    firsts: dict[str, datetime] = {}
    closed: datetime | None = parse_iso(copy.state_at) if copy.state in TAKEN_BACK else None
    standing = lifecycle.Standing()
    for step, at in copy.steps:
        moment = parse_iso(at)
        firsts.setdefault(step, moment)
        standing.take(step)
        if closed is None and standing.closed is not None:
            closed = moment
    answers = [firsts[code] for code in ANSWERS if code in firsts]
    return Progress(copy, received, calendar.deadline(received), arrived=firsts.get("01"), refused=firsts.get("02"),
                    accepted=firsts.get("03"), done=firsts.get("06"), answered=min(answers) if answers else None,
                    closed=closed)


class _Cutoffs:
    """Per calendar, the time (ISO, which sorts as text) before which a document is past its deadline at ``now``."""

    def __init__(self, calendar_for: Callable[[str], WorkCalendar], now: datetime) -> None:
        self.calendar_for, self.now = calendar_for, now
        self._seen: dict[int, tuple[WorkCalendar, str]] = {}  # by id: hashing a calendar hashes its holidays

    def of(self, recipient: str) -> tuple[WorkCalendar, str]:
        calendar = self.calendar_for(recipient)
        found = self._seen.get(id(calendar))
        if found is None:
            found = self._seen[id(calendar)] = (calendar, iso(calendar.last_end_before(self.now)))
        return found


def overdue(copies: Iterable[DocumentCopy], calendar_for: Callable[[str], WorkCalendar],
            now: datetime) -> list[Progress]:
    """The copies still waiting for an answer after their deadline (taken back ones never are)."""
    cutoffs = _Cutoffs(calendar_for, now)
    found = []
    for copy in copies:
        calendar, cutoff = cutoffs.of(copy.recipient)
        if copy.accepted_at >= cutoff:  # not due yet
            continue
        p = progress(copy, calendar)
        if p.answered is None and p.closed is None and p.overdue(now):
            found.append(p)
    return found


def overdue_recipients(copies: Iterable[DocumentCopy], calendar_for: Callable[[str], WorkCalendar],
                       now: datetime) -> list[str]:
    """The recipient of each copy :func:`overdue` would find, for the gauge that counts them every minute: a copy
    with no step to fold (most) is overdue when it arrived before its cutoff and was not taken back."""
    cutoffs = _Cutoffs(calendar_for, now)
    found = []
    for copy in copies:
        calendar, cutoff = cutoffs.of(copy.recipient)
        if copy.accepted_at >= cutoff:
            continue
        if not copy.steps and copy.state not in TAKEN_BACK:
            found.append(copy.recipient)
            continue
        p = progress(copy, calendar)
        if p.answered is None and p.closed is None and p.overdue(now):
            found.append(copy.recipient)
    return found
