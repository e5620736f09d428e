"""Time: ISO 8601 with +07:00 everywhere axis writes; edXML local times read as Vietnam time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axis import vntime


def test_iso_has_milliseconds_and_the_vietnam_offset() -> None:
    moment = datetime(2026, 11, 22, 2, 15, 3, 120_000, tzinfo=timezone.utc)
    assert vntime.iso(moment) == "2026-11-22T09:15:03.120+07:00"
    assert vntime.iso(vntime.now()).endswith("+07:00")


def test_fixed_offset_even_before_1975() -> None:
    # the zone database says +08:00 for Saigon before 1975; edXML dates are read as +07:00
    assert vntime.parse_edxml_timestamp("1970/01/01 07:00:00").value == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert vntime.iso(datetime(1960, 1, 1, tzinfo=timezone.utc)) == "1960-01-01T07:00:00.000+07:00"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        vntime.iso(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        vntime.parse_iso("2026-01-01T00:00:00")


def test_edxml_dates_and_timestamps_keep_their_raw_text() -> None:
    d = vntime.parse_edxml_date("2018/9/28")
    assert (d.raw, d.value, d.iso()) == ("2018/9/28", date(2018, 9, 28), "2018-09-28")
    t = vntime.parse_edxml_timestamp("2015/09/20 11:08:36")
    assert t.raw == "2015/09/20 11:08:36" and t.iso() == "2015-09-20T11:08:36.000+07:00"


@pytest.mark.parametrize("raw", ["2018-09-28", "28/09/2018", "2018/02/30", "2018/13/01", "", "2018/09/28x",
                                 "٢٠١٨/٠٩/٢٨", "２０１８/０９/２８"])
def test_bad_dates_say_why(raw: str) -> None:
    with pytest.raises(ValueError, match="date"):
        vntime.parse_edxml_date(raw)


@pytest.mark.parametrize("raw", ["2018/09/28", "2018/09/28 25:00:00", "2018/09/28T10:00:00", "2018/09/28 10:00",
                                 "2018/09/28 ١٠:٠٠:٠٠"])
def test_bad_timestamps_say_why(raw: str) -> None:
    with pytest.raises(ValueError, match="time"):
        vntime.parse_edxml_timestamp(raw)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([timezone.utc, vntime.VN_TZ, timezone(timedelta(hours=-5))])))
def test_iso_round_trips_and_edxml_form_is_vietnam_local_time(moment: datetime) -> None:
    text = vntime.iso(moment)
    assert text.endswith("+07:00")
    assert abs(vntime.parse_iso(text) - moment) < timedelta(milliseconds=1)
    back = vntime.parse_edxml_timestamp(vntime.format_edxml_timestamp(moment)).value
    assert moment - back < timedelta(seconds=1) and back <= moment
