"""Deadlines and statistics through the real daemon: a document left unanswered past the end of the working day
shows in the overdue gauge, in ``axisctl overdue`` and in the statistics, which the API and ``axisctl stats``
give alike, each agency seeing its own and those under it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from daemon import AgencySpec, Axisd
from test_business_flows import accepted, document, status_of

from axis.cli import axisctl
from axis.deadlines import WEEKDAYS
from axis.vntime import VN_TZ

G22, H41, SO = "000.00.00.G22", "000.00.00.H41", "000.00.01.H41"  # Sở … is registered under UBND tỉnh (H41)
GRACE = 8.0  # seconds from start-up to the end of this test's working day


END_OF_DAY: list[datetime] = []  # this test's end of the working day, today


@pytest.fixture(scope="module")
def axisd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Axisd]:
    now = datetime.now(VN_TZ)
    if (now + timedelta(seconds=GRACE + 5)).date() != now.date():  # the working day must end today
        time.sleep((datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), VN_TZ) - now).seconds + 1)
        now = datetime.now(VN_TZ)
    end = (now + timedelta(seconds=GRACE)).replace(microsecond=0)
    END_OF_DAY[:] = [end]
    # The default calendar does not work today; the Sở's own calendar works every day.
    others = [day for n, day in enumerate(WEEKDAYS) if n != now.weekday()]
    agencies = [AgencySpec(G22, "Văn phòng Chính phủ"), AgencySpec(H41, "UBND tỉnh Nghệ An"),
                AgencySpec(SO, "Sở Nội vụ Nghệ An", parent=H41, calendar="every-day")]
    daemon = Axisd(tmp_path_factory.mktemp("deadlines"), agencies,
                   extra=f'[deadlines]\nend_of_day = "{end:%H:%M:%S}"\ndays = {json.dumps(others)}\n'
                         'refresh = "200ms"\n[deadlines.calendars.every-day]\n'
                         f'days = {json.dumps(list(WEEKDAYS))}\n')
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.kill()


def stats_of(axisd: Axisd, as_code: str, query: str = "") -> Any:
    today = datetime.now(VN_TZ).date().isoformat()
    return axisd.request("GET", f"/v1/stats?from={today}&to={today}{query}", as_code=as_code)


def ctl(axisd: Axisd, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert axisctl.main([*args, "--config", str(axisd.config)]) == 0
    return capsys.readouterr().out


def overdue_gauge(axisd: Axisd, agency: str) -> float | None:
    return axisd.metric(f'axis_documents_overdue{{agency="{agency}"}}')


def test_an_unanswered_document_becomes_overdue_and_the_statistics_agree(
        axisd: Axisd, capsys: pytest.CaptureFixture[str]) -> None:
    doc = "000.00.00.G22,2026/11/22,88/VPCP"
    sent = accepted(axisd, document(doc, (H41, SO)), G22)
    accepted(axisd, status_of(H41, G22, doc, "01"), H41)
    accepted(axisd, status_of(H41, G22, doc, "03"), H41)
    accepted(axisd, document("000.00.00.G22,2026/11/22,89/VPCP", (H41,)), G22)  # due on H41's next working day
    assert overdue_gauge(axisd, SO) is None
    time.sleep(max((END_OF_DAY[0] - datetime.now(VN_TZ)).total_seconds(), 0) + 0.1)
    assert axisd.wait_for(lambda: overdue_gauge(axisd, SO) == 1, timeout=10, what="the overdue gauge")
    assert overdue_gauge(axisd, H41) is None  # answered in time

    lines = ctl(axisd, capsys, "overdue", "--json").splitlines()
    assert [json.loads(line)["recipient"] for line in lines] == [SO]
    listed = json.loads(lines[0])
    assert listed["document_id"] == doc and listed["message_id"] == sent["message_id"] and listed["late_seconds"] > 0
    assert "1 overdue" in ctl(axisd, capsys, "overdue", "--agency", "H41.01")  # either grammar
    assert "no overdue" in ctl(axisd, capsys, "overdue", "--agency", H41)

    # The province (H41) sees itself and the Sở under it; the sender sees itself.
    province = stats_of(axisd, H41)
    assert province.status == 200, province.body
    rows = {r["agency"]: r for r in province.json()["agencies"]}
    assert set(rows) == {H41, SO}
    assert {k: rows[H41][k] for k in ("received", "accepted", "refused", "done", "overdue")} == {
        "received": 2, "accepted": 1, "refused": 0, "done": 0, "overdue": 0}
    assert rows[H41]["median_to_01"] >= 0 and rows[H41]["median_to_03"] >= rows[H41]["median_to_01"]
    assert rows[H41]["name"] == "UBND tỉnh Nghệ An"
    assert (rows[SO]["received"], rows[SO]["overdue"], rows[SO]["median_to_01"]) == (1, 1, None)
    sender = {r["agency"]: r for r in stats_of(axisd, G22).json()["agencies"]}
    assert set(sender) == {G22} and sender[G22]["sent"] == 2 and sender[G22]["received"] == 0

    # axisctl gives the same figures, for every agency.
    today = datetime.now(VN_TZ).date().isoformat()
    report = json.loads(ctl(axisd, capsys, "stats", "--from", today, "--to", today, "--format", "json"))
    everyone = {r["agency"]: r for r in report["agencies"]}
    assert everyone == {**rows, **sender}
    csv_lines = ctl(axisd, capsys, "stats", "--from", today, "--to", today, "--format", "csv").splitlines()
    assert csv_lines[0].startswith("agency,name,sent,received") and len(csv_lines) == 4
    table = ctl(axisd, capsys, "stats", "--from", today, "--to", today, "--agency", SO)
    assert SO in table and H41 not in table.replace(SO, "")
    # --under: what the province sees over the API, for an operator (either grammar)
    under = json.loads(ctl(axisd, capsys, "stats", "--from", today, "--to", today, "--under", "H41", "--format", "json"))
    assert {r["agency"]: r for r in under["agencies"]} == rows
    alone = json.loads(ctl(axisd, capsys, "stats", "--from", today, "--to", today, "--under", SO, "--format", "json"))
    assert [r["agency"] for r in alone["agencies"]] == [SO]

    # A late answer ends the wait, but the copy was overdue and stays so in the statistics.
    accepted(axisd, status_of(SO, G22, doc, "01"), SO)
    assert axisd.wait_for(lambda: overdue_gauge(axisd, SO) is None, timeout=10, what="the gauge to drop")
    later = {r["agency"]: r for r in stats_of(axisd, H41).json()["agencies"]}
    assert later[SO]["overdue"] == 1 and later[SO]["median_to_01"] > 0


def test_an_agency_sees_only_its_own_statistics_and_those_under_it(axisd: Axisd) -> None:
    assert stats_of(axisd, H41, f"&agency={SO}").status == 200
    assert [r["agency"] for r in stats_of(axisd, H41, "&agency=H41.01").json()["agencies"]] == [SO]
    for who, whose in ((SO, H41), (G22, H41), (H41, G22), (SO, "000.00.00.G17")):
        r = stats_of(axisd, who, f"&agency={whose}")
        assert r.status == 403 and r.json()["error"]["code"] == "stats.not-yours", (who, whose, r.body)
    assert axisd.request("GET", "/v1/stats?from=2026-11-01&to=2026-11-30").status == 401


@pytest.mark.parametrize("query", ["", "?from=2026-11-01", "?from=2026-11-30&to=2026-11-01", "?from=1/11/2026&to=x",
                                   "?from=2025-01-01&to=2026-11-30", "?from=9999-12-31&to=9999-12-31",
                                   "?from=9999-12-01&to=9999-12-31"])
def test_a_bad_period_is_a_clear_400(axisd: Axisd, query: str) -> None:
    r = axisd.request("GET", f"/v1/stats{query}", as_code=H41)
    assert r.status == 400 and r.json()["error"]["code"] == "http.bad-request"


def test_axisctl_stats_refuses_a_period_past_the_last_day_it_can_count(axisd: Axisd,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert axisctl.main(["stats", "--from", "9999-12-30", "--to", "9999-12-31", "--config", str(axisd.config)]) == 1
    assert "9999-12-31" in capsys.readouterr().err


def test_calendars_reload_and_the_gauges_timer_needs_a_restart(axisd: Axisd, capsys: pytest.CaptureFixture[str]) -> None:
    original = axisd.config.read_text()
    try:
        axisd.config.write_text(original.replace('refresh = "200ms"', 'refresh = "5s"'))
        capsys.readouterr()
        assert axisctl.main(["reload", "--config", str(axisd.config)]) == 1
        out = capsys.readouterr().out
        assert "deadlines.refresh" in out and "restart" in out
        axisd.config.write_text(original.replace("[deadlines]\n", '[deadlines]\nholidays = ["2027-01-01"]\n'))
        assert axisctl.main(["reload", "--config", str(axisd.config)]) == 0
    finally:
        axisd.config.write_text(original)
