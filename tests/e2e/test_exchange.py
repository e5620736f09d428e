"""End to end: a real axisd process on loopback, real signed packages, real mailboxes and push receivers."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon import AXIS_CODE, AgencySpec, Axisd, Receiver, make_pki, token_of
from packages import edoc, status

from axis import auth
from axis.agencycode import parse_strict
from axis.receipt import load_certificate, verify_receipt
from axis.registry import Agency, Credentials, Registry
from axis.signature.sign import sign_package
from axis.vntime import now

G22, H41, H41_01, G12, G09 = "000.00.00.G22", "000.00.00.H41", "000.00.01.H41", "000.00.00.G12", "000.00.00.G09"
AXISCTL = Path(sys.executable).with_name("axisctl")


def sender_xml(code: str) -> str:
    return f"<edXML:From><edXML:OrganId>{code}</edXML:OrganId><edXML:OrganName>Cơ quan gửi</edXML:OrganName></edXML:From>"


def document(sender: str, to: tuple[str, ...], doc_id: str) -> bytes:
    return edoc(sender=sender_xml(sender), to=to, document_id=f"<edXML:DocumentId>{doc_id}</edXML:DocumentId>")


def status_for(author: str, original_sender: str, doc_id: str, code: str = "03") -> bytes:
    rf = (f"<edXML:ResponseFor><edXML:OrganId>{original_sender}</edXML:OrganId><edXML:Code>123/VPCP</edXML:Code>"
          f"<edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate><edXML:DocumentId>{doc_id}</edXML:DocumentId>"
          "</edXML:ResponseFor>")
    return status(code=code, sender=author, response_for=rf)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Axisd, Receiver, dict]]:
    root = tmp_path_factory.mktemp("axis")
    certs = make_pki(root / "pki", [G22, H41, H41_01, G12])
    receiver = Receiver()
    agencies = [
        AgencySpec(G22, "Văn phòng Chính phủ"),
        AgencySpec(H41, "UBND tỉnh", hmac_secret=b"a-shared-secret-of-h41-0123456789"),
        AgencySpec(H41_01, "Sở TT&TT", signature="require"),
        AgencySpec(G12, "Bộ Tài chính", delivery="push", push_url=receiver.url),
    ]
    axisd = Axisd(root, agencies, pki_dir=root / "pki")
    axisd.start()
    try:
        yield axisd, receiver, certs
    finally:
        axisd.kill()
        receiver.down()


def test_a_signed_document_travels_and_both_ledgers_record_it(world: tuple[Axisd, Receiver, dict]) -> None:
    axisd, _, certs = world
    doc_id = "000.00.00.G22,2026/11/22,1/VPCP"
    data = sign_package(document(G22, (H41, "H40", "000.00.01.H41"), doc_id), certs[G22])
    r = axisd.submit(data, G22)
    assert r.status == 422 and r.json()["error"]["code"] == "route.unknown-recipient"
    assert "H40" in r.json()["error"]["message"] and "000.00.01.H41" not in r.json()["error"]["message"]
    assert axisd.mailbox(H41) == [] and axisd.mailbox(H41_01) == []  # nothing half-accepted

    data = sign_package(document(G22, (H41, "H41.01"), doc_id), certs[G22])  # QĐ 20 form of 000.00.01.H41
    r = axisd.submit(data, G22)
    assert r.status == 202, r.body
    answer = r.json()
    assert answer["verdict"]["signature"]["class"] == "valid" and answer["duplicate"] is False
    assert sorted(x["code"] for x in answer["recipients"]) == [H41, H41_01]
    receipt = verify_receipt(answer["receipt"], load_certificate(axisd.data_dir / "axis-cert.pem"))
    assert receipt.message_id == answer["message_id"] and receipt.axis == AXIS_CODE
    assert receipt.sha256 == hashlib.sha256(data).hexdigest() and receipt.sender == G22
    message_id = answer["message_id"]

    again = axisd.submit(data, G22)  # a retry after a lost answer: the same receipt, nothing new
    assert again.status == 202 and again.json()["duplicate"] is True
    assert again.json()["receipt"] == answer["receipt"]

    # the recipient (HMAC credentials) sees it, fetches the exact bytes, acknowledges
    secret = b"a-shared-secret-of-h41-0123456789"
    box = axisd.request("GET", "/v1/mailbox", as_code=H41, hmac_secret=secret)
    assert box.status == 200
    items = box.json()["items"]
    assert [i["message_id"] for i in items] == [message_id]
    assert items[0]["priority"] == 2 and items[0]["priority_label"] == "Thượng khẩn"
    fetched = axisd.request("GET", f"/v1/mailbox/{message_id}", as_code=H41, hmac_secret=secret)
    assert fetched.status == 200 and fetched.body == data
    assert fetched.headers["x-axis-trace"].startswith(AXIS_CODE + ";")
    # nobody reads another agency's mailbox or sent list
    assert axisd.request("GET", f"/v1/mailbox/{message_id}", as_code=G12).status == 404
    assert axisd.sent(message_id, H41).status == 404
    ack = axisd.request("POST", f"/v1/mailbox/{message_id}/ack", json.dumps({"result": "done"}).encode(),
                        as_code=H41, hmac_secret=secret)
    assert ack.status == 200 and ack.json()["state"] == "done"
    assert axisd.mailbox(H41) == []

    # the recipient reports status 03 (accepted): routed back to the sender, recorded in the business ledger
    st = sign_package(status_for(H41, G22, doc_id, "03"), certs[H41])
    r = axisd.request("POST", "/v1/packages", st, as_code=H41, hmac_secret=secret)
    assert r.status == 202, r.body
    assert [x["code"] for x in r.json()["recipients"]] == [G22]
    assert [i["status_code"] for i in axisd.mailbox(G22)] == ["03"]

    view = axisd.sent(message_id, G22)
    assert view.status == 200
    by_code = {x["code"]: x for x in view.json()["recipients"]}
    assert by_code[H41]["state"] == "done" and by_code[H41_01]["state"] == "queued"
    assert [e["event"] for e in by_code[H41]["events"]] == ["queued", "delivered", "acknowledged"]
    assert [b["status_code"] for b in by_code[H41]["business"]] == ["03"]
    assert by_code[H41_01]["business"] == []
    for event in by_code[H41]["events"]:
        assert event["at"].endswith("+07:00")

    out = subprocess.run([str(AXISCTL), "trace", doc_id, "--config", str(axisd.config)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "acknowledged" in out.stdout and "status 03" in out.stdout and f"{H41:<16} 03 by {H41}" in out.stdout


def test_identity_and_policy_refusals(world: tuple[Axisd, Receiver, dict]) -> None:
    axisd, _, certs = world
    doc_id = "000.00.00.G22,2026/11/22,2/VPCP"
    data = sign_package(document(G22, (H41,), doc_id), certs[G22])
    assert axisd.submit(data, None).status == 401  # type: ignore[arg-type]
    r = axisd.request("POST", "/v1/packages", data, headers={"Authorization": "Bearer wrong"})
    assert r.status == 401 and r.json()["error"]["code"] == "auth.invalid"
    r = axisd.submit(data, H41)  # H41 may not send as G22
    assert r.status == 403 and r.json()["error"]["code"] == "auth.not-your-agency"
    r = axisd.request("POST", "/v1/packages", data, as_code=H41, hmac_secret=b"not-the-secret-of-h41-0123456789")
    assert r.status == 401
    # G22 signing with H41's certificate: a valid signature, but not G22's; refused and counted
    spoofed = sign_package(document(G22, (H41,), "000.00.00.G22,2026/11/22,21/VPCP"), certs[H41])
    r = axisd.submit(spoofed, G22)
    assert r.status == 403 and r.json()["error"]["code"] == "signature.signer-mismatch", r.body
    assert axisd.metric('axis_packages_refused_total{reason="signature.signer-mismatch"}') == 1
    # the strict agency must sign
    unsigned = document(H41_01, (G22,), "000.00.01.H41,2026/11/22,3/STTTT")
    r = axisd.submit(unsigned, H41_01)
    assert r.status == 400 and r.json()["error"]["code"] == "signature.required"
    assert axisd.mailbox(G22) == [] or all(i["document_id"] != "000.00.01.H41,2026/11/22,3/STTTT"
                                            for i in axisd.mailbox(G22))
    # a broken package: the verdict's first error, nothing stored
    r = axisd.submit(b"<edXML", G22)
    assert r.status == 400 and r.json()["error"]["code"] == "xml.not-well-formed"
    assert "Traceback" not in "".join(axisd.log_lines())


def test_signature_verdicts_count_the_refused_packages_too(world: tuple[Axisd, Receiver, dict]) -> None:
    """axis_signature_verdicts_total counted only packages that passed every check, so an invalid signature (always
    refused) never appeared in it, nor an absent one refused under signature = "require"."""
    axisd, _, certs = world

    def verdicts(cls: str) -> float:
        return axisd.metric(f'axis_signature_verdicts_total{{class="{cls}"}}') or 0.0

    invalid, absent = verdicts("invalid"), verdicts("absent")
    signed = sign_package(document(G22, (H41,), "000.00.00.G22,2026/11/22,31/VPCP"), certs[G22])
    tampered = signed.replace(b"31/VPCP", b"32/VPCP", 1)
    r = axisd.submit(tampered, G22)
    assert r.status >= 400 and r.json()["error"]["code"].startswith("signature."), r.body
    assert r.json()["verdict"]["signature"]["class"] == "invalid"
    assert verdicts("invalid") == invalid + 1
    r = axisd.submit(document(H41_01, (G22,), "000.00.01.H41,2026/11/22,33/STTTT"), H41_01)
    assert r.json()["error"]["code"] == "signature.required"
    assert verdicts("absent") == absent + 1


def test_push_to_a_receiver_that_is_down_then_comes_back(world: tuple[Axisd, Receiver, dict]) -> None:
    axisd, receiver, certs = world
    data = sign_package(document(G22, (G12,), "000.00.00.G22,2026/11/22,4/VPCP"), certs[G22])
    r = axisd.submit(data, G22)
    assert r.status == 202
    message_id = r.json()["message_id"]
    axisd.wait_for(lambda: axisd.sent(message_id, G22).json()["recipients"][0]["attempts"] >= 2,
                   what="two failed attempts")
    receiver.up()
    got = axisd.wait_for(lambda: [x for x in receiver.received if x.headers.get("idempotency-key") == message_id],
                         what="the push")
    assert got[0].body == data and got[0].headers["x-axis-sha256"] == r.json()["receipt"]["receipt"]["sha256"]
    view = axisd.wait_for(lambda: (v := axisd.sent(message_id, G22).json())["recipients"][0]["state"] == "delivered"
                          and v, what="delivered state")
    events = [e["event"] for e in view["recipients"][0]["events"]]
    assert events[0] == "queued" and events[-1] == "delivered" and "failed" in events


def test_metrics_and_readiness(world: tuple[Axisd, Receiver, dict]) -> None:
    axisd, _, _ = world
    assert axisd.request("GET", "/readyz").status == 200
    text = axisd.request("GET", "/metrics").body.decode()
    for name in ("axis_packages_accepted_total", "axis_packages_refused_total", "axis_accept_seconds_bucket",
                 "axis_signature_verdicts_total", "axis_queue_depth", "axis_queue_oldest_age_seconds",
                 "axis_config_last_reload_successful 1.0", "axis_registry_agencies 4.0"):
        assert name in text, name
    assert 'axis_packages_refused_total{reason="auth.not-your-agency"}' in text
    # every accepted package went through a group commit and an fsync of its own or a shared one
    groups = re.search(r"^axis_store_group_writes_sum (\S+)$", text, re.M)
    syncs = re.search(r"^axis_store_sync_seconds_count (\S+)$", text, re.M)
    assert groups and syncs and float(groups.group(1)) >= 1 and float(syncs.group(1)) >= 1


def test_dead_letter_and_resend(tmp_path: Path) -> None:
    receiver = Receiver()
    secret = b"g09-push-secret-0123456789abcdef"
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(G09, delivery="push", push_url=receiver.url,
                                                         hmac_secret=secret)], dead_after=1.5)
    axisd.start()
    try:
        r = axisd.submit(document(G22, (G09,), "000.00.00.G22,2026/11/22,5/VPCP"), G22)
        assert r.status == 202
        message_id = r.json()["message_id"]
        axisd.wait_for(lambda: axisd.sent(message_id, G22).json()["recipients"][0]["state"] == "dead",
                       what="the dead letter")
        out = subprocess.run([str(AXISCTL), "dead-letters", "--json", "--config", str(axisd.config)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        assert [(x["message_id"], x["recipient"]) for x in rows] == [(message_id, G09)]
        assert "Connection" in rows[0]["last_error"] or "refused" in rows[0]["last_error"].lower()
        receiver.up()
        out = subprocess.run([str(AXISCTL), "resend", message_id, "--config", str(axisd.config)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "requeued 1" in out.stdout, out.stdout + out.stderr
        out = subprocess.run([str(AXISCTL), "audit", "--json", "--config", str(axisd.config)],
                             capture_output=True, text=True, timeout=60)
        (entry,) = [json.loads(line) for line in out.stdout.splitlines()]
        assert (entry["action"], entry["detail"]) == ("resend", f"{message_id}: 1 requeued")
        assert entry["actor"].startswith("operator ") and "@" in entry["actor"]
        pushed = axisd.wait_for(lambda: receiver.received, what="the resent push")[0]
        # the receiver can check that the push comes from axis, with the secret it shares with axis
        signer = Registry([Agency(parse_strict(AXIS_CODE), "axis", credentials=Credentials(hmac_secret=secret))])
        assert auth.authenticate(signer, pushed.headers, "POST", pushed.path, pushed.body, now()).key == AXIS_CODE
        view = axisd.wait_for(lambda: (v := axisd.sent(message_id, G22).json())["recipients"][0]["state"]
                              == "delivered" and v, what="delivered after resend")
        events = [e["event"] for e in view["recipients"][0]["events"]]
        assert events[-3:] == ["dead", "resent", "delivered"]
    finally:
        axisd.kill()
        receiver.down()


def test_a_dead_letter_the_push_agency_fetches_or_acknowledges_is_delivered(tmp_path: Path) -> None:
    # Its push endpoint is down for good, but the agency takes its packages from its mailbox by their ids.
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(G09, delivery="push", push_url=Receiver().url)],
                  dead_after=1.5)
    axisd.start()
    try:
        ids = [axisd.submit(document(G22, (G09,), f"000.00.00.G22,2026/11/22,{n}/VPCP"), G22).json()["message_id"]
               for n in (6, 7)]
        state = lambda message_id: axisd.sent(message_id, G22).json()["recipients"][0]  # noqa: E731
        for message_id in ids:
            axisd.wait_for(lambda: state(message_id)["state"] == "dead", what="the dead letter")
        fetched = axisd.request("GET", f"/v1/mailbox/{ids[0]}", as_code=G09)
        assert fetched.status == 200 and b"6/VPCP" in fetched.body
        assert state(ids[0])["state"] == "delivered"
        assert [e["event"] for e in state(ids[0])["events"]][-2:] == ["dead", "delivered"]
        ack = axisd.request("POST", f"/v1/mailbox/{ids[1]}/ack", json.dumps({"result": "processing"}).encode(),
                            as_code=G09)
        assert ack.status == 200 and ack.json()["state"] == "processing"
        assert [e["event"] for e in state(ids[1])["events"]][-3:] == ["dead", "delivered", "processing"]
    finally:
        axisd.kill()


def test_nothing_acknowledged_is_lost_when_killed(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(H41)])
    axisd.start()
    accepted = []
    try:
        for n in range(20):
            r = axisd.submit(document(G22, (H41,), f"000.00.00.G22,2026/11/22,{100 + n}/VPCP"), G22)
            assert r.status == 202
            accepted.append(r.json()["message_id"])
        axisd.signal(signal.SIGKILL)  # right after the last acknowledgement
        axisd.proc.wait(timeout=10)  # type: ignore[union-attr]
        axisd.proc = None
        axisd.start()
        box = axisd.mailbox(H41)
        assert sorted(i["message_id"] for i in box) == sorted(accepted)
    finally:
        axisd.kill()


def test_reload_applies_good_edits_and_refuses_bad_ones(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(G22), AgencySpec(H41)], extra="[limits]\nmax_package_bytes = 20000\n")
    axisd.start()
    try:
        too_big = axisd.submit(b"<edXML>" + b" " * 30000 + b"</edXML>", G22)
        assert too_big.status == 413 and too_big.json()["error"]["code"] == "body.too-large"
        data = document(G22, (G12,), "000.00.00.G22,2026/11/22,9/VPCP")
        assert axisd.submit(data, G22).status == 422
        agencies = axisd.conf / "agencies.toml"
        good = agencies.read_text() + AgencySpec(G12).toml(axisd.conf / "secrets")
        agencies.write_text(good)
        out = subprocess.run([str(AXISCTL), "reload", "--config", str(axisd.config)], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0 and "reloaded" in out.stdout, out.stdout + out.stderr
        assert axisd.submit(data, G22).status == 202
        agencies.write_text(good + '[[agency]]\ncode = "not a code"\nname = "x"\n')
        out = subprocess.run([str(AXISCTL), "reload", "--config", str(axisd.config)], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 1 and "refused" in out.stdout and "agencies.toml" in out.stdout
        assert axisd.mailbox(G12)  # the old configuration still serves
        metrics = axisd.request("GET", "/metrics").body.decode()
        assert "axis_config_last_reload_successful 0.0" in metrics
        assert 'axis_config_reloads_total{result="refused"} 1.0' in metrics
    finally:
        axisd.kill()


def test_axisctl_as_an_agency_client(world: tuple[Axisd, Receiver, dict], tmp_path: Path) -> None:
    axisd, _, _ = world
    package = tmp_path / "p.edxml"
    package.write_bytes(document(G22, (H41_01,), "000.00.00.G22,2026/11/22,77/VPCP"))
    url = f"http://127.0.0.1:{axisd.port}/"

    def axisctl(*args: str, token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(AXISCTL), *args, "--url", url], capture_output=True, text=True, timeout=60,
                              env={"AXIS_TOKEN": token, "PATH": "/usr/bin:/bin"})

    sent = axisctl("send", str(package), token=token_of(G22))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    answer = json.loads(sent.stdout)
    (tmp_path / "answer.json").write_text(sent.stdout)
    check = subprocess.run([str(AXISCTL), "verify-receipt", str(tmp_path / "answer.json"), "--cert",
                            str(axisd.data_dir / "axis-cert.pem"), "--file", str(package)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.startswith("receipt OK"), check.stdout
    box = json.loads(axisctl("mailbox", token=token_of(H41_01)).stdout)
    assert answer["message_id"] in [i["message_id"] for i in box["items"]]
    fetched = axisctl("fetch", answer["message_id"], "-o", str(tmp_path / "got.edxml"), token=token_of(H41_01))
    assert fetched.returncode == 0 and (tmp_path / "got.edxml").read_bytes() == package.read_bytes()
    acked = axisctl("ack", answer["message_id"], "--result", "fail", "--reason", "sai địa chỉ", token=token_of(H41_01))
    assert acked.returncode == 0 and json.loads(acked.stdout)["state"] == "failed"
    denied = axisctl("sent", answer["message_id"], token=token_of(H41_01))
    assert denied.returncode == 1 and "message.not-found" in denied.stdout
