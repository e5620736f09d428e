"""The working calendar and when a copy is overdue (pure domain rules)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import pytest

from axis.deadlines import Progress, WorkCalendar, overdue, overdue_recipients, progress
from axis.storage.base import DocumentCopy, State
from axis.vntime import VN_TZ, iso


def at(day: str, hhmm: str = "10:00") -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), VN_TZ)


WEEK = WorkCalendar()  # Monday to Friday, 17:00
# 2026-11-20 is a Friday; 2026-11-23 a Monday.


@pytest.mark.parametrize(("received", "due"), [
    (at("2026-11-20", "09:00"), at("2026-11-20", "17:00")),  # a working day: its own end
    (at("2026-11-20", "00:05"), at("2026-11-20", "17:00")),  # before office hours still belongs to that day
    (at("2026-11-20", "16:59"), at("2026-11-20", "17:00")),
    (at("2026-11-20", "17:00"), at("2026-11-23", "17:00")),  # at the end: the next working day (Monday)
    (at("2026-11-20", "21:00"), at("2026-11-23", "17:00")),
    (at("2026-11-21", "10:00"), at("2026-11-23", "17:00")),  # Saturday
    (at("2026-11-22", "23:59"), at("2026-11-23", "17:00")),  # Sunday
])
def test_a_document_is_due_at_the_end_of_the_recipients_working_day(received: datetime, due: datetime) -> None:
    assert WEEK.deadline(received) == due


def test_the_deadline_is_reckoned_in_vietnam_time_whatever_the_zone_given() -> None:
    utc = datetime.fromisoformat("2026-11-20T09:30:00+00:00")  # 16:30 in Hà Nội: still Friday's working day
    assert WEEK.deadline(utc) == at("2026-11-20", "17:00")
    late = datetime.fromisoformat("2026-11-20T10:30:00+00:00")  # 17:30 in Hà Nội
    assert WEEK.deadline(late) == at("2026-11-23", "17:00")


def test_holidays_are_skipped_and_make_up_days_are_worked() -> None:
    national_day = WorkCalendar(holidays=frozenset({date(2026, 9, 2), date(2026, 9, 1)}))  # Tue 1, Wed 2
    assert national_day.deadline(at("2026-08-31", "18:00")) == at("2026-09-03", "17:00")
    assert national_day.deadline(at("2026-09-01", "10:00")) == at("2026-09-03", "17:00")
    make_up = WorkCalendar(workdays=frozenset({date(2026, 11, 21)}))  # a Saturday worked
    assert make_up.deadline(at("2026-11-20", "18:00")) == at("2026-11-21", "17:00")
    assert make_up.deadline(at("2026-11-21", "08:00")) == at("2026-11-21", "17:00")


def test_a_calendar_of_its_own_and_another_end_of_day() -> None:
    one_stop = WorkCalendar(name="mot-cua", days=frozenset(range(6)), end_of_day=time(11, 30))
    assert one_stop.deadline(at("2026-11-20", "12:00")) == at("2026-11-21", "11:30")  # Saturday morning
    assert one_stop.deadline(at("2026-11-21", "11:00")) == at("2026-11-21", "11:30")


def test_a_calendar_without_working_weekdays_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one working weekday"):
        WorkCalendar(days=frozenset())


def copy(received: datetime, *steps: tuple[str, datetime], state: State = State.DELIVERED,
         state_at: datetime | None = None) -> DocumentCopy:
    return DocumentCopy("m1", "D1", "000.00.00.G22", "000.00.00.H41", 0, iso(received), "pull", state,
                        iso(state_at or received), tuple((step, iso(moment)) for step, moment in steps))


FRIDAY = at("2026-11-20", "09:00")
DUE = at("2026-11-20", "17:00")


def p(c: DocumentCopy) -> Progress:
    return progress(c, WEEK)


def test_answered_with_01_02_or_03_before_the_deadline_is_in_time() -> None:
    for code in ("01", "02", "03"):
        done = p(copy(FRIDAY, (code, at("2026-11-20", "16:59"))))
        assert done.answered == at("2026-11-20", "16:59")
        assert not done.overdue(at("2026-12-31"))


def test_answered_late_stays_overdue_and_unanswered_becomes_overdue_after_the_deadline() -> None:
    late = p(copy(FRIDAY, ("01", at("2026-11-23", "08:00")), ("03", at("2026-11-23", "09:00"))))
    assert late.overdue(at("2026-11-24"))
    assert late.late_by(at("2026-12-31")).total_seconds() == (2 * 24 + 15) * 3600  # Fri 17:00 to Mon 08:00 (the answer)
    waiting = p(copy(FRIDAY))
    assert not waiting.overdue(at("2026-11-20", "17:00"))  # the deadline itself is still in time
    assert waiting.overdue(at("2026-11-20", "17:01"))


def test_first_times_of_each_step_are_kept() -> None:
    got = p(copy(FRIDAY, ("01", at("2026-11-20", "10:00")), ("03", at("2026-11-20", "11:00")),
                 ("05", at("2026-11-21", "11:00")), ("06", at("2026-11-22", "12:00")),
                 ("06", at("2026-11-23", "12:00"))))
    assert (got.arrived, got.accepted, got.done, got.refused) == (
        at("2026-11-20", "10:00"), at("2026-11-20", "11:00"), at("2026-11-22", "12:00"), None)
    assert got.deadline == DUE


def test_a_copy_taken_back_before_its_deadline_is_not_overdue_after_it_was() -> None:
    withdrawn = p(copy(FRIDAY, ("revoke", at("2026-11-20", "12:00")), ("15", at("2026-11-20", "12:00")),
                       state=State.WITHDRAWN, state_at=at("2026-11-20", "12:00")))
    assert withdrawn.taken_back and withdrawn.closed == at("2026-11-20", "12:00")
    assert not withdrawn.overdue(at("2026-12-01"))
    recalled_late = p(copy(FRIDAY, ("13", at("2026-11-23", "08:00")), ("15", at("2026-11-23", "09:00"))))
    assert recalled_late.closed == at("2026-11-23", "09:00") and recalled_late.overdue(at("2026-12-01"))
    recalled = p(copy(FRIDAY, ("13", at("2026-11-20", "10:00")), ("15", at("2026-11-20", "11:00"))))
    assert not recalled.overdue(at("2026-12-01"))


def test_an_update_accepted_or_a_recall_refused_does_not_close_the_copy() -> None:
    updated = p(copy(FRIDAY, ("update", at("2026-11-20", "10:00")), ("15", at("2026-11-20", "11:00"))))
    refused = p(copy(FRIDAY, ("13", at("2026-11-20", "10:00")), ("16", at("2026-11-20", "11:00"))))
    for got in (updated, refused):
        assert got.closed is None and got.overdue(at("2026-11-21"))


def test_overdue_lists_only_copies_still_waiting() -> None:
    copies = [copy(FRIDAY), copy(FRIDAY, ("01", at("2026-11-23"))),
              copy(FRIDAY, ("13", at("2026-11-20", "10:00")), ("15", at("2026-11-20", "11:00"))),
              copy(at("2026-11-20", "18:00"))]
    found = overdue(copies, lambda code: WEEK, at("2026-11-21"))
    assert [f.copy for f in found] == [copies[0]]


@pytest.mark.parametrize(("moment", "end"), [
    (at("2026-11-20", "17:01"), at("2026-11-20", "17:00")),
    (at("2026-11-20", "17:00"), at("2026-11-19", "17:00")),  # strictly before: a deadline at the moment is in time
    (at("2026-11-23", "09:00"), at("2026-11-20", "17:00")),  # Monday morning: Friday's end
    (at("2026-11-22", "23:00"), at("2026-11-20", "17:00")),
])
def test_the_last_end_of_a_working_day_before_a_moment(moment: datetime, end: datetime) -> None:
    assert WEEK.last_end_before(moment) == end
    assert WorkCalendar(holidays=frozenset({date(2026, 11, 20)})).last_end_before(
        at("2026-11-23", "09:00")) == at("2026-11-19", "17:00")


def _random_calendar(rng: random.Random) -> WorkCalendar:
    days = frozenset(d for d in range(7) if rng.random() < 0.6) or frozenset({rng.randrange(7)})
    start = date(2026, 11, 1)
    some = [start + timedelta(days=rng.randrange(40)) for _ in range(6)]
    return WorkCalendar(name=f"c{rng.randrange(1000)}", days=days,
                        end_of_day=time(rng.randrange(24), rng.choice((0, 30, 59)), rng.choice((0, 59))),
                        holidays=frozenset(some[:3]), workdays=frozenset(some[3:]))


def _random_copy(rng: random.Random, recipient: str) -> DocumentCopy:
    received = datetime(2026, 11, 1, tzinfo=VN_TZ) + timedelta(seconds=rng.randrange(40 * 86400),
                                                               milliseconds=rng.randrange(1000))
    steps = []
    moment = received
    for _ in range(rng.choice((0, 0, 0, 1, 2, 3))):
        moment += timedelta(seconds=rng.randrange(3 * 86400))
        steps.append((rng.choice(("01", "02", "03", "05", "06", "13", "15", "16", "revoke", "replace", "update")),
                      moment))
    state = rng.choice((State.DELIVERED, State.QUEUED, State.DONE, State.WITHDRAWN, State.SUPERSEDED))
    return DocumentCopy("m", "D", "000.00.00.G22", recipient, 0, iso(received), "pull", state,
                        iso(received + timedelta(seconds=rng.randrange(5 * 86400))),
                        tuple((step, iso(t)) for step, t in steps))


def test_the_shortcuts_find_exactly_the_copies_the_fold_of_each_one_finds() -> None:
    """The cutoff (one comparison per copy) and the gauge's path without a fold, against the definition: each
    copy's progress folded with its recipient's calendar."""
    rng = random.Random(2026)
    for _ in range(60):
        calendars = {code: _random_calendar(rng) for code in ("A", "B", "C")}
        copies = [_random_copy(rng, rng.choice("ABC")) for _ in range(150)]
        now = datetime(2026, 11, 1, tzinfo=VN_TZ) + timedelta(seconds=rng.randrange(45 * 86400))
        expected = [c for c in copies if (f := progress(c, calendars[c.recipient])).answered is None
                    and f.closed is None and f.overdue(now)]
        assert [f.copy for f in overdue(copies, calendars.__getitem__, now)] == expected
        assert overdue_recipients(iter(copies), calendars.__getitem__, now) == [c.recipient for c in expected]
