"""The edXML schemas (schemas/*.xsd) and axis.edxml.schema: real samples pass, misplaced elements are named."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
from lxml import etree

from axis.edxml.schema import MAX_PROBLEMS, SchemaSet, default_schemas, find_schema_dir
from axis.errors import Code, Problem

REPO = Path(__file__).resolve().parents[2]
QCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


# ----------------------------------------------------------------------------- helpers


def _interop_dir() -> Path | None:
    env = os.environ.get("AXIS_INTEROP_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "interop"
    return path if (path / "expected.json").is_file() else None


def _samples() -> list[Any]:
    interop = _interop_dir()
    if interop is None:
        reason = "interop samples not found (set AXIS_INTEROP_DIR or provide ../shared/interop/)"
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=reason), id="no-interop-samples")]
    expected = json.loads((interop / "expected.json").read_text(encoding="utf-8"))
    return [
        pytest.param(name, info["kind"], id=name.rpartition("/")[2])
        for name, info in sorted(expected.items())
        if not name.startswith("_") and info.get("wellformed")
    ]


def parse(data: bytes | str) -> etree._Element:
    if isinstance(data, str):
        data = data.encode("utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    return etree.fromstring(data, parser)


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet()


# A small, valid document package in the VNPT layout.  The {slots} are filled per test.
EDOC = """<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"{root_attrs}>
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
{message_header}
      </edXML:MessageHeader>
      <edXML:TraceHeaderList{trace_attrs}>
{trace}
      </edXML:TraceHeaderList>
{signature}
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
{references}
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
{attachments}
  </AttachmentEncoded>
</edXML>
"""

MESSAGE_HEADER = """\
        <edXML:From>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
        </edXML:From>
        <edXML:To>
          <edXML:OrganId>000.00.00.H41</edXML:OrganId>
        </edXML:To>
        <edXML:DocumentId>000.00.00.G22,2025/10/20,7816/VPCP-TTĐT</edXML:DocumentId>
        <edXML:Code><edXML:CodeNumber>7816</edXML:CodeNumber><edXML:CodeNotation>VPCP-TTĐT</edXML:CodeNotation></edXML:Code>
        <edXML:Subject>Thử nghiệm</edXML:Subject>
        <edXML:OtherInfo><edXML:Priority>0</edXML:Priority><edXML:Direction>false</edXML:Direction></edXML:OtherInfo>
        <edXML:SteeringType>0</edXML:SteeringType>"""

TRACE = """\
        <edXML:TraceHeader>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:Timestamp>2025/10/20 10:48:03</edXML:Timestamp>
        </edXML:TraceHeader>
        <edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType><edXML:Paper>0</edXML:Paper></edXML:Bussiness>"""

REFERENCES = """\
        <edXML:Reference>
          <edXML:ContentId>cid:1</edXML:ContentId>
          <edXML:ContentType>application/pdf</edXML:ContentType>
          <edXML:AttachmentName>a.pdf</edXML:AttachmentName>
        </edXML:Reference>"""

ATTACHMENTS = """\
    <Attachment>
      <ContentId>cid:1</ContentId>
      <AttachmentName>a.pdf</AttachmentName>
      <ContentType>application/pdf</ContentType>
      <edXML:ContentTransferEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">JVBERi0xLjQK</edXML:ContentTransferEncoded>
    </Attachment>"""


def edoc(**parts: str) -> str:
    values = {
        "root_attrs": "",
        "message_header": MESSAGE_HEADER,
        "trace_attrs": "",
        "trace": TRACE,
        "signature": "",
        "references": REFERENCES,
        "attachments": ATTACHMENTS,
    }
    values.update(parts)
    return EDOC.format(**values)


STATUS = """<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:From>
        <edXML:ResponseFor>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:DocumentId>000.00.00.G22,2025/10/20,7816/VPCP-TTĐT</edXML:DocumentId>
        </edXML:ResponseFor>
{extra}
        <edXML:StatusCode>01</edXML:StatusCode>
        <edXML:Timestamp>2025/10/20 11:08:36</edXML:Timestamp>
      </edXML:MessageHeader>
{signature}
    </edXML:edXMLHeader>
  </edXML:edXMLEnvelope>
</edXML>
"""


def status(extra: str = "", signature: str = "") -> str:
    return STATUS.format(extra=extra, signature=signature)


def assert_names(problems: list[Problem], name: str, path_suffix: str, line: int | None = None) -> Problem:
    """At least one edxml.schema problem names ``name``, with a line and a path ending in ``path_suffix``."""
    assert problems, "expected a schema problem"
    for problem in problems:
        assert problem.code is Code.EDXML_SCHEMA
        assert problem.where.line is not None and problem.where.path is not None, problem
    matching = [p for p in problems if f"'{name}'" in p.detail and p.where.path.endswith(path_suffix)]
    assert matching, [str(p) for p in problems]
    if line is not None:
        assert matching[0].where.line == line, str(matching[0])
    return matching[0]


# ----------------------------------------------------------------------------- real samples


@pytest.mark.parametrize(("name", "kind"), _samples())
def test_real_sample_validates_against_its_kind(schemas: SchemaSet, name: str, kind: str) -> None:
    interop = _interop_dir()
    assert interop is not None
    root = parse((interop / name).read_bytes())
    assert schemas.validate(root, kind) == []


@pytest.mark.parametrize(("name", "kind"), _samples())
def test_real_sample_fails_against_the_other_kind(schemas: SchemaSet, name: str, kind: str) -> None:
    # An edoc has To, Subject, ... that a status may not hold; a status has StatusCode.
    interop = _interop_dir()
    assert interop is not None
    root = parse((interop / name).read_bytes())
    other = "status" if kind == "edoc" else "edoc"
    problems = schemas.validate(root, other)
    assert problems and all(p.code is Code.EDXML_SCHEMA for p in problems)


# ----------------------------------------------------------------------------- hand-made packages


def test_minimal_packages_are_valid(schemas: SchemaSet) -> None:
    assert schemas.validate(parse(edoc()), "edoc") == []
    assert schemas.validate(parse(status()), "status") == []


def test_to_inside_trace_header_list(schemas: SchemaSet) -> None:
    text = edoc(trace=TRACE + "\n        <edXML:To><edXML:OrganId>000.00.00.H14</edXML:OrganId></edXML:To>")
    problems = schemas.validate(parse(text), "edoc")
    problem = assert_names(problems, "To", "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/To",
                           line_of(text, "<edXML:To><edXML:OrganId>000.00.00.H14"))
    assert "TraceHeaderList" in problem.detail
    assert problem.where.path == "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/To"


def test_unknown_element_in_message_header(schemas: SchemaSet) -> None:
    text = edoc(message_header=MESSAGE_HEADER + "\n        <edXML:Urgency>3</edXML:Urgency>")
    problems = schemas.validate(parse(text), "edoc")
    problem = assert_names(problems, "Urgency", "/MessageHeader/Urgency", line_of(text, "<edXML:Urgency>"))
    assert "MessageHeader" in problem.detail


def test_to_in_status_package(schemas: SchemaSet) -> None:
    text = status(extra="        <edXML:To><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:To>")
    problems = schemas.validate(parse(text), "status")
    assert_names(problems, "To", "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To", line_of(text, "<edXML:To>"))


def test_status_package_rejects_other_edoc_fields(schemas: SchemaSet) -> None:
    text = status(extra="        <edXML:Subject>x</edXML:Subject>")
    assert_names(schemas.validate(parse(text), "status"), "Subject", "/MessageHeader/Subject")


def test_element_in_a_foreign_namespace_inside_the_envelope(schemas: SchemaSet) -> None:
    text = edoc().replace(
        "    <edXML:edXMLBody>",
        '    <x:edXMLBody xmlns:x="urn:example:wrong"/>\n    <edXML:edXMLBody>',
    )
    problems = schemas.validate(parse(text), "edoc")
    problem = assert_names(problems, "edXMLBody", "/edXML/edXMLEnvelope/edXMLBody", line_of(text, "<x:edXMLBody"))
    assert "urn:example:wrong" in problem.detail


def test_element_without_namespace_inside_the_header(schemas: SchemaSet) -> None:
    # ##other admits extensions from other namespaces, never an element that lost its namespace.
    text = edoc(message_header=MESSAGE_HEADER + '\n        <Priority xmlns="">1</Priority>')
    problems = schemas.validate(parse(text), "edoc")
    problem = assert_names(problems, "Priority", "/MessageHeader/Priority", line_of(text, '<Priority xmlns=""'))
    assert "without a namespace" in problem.detail


@pytest.mark.parametrize(
    ("attachments", "name", "suffix"),
    [
        ("    <Garbage><Junk>AAAA</Junk></Garbage>", "Garbage", "/edXML/AttachmentEncoded/Garbage"),
        ("    <Attachment><ContentId>cid:1</ContentId><Payload>AAAA</Payload></Attachment>", "Payload",
         "/edXML/AttachmentEncoded/Attachment/Payload"),
        ("    <Attachment><ContentTransferEncoded><b>AAAA</b></ContentTransferEncoded></Attachment>", "b",
         "/AttachmentEncoded/Attachment/ContentTransferEncoded/b"),
    ],
    ids=["garbage-in-AttachmentEncoded", "garbage-in-Attachment", "element-in-base64-leaf"],
)
def test_garbage_attachment_content(schemas: SchemaSet, attachments: str, name: str, suffix: str) -> None:
    text = edoc(attachments=attachments)
    problems = schemas.validate(parse(text), "edoc")
    assert_names(problems, name, suffix, line_of(text, attachments.strip()))


def test_missing_body_is_reported_for_edoc_only(schemas: SchemaSet) -> None:
    start = EDOC.index("    <edXML:edXMLBody>")
    end = EDOC.index("  </edXML:edXMLEnvelope>")
    text = edoc().replace(EDOC[start:end].format(references=REFERENCES), "")
    problems = schemas.validate(parse(text), "edoc")
    assert any("edXMLBody" in p.detail and p.where.path == "/edXML/edXMLEnvelope" for p in problems), problems
    assert schemas.validate(parse(status()), "status") == []  # a status has no body


def test_problems_are_capped(schemas: SchemaSet) -> None:
    junk = "\n".join(f"        <edXML:Junk{i}/>" for i in range(MAX_PROBLEMS + 10))
    problems = schemas.validate(parse(edoc(message_header=MESSAGE_HEADER + "\n" + junk)), "edoc")
    assert len(problems) == MAX_PROBLEMS


def test_unknown_kind_is_a_programming_error(schemas: SchemaSet) -> None:
    with pytest.raises(ValueError, match="kind"):
        schemas.validate(parse(edoc()), "receipt")


# ----------------------------------------------------------------------------- what the field writes


def test_reordered_business_spelling_and_dotnet_attributes_validate(schemas: SchemaSet) -> None:
    # MessageHeader children reversed, Business (not Bussiness) before the TraceHeaders, .NET
    # TraceHeaderList attributes, xlink attributes on Reference, .NET Attachment order, an empty
    # ResponseFor, open ReplyFors, and a foreign-namespace extension element.
    header = """\
        <edXML:SteeringType>0</edXML:SteeringType>
        <edXML:Subject>Thử nghiệm</edXML:Subject>
        <edXML:ToPlaces><edXML:Place>Các bộ</edXML:Place></edXML:ToPlaces>
        <edXML:To><edXML:OrganName>UBND Tỉnh Nghệ An</edXML:OrganName><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:To>
        <edXML:Code><edXML:CodeNotation>VPCP-TTĐT</edXML:CodeNotation><edXML:CodeNumber>7816</edXML:CodeNumber></edXML:Code>
        <edXML:From><edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From>
        <edXML:DocumentId>000.00.00.G22,2025/10/20,7816/VPCP-TTĐT</edXML:DocumentId>
        <edXML:ResponseFor/>
        <edXML:OtherInfo><edXML:ReplyFors><edXML:ReplyFor>x</edXML:ReplyFor></edXML:ReplyFors></edXML:OtherInfo>
        <ext:Routing xmlns:ext="urn:example:ext"><ext:Hop>1</ext:Hop></ext:Routing>"""
    trace = """\
        <edXML:Business>
          <edXML:StaffInfo><edXML:Staff>Nguyễn Văn A</edXML:Staff></edXML:StaffInfo>
          <edXML:Paper>0</edXML:Paper>
          <edXML:BussinessDocType>2</edXML:BussinessDocType>
          <edXML:BussinessDocumentInfo>
            <edXML:ReceiverList><edXML:Receiver><edXML:ReceiverType>1</edXML:ReceiverType><edXML:OrganId>000.00.00.H14</edXML:OrganId></edXML:Receiver></edXML:ReceiverList>
            <edXML:DocumentInfo>1</edXML:DocumentInfo>
          </edXML:BussinessDocumentInfo>
        </edXML:Business>
        <edXML:TraceHeader><edXML:Timestamp>2025/10/20 10:48:03</edXML:Timestamp><edXML:OrganId>null</edXML:OrganId></edXML:TraceHeader>"""
    references = """\
        <edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="cid:1" xlink:role="XLinkRole" xlink:type="simple">
          <edXML:AttachmentName>a.pdf</edXML:AttachmentName>
          <edXML:ContentId>cid:1</edXML:ContentId>
        </edXML:Reference>"""
    attachments = """\
    <Attachment>
      <ContentType>application/pdf</ContentType>
      <ContentId>1</ContentId>
      <Description>a</Description>
      <ContentTransferEncoded>JVBERi0xLjQK</ContentTransferEncoded>
      <AttachmentName>a.pdf</AttachmentName>
    </Attachment>"""
    text = edoc(
        root_attrs=' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"',
        message_header=header,
        trace_attrs=' id="1a2b3c4d" version="1.0" mustUnderstand="1" actor="http://schemas.xmlsoap.org/soap/actor/next"',
        trace=trace,
        references=references,
        attachments=attachments,
        signature="      <edXML:DigitalSignature/>",
    )
    assert schemas.validate(parse(text), "edoc") == []


DSIG_SIGNATURE = """\
      <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:SignedInfo><ds:Reference URI=""><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>
        <ds:SignatureValue>AAAA</ds:SignatureValue>
      </ds:Signature>"""

QCVN_SIGNATURE = """\
      <Signature>
        <SignedInfo><Reference URI=""><DigestValue>FwgIqsSYJshUS2+wlOM61L+q7Aw=</DigestValue></Reference></SignedInfo>
        <SignatureValue>GbVb8n9+qFxz</SignatureValue>
        <KeyInfo><X509Data><X509SubjectName>CN=user05</X509SubjectName><X509Certificate>MIIFqTCCBJG</X509Certificate></X509Data></KeyInfo>
      </Signature>"""

DIGITAL_SIGNATURE = "      <edXML:DigitalSignature/>"


@pytest.mark.parametrize("signature", [DSIG_SIGNATURE, QCVN_SIGNATURE, DIGITAL_SIGNATURE],
                         ids=["xmldsig-Signature", "qcvn-Signature", "DigitalSignature"])
def test_signature_slot_accepts_each_variant(schemas: SchemaSet, signature: str) -> None:
    root = parse(edoc(signature=signature))
    header = root.find(f"{{{QCVN}}}edXMLEnvelope/{{{QCVN}}}edXMLHeader")
    assert header is not None and len(header) == 3  # MessageHeader, TraceHeaderList, the signature
    assert schemas.validate(root, "edoc") == []
    assert schemas.validate(parse(status(signature=signature)), "status") == []


# ----------------------------------------------------------------------------- the machinery


class _Silent:
    """An explainer that finds nothing, as if xmlschema disagreed with libxml2."""

    def iter_errors(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(())


def test_lxml_log_is_the_fallback_when_xmlschema_finds_nothing(schemas: SchemaSet,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemas, "_explainer", lambda kind: _Silent())
    text = edoc(trace=TRACE + "\n        <edXML:To/>")
    problems = schemas.validate(parse(text), "edoc")
    assert problems and all(p.code is Code.EDXML_SCHEMA for p in problems)
    assert problems[0].where.line == line_of(text, "<edXML:To/>")
    assert problems[0].where.path == "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/To"
    assert "To" in problems[0].detail


def test_concurrent_failures_are_explained_consistently(schemas: SchemaSet) -> None:
    texts = [edoc(message_header=MESSAGE_HEADER + f"\n        <edXML:Bad{i % 4}/>") for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda t: schemas.validate(parse(t), "edoc"), texts))
    for i, problems in enumerate(results):
        assert len(problems) == 1 and f"'Bad{i % 4}'" in problems[0].detail


def test_find_schema_dir_defaults_to_the_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AXIS_SCHEMA_DIR", raising=False)
    assert find_schema_dir() == (REPO / "schemas").resolve()


def test_find_schema_dir_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for xsd in (REPO / "schemas").glob("edxml-*.xsd"):
        shutil.copy(xsd, tmp_path / xsd.name)
    monkeypatch.setenv("AXIS_SCHEMA_DIR", str(tmp_path))
    assert find_schema_dir() == tmp_path.resolve()
    assert SchemaSet().validate(parse(edoc()), "edoc") == []

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AXIS_SCHEMA_DIR", str(empty))
    with pytest.raises(FileNotFoundError, match="empty"):
        find_schema_dir()


@pytest.mark.parametrize("location", ["http://example.invalid/edxml-common.xsd", "../etc/edxml-common.xsd"])
def test_schemas_may_only_include_local_schema_files(tmp_path: Path, location: str) -> None:
    for xsd in (REPO / "schemas").glob("edxml-*.xsd"):
        shutil.copy(xsd, tmp_path / xsd.name)
    edoc_xsd = tmp_path / "edxml-edoc.xsd"
    edoc_xsd.write_text(edoc_xsd.read_text(encoding="utf-8").replace(
        'schemaLocation="edxml-common.xsd"', f'schemaLocation="{location}"'), encoding="utf-8")
    with pytest.raises(ValueError, match="may only include"):
        SchemaSet(tmp_path)


def test_default_schemas_is_cached() -> None:
    assert default_schemas() is default_schemas()
