"""Reading packages into the model, and the verdicts on their content (through the whole Checker)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from packages import NS, PDF, TO, edoc, status

from axis.edxml import reader, xmlsafe
from axis.edxml.model import EdocPackage, StatusPackage
from axis.errors import AxisError
from axis.verdict import Checker, Verdict

CHECKER = Checker()


def verdict(data: bytes) -> Verdict:
    return CHECKER.check(data)


def codes(v: Verdict) -> list[str]:
    return [p.code.code for p in v.problems]


# -- the interop samples, against expected.json ----------------------------------------------------------


def test_every_interop_sample_reads_as_expected(interop: Path, expected: dict[str, dict]) -> None:
    samples = sorted(p.relative_to(interop).as_posix() for p in interop.rglob("*.edxml"))
    assert samples == sorted(expected), "expected.json and the sample folder disagree"
    for name, want in expected.items():
        v = verdict((interop / name).read_bytes())
        if not want["wellformed"]:
            assert v.package is None and not v.acceptable, name
            assert codes(v) == ["xml.not-well-formed"], (name, codes(v))
            continue
        pkg = v.package
        assert v.acceptable, (name, [str(p) for p in v.errors])
        assert pkg is not None and pkg.kind == want["kind"], name
        assert pkg.sender is not None and pkg.sender.organ_id == want["from"], name
        assert v.signature is not None and v.signature.cls.value in want["signature"], (name, v.signature)
        if isinstance(pkg, EdocPackage):
            assert [t.organ_id for t in pkg.to] == want["to"], name
            assert pkg.business_doc_type == want["business_doc_type"], name
            assert len(pkg.attachments) == want["attachments"], name
        else:
            assert isinstance(pkg, StatusPackage)
            assert pkg.status_code_raw == want["status_code"], name
            assert pkg.response_for is not None and pkg.response_for.organ_id == want["response_for"], name
            assert want["attachments"] == 0


def test_interop_details_that_matter(interop: Path) -> None:
    d = interop / "vnpt-sdk"
    revocation = verdict((d / "edoc_revocation.edxml").read_bytes()).package
    assert isinstance(revocation, EdocPackage)
    assert revocation.business is not None and revocation.business.spelling == "Bussiness"
    assert revocation.business.reason == "Thu hồi văn bản điện tử"
    assert revocation.response_for[0].organ_id == "000.00.00.H14"
    assert revocation.code is not None and revocation.code.text == "7816/VPCP-TTĐT"
    assert revocation.promulgation is not None and revocation.promulgation.date is not None
    assert revocation.promulgation.date.raw == "2018/09/28" and revocation.promulgation.date.iso() == "2018-09-28"
    assert revocation.steering_type == "1" and revocation.priority == 0
    assert revocation.attachments[0].sniffed == "zip" and revocation.attachments[0].size > 200_000

    update = verdict((d / "edoc_update.edxml").read_bytes()).package
    assert isinstance(update, EdocPackage) and update.business and update.business.document_info
    assert [(r.organ_id, r.receiver_type) for r in update.business.document_info.receivers] == [
        ("000.00.00.H41", "0"), ("000.00.00.H14", "1")]
    replacement = verdict((d / "edoc_replacement.edxml").read_bytes()).package
    assert isinstance(replacement, EdocPackage) and replacement.business
    assert [r.organ_ids for r in replacement.business.replacements] == [("000.00.00.H41", "000.00.00.H14")] * 2

    saas = verdict((d / "874e0f18-90dc-45fb-989a-65401470ba84.edxml").read_bytes())
    assert isinstance(saas.package, EdocPackage)
    assert [t.organ_id for t in saas.package.traces] == [None, None]  # literal "null", then missing
    assert "edxml.trace-entry" in codes(saas) and "agency.nonstandard-code" in codes(saas)
    # declared application/pdf, the bytes are a zip: recorded, not refused
    assert saas.package.attachments[0].declared_type == "application/pdf"
    assert saas.package.attachments[0].sniffed == "zip" and "attachment.type-mismatch" in codes(saas)

    relayed = verdict((d / "852e179c-8eca-4502-ac38-0b97321f29c3.edxml").read_bytes()).package
    assert isinstance(relayed, EdocPackage)
    assert [t.organ_id for t in relayed.traces] == ["01.02.G22", "001.00.20.TT2"]
    assert relayed.traces[1].timestamp is not None and relayed.traces[1].timestamp.iso().endswith("+07:00")

    st = verdict((d / "status_cancellation_13.edxml").read_bytes()).package
    assert isinstance(st, StatusPackage) and st.status_code == "13" and st.is_known_code
    assert st.timestamp is not None and st.timestamp.iso() == "2015-09-20T11:08:36.000+07:00"
    assert st.staff_info is not None and st.staff_info.staff == "Nguyen thi ngoc tram"


# -- the model of a hand-made package ------------------------------------------------------------------------


def test_attachment_metadata_is_decoded_size_hash_and_sniffed_type() -> None:
    v = verdict(edoc())
    assert v.acceptable and isinstance(v.package, EdocPackage)
    raw = base64.b64decode(PDF)
    (att,) = v.package.attachments
    assert (att.name, att.declared_type, att.size, att.sha256, att.sniffed) == (
        "a.pdf", "application/pdf", len(raw), hashlib.sha256(raw).hexdigest(), "pdf")
    assert v.package.priority == 2
    assert v.to_dict()["attachments"][0]["type"] == "pdf"


def test_elements_are_read_by_name_in_any_order_and_cid_prefixes_are_normalised() -> None:
    data = edoc().decode()
    # move DocumentId to the end of the MessageHeader, and Bussiness before the TraceHeaders
    doc_id = "<edXML:DocumentId>000.00.00.G22,2026/11/20,123/VPCP-TTĐT</edXML:DocumentId>"
    data = data.replace(doc_id, "").replace("</edXML:MessageHeader>", doc_id + "</edXML:MessageHeader>")
    data = data.replace("<edXML:TraceHeaderList>", "<edXML:TraceHeaderList><edXML:Business>"
                        "<edXML:BusinessDocType>1</edXML:BusinessDocType></edXML:Business>")
    # the .NET variant: manifest with cid:, attachment without, plus xlink attributes
    data = data.replace("<edXML:Reference>", '<edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" '
                        'xlink:href="cid:1" xlink:type="simple">')
    data = data.replace("<ContentId>cid:1</ContentId>", "<ContentId>1</ContentId>")
    v = verdict(data.encode())
    assert v.acceptable, [str(p) for p in v.problems]
    assert isinstance(v.package, EdocPackage)
    assert v.package.document_id == "000.00.00.G22,2026/11/20,123/VPCP-TTĐT"
    assert v.package.business is not None and v.package.business.spelling == "Business"
    assert v.package.business_doc_type == 1
    assert v.package.manifest[0].content_id == v.package.attachments[0].content_id == "1"


def test_line_wrapped_base64_is_accepted() -> None:
    wrapped = "\n".join(PDF[i:i + 76] for i in range(0, len(PDF), 76))
    attachment = (f"<Attachment><ContentId>cid:1</ContentId><AttachmentName>a.pdf</AttachmentName>"
                  f"<edXML:ContentTransferEncoded xmlns:edXML=\"{NS}\">{wrapped}</edXML:ContentTransferEncoded>"
                  "</Attachment>")
    v = verdict(edoc(attachments=attachment))
    assert v.acceptable and isinstance(v.package, EdocPackage)
    assert v.package.attachments[0].size == len(base64.b64decode(PDF))


def test_status_codes_are_written_with_two_digits_and_unknown_ones_are_refused() -> None:
    one = verdict(status(code="1"))
    assert isinstance(one.package, StatusPackage) and one.package.status_code == "01"
    assert one.package.status_code_raw == "1" and one.acceptable
    for unknown in ("9", "07", "14", "999"):  # outside 01-06, 13, 15, 16: no receiving system can act on it
        odd = verdict(status(code=unknown))
        assert not odd.acceptable and codes(odd) == ["edxml.unknown-status"], unknown
        assert odd.errors[0].where.path is not None and unknown in odd.errors[0].detail
    bad = verdict(status(code="OK"))
    assert not bad.acceptable and codes(bad) == ["edxml.invalid-value"]


def test_dual_addressing_of_one_agency_is_recorded_not_refused() -> None:
    v = verdict(edoc(to=("G12", "000.00.00.G12")))  # the national axis's QĐ 20 transition (knobstick.edxml)
    assert v.acceptable and codes(v) == ["edxml.dual-address"]


# -- clear verdicts: each fault its own code, with where ------------------------------------------------------

FAULTS = [
    ("no From", dict(sender=""), "edxml.missing-field", "/MessageHeader"),
    ("From without OrganId", dict(sender="<edXML:From><edXML:OrganName>X</edXML:OrganName></edXML:From>"),
     "edxml.missing-field", "/MessageHeader/From"),
    ("two From", dict(sender=edoc.__kwdefaults__["sender"] * 2), "edxml.duplicate-field", "/MessageHeader/From[2]"),
    ("no To", dict(to=()), "edxml.missing-field", "/MessageHeader"),
    ("duplicate To", dict(to=("000.00.00.H41", "000.00.00.H14", "000.00.00.H41")), "edxml.duplicate-to",
     "/MessageHeader/To[3]"),
    ("bad To code", dict(to=("H41!",)), "agency.invalid-code", "/MessageHeader/To/OrganId"),
    ("bad From code", dict(sender="<edXML:From><edXML:OrganId>000.00.00</edXML:OrganId></edXML:From>"),
     "agency.invalid-code", "/MessageHeader/From/OrganId"),
    ("no DocumentId", dict(document_id=""), "edxml.missing-field", "/MessageHeader"),
    ("bad date", dict(extra_header="<edXML:DueDate>30/11/2026</edXML:DueDate>"), "edxml.bad-date",
     "/MessageHeader/DueDate"),
    ("impossible date", dict(extra_header="<edXML:DueDate>2026/02/30</edXML:DueDate>"), "edxml.bad-date",
     "/MessageHeader/DueDate"),
    ("manifest without attachment", dict(attachments=""), "attachment.missing", "/edXMLManifest/Reference"),
    ("attachment without manifest", dict(manifest=""), "attachment.unlisted", "/AttachmentEncoded/Attachment"),
    ("truncated base64", dict(attachments=(
        f"<Attachment><ContentId>cid:1</ContentId><edXML:ContentTransferEncoded xmlns:edXML=\"{NS}\">"
        f"{PDF[:-3]}</edXML:ContentTransferEncoded></Attachment>")), "attachment.invalid-base64",
     "/Attachment/ContentTransferEncoded"),
    ("bad business type", dict(business="<edXML:Bussiness><edXML:BussinessDocType>7</edXML:BussinessDocType>"
                                        "</edXML:Bussiness>"), "edxml.invalid-value", "/Bussiness/BussinessDocType"),
    ("unknown element", dict(extra_header="<edXML:Surprise>1</edXML:Surprise>"), "edxml.schema",
     "/MessageHeader/Surprise"),
    ("To misplaced", dict(trace=TO.format(code="000.00.00.H41")), "edxml.schema", "/TraceHeaderList/To"),
]


@pytest.mark.parametrize(("name", "parts", "code", "path"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_is_refused_with_its_code_and_location(name: str, parts: dict, code: str, path: str) -> None:
    v = verdict(edoc(**parts))
    assert not v.acceptable, name
    matching = [p for p in v.errors if p.code.code == code]
    assert matching, (name, codes(v))
    assert matching[0].where.line is not None and matching[0].where.path is not None
    assert matching[0].where.path.endswith(path) or path in matching[0].where.path, matching[0].where


def test_priority_outside_zero_to_four_is_refused() -> None:
    data = edoc().replace(b"<edXML:Priority>2</edXML:Priority>", b"<edXML:Priority>9</edXML:Priority>")
    assert codes(verdict(data)) == ["edxml.invalid-value"]


@pytest.mark.parametrize("digits", ["²", "٣", "３", "①", "9" * 5000], ids=["superscript", "arabic-indic", "fullwidth",
                                                                          "circled", "5000-digits"])
def test_numbers_are_ascii_digits_only(digits: str) -> None:
    # "²".isdigit() is true and int("²") raises (an internal.error, found while writing the fuzzer); int("٣") is 3,
    # which made an Arabic-Indic digit a replacement (BussinessDocType 3) or a priority.  int() also refuses
    # more than 4,300 digits (sys.get_int_max_str_digits): another internal.error.
    priority = edoc().replace(b"<edXML:Priority>2</edXML:Priority>", f"<edXML:Priority>{digits}</edXML:Priority>".encode())
    business = edoc(business=f"<edXML:Bussiness><edXML:BussinessDocType>{digits}</edXML:BussinessDocType>"
                             "</edXML:Bussiness>")
    for data in (priority, business, status(code=digits)):
        v = verdict(data)
        assert codes(v) == ["edxml.invalid-value"], codes(v)
        assert not v.acceptable


@pytest.mark.parametrize(("data", "code"), [
    (status(code=None), "edxml.missing-field"),  # type: ignore[arg-type]
    (status(response_for=""), "edxml.missing-field"),
    (status(response_for="<edXML:ResponseFor><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:ResponseFor>"),
     "edxml.missing-field"),
    (status(timestamp="2026-11-20T10:15:00"), "edxml.bad-date"),
    (status(sender="not a code"), "agency.invalid-code"),
])
def test_status_faults(data: bytes, code: str) -> None:
    v = verdict(data)
    assert not v.acceptable and code in codes(v), codes(v)


def test_a_package_that_is_not_edxml_is_refused_as_such() -> None:
    for data in (b"<html><body/></html>", b"<edXML/>", f'<edXML xmlns="{NS}"/>'.encode(),
                 f'<edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>'.encode()):
        v = verdict(data)
        assert codes(v) == ["edxml.not-edxml"] and v.package is None, data
    with pytest.raises(AxisError) as info:
        reader.locate(xmlsafe.parse(b"<edXML/>").root)
    assert "namespace" in info.value.problem.detail


def test_every_refusal_names_code_message_and_where_in_json() -> None:
    v = verdict(edoc(to=("000.00.00.H41", "000.00.00.H41")))
    (err,) = v.to_dict()["errors"]
    assert err["code"] == "edxml.duplicate-to" and err["severity"] == "error"
    assert "000.00.00.H41" in err["message"] and err["message_vi"]
    assert err["where"]["line"] > 0 and err["where"]["path"].startswith("/edXML/")


def test_a_crash_inside_the_checker_becomes_an_internal_error_not_an_exception(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(reader, "read", boom)
    v = verdict(edoc())
    assert codes(v) == ["internal.error"] and not v.acceptable
    assert "bug" not in v.to_dict()["errors"][0]["message"]


def test_recipients_read_the_same_way_every_time_and_problems_are_reported_every_time() -> None:
    # Organizations with a standard code are remembered between packages: what was read must not change, and a
    # code that reading reports (nonstandard, invalid, duplicated) must be reported in every package.
    to_xml = ("<edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId><edXML:OrganName>Tỉnh A</edXML:OrganName>"
              "<edXML:Email>a@b.vn</edXML:Email></edXML:To>"
              "<edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId><edXML:OrganName>Tỉnh B</edXML:OrganName></edXML:To>"
              "<edXML:To><edXML:OrganId>vxp.saas.03</edXML:OrganId></edXML:To>"
              "<edXML:To><edXML:OrganId>H41</edXML:OrganId></edXML:To>")
    for _ in range(3):
        v = verdict(edoc(to_xml=to_xml))
        pkg = v.package
        assert isinstance(pkg, EdocPackage)
        assert [(t.organ_id, t.organ_name, t.email) for t in pkg.to] == [
            ("000.00.00.H41", "Tỉnh A", "a@b.vn"), ("000.00.00.H41", "Tỉnh B", None), ("vxp.saas.03", None, None),
            ("H41", None, None)]
        assert pkg.to[0].code is not None and pkg.to[0].code.canonical == "000.00.00.H41"
        assert codes(v).count("edxml.duplicate-to") == 1  # the second 000.00.00.H41
        assert codes(v).count("agency.nonstandard-code") == 1  # vxp.saas.03, every time
        assert codes(v).count("edxml.dual-address") == 1  # H41 is 000.00.00.H41 again


def test_a_status_without_its_status_code_is_refused_as_a_status_missing_it() -> None:
    # No To, a ResponseFor: the shape of a status.  Judged as a document it was refused for lacking To and
    # DocumentId, which says nothing of what is wrong.
    v = verdict(status(code=None))  # type: ignore[arg-type]
    assert not v.acceptable and isinstance(v.package, StatusPackage)
    assert "edxml.missing-field" in codes(v) and any("StatusCode" in p.detail for p in v.errors)
    assert not any("<To>" in p.detail or "DocumentId" in p.detail for p in v.errors), [str(p) for p in v.errors]
