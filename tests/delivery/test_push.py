"""The push schedule as pure functions: back-off with jitter, and when a delivery is given up, with the wall
clock set forward or back."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from daemon import AgencySpec, Axisd, Receiver
from packages import edoc
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from axis.config import DeliveryConfig
from axis.config.priority import PriorityConfig
from axis.delivery.push import Pusher, give_up, next_delay
from axis.storage.base import PushJob

DAY = 86_400
CONFIG = DeliveryConfig(retry_initial=5, retry_max=600, dead_after=DAY)
S = 1_000_000_000


def test_back_off_doubles_up_to_its_cap_with_equal_jitter() -> None:
    assert [next_delay(n, 5, 600, rng=lambda: 1.0) for n in (1, 2, 3, 8, 9, 50)] == [5, 10, 20, 600, 600, 600]
    assert next_delay(3, 5, 600, rng=lambda: 0.0) == 10  # half of it at least
    assert next_delay(10_000, 5, 600, rng=lambda: 1.0) == 600  # no overflow however many attempts


def test_a_delivery_is_given_up_after_dead_after_of_real_retrying() -> None:
    first = 1_000 * S
    schedule, at, attempts = [], first, 0
    while not give_up(attempts, first, at, CONFIG):
        attempts += 1
        at += int(next_delay(attempts, 5, 600, rng=lambda: 1.0) * S)
        schedule.append(at)
    assert DAY <= (at - first) / S < DAY + 600  # given up at the first attempt past a day, not later
    assert attempts > 100


def test_a_clock_set_forward_does_not_kill_a_delivery_after_two_attempts() -> None:
    first = 1_000 * S
    assert not give_up(2, first, first + 2 * DAY * S, CONFIG)  # the wall clock says two days; 15 s were waited
    assert give_up(300, first, first + 2 * DAY * S, CONFIG)


def test_a_clock_set_back_keeps_retrying() -> None:
    first = 1_000_000 * S
    assert not give_up(1_000, first, first - 3_600 * S, CONFIG)


class _Service:
    """The little of AxisService that Pusher.poll uses: reads answer at once with the due jobs."""

    running = True

    def __init__(self, jobs: list[PushJob]) -> None:
        self.jobs = jobs
        self.policy = SimpleNamespace(priority=PriorityConfig())

    def read(self, fn: Any) -> Deferred[Any]:
        return succeed(list(self.jobs))


def test_a_delivery_whose_outcome_could_not_be_written_waits_before_its_next_attempt() -> None:
    """Else, while the store fails, the receiver is sent the package again at once, in a loop."""
    clock = Clock()
    job = PushJob("m1", "000.00.00.H41", "push", "http://127.0.0.1:9/in", 0, None, "0" * 64, 0, 0)
    pusher = Pusher(clock, _Service([job]), DeliveryConfig(retry_initial=5.0), "000.00.99.H41")
    attempts: list[float] = []

    def attempt(_: PushJob) -> Deferred[None]:
        attempts.append(clock.seconds())
        if len(attempts) > 10:
            raise AssertionError("sent again and again at the same instant")  # ends the loop; the test fails
        return fail(RuntimeError("storage.unavailable"))  # the attempt ran; writing its outcome failed
    pusher._attempt = attempt  # type: ignore[method-assign]
    pusher.start()  # polls every poll_interval (1 s)
    for _ in range(40):  # every poll the delivery is due again (nothing was written)
        clock.advance(0.25)
    assert attempts == [0.0, 5.0, 10.0]


def test_the_ledger_and_the_log_write_a_push_url_without_its_query() -> None:
    from axis.delivery.push import _shown
    assert _shown("https://qlvb.example.vn/axis/in?token=s3cret") == "https://qlvb.example.vn/axis/in?…"
    assert _shown("http://127.0.0.1:9/in") == "http://127.0.0.1:9/in"


def test_a_slow_route_attempt_for_many_copies_does_not_hold_up_every_other_delivery(tmp_path: Path) -> None:
    """One attempt carries every copy behind a route (a4b9355), yet each copy was still a due job of its own: a
    circular to more agencies behind the route than ``concurrency`` filled every poll's batch with jobs of the one
    transfer in flight, all skipped, so no other delivery (a push to an agency here) started until it ended."""
    sender, pushed = "000.00.01.H41", "000.00.02.H41"
    behind = tuple(f"000.00.00.G{n:02d}" for n in range(1, 9))  # 8 copies behind the route, concurrency 4
    slow = Receiver(on_post=lambda _: time.sleep(4))  # the relay answers after 4 s (the timeout is 5 s)
    here = Receiver()
    slow.up()
    here.up()
    routes = f'[[route]]\nname = "relay"\nprefixes = ["G"]\ndelivery = "push"\nurl = "{slow.url}"\n'
    axisd = Axisd(tmp_path, [AgencySpec(sender), AgencySpec(pushed, delivery="push", push_url=here.url)],
                  routes=routes, server="intake_processes = 0", extra="concurrency = 4\n")
    axisd.start()
    try:
        r = axisd.submit(edoc(sender=_from(sender), to=behind, document_id=_doc_id(f"{sender},2026/11/22,1/CV")),
                         sender)
        assert r.status == 202, r.body
        axisd.wait_for(lambda: slow.received, what="the attempt along the route under way")
        r = axisd.submit(edoc(sender=_from(sender), to=(pushed,), document_id=_doc_id(f"{sender},2026/11/22,2/CV")),
                         sender)
        assert r.status == 202, r.body
        started = time.monotonic()
        axisd.wait_for(lambda: here.received, timeout=10, what="the push to the agency here")
        assert time.monotonic() - started < 2.5, "the push waited for the route's attempt to end"
        assert len(slow.received) == 1  # still one attempt for the eight copies
    finally:
        axisd.kill()
        slow.down()
        here.down()


def _from(code: str) -> str:
    return f"<edXML:From><edXML:OrganId>{code}</edXML:OrganId><edXML:OrganName>Cơ quan gửi</edXML:OrganName></edXML:From>"


def _doc_id(doc_id: str) -> str:
    return f"<edXML:DocumentId>{doc_id}</edXML:DocumentId>"
