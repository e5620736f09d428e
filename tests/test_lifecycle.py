"""The status lifecycle of one document for one recipient (pure rules)."""

from __future__ import annotations

import pytest

from axis import lifecycle
from axis.errors import AxisError

H41 = "000.00.00.H41"


@pytest.mark.parametrize("history, code", [
    ([], "01"), ([], "03"), ([], "02"),  # 01 is optional before the decision
    (["01"], "03"), (["01"], "02"), (["01"], "01"),
    (["01", "03"], "04"), (["01", "03"], "06"),  # 04 and 05 may be skipped
    (["03", "04", "05"], "05"), (["03", "04", "05"], "06"), (["03", "06"], "06"),
    (["02"], "02"),  # the same refusal again (a new reason)
    (["03"], "13"), (["03", "13"], "15"), (["03", "13"], "16"), (["03", "13", "16"], "04"),
    (["01", "revoke"], "16"), (["03", "update"], "15"), (["03", "update", "15"], "05"),
])
def test_allowed(history: list[str], code: str) -> None:
    lifecycle.check_status(history, code, H41)


@pytest.mark.parametrize("history, code, says", [
    ([], "06", "before 03"), (["01"], "04", "before 03"), (["01"], "05", "before 03"),
    (["03"], "02", "already accepted"), (["02"], "03", "after 02"), (["02"], "06", "after 02"),
    (["03"], "01", "backwards"), (["03", "05"], "04", "backwards"), (["03", "06"], "03", "backwards"),
    ([], "15", "nothing waits"), (["03", "13", "16"], "15", "nothing waits"), (["03"], "16", "nothing waits"),
    (["03", "13"], "13", "already waits"),
    (["03", "13", "15"], "04", "taken back"), (["01", "revoke", "15"], "03", "taken back"),
    (["replace", "15"], "01", "taken back"), (["03", "revoke", "15"], "13", "taken back"),
])
def test_refused(history: list[str], code: str, says: str) -> None:
    with pytest.raises(AxisError) as caught:
        lifecycle.check_status(history, code, H41)
    assert caught.value.code.code == "status.out-of-order" and says in caught.value.problem.detail


def test_a_refused_update_or_an_accepted_update_does_not_close_the_document() -> None:
    assert lifecycle.standing(["03", "update", "15"]).closed is None
    assert lifecycle.standing(["03", "revoke", "16"]).closed is None
    assert lifecycle.standing(["03", "revoke", "15"]).closed == "15 to revoke"
    lifecycle.check_request(["03", "revoke", "16"], "revoke", H41)
    with pytest.raises(AxisError, match="taken back"):
        lifecycle.check_request(["03", "13", "15"], "update", H41)


@pytest.mark.parametrize("history", [[], ["03"], ["03", "revoke", "15"]])
def test_a_code_outside_the_standard_list_is_refused_whatever_the_history(history: list[str]) -> None:
    for code in ("07", "99"):
        with pytest.raises(AxisError) as caught:
            lifecycle.check_status(history, code, H41)
        assert caught.value.code.code == "edxml.unknown-status" and code in caught.value.problem.detail
