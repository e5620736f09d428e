"""The push schedule as pure functions: back-off with jitter, and when a delivery is given up, with the wall
clock set forward or back."""

from __future__ import annotations

from axis.config import DeliveryConfig
from axis.delivery.push import give_up, next_delay

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
