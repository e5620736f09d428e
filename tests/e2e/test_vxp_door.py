"""The VXP door through the real daemon, driven by our SDK-exact client: every operation, the refusals a
hostile or broken client meets, and the two doors sharing one pipeline."""

from __future__ import annotations

import base64
import http.client
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon import AXIS_CODE, AgencySpec, Axisd, free_port, token_of
from test_business_flows import document, status_of

from axis.cli import axisctl
from axis.vxp.client import VxpClient

G22, H41, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"
SECRETS = {G22: b"vxp-secret-of-the-government-office", H41: b"vxp-secret-of-nghe-an-province-01",
           H14: b"vxp-secret-of-cao-bang-province-02"}
SYSTEMS = {G22: "vxp.saas.01", H41: "vxp.saas.03", H14: "vxp.h14.qlvb"}


@pytest.fixture(scope="module")
def axisd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Axisd]:
    agencies = [AgencySpec(code, f"Cơ quan {code}", hmac_secret=SECRETS[code], vxp_system_id=SYSTEMS[code])
                for code in (G22, H41, H14)]
    daemon = Axisd(tmp_path_factory.mktemp("vxp"), agencies)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.kill()


def client(axisd: Axisd, code: str, secret: bytes | None = None, system: str | None = None) -> VxpClient:
    return VxpClient(f"http://127.0.0.1:{axisd.port}/vxp", system or SYSTEMS[code], secret or SECRETS[code])


def sent_ok(answer: dict[str, Any]) -> str:
    assert (answer["status"], answer["ErrorCode"]) == ("OK", "0"), answer
    return str(answer["DocId"])


def test_a_document_and_its_statuses_through_the_vxp_door(axisd: Axisd) -> None:
    g22, h41 = client(axisd, G22), client(axisd, H41)
    doc = "000.00.00.G22,2026/11/22,501/VPCP"
    doc_id = sent_ok(g22.call("sendEdoc", {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "to": H41},
                              document(doc, (H41,))))
    assert h41.call("countReceiveEdoc")["count"] == 1
    listed = h41.call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    assert listed["ErrorCode"] == "0"
    assert [(i["docId"], i["from"], i["messageType"]) for i in listed["data"]] == [(doc_id, G22, "edoc")]
    got = h41.call("getEdoc", {"filePath": "xml", "docId": doc_id})
    assert got["status"] == "OK" and base64.b64decode(got["data"]) == document(doc, (H41,))
    for operation in ("getEdoc", "downloadEdoc"):  # axis's hop, as the native fetch sends it
        _, headers, _ = h41.exchange(h41.prepare(operation, {"filePath": "xml", "docId": doc_id}))
        assert headers.get("x-axis-trace", "").startswith(f"{AXIS_CODE};2")
    assert "x-axis-trace" not in h41.exchange(h41.prepare("countReceiveEdoc"))[1]
    assert h41.call("downloadEdoc", {"docId": doc_id, "filePath": "xml"}) == document(doc, (H41,))
    assert h41.call("updateStatus", {"status": "done", "docId": doc_id})["ErrorCode"] == "0"
    assert h41.call("updateStatus", {"status": "done", "docId": doc_id})["ErrorCode"] == "0"  # the SDK retries
    assert h41.call("countReceiveEdoc")["count"] == 0

    # A status sent as messagetype=status goes through the business lifecycle and back to the sender.
    status_id = sent_ok(h41.call("sendEdoc", {"from": H41, "servicetype": "eDoc", "messagetype": "status",
                                              "to": G22}, status_of(H41, G22, doc, "03")))
    assert g22.call("countReceiveStatus")["count"] == 1
    statuses = g22.call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "status"})["data"]
    assert [s["docId"] for s in statuses] == [status_id]
    refused = h41.call("sendEdoc", {"from": H41, "servicetype": "eDoc", "messagetype": "status", "to": G22},
                       status_of(H41, G22, doc, "02"))  # 02 after 03
    assert (refused["status"], refused["ErrorCode"], refused["DocId"]) == ("FAIL", "status.out-of-order", "")

    rows = g22.call("getSentEdocList", {"servicetype": "eDoc", "messagetype": "edoc", "docId": doc_id})["data"]
    assert [(r["toCode"], r["sendStatus"], r["receiveStatus"]) for r in rows] == [(H41, "done", "03")]
    assert g22.call("getSentEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})["data"][0]["senderDocId"] \
        == doc_id
    # Another agency neither sees nor touches it.
    h14 = client(axisd, H14)
    assert h14.call("getSentEdocList", {"servicetype": "eDoc", "messagetype": "edoc", "docId": doc_id})["data"] == []
    assert h14.call("getEdoc", {"filePath": "xml", "docId": doc_id})["ErrorCode"] == "message.not-found"
    assert h14.call("updateStatus", {"status": "fail", "docId": doc_id})["ErrorCode"] == "message.not-found"


def test_the_two_doors_share_one_pipeline(axisd: Axisd) -> None:
    g22, h14 = client(axisd, G22), client(axisd, H14)
    # sent through the VXP door, fetched through the native one
    doc_id = sent_ok(g22.call("sendEdoc", {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"},
                              document("000.00.00.G22,2026/11/22,502/VPCP", (H14,))))
    native = axisd.request("GET", f"/v1/mailbox/{doc_id}", as_code=H14, hmac_secret=SECRETS[H14])
    assert native.status == 200
    # sent through the native door, fetched through the VXP one; the same bytes again are a duplicate
    data = document("000.00.00.G22,2026/11/22,503/VPCP", (H14,))
    first = axisd.submit(data, G22).json()
    again = g22.call("sendEdoc", {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}, data)
    assert again["DocId"] == first["message_id"] and again["duplicate"] is True
    got = h14.call("getEdoc", {"filePath": "xml", "docId": first["message_id"]})
    assert base64.b64decode(got["data"]) == data
    assert axisd.sent(first["message_id"], G22).json()["recipients"][0]["state"] == "delivered"


def test_the_agency_lists_and_requests_for_an_administrator(axisd: Axisd, capsys: pytest.CaptureFixture[str]) -> None:
    g22 = client(axisd, G22)
    listed = g22.call("getAgenciesList")
    assert {a["code"] for a in listed["data"]} == {G22, H41, H14}
    assert {a["oldCode"] for a in listed["data"]} == {"G22", "H41", "H14"}
    qd20 = g22.call("getAgenciesListQD20", {"level": "1"})
    assert {(a["code"], a["code102"]) for a in qd20["data"]} == {("G22", G22), ("H41", H41), ("H14", H14)}
    assert g22.call("getAgenciesListQD20", {"level": "2"})["data"] == []
    units = g22.call("getSynchronizeUnit")["data"]
    assert {u["code"] for u in units} == {G22, H41, H14} and all(u["isAgency"] for u in units)
    body = json.dumps({"id": "", "pcode": G22, "code": "000.00.00.H99", "name": "Đơn vị thử", "mail": "a@b.vn"},
                      ensure_ascii=False).encode()
    registered = g22.call("registerAgency", {}, body)
    assert registered["status"] == "OK" and "administrator" in registered["ErrorDesc"]
    assert g22.call("deleteAgency", {"AgencyCode": "000.00.00.H98"})["status"] == "OK"
    assert g22.call("registerAgency", {}, b"{not json")["ErrorCode"] == "vxp.bad-parameter"
    assert len(g22.call("getAgenciesList")["data"]) == 3  # nothing changed by itself
    capsys.readouterr()
    assert axisctl.main(["agency-requests", "--config", str(axisd.config), "--json"]) == 0
    requests = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["action"], r["agency"], r["requested_by"]) for r in requests] == [
        ("delete", "000.00.00.H98", G22), ("register", "000.00.00.H99", G22)]


def raw(axisd: Axisd, prepared: Any, headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    c = client(axisd, G22)
    status, data = c.send(type(prepared)(prepared.method, prepared.path, headers or prepared.headers,
                                         prepared.body if body is None else body))
    assert data.isascii()  # the SDK reads sendEdoc answers as US-ASCII
    return status, json.loads(data)


def test_refusals_are_answers_the_sdk_can_read(axisd: Axisd) -> None:
    data = document("000.00.00.G22,2026/11/22,504/VPCP", (H41,))
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
    cases = {
        "wrong secret": client(axisd, G22, secret=b"not-the-secret-of-this-system").prepare("sendEdoc", params, data),
        "unknown system": client(axisd, G22, system="vxp.nobody").prepare("sendEdoc", params, data),
    }
    expected = {"wrong secret": (401, "vxp.bad-signature"), "unknown system": (401, "vxp.unknown-system")}
    for name, prepared in cases.items():
        status, answer = raw(axisd, prepared)
        assert (status, answer["ErrorCode"]) == expected[name], name
        assert answer["status"] == "FAIL" and answer["DocId"] == "" and answer["ErrorDesc"]
    good = client(axisd, G22).prepare("sendEdoc", params, data)
    tampered = [(n, "000.00.00.H41" if n == "XroadVnpt-from" else v) for n, v in good.headers]
    assert raw(axisd, good, headers=tampered)[1]["ErrorCode"] == "vxp.header-mismatch"
    forged = [(n, v.replace(G22, H41) if n == "XroadVnpt-sign-header" else v) for n, v in good.headers]
    assert raw(axisd, good, headers=forged)[1]["ErrorCode"] == "vxp.bad-signature"
    other_body = document("000.00.00.G22,2026/11/22,505/VPCP", (H41,)) + b"\r\n"
    assert raw(axisd, good, body=other_body)[1]["ErrorCode"] == "vxp.hash-file-mismatch"
    unsigned = [(n, v) for n, v in good.headers if not n.startswith("XroadVnpt-")]
    assert raw(axisd, good, headers=unsigned)[1]["ErrorCode"] == "vxp.auth-missing"
    # acting as another agency: the From of the package, or the from header
    as_h41 = client(axisd, G22).call("sendEdoc", {**params, "from": H41}, data)
    assert as_h41["ErrorCode"] == "auth.not-your-agency" and as_h41["DocId"] == ""
    other_from = document("000.00.00.H41,2026/11/22,9/UBND", (H14,), sender=H41)
    assert client(axisd, G22).call("sendEdoc", params, other_from)["ErrorCode"] == "auth.not-your-agency"
    # nothing was accepted by any of this
    assert client(axisd, H41).call("countReceiveEdoc")["count"] == 0


def test_vietnamese_text_survives_the_ascii_answer(axisd: Axisd) -> None:
    answer = client(axisd, G22).call("getAgenciesList")
    assert "Cơ quan 000.00.00.G22" in {a["name"] for a in answer["data"]}


def test_the_native_token_does_not_open_the_vxp_door(axisd: Axisd) -> None:
    r = axisd.request("POST", "/vxp/getAgenciesList", as_code=G22)
    assert r.status == 401 and r.json()["ErrorCode"] == "vxp.auth-missing" and token_of(G22) not in r.body.decode()


def test_unknown_operations_are_named(axisd: Axisd) -> None:
    r = axisd.request("POST", "/vxp/getEverything")
    assert r.status == 404 and r.json()["ErrorCode"] == "vxp.unknown-operation"


def test_an_endpoint_with_a_trailing_slash(axisd: Axisd) -> None:
    """The SDK's URL is endpoint + "/" + name, so "http://axis:8080/vxp/" asks for /vxp//getAgenciesList (§1)."""
    c = client(axisd, G22)
    prepared = c.prepare("getAgenciesList")
    status, answer = c.send(type(prepared)(prepared.method, "/vxp//getAgenciesList", prepared.headers, prepared.body))
    assert (status, json.loads(answer)["ErrorCode"]) == (200, "0")


def test_a_page_larger_than_axis_gives_is_cut_not_refused(axisd: Axisd) -> None:
    """The SDK example's gateway sends its caller's limit as pageSize (and pageIndex 1); its one service object
    then sends that pageSize with every later call (the map is never cleared, §2.1)."""
    gateway = client(axisd, H14)
    listed = gateway.call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc", "from": SYSTEMS[H14],
                                                  "pageSize": 5000, "pageIndex": 1})
    assert (listed["status"], listed["ErrorCode"]) == ("OK", "0"), listed
    assert gateway.call("getSentEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})["ErrorCode"] == "0"
    assert gateway.call("getReceivedEdocList", {"pageSize": "many"})["ErrorCode"] == "vxp.bad-parameter"


def test_the_sent_list_pages_within_its_messagetype(axisd: Axisd) -> None:
    """pageSize counts packages of the messagetype asked for: a status sent before the latest document is listed."""
    h14 = client(axisd, H14)
    doc = "000.00.00.G22,2026/11/22,507/VPCP"
    doc_id = sent_ok(client(axisd, G22).call("sendEdoc", {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"},
                                             document(doc, (H14,))))
    assert h14.call("getEdoc", {"filePath": "xml", "docId": doc_id})["status"] == "OK"
    status_id = sent_ok(h14.call("sendEdoc", {"from": H14, "servicetype": "eDoc", "messagetype": "status"},
                                 status_of(H14, G22, doc, "03")))
    sent_ok(h14.call("sendEdoc", {"from": H14, "servicetype": "eDoc", "messagetype": "edoc"},
                     document("000.00.00.H14,2026/11/22,8/UBND", (G22,), sender=H14)))
    fresh = client(axisd, H14)  # no docId left in its map by earlier calls
    rows = fresh.call("getSentEdocList", {"servicetype": "eDoc", "messagetype": "status", "pageSize": 1})["data"]
    assert [(r["senderDocId"], r["messageType"]) for r in rows] == [(status_id, "status")]


def test_the_agency_lists_are_kept_until_a_reload_replaces_the_registry(tmp_path: Path) -> None:
    agencies = [AgencySpec(G22, f"Cơ quan {G22}", hmac_secret=SECRETS[G22], vxp_system_id=SYSTEMS[G22])]
    daemon = Axisd(tmp_path, agencies)
    daemon.start()
    try:
        g22 = client(daemon, G22)
        first = g22.call("getAgenciesList")
        assert [a["code"] for a in first["data"]] == [G22]
        assert g22.call("getAgenciesList") == first  # the kept answer
        assert g22.call("getAgenciesListQD20", {"level": "1"})["data"][0]["code"] == "G22"  # a listing of its own
        with (daemon.conf / "agencies.toml").open("a", encoding="utf-8") as f:
            f.write(AgencySpec(H41).toml(daemon.conf / "secrets") + "\n")
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(lambda: {a["code"] for a in g22.call("getAgenciesList")["data"]} == {G22, H41},
                        what="the new registry listed")
        assert {u["code"] for u in g22.call("getSynchronizeUnit")["data"]} == {G22, H41}
        assert {a["code"] for a in g22.call("getAgenciesListQD20", {"level": "1"})["data"]} == {"G22", "H41"}
    finally:
        daemon.kill()


def test_a_refused_download_has_no_body(axisd: Axisd) -> None:
    """downloadEdoc saves whatever body comes as <docId>.edxml and reports SUCCESS unless it is empty
    (vxp-protocol.md §4.9): a refusal is its HTTP status and X-Axis-Error, with an empty body."""
    doc_id = sent_ok(client(axisd, G22).call("sendEdoc", {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"},
                                             document("000.00.00.G22,2026/11/22,506/VPCP", (H41,))))
    cases = {"not yours": (client(axisd, H14), {"docId": doc_id, "filePath": "xml"}, 404, "message.not-found"),
             "wrong secret": (client(axisd, H41, secret=b"not-the-secret-of-this-system"),
                              {"docId": doc_id, "filePath": "xml"}, 401, "vxp.bad-signature")}
    for name, (c, params, status, code) in cases.items():
        prepared = c.prepare("downloadEdoc", params)
        conn = http.client.HTTPConnection("127.0.0.1", axisd.port, timeout=20)
        try:
            conn.putrequest(prepared.method, prepared.path)
            for header, value in prepared.headers:
                conn.putheader(header, value.encode("utf-8"))
            conn.endheaders()
            r = conn.getresponse()
            assert (r.status, r.getheader("X-Axis-Error"), r.read()) == (status, code, b""), name
        finally:
            conn.close()
    # downloadEdoc2 sends no XroadVnpt headers at all
    bare = axisd.request("GET", "/vxp/downloadEdoc")
    assert (bare.status, bare.headers.get("x-axis-error"), bare.body) == (401, "vxp.auth-missing", b"")
    assert client(axisd, H41).call("downloadEdoc", {"docId": doc_id, "filePath": "xml"}).startswith(b"<?xml")


def test_every_answer_under_the_door_has_the_sdk_envelope(tmp_path: Path) -> None:
    """With the door on a port of its own, a path outside its prefix there (an endpoint written without /vxp) and
    /vxp/ on the main port are answered by no door resource, and still in the envelope the SDK reads: without it
    the SDK sees an all-null result (vxp-protocol.md §4.1, §8).  The native API on the main port is unchanged."""
    door_port = free_port()
    daemon = Axisd(tmp_path, [AgencySpec(G22, f"Cơ quan {G22}", hmac_secret=SECRETS[G22], vxp_system_id=SYSTEMS[G22])],
                   extra=f"[vxp]\nport = {door_port}\n")
    daemon.start()
    try:
        daemon.wait_for_door()  # its own port listens once the main one does, not before start() returns
        main_port = daemon.port
        door = VxpClient(f"http://127.0.0.1:{door_port}/vxp", SYSTEMS[G22], SECRETS[G22])
        assert door.call("countReceiveEdoc")["ErrorCode"] == "0"  # the door itself is there
        for port, path in ((door_port, "/sendEdoc"), (door_port, "/getEdoc"), (door_port, "/"),
                           (main_port, "/vxp/sendEdoc"), (main_port, "/vxp/getReceivedEdocList"),
                           (main_port, "/vxp/downloadEdoc")):
            daemon.port = port
            r = daemon.request("GET" if path.endswith("downloadEdoc") else "POST", path)
            assert r.status == 404, (port, path, r.body)
            if path.endswith("downloadEdoc"):
                assert (r.body, r.headers.get("x-axis-error")) == (b"", "http.not-found")
                continue
            answer = r.json()
            assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "http.not-found"), (port, path, answer)
            assert answer["ErrorDesc"].startswith("No such resource") and r.body.isascii()
            assert answer.get("DocId") == ("" if path.endswith("sendEdoc") else None), (port, path, answer)
        daemon.port = main_port
        native = daemon.request("GET", "/v1/nothing", as_code=G22)
        assert (native.status, native.json()["error"]["code"]) == (404, "http.not-found")
        assert daemon.request("POST", "/healthz").json()["error"]["code"] == "http.method-not-allowed"
    finally:
        daemon.kill()


INTEROP = Path(__file__).resolve().parents[2] / ".." / "shared" / "interop" / "vnpt-sdk"


@pytest.mark.skipif(not INTEROP.is_dir(), reason="the field samples are not here")
def test_field_packages_that_name_agencies_by_their_system_id(tmp_path: Path) -> None:
    """The SDK example's gateway writes its system id as the package's From, and the recipient's as To
    (interop/vnpt-sdk/gateway-upload-1da394ba.edxml: vxp.saas.03 to vxp.saas.02): the system id is the agency."""
    systems = {G22: "vxp.saas.02", H41: "vxp.saas.03", "000.00.15.H51": "vxp.h51.qlvb"}
    daemon = Axisd(tmp_path, [AgencySpec(code, f"Cơ quan {code}", hmac_secret=SECRETS.get(code, b"x" * 32),
                                         vxp_system_id=system) for code, system in systems.items()])
    daemon.start()
    try:
        def sdk(code: str) -> VxpClient:
            return VxpClient(f"http://127.0.0.1:{daemon.port}/vxp", systems[code], SECRETS.get(code, b"x" * 32))

        upload = (INTEROP / "gateway-upload-1da394ba.edxml").read_bytes()
        header = {"from": systems[H41], "servicetype": "eDoc", "messagetype": "edoc"}
        # another agency may not send it: vxp.saas.03 is H41, not G22
        assert sdk(G22).call("sendEdoc", {**header, "from": systems[G22]}, upload)["ErrorCode"] == \
            "auth.not-your-agency"
        doc_id = sent_ok(sdk(H41).call("sendEdoc", header, upload))
        g22 = sdk(G22)
        listed = g22.call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})["data"]
        assert [(i["docId"], i["from"]) for i in listed] == [(doc_id, H41)]
        assert base64.b64decode(g22.call("getEdoc", {"filePath": "xml", "docId": doc_id})["data"]) == upload
        # the SDK's placeholder Signature without a namespace, and wild codes among the recipients
        placeholder = (INTEROP / "852e179c-8eca-4502-ac38-0b97321f29c3.edxml").read_bytes()
        sent_ok(sdk("000.00.15.H51").call("sendEdoc", {"from": "000.00.15.H51", "servicetype": "eDoc",
                                                        "messagetype": "edoc"}, placeholder))
    finally:
        daemon.kill()
