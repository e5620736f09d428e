"""The 202 answer to a submitted package: exactly what json.dumps of the whole answer writes, receipt spliced in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from axis.errors import Code, Problem
from axis.http.api import PackagesResource
from axis.intake import Prepared
from axis.registry import DeliveryMode
from axis.storage.base import NewDelivery, NewMessage, State, Stored

RECEIPT = b'{"receipt": {"message_id": "m1", "recipients": ["000.00.00.H41"]}, "signature": {"alg": "ES256"}}'
CODES = [f"{i:03d}.00.00.H41" for i in range(63)] + ["vxp.saas.03", 'ch"ữ\\lạ']


def prepared(modes: list[DeliveryMode]) -> Prepared:
    recipients = tuple(zip(CODES, modes))
    message = NewMessage(
        message_id="m1", kind="edoc", sender="000.00.00.G22", document_id="d", doc_sender="000.00.00.G22",
        status_code=None, priority=0, sha256="0" * 64, data=b"", accepted_at="2026-11-22T10:00:00.000+07:00",
        accepted_ns=1, signature="valid", receipt=RECEIPT,
        deliveries=tuple(NewDelivery(code, mode.value) for code, mode in recipients))
    return Prepared(message, {"class": "valid", "signer_subject": "CN=Cơ quan"},
                    (Problem(Code.AGENCY_NONSTANDARD_CODE, "'vxp.saas.03' (loose)"),))


def reference(p: Prepared, stored: Stored) -> bytes:
    """The answer written the plain way: one dict, json.dumps, the receipt appended."""
    warnings = [w.to_dict() for w in p.warnings]
    doc: dict[str, Any] = {"message_id": stored.message_id, "duplicate": stored.duplicate,
                           "recipients": [{"code": code, "mode": mode.value} for code, mode in p.recipients],
                           "verdict": {"signature": p.signature, "warnings": warnings}}
    if stored.duplicate:
        doc["deliveries"] = [{"code": code, "state": state.value} for code, state in stored.deliveries]
        failed = [code for code, state in stored.deliveries if state in (State.FAILED, State.DEAD)]
        if failed:
            warnings.append(Problem(Code.DELIVERY_FAILED_EARLIER, ", ".join(failed)).to_dict())
    if stored.withdrawn:
        doc["withdrawn"] = list(stored.withdrawn)
    if stored.superseded:
        doc["superseded"] = list(stored.superseded)
    answer = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    return answer[:-1] + b', "receipt": ' + stored.receipt + b"}"


@pytest.mark.parametrize("stored", [
    Stored("m1", RECEIPT, duplicate=False),
    Stored("m1", RECEIPT, duplicate=True, deliveries=((CODES[0], State.DONE), (CODES[1], State.DEAD))),
    Stored("m1", RECEIPT, duplicate=True, deliveries=((CODES[0], State.QUEUED),)),
    Stored("m1", RECEIPT, duplicate=False, withdrawn=(CODES[2],), superseded=(CODES[3], CODES[4])),
])
def test_the_answer_is_byte_for_byte_the_plain_encoding(stored: Stored) -> None:
    modes = [DeliveryMode.PULL] * 60 + [DeliveryMode.PUSH, DeliveryMode.UPSTREAM, DeliveryMode.PULL,
                                        DeliveryMode.PUSH, DeliveryMode.PULL]
    for _ in range(2):  # the second time from the remembered fragments
        answer = PackagesResource._accepted((prepared(modes), stored))
        assert answer.status == 202 and answer.body == reference(prepared(modes), stored)
        doc = json.loads(answer.body)
        assert [(r["code"], r["mode"]) for r in doc["recipients"]] == [(c, m.value) for c, m in zip(CODES, modes)]
        assert doc["receipt"] == json.loads(RECEIPT)


def test_a_recipient_whose_mode_changed_is_answered_with_its_new_mode() -> None:
    stored = Stored("m1", RECEIPT, duplicate=False)
    before = json.loads(PackagesResource._accepted((prepared([DeliveryMode.PULL] * 65), stored)).body)
    after = json.loads(PackagesResource._accepted((prepared([DeliveryMode.PUSH] * 65), stored)).body)  # a reload
    assert {r["mode"] for r in before["recipients"]} == {"pull"}
    assert {r["mode"] for r in after["recipients"]} == {"push"}
