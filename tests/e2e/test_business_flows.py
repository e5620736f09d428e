"""Business flows through the real daemon: the interop status and revoke/update/replace samples, and the races
other exchange systems got wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon import AgencySpec, Axisd, Receiver, Response
from packages import edoc, status

G22, H41, H14, G17 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17"
NEW = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"  # the samples' own DocumentId (replacement, statuses, revoke)
REPLACED = "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT"  # what the replacement sample replaces
UPDATED = "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"  # what the update sample updates


def document(doc_id: str, to: tuple[str, ...], sender: str = G22, subject: str = "") -> bytes:
    frm = f"<edXML:From><edXML:OrganId>{sender}</edXML:OrganId><edXML:OrganName>Cơ quan gửi</edXML:OrganName></edXML:From>"
    return edoc(sender=frm, to=to, document_id=f"<edXML:DocumentId>{doc_id}</edXML:DocumentId>",
                extra_header=f"<edXML:Content>{subject}</edXML:Content>" if subject else "")


def status_of(author: str, doc_sender: str, doc_id: str, code: str, when: str = "2026/11/22 10:15:00") -> bytes:
    rf = (f"<edXML:ResponseFor><edXML:OrganId>{doc_sender}</edXML:OrganId><edXML:Code>1/VPCP</edXML:Code>"
          f"<edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate><edXML:DocumentId>{doc_id}</edXML:DocumentId>"
          "</edXML:ResponseFor>")
    return status(code=code, sender=author, response_for=rf, timestamp=when)


def update_of(original: str, own_id: str, to: tuple[str, ...], receivers: tuple[str, ...]) -> bytes:
    """An update (Bussiness type 2) with a DocumentId of its own, naming ``original``, to its ReceiverList."""
    listed = "".join(f"<edXML:Receiver><edXML:OrganId>{c}</edXML:OrganId><edXML:ReceiverType>0</edXML:ReceiverType>"
                     "</edXML:Receiver>" for c in receivers)
    bussiness = (f"<edXML:Bussiness><edXML:DocumentId>{original}</edXML:DocumentId>"
                 "<edXML:BussinessDocType>2</edXML:BussinessDocType><edXML:BussinessDocReason>Cập nhật văn bản điện tử"
                 "</edXML:BussinessDocReason><edXML:Paper>0</edXML:Paper><edXML:BussinessDocumentInfo>"
                 "<edXML:DocumentInfo>1</edXML:DocumentInfo><edXML:DocumentReceiver>1</edXML:DocumentReceiver>"
                 f"<edXML:ReceiverList>{listed}</edXML:ReceiverList></edXML:BussinessDocumentInfo><edXML:StaffInfo>"
                 "<edXML:Department>Văn thư</edXML:Department><edXML:Staff>Nguyễn Thị Ngọc Trâm</edXML:Staff>"
                 "<edXML:Email>vanthu@gov.vn</edXML:Email><edXML:Mobile>84912000001</edXML:Mobile></edXML:StaffInfo>"
                 "</edXML:Bussiness>")
    return edoc(to=to, document_id=f"<edXML:DocumentId>{own_id}</edXML:DocumentId>", business=bussiness)


def error_code(r: Response) -> str:
    return str(r.json()["error"]["code"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Axisd, Receiver]]:
    root = tmp_path_factory.mktemp("flows")
    receiver = Receiver()
    receiver.up()
    agencies = [AgencySpec(G22, "Văn phòng Chính phủ"), AgencySpec(H41, "UBND tỉnh Nghệ An"),
                AgencySpec(H14, "UBND tỉnh Cao Bằng"), AgencySpec(G17, "Bộ Tư pháp", delivery="push",
                                                                  push_url=receiver.url)]
    axisd = Axisd(root, agencies)
    axisd.start()
    try:
        yield axisd, receiver
    finally:
        axisd.kill()
        receiver.down()


def accepted(axisd: Axisd, data: bytes, as_code: str) -> dict[str, Any]:
    r = axisd.submit(data, as_code)
    assert r.status == 202, r.body.decode()
    return r.json()  # type: ignore[no-any-return]


def fetch(axisd: Axisd, as_code: str, message_id: str) -> Response:
    return axisd.request("GET", f"/v1/mailbox/{message_id}", as_code=as_code)


def business_of(axisd: Axisd, message_id: str, recipient: str) -> list[str]:
    view = axisd.sent(message_id, G22).json()
    return [b["status_code"] for r in view["recipients"] if r["code"] == recipient for b in r["business"]]


def states_of(axisd: Axisd, message_id: str) -> dict[str, str]:
    return {r["code"]: r["state"] for r in axisd.sent(message_id, G22).json()["recipients"]}


def test_the_interop_samples_land_where_the_reference_says(world: tuple[Axisd, Receiver], interop: Path) -> None:
    axisd, receiver = world
    sample = lambda name: (interop / "vnpt-sdk" / name).read_bytes()  # noqa: E731

    # 1. A document 7806, fetched by H14 only; the replacement sample (7816 replaces 7806 for H41 and H14)
    old = accepted(axisd, document(REPLACED, (H41, H14)), G22)
    assert fetch(axisd, H14, old["message_id"]).status == 200
    replacement = accepted(axisd, sample("edoc_replacement.edxml"), G22)
    assert replacement["superseded"] == [H41]
    assert sorted(r["code"] for r in replacement["recipients"]) == [G17, H14, H41]
    assert [i["message_id"] for i in axisd.mailbox(H41)] == [replacement["message_id"]]  # 7806 is gone for H41
    assert fetch(axisd, H41, old["message_id"]).json()["error"]["code"] == "message.withdrawn"
    assert {i["message_id"] for i in axisd.mailbox(H14)} == {old["message_id"], replacement["message_id"]}
    axisd.wait_for(lambda: any(r.body == sample("edoc_replacement.edxml") for r in receiver.received),
                   what="the replacement pushed to G17")

    # 2. H41 fetches 7816 and reports its progress with the status samples; each lands in G22's mailbox
    assert fetch(axisd, H41, replacement["message_id"]).status == 200
    for name in ("status_inbox__01.edxml", "status_acceptance_03.edxml", "status_assignment_04.edxml",
                 "status_processing_05.edxml", "status_finish_06.edxml"):
        answer = accepted(axisd, sample(name), H41)
        assert [r["code"] for r in answer["recipients"]] == [G22]
    r = axisd.submit(sample("status_rejection_02.edxml"), H41)
    assert r.status == 409 and error_code(r) == "status.out-of-order" and "already accepted" in r.body.decode()
    statuses = [i for i in axisd.mailbox(G22) if i["kind"] == "status"]
    assert sorted(i["status_code"] for i in statuses) == ["01", "03", "04", "05", "06"]
    assert business_of(axisd, replacement["message_id"], H41) == ["01", "03", "04", "05", "06"]

    # 3. The revocation sample (7816 to H41, H14, G17): H14 never fetched 7816, so it is withdrawn there
    revoke = accepted(axisd, sample("edoc_revocation.edxml"), G22)
    assert revoke["withdrawn"] == [H14]
    assert replacement["message_id"] not in {i["message_id"] for i in axisd.mailbox(H14)}
    assert revoke["message_id"] not in {i["message_id"] for i in axisd.mailbox(H14)}  # H14 sees neither
    assert revoke["message_id"] in {i["message_id"] for i in axisd.mailbox(H41)}
    assert business_of(axisd, replacement["message_id"], H14) == ["15"]  # axis answered for H14

    # 4. H41 refuses the revoke (16); G22 recalls (13, delivered to H41); H41 accepts (15): 7816 is closed for H41
    assert [r["code"] for r in accepted(axisd, sample("status_change-rejection_16.edxml"), H41)["recipients"]] == [G22]
    recall = accepted(axisd, sample("status_cancellation_13.edxml"), G22)
    assert [r["code"] for r in recall["recipients"]] == [H41]
    assert recall["message_id"] in {i["message_id"] for i in axisd.mailbox(H41)}
    accepted(axisd, sample("status_change-acceptance_15.edxml"), H41)
    r = axisd.submit(status_of(H41, G22, NEW, "05", "2026/11/22 11:00:00"), H41)
    assert r.status == 409 and "taken back" in r.body.decode()
    assert business_of(axisd, replacement["message_id"], H41) == ["01", "03", "04", "05", "06", "16", "13", "15"]

    # 5. The update sample: it names 7806 of 2014/02/30 and lists H41 and H14 as its receivers
    r = axisd.submit(sample("edoc_update.edxml"), G22)
    assert r.status == 422 and error_code(r) == "document.unknown-original"  # never carried: refused clearly
    accepted(axisd, document(UPDATED, (H41, H14, G17)), G22)
    update = accepted(axisd, sample("edoc_update.edxml"), G22)
    assert sorted(r["code"] for r in update["recipients"]) == [H14, H41] and "withdrawn" not in update

    # the whole chain of 7816 as the sender's trace shows it
    states = states_of(axisd, revoke["message_id"])
    assert states[H41] == "queued" and H14 not in states
    assert states_of(axisd, replacement["message_id"])[H14] == "withdrawn"
    assert states_of(axisd, old["message_id"]) == {H41: "superseded", H14: "delivered"}


def test_a_status_sent_while_the_push_retry_is_in_flight(world: tuple[Axisd, Receiver]) -> None:
    axisd, receiver = world
    doc_id = "000.00.00.G22,2026/11/22,501/VPCP"
    answers: list[Response] = []
    receiver.status = 503  # the first attempt fails; the retry is answered only after G17 sent its 01

    def recipient_answers_before_the_push_completes(got: Any) -> None:
        if doc_id.encode() in got.body and not answers:
            answers.append(axisd.submit(status_of(G17, G22, doc_id, "01"), G17))

    receiver.on_post = recipient_answers_before_the_push_completes
    try:
        doc = accepted(axisd, document(doc_id, (G17,)), G22)
        axisd.wait_for(lambda: any(doc_id.encode() in r.body for r in receiver.received), what="a first attempt")
        receiver.status = 200
        axisd.wait_for(lambda: answers, what="the status sent during the retry")
        assert answers[0].status == 202, answers[0].body
        axisd.wait_for(lambda: states_of(axisd, doc["message_id"])[G17] == "delivered", what="the push recorded")
        assert business_of(axisd, doc["message_id"], G17) == ["01"]
    finally:
        receiver.on_post = None
        receiver.status = 200


def test_a_revoke_racing_the_first_fetch_has_one_outcome(world: tuple[Axisd, Receiver]) -> None:
    axisd, _ = world
    for n in range(4):
        doc_id = f"000.00.00.G22,2026/11/22,60{n}/VPCP"
        doc = accepted(axisd, document(doc_id, (H41,)), G22)
        revoke_bytes = edoc(
            sender=f"<edXML:From><edXML:OrganId>{G22}</edXML:OrganId></edXML:From>", to=(H41,),
            document_id=f"<edXML:DocumentId>{doc_id}</edXML:DocumentId>",
            business="<edXML:Bussiness><edXML:BussinessDocType>1</edXML:BussinessDocType>"
                     "<edXML:BussinessDocReason>Thu hồi</edXML:BussinessDocReason></edXML:Bussiness>")
        out: dict[str, Response] = {}
        threads = [threading.Thread(target=lambda: out.__setitem__("fetch", fetch(axisd, H41, doc["message_id"]))),
                   threading.Thread(target=lambda: out.__setitem__("revoke", axisd.submit(revoke_bytes, G22)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        revoke = out["revoke"].json()
        assert out["revoke"].status == 202
        if out["fetch"].status == 200:  # the fetch won: H41 has it, so it gets the revoke as a request
            assert "withdrawn" not in revoke and revoke["message_id"] in {i["message_id"] for i in axisd.mailbox(H41)}
        else:  # the revoke won: H41 never gets the bytes
            assert out["fetch"].status == 410 and revoke["withdrawn"] == [H41]
            assert business_of(axisd, doc["message_id"], H41) == ["15"]


def test_two_recipients_answering_at_once(world: tuple[Axisd, Receiver]) -> None:
    axisd, _ = world
    doc_id = "000.00.00.G22,2026/11/22,701/VPCP"
    doc = accepted(axisd, document(doc_id, (H41, H14)), G22)
    out: dict[str, Response] = {}
    threads = [threading.Thread(target=lambda c=c: out.__setitem__(c, axisd.submit(status_of(c, G22, doc_id, "03"),
                                                                                     c))) for c in (H41, H14)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert out[H41].status == 202 and out[H14].status == 202
    assert business_of(axisd, doc["message_id"], H41) == ["03"] and business_of(axisd, doc["message_id"], H14) == ["03"]


def test_a_duplicate_of_a_failed_delivery_is_never_reported_delivered(world: tuple[Axisd, Receiver]) -> None:
    axisd, _ = world
    data = document("000.00.00.G22,2026/11/22,801/VPCP", (H41,))
    first = accepted(axisd, data, G22)
    assert fetch(axisd, H41, first["message_id"]).status == 200
    ack = axisd.request("POST", f"/v1/mailbox/{first['message_id']}/ack",
                        json.dumps({"result": "fail", "reason": "tệp đính kèm hỏng"}).encode(), as_code=H41)
    assert ack.status == 200
    again = accepted(axisd, data, G22)
    assert again["duplicate"] is True and again["receipt"] == first["receipt"]
    assert again["deliveries"] == [{"code": H41, "state": "failed"}]
    assert [w["code"] for w in again["verdict"]["warnings"]] == ["delivery.failed-earlier"]
    other = axisd.submit(document("000.00.00.G22,2026/11/22,801/VPCP", (H41,), subject="sửa"), G22)
    assert other.status == 409 and error_code(other) == "document.conflict"


def test_an_answer_naming_the_update_s_own_document_id_goes_back_to_its_sender(world: tuple[Axisd, Receiver]) -> None:
    axisd, _ = world
    doc_id, update_id = "000.00.00.G22,2026/11/22,901/VPCP", "000.00.00.G22,2026/11/23,902/VPCP"
    doc = accepted(axisd, document(doc_id, (H41,)), G22)
    update = accepted(axisd, update_of(doc_id, update_id, (H41,), (H41,)), G22)
    assert [r["code"] for r in update["recipients"]] == [H41]
    answer = accepted(axisd, status_of(H41, G22, update_id, "15"), H41)
    assert [r["code"] for r in answer["recipients"]] == [G22]
    assert answer["message_id"] in {i["message_id"] for i in axisd.mailbox(G22)}
    assert business_of(axisd, doc["message_id"], H41) == ["15"]  # the original's step


def test_a_recipient_an_update_added_may_report_on_the_document(world: tuple[Axisd, Receiver]) -> None:
    axisd, _ = world
    doc_id, update_id = "000.00.00.G22,2026/11/22,903/VPCP", "000.00.00.G22,2026/11/23,904/VPCP"
    accepted(axisd, document(doc_id, (H41,)), G22)
    update = accepted(axisd, update_of(doc_id, update_id, (H41, G17), (H41, G17)), G22)
    assert sorted(r["code"] for r in update["recipients"]) == [G17, H41]
    axisd.wait_for(lambda: states_of(axisd, update["message_id"]).get(G17) == "delivered", what="the update pushed")
    for code in ("01", "03"):
        answer = accepted(axisd, status_of(G17, G22, doc_id, code), G17)
        assert [r["code"] for r in answer["recipients"]] == [G22]
    assert business_of(axisd, update["message_id"], G17) == ["01", "03"]  # on the copy G17 has: the update's
