"""Federation through two real daemons on loopback: a province's axis and the national axis above it.

The province names the national axis as its upstream (a ``vxp`` route for every code it does not serve);
the national axis knows the province's axis as the lower axis of a ``pull`` route for ``H41``.  Documents
and statuses travel both ways over the SDKVXP protocol, byte for byte, through both sets of business
rules, and each hop is in the ledgers of both axes.
"""

from __future__ import annotations

import base64
import http.server
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon import AgencySpec, Axisd, free_port
from test_business_flows import document, status_of

from axis.vxp.client import VxpClient

# The province (Nghệ An, H41): two departments served by its own axis.
SO_TTTT, SO_NV = "000.00.01.H41", "000.00.02.H41"
# Served only by the national axis: the Government Office, and an agency of another province connected directly.
VPCP, CAO_BANG = "000.00.00.G22", "000.00.00.H14"
PROVINCE_AXIS, NATIONAL_AXIS = "000.00.99.H41", "000.00.00.G01"
SYSTEM_ID, SECRET = "axis.h41", b"federation-secret-of-nghe-an-axis"


def peer_route(secrets: Path) -> str:
    path = secrets / "peer-h41.hmac"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return (f'[[route]]\nname = "nghe-an"\nprefixes = ["H41"]\ndelivery = "pull"\nvxp_system_id = "{SYSTEM_ID}"\n'
            f'hmac_secret_file = "{path}"\n')


def upstream_route(secrets: Path, port: int) -> str:
    path = secrets / "national.hmac"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return (f'[[route]]\nname = "national"\nprefixes = ["*"]\ndelivery = "vxp"\nurl = "http://127.0.0.1:{port}/vxp"\n'
            f'vxp_system_id = "{SYSTEM_ID}"\nhmac_secret_file = "{path}"\n')


@pytest.fixture(scope="module")
def axes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Axisd, Axisd]]:
    root = tmp_path_factory.mktemp("federation")
    (root / "secrets").mkdir()
    national = Axisd(root / "national", [AgencySpec(VPCP, "Văn phòng Chính phủ"), AgencySpec(CAO_BANG, "UBND Cao Bằng")],
                     routes=peer_route(root / "secrets"), axis_code=NATIONAL_AXIS, dead_after=60,
                     server="intake_processes = 1")  # a relayed package is checked in an intake process too
    national.port = free_port()
    province = Axisd(root / "province", [AgencySpec(SO_TTTT, "Sở Thông tin và Truyền thông"),
                                         AgencySpec(SO_NV, "Sở Nội vụ")],
                     routes=upstream_route(root / "secrets", national.port), axis_code=PROVINCE_AXIS, dead_after=60,
                     server="intake_processes = 0", extra="upstream_poll_interval = 0.2\n")
    national.start()
    province.start()
    try:
        yield province, national
    finally:
        province.kill()
        national.kill()


def accepted(r: Any) -> str:
    assert r.status == 202, r.body
    return str(r.json()["message_id"])


def ledger(axisd: Axisd, document_id: str) -> list[tuple[str, str | None, str, str]]:
    """(kind of message, recipient, event, detail) of every transport entry of a document's messages there."""
    db = sqlite3.connect(f"file:{axisd.data_dir / 'axis.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT m.kind, t.recipient, t.event, coalesce(t.detail, '') FROM transport_ledger t "
            "JOIN messages m ON m.seq = t.message_seq WHERE m.document_id = ? ORDER BY t.id", (document_id,)).fetchall()
    finally:
        db.close()


def arrived(axisd: Axisd, code: str, kind: str, document_id: str) -> dict[str, Any] | None:
    for item in axisd.mailbox(code):
        if item["kind"] == kind and item["document_id"] == document_id:
            return item
    return None


def fetch(axisd: Axisd, code: str, message_id: str) -> bytes:
    r = axisd.request("GET", f"/v1/mailbox/{message_id}", as_code=code)
    assert r.status == 200, r.body
    ack = axisd.request("POST", f"/v1/mailbox/{message_id}/ack", b'{"result": "done"}', as_code=code)
    assert ack.status == 200, ack.body
    return r.body


def test_a_document_goes_up_to_the_national_axis_and_its_status_comes_back(axes: tuple[Axisd, Axisd]) -> None:
    province, national = axes
    doc = f"{SO_TTTT},2026/11/22,11/STTTT"
    data = document(doc, (VPCP,), sender=SO_TTTT)
    message_id = accepted(province.submit(data, SO_TTTT))

    item = national.wait_for(lambda: arrived(national, VPCP, "edoc", doc), what="the document at the national axis")
    assert item["from"] == SO_TTTT
    assert fetch(national, VPCP, item["message_id"]) == data  # byte for byte: a signature still verifies

    def sent_up() -> Any:
        recipient = province.sent(message_id, SO_TTTT).json()["recipients"][0]
        return recipient if recipient["state"] == "delivered" else None
    recipient = province.wait_for(sent_up, what="the delivery recorded at the province")
    assert recipient["mode"] == "upstream"
    assert f"route national (its DocId {item['message_id']})" in recipient["events"][-1]["detail"]
    assert ("edoc", None, "accepted", f"edoc from {SO_TTTT}, {len(data)} bytes, relayed along route nghe-an") in \
        ledger(national, doc)

    answer = status_of(VPCP, SO_TTTT, doc, "03")
    status_id = accepted(national.submit(answer, VPCP))
    back = province.wait_for(lambda: arrived(province, SO_TTTT, "status", doc), what="the status at the province")
    assert back["from"] == VPCP and back["status_code"] == "03"
    assert fetch(province, SO_TTTT, back["message_id"]) == answer
    business = province.sent(message_id, SO_TTTT).json()["recipients"][0]["business"]
    assert [(b["status_code"], b["author"]) for b in business] == [("03", VPCP)]

    # The national axis handed the status to the province's axis, which acknowledged it once it was stored.
    def acknowledged() -> bool:
        return ("status", SO_TTTT, "acknowledged", "recipient: done") in ledger(national, doc)
    national.wait_for(acknowledged, what="the province's acknowledgement at the national axis")
    view = national.sent(status_id, VPCP).json()["recipients"][0]
    assert view["mode"] == "peer" and "fetched by the axis of route nghe-an" in \
        [e["detail"] for e in view["events"]]


def test_a_document_comes_down_once_for_two_departments_and_both_answer(axes: tuple[Axisd, Axisd]) -> None:
    province, national = axes
    doc = f"{VPCP},2026/11/22,77/VPCP-HC"
    data = document(doc, (SO_TTTT, SO_NV))
    message_id = accepted(national.submit(data, VPCP))
    assert national.submit(data, VPCP).json()["duplicate"] is True

    for code in (SO_TTTT, SO_NV):
        item = province.wait_for(lambda c=code: arrived(province, c, "edoc", doc), what=f"the document at {code}")
        assert fetch(province, code, item["message_id"]) == data
    # One package went down for both (the province's axis took it once and routed it to both departments).
    assert sum(1 for kind, r, event, _ in ledger(province, doc) if kind == "edoc" and event == "accepted") == 1
    statuses = {SO_TTTT: "03", SO_NV: "02"}
    for code, step in statuses.items():
        accepted(province.submit(status_of(code, VPCP, doc, step), code))

    def answered() -> Any:
        rows = national.sent(message_id, VPCP).json()["recipients"]
        got = {r["code"]: [b["status_code"] for b in r["business"]] for r in rows}
        return got if all(got.get(c) == [s] for c, s in statuses.items()) else None
    national.wait_for(answered, what="both statuses at the national axis")
    rows = {r["code"]: r for r in national.sent(message_id, VPCP).json()["recipients"]}
    assert {c: (r["mode"], r["state"]) for c, r in rows.items()} == {SO_TTTT: ("peer", "done"), SO_NV: ("peer", "done")}
    for code in statuses:
        item = national.wait_for(lambda c=code: [i for i in national.mailbox(VPCP)
                                                 if i["kind"] == "status" and i["from"] == c], what="the status")
        assert item[0]["document_id"] == doc


def test_what_one_axis_refuses_is_reported_to_the_other(axes: tuple[Axisd, Axisd]) -> None:
    province, national = axes
    # Down: a code under H41 that the province does not serve would go straight back up: refused there, and
    # the national sender sees why.
    doc = f"{VPCP},2026/11/22,78/VPCP-HC"
    message_id = accepted(national.submit(document(doc, ("000.00.09.H41",)), VPCP))

    def failed() -> Any:
        row = national.sent(message_id, VPCP).json()["recipients"][0]
        return row if row["state"] == "failed" else None
    row = national.wait_for(failed, what="the refusal reported at the national axis")
    assert "route.loop" in row["events"][-1]["detail"]
    assert province.metric('axis_upstream_received_total{result="refused",route="national"}') == 1

    # Up: a code the national axis does not know is refused there for what it is: a dead letter at once.
    doc = f"{SO_TTTT},2026/11/22,12/STTTT"
    message_id = accepted(province.submit(document(doc, ("000.00.00.G99",), sender=SO_TTTT), SO_TTTT))

    def dead() -> Any:
        row = province.sent(message_id, SO_TTTT).json()["recipients"][0]
        return row if row["state"] == "dead" else None
    row = province.wait_for(dead, what="the dead letter at the province")
    assert "route.unknown-recipient" in row["last_error"] and row["attempts"] == 1


def test_the_lower_axis_may_relay_only_for_the_agencies_behind_its_route(axes: tuple[Axisd, Axisd]) -> None:
    _, national = axes
    peer = VxpClient(f"http://127.0.0.1:{national.port}/vxp", SYSTEM_ID, SECRET)
    for sender in (CAO_BANG, VPCP, "000.00.00.H14"):  # another province's agency, a national one
        doc = f"{sender},2026/11/22,1/GIA-MAO"
        answer = peer.call("sendEdoc", {"from": SYSTEM_ID, "servicetype": "eDoc", "messagetype": "edoc"},
                           document(doc, (VPCP,), sender=sender))
        assert (answer["status"], answer["ErrorCode"], answer["DocId"]) == ("FAIL", "route.not-yours", ""), answer
    # Its mailbox holds only what is for the agencies behind it, and someone else's secret opens nothing.
    listed = peer.call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    assert listed["ErrorCode"] == "0" and all(i["to"] == "route:nghe-an" for i in listed["data"])
    wrong = VxpClient(f"http://127.0.0.1:{national.port}/vxp", SYSTEM_ID, b"not-the-secret-of-this-axis")
    assert wrong.call("getReceivedEdocList", {"messagetype": "edoc"})["ErrorCode"] == "vxp.bad-signature"
    assert peer.call("getSentEdocList", {"messagetype": "edoc"})["ErrorCode"] == "vxp.bad-parameter"


def test_a_document_waits_while_the_national_axis_is_down(axes: tuple[Axisd, Axisd]) -> None:
    province, national = axes
    failures = 'axis_delivery_failures_total{agency="upstream:national"}'
    before = province.metric(failures) or 0
    national.stop()
    try:
        doc = f"{SO_NV},2026/11/22,5/SNV"
        data = document(doc, (VPCP,), sender=SO_NV)
        message_id = accepted(province.submit(data, SO_NV))  # accepted here: it waits in the queue
        province.wait_for(lambda: (province.metric(failures) or 0) > before, what="a failed attempt")
        assert province.sent(message_id, SO_NV).json()["recipients"][0]["state"] == "queued"
        # the poll runs on its own clock (every 0.2 s): wait for one to fail rather than assume it already has
        province.wait_for(lambda: (province.metric('axis_upstream_polls_total{result="failed",route="national"}')
                                   or 0) > 0, what="a failed poll")
    finally:
        national.start()
    item = national.wait_for(lambda: arrived(national, VPCP, "edoc", doc), timeout=30, what="the document after")
    assert base64.b64encode(fetch(national, VPCP, item["message_id"])) == base64.b64encode(data)


def test_a_document_for_both_sides_reaches_each_recipient_once(axes: tuple[Axisd, Axisd]) -> None:
    """A circular from the Government Office to a department of the province and to another province's agency (the
    national axis serves that one itself), and a department's document to its colleague and to the Government Office
    (the province serves the colleague itself): the axis a package comes down or up to takes it for the recipients
    it serves, and leaves those behind the route it came in on to the axis that sent it."""
    province, national = axes
    doc = f"{VPCP},2026/11/22,90/VPCP-HC"
    message_id = accepted(national.submit(document(doc, (SO_TTTT, CAO_BANG)), VPCP))
    item = province.wait_for(lambda: arrived(province, SO_TTTT, "edoc", doc), what="the circular at the province")
    fetch(province, SO_TTTT, item["message_id"])
    assert arrived(national, CAO_BANG, "edoc", doc) is not None

    def peer_done() -> Any:
        rows = {r["code"]: r["state"] for r in national.sent(message_id, VPCP).json()["recipients"]}
        return rows if rows.get(SO_TTTT) == "done" else None
    assert national.wait_for(peer_done, what="the province's acknowledgement") == {SO_TTTT: "done", CAO_BANG: "queued"}

    doc = f"{SO_TTTT},2026/11/22,13/STTTT"
    message_id = accepted(province.submit(document(doc, (SO_NV, VPCP), sender=SO_TTTT), SO_TTTT))
    national.wait_for(lambda: arrived(national, VPCP, "edoc", doc), what="the document at the national axis")
    assert arrived(province, SO_NV, "edoc", doc) is not None
    # nothing goes back down to the province: the national axis holds a copy for the Government Office only
    assert not [r for _, r, _, _ in ledger(national, doc) if r == SO_NV]
    assert any(f"not sent back along it for {SO_NV}" in detail for _, _, event, detail in ledger(national, doc)
               if event == "accepted")
    row = province.wait_for(lambda: [r for r in province.sent(message_id, SO_TTTT).json()["recipients"]
                                     if r["code"] == VPCP and r["state"] == "delivered"], what="the delivery up")[0]
    assert row["mode"] == "upstream"


class VxpUpstream:
    """An upstream axis on loopback that speaks the envelope of the national axis and keeps what it was sent: it
    makes no duplicate of its own out of a package sent twice, as an axisd would, so every sendEdoc counts."""

    def __init__(self, delay: float = 0.0, mailbox: dict[str, dict[str, Any]] | None = None) -> None:
        self.sent: list[bytes] = []
        self.traces: list[str | None] = []  # each sendEdoc's X-Axis-Trace
        self.delay = delay
        self.mailbox = dict(mailbox or {})  # docId -> its getEdoc answer; listed (as edoc) until acknowledged
        self.acks: list[tuple[str, str]] = []
        self.asked: list[str] = []  # the operations called, in order
        self.port = free_port()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps the connection, as axis's client pool expects

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer: dict[str, Any] = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
                outer.asked.append(self.path.rsplit("/", 1)[-1])
                if self.path.endswith("/sendEdoc"):
                    time.sleep(outer.delay)
                    outer.sent.append(body)
                    outer.traces.append(self.headers.get("X-Axis-Trace"))
                    answer["DocId"] = f"up-{len(outer.sent)}"
                elif self.path.endswith("/getReceivedEdocList"):
                    kind = self.headers.get("XroadVnpt-messagetype")
                    answer["data"] = [{"docId": d} for d in outer.mailbox] if kind == "edoc" else []
                elif self.path.endswith("/getEdoc"):
                    answer = outer.mailbox.get(self.headers.get("XroadVnpt-docId", ""),
                                               {"status": "FAIL", "ErrorCode": "-1", "ErrorDesc": "no such document"})
                elif self.path.endswith("/updateStatus"):
                    doc_id = self.headers.get("XroadVnpt-docId", "")
                    outer.acks.append((doc_id, self.headers.get("XroadVnpt-status", "")))
                    outer.mailbox.pop(doc_id, None)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def province_under(tmp_path: Path, upstream: VxpUpstream, extra: str) -> Axisd:
    """A province axis (not started) whose national route goes to ``upstream``, checking packages in its own threads."""
    (tmp_path / "secrets").mkdir()
    return Axisd(tmp_path / "province", [AgencySpec(SO_TTTT)], routes=upstream_route(tmp_path / "secrets", upstream.port),
                 axis_code=PROVINCE_AXIS, server="intake_processes = 0", extra=extra)


def test_a_package_for_two_agencies_upstream_is_sent_up_once(tmp_path: Path) -> None:
    upstream = VxpUpstream(delay=0.5)  # slow enough that both copies' attempts would overlap
    province = province_under(tmp_path, upstream, "upstream_poll_interval = 5\n")
    province.start()
    try:
        doc = f"{SO_TTTT},2026/11/22,14/STTTT"
        message_id = accepted(province.submit(document(doc, (VPCP, CAO_BANG), sender=SO_TTTT), SO_TTTT))

        def delivered() -> Any:
            rows = province.sent(message_id, SO_TTTT).json()["recipients"]
            return rows if all(r["state"] == "delivered" for r in rows) else None
        rows = province.wait_for(delivered, what="both copies delivered")
        time.sleep(1.0)  # any second attempt would have reached the upstream by now
        assert len(upstream.sent) == 1, f"the package was sent up {len(upstream.sent)} times"
        assert (upstream.traces[0] or "").startswith(PROVINCE_AXIS + ";")  # its hop, as on every delivery
        assert {r["events"][-1]["detail"] for r in rows} == {"sent to the upstream axis of route national (its DocId up-1)"}
    finally:
        province.kill()
        upstream.close()


def test_a_refusal_of_this_axis_credentials_upstream_is_retried_not_final(axes: tuple[Axisd, Axisd],
                                                                          tmp_path: Path) -> None:
    """The upstream refusing the request (a secret rotated there, a wrong endpoint path) says nothing about the
    package: it waits and is retried as for an upstream that is down, instead of every package queued for the
    route becoming a dead letter at its first attempt."""
    _, national = axes
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    route = upstream_route(secrets, national.port)
    (secrets / "national.hmac").write_bytes(b"a-secret-the-national-axis-no-longer-has")
    province = Axisd(tmp_path / "province", [AgencySpec(SO_TTTT)], routes=route, axis_code=PROVINCE_AXIS,
                     server="intake_processes = 0", extra="upstream_poll_interval = 5\n")
    province.start()
    try:
        failures = 'axis_delivery_failures_total{agency="upstream:national"}'
        message_id = accepted(province.submit(document(f"{SO_TTTT},2026/11/22,15/STTTT", (VPCP,), sender=SO_TTTT),
                                              SO_TTTT))
        province.wait_for(lambda: (province.metric(failures) or 0) >= 2, what="two failed attempts")
        row = province.sent(message_id, SO_TTTT).json()["recipients"][0]
        assert row["state"] == "queued" and "vxp.bad-signature" in row["last_error"], row
        assert not province.metric('axis_dead_letters_total{agency="upstream:national"}')
    finally:
        province.kill()


def test_one_package_the_upstream_cannot_hand_over_does_not_hold_up_the_rest(tmp_path: Path) -> None:
    """An upstream mailbox whose first item cannot be fetched (refused there, an answer that is not a package, one
    longer than this axis reads): the packages after it still come down; what can never be taken is acknowledged
    fail with the reason, what may be fetched later waits upstream."""
    doc = f"{VPCP},2026/11/22,91/VPCP-HC"
    good = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "",
            "data": base64.b64encode(document(doc, (SO_TTTT,))).decode()}
    upstream = VxpUpstream(mailbox={
        "refused": {"status": "FAIL", "ErrorCode": "-1", "ErrorDesc": "temporarily unavailable"},
        "garbage": {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": "%%% not base64 %%%"},
        "too-long": {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": "A" * (4 * 1024 * 1024 + 65536)},
        "good": good})
    province = province_under(tmp_path, upstream, "upstream_poll_interval = 0.3\n[limits]\nmax_package_bytes = 8192\n")
    # (the parser's limit: the good package is smaller, and a getEdoc answer over 4 MiB + 16 KiB is not read)
    province.start()
    try:
        province.wait_for(lambda: arrived(province, SO_TTTT, "edoc", doc), what="the package after the bad ones")
        province.wait_for(lambda: ("good", "done") in upstream.acks, what="its acknowledgement")
        province.wait_for(lambda: any(d == "too-long" for d, _ in upstream.acks), what="the long one refused")
        assert ("too-long", "fail") in upstream.acks
        assert {d for d, _ in upstream.acks} == {"good", "too-long"}  # the others wait upstream
    finally:
        province.kill()
        upstream.close()


def test_an_upstream_in_trouble_of_its_own_moment_ends_the_pass_at_its_first_refused_fetch(tmp_path: Path) -> None:
    """An upstream axisd that drains (http.stopping, answered in the SDK's envelope since d088eb2) or whose disk is
    full refuses every getEdoc for the same reason: the pass stops at the first (as for a link in trouble) instead of
    asking for, and logging, every item of the mailbox in turn at each poll."""
    stopping = {"status": "FAIL", "ErrorCode": "http.stopping", "ErrorDesc": "The server is stopping"}
    upstream = VxpUpstream(mailbox={f"doc-{n}": stopping for n in range(5)})
    province = province_under(tmp_path, upstream, "upstream_poll_interval = 0.3\n")
    province.start()
    try:
        province.wait_for(lambda: upstream.asked.count("getReceivedEdocList") >= 3, what="three polls")
        asked = list(upstream.asked)
        passes = "".join("L" if op == "getReceivedEdocList" else "g" if op == "getEdoc" else "" for op in asked)
        assert "gg" not in passes, passes  # one refused getEdoc ends the pass
    finally:
        province.kill()
        upstream.close()
