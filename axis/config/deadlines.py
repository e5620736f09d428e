"""``[deadlines]``: the working calendar documents must be answered by, and how overdue ones are watched.

    [deadlines]
    days = ["mon", "tue", "wed", "thu", "fri"]   # working weekdays
    end_of_day = "17:00"                         # the working day ends (Vietnam time)
    holidays = [2026-01-01, "2026-04-30"]        # days off on working weekdays (TOML dates or strings)
    workdays = []                                # days worked on days off (a make-up Saturday)
    watch = "30d"                                # how far back the overdue gauge and `axisctl overdue` look
    refresh = "1m"                               # how often the overdue gauge is computed

    [deadlines.calendars.mot-cua]                # a calendar of its own, for agencies that name it
    days = ["mon", "tue", "wed", "thu", "fri", "sat"]

A named calendar takes every key it does not set from ``[deadlines]``.  An agency names its
calendar with ``calendar = "mot-cua"`` in its ``[[agency]]`` table; the others use ``[deadlines]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from axis.config._base import _Section
from axis.deadlines import WEEKDAYS, WorkCalendar
from axis.registry import Registry

_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CALENDAR_KEYS = ("days", "end_of_day", "holidays", "workdays")


@dataclass(frozen=True)
class DeadlinesConfig:
    default: WorkCalendar = WorkCalendar()
    calendars: Mapping[str, WorkCalendar] = field(default_factory=dict)
    watch: float = 30 * 86400.0  # seconds
    refresh: float = 60.0  # seconds

    def calendar_for(self, registry: Registry, code: str) -> WorkCalendar:
        """The calendar of the agency ``code`` names (the default one for agencies not registered here)."""
        agency = registry.get(code)
        name = agency.calendar if agency is not None else None
        return self.default if name is None else self.calendars.get(name, self.default)


def _time(s: _Section, key: str, default: time) -> time:
    s.used.add(key)
    if key not in s.data:
        return default
    value = s.data[key]
    if isinstance(value, time):  # a TOML local time, 17:00:00
        at = value.replace(tzinfo=None)
    else:
        match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise s.error(key, f'expected a time of day such as "17:00" or "16:30:00", got {value!r}')
        at = time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
    if at == time(0):
        # A day that ends as it begins: every document would be late the moment it arrives, or (read as midnight at
        # its end) due at the start of the next working day's date.  Midnight at the end is written 23:59:59.
        raise s.error(key, "a working day cannot end at 00:00 (for midnight at its end, write \"23:59:59\")")
    return at


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):  # a TOML local date, 2026-09-02
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _dates(s: _Section, key: str, default: frozenset[date]) -> frozenset[date]:
    values = s.get(key, list, None)
    if values is None:
        return default
    out = set()
    for value in values:
        day = _date(value)
        if day is None:
            raise s.error(key, f'expected dates such as 2026-09-02 or "2026-09-02", got {value!r}')
        out.add(day)
    return frozenset(out)


_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(value: object) -> int | None:
    """Monday 0 … Sunday 6 from its name or a start of it of three letters or more ("thu", "Thurs", "thursday"):
    "monkey" is no Monday, as reading only the first three letters made it."""
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    for day, name in enumerate(_FULL_NAMES):
        if len(word) >= 3 and name.startswith(word):
            return day
    return None


def _days(s: _Section, key: str, default: frozenset[int]) -> frozenset[int]:
    values = s.get(key, list, None)
    if values is None:
        return default
    days = set()
    for value in values:
        day = _weekday(value)
        if day is None:
            raise s.error(key, f"expected weekday names ({', '.join(WEEKDAYS)}, or in full), got {value!r}")
        days.add(day)
    if not days:
        raise s.error(key, "at least one working weekday is needed (otherwise nothing would ever be due)")
    return frozenset(days)


def _calendar(s: _Section, name: str, base: WorkCalendar) -> WorkCalendar:
    return WorkCalendar(name=name, days=_days(s, "days", base.days), end_of_day=_time(s, "end_of_day", base.end_of_day),
                        holidays=_dates(s, "holidays", base.holidays), workdays=_dates(s, "workdays", base.workdays))


def read_deadlines(path: Path, data: Any) -> DeadlinesConfig:
    s = _Section(path, "deadlines", data)
    default = _calendar(s, "default", WorkCalendar())
    watch = s.duration("watch", 30 * 86400.0)
    refresh = s.duration("refresh", 60.0)
    named: dict[str, WorkCalendar] = {}
    tables = s.get("calendars", dict, {})
    for name, table in tables.items():
        if not _NAME.fullmatch(name) or name == "default":
            raise s.error(f"calendars.{name}", "a calendar name is letters, digits, '-' and '_' (and not 'default')")
        c = _Section(path, f"deadlines.calendars.{name}", table)
        named[name] = _calendar(c, name, default)
        c.done()
    s.done()
    return DeadlinesConfig(default=default, calendars=named, watch=watch, refresh=refresh)
