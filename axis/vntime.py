"""Time as axis writes and reads it.

Everything axis writes is ISO 8601 with the Vietnam offset and milliseconds,
``2026-11-22T09:15:03.120+07:00``.  edXML carries zone-less local times
(``yyyy/MM/dd`` and ``yyyy/MM/dd HH:mm:ss``), which are Vietnam time.  We use the
fixed offset +07:00 rather than the zone database: ``Asia/Ho_Chi_Minh`` says
+08:00 before 1975, which would silently shift old document dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable

VN_TZ = timezone(timedelta(hours=7), "ICT")

Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime; injected so tests can fix time."""


def now() -> datetime:
    return datetime.now(VN_TZ)


def iso(moment: datetime | None = None) -> str:
    """``2026-11-22T09:15:03.120+07:00``: always +07:00, always milliseconds; now when no moment is given."""
    if moment is None:
        moment = now()
    if moment.tzinfo is None:
        raise ValueError("refusing to format a naive datetime: its zone is unknown")
    return moment.astimezone(VN_TZ).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 time with an offset (as axis writes it) into an aware datetime."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"ISO time without an offset: {text!r}")
    return moment


# Java's SimpleDateFormat("yyyy/MM/dd") is lenient about one-digit months and days; so are we.
# re.ASCII: without it \d also matches "٢٠٢٦/١١/٢٠", which int() would read as 2026/11/20.
_DATE = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})", re.ASCII)
_TIMESTAMP = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})", re.ASCII)


@dataclass(frozen=True, slots=True)
class EdxmlDate:
    """An edXML date: the raw text as received and its calendar value."""

    raw: str
    value: date

    def iso(self) -> str:
        return self.value.isoformat()


@dataclass(frozen=True, slots=True)
class EdxmlTimestamp:
    """An edXML timestamp: the raw text and the moment it denotes in Vietnam time."""

    raw: str
    value: datetime

    def iso(self) -> str:
        return iso(self.value)


def parse_edxml_date(raw: str) -> EdxmlDate:
    """Read ``yyyy/MM/dd``; raises ValueError with the reason."""
    m = _DATE.fullmatch(raw.strip())
    if not m:
        raise ValueError(f"{raw!r} is not a date in the form yyyy/MM/dd")
    y, mo, d = (int(g) for g in m.groups())
    try:
        return EdxmlDate(raw, date(y, mo, d))
    except ValueError as exc:
        raise ValueError(f"{raw!r} is not a calendar date ({exc})") from None


def parse_edxml_timestamp(raw: str) -> EdxmlTimestamp:
    """Read ``yyyy/MM/dd HH:mm:ss`` as Vietnam time; raises ValueError with the reason."""
    m = _TIMESTAMP.fullmatch(raw.strip())
    if not m:
        raise ValueError(f"{raw!r} is not a timestamp in the form yyyy/MM/dd HH:mm:ss")
    y, mo, d, h, mi, s = (int(g) for g in m.groups())
    try:
        return EdxmlTimestamp(raw, datetime(y, mo, d, h, mi, s, tzinfo=VN_TZ))
    except ValueError as exc:
        raise ValueError(f"{raw!r} is not a valid time ({exc})") from None


def format_edxml_timestamp(moment: datetime) -> str:
    """The edXML form, for TraceHeaders axis writes: Vietnam local time, no zone."""
    return moment.astimezone(VN_TZ).strftime("%Y/%m/%d %H:%M:%S")
