"""The hardened parser: hostile and broken bytes are refused with their own code, never half-read."""

from __future__ import annotations

import base64
import socket

import pytest
from packages import NS, edoc

from axis.edxml import xmlsafe
from axis.errors import AxisError, Code

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&xxe;</edXML>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<lolz>&lol9;</lolz>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]><x/>"""


def refusal(data: bytes, limits: xmlsafe.ParseLimits = xmlsafe.DEFAULT_LIMITS) -> AxisError:
    with pytest.raises(AxisError) as info:
        xmlsafe.parse(data, limits)
    return info.value


@pytest.mark.parametrize(("data", "code"), [
    (XXE, Code.XML_FORBIDDEN_ENTITY),
    (BILLION_LAUGHS, Code.XML_FORBIDDEN_ENTITY),
    (PARAMETER_ENTITY, Code.XML_FORBIDDEN_ENTITY),
    (EXTERNAL_DTD, Code.XML_FORBIDDEN_DTD),
    (b"<!DOCTYPE edXML><edXML/>", Code.XML_FORBIDDEN_DTD),
    (b"", Code.BODY_EMPTY),
    (b" \r\n\t", Code.BODY_EMPTY),
    (b"<a>\xff\xfe</a>", Code.BODY_NOT_UTF8),
    (b'<?xml version="1.0" encoding="windows-1258"?><a>\xe0</a>', Code.BODY_NOT_UTF8),
    (b"\xff\xfe<\x00a\x00/\x00>\x00", Code.BODY_NOT_UTF8),
    (b"1212<?xml version='1.0'?><a/>", Code.XML_NOT_WELL_FORMED),
    (b"<a><b></a>", Code.XML_NOT_WELL_FORMED),
    (b"<a>&nbsp;</a>", Code.XML_NOT_WELL_FORMED),
    (b"<a><x:b/></a>", Code.XML_NOT_WELL_FORMED),
])
def test_hostile_and_broken_inputs_have_their_own_code(data: bytes, code: Code) -> None:
    assert refusal(data).code is code


def test_refusals_say_where() -> None:
    err = refusal(b"<a>\n<b>\n</a>")
    assert err.problem.where.line == 3
    err = refusal(b"<a>ok</a>\n\n<a>\xc3\x28</a>")
    assert err.code is Code.BODY_NOT_UTF8
    assert (err.problem.where.line, err.problem.where.column) == (3, 4)
    err = refusal(XXE)
    assert err.problem.where.line == 2


def test_external_dtd_and_entities_are_never_fetched() -> None:
    """A real listener on loopback: refusing the DOCTYPE must not contact it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.3)
        port = server.getsockname()[1]
        for data in (EXTERNAL_DTD, PARAMETER_ENTITY, XXE):
            data = data.replace(b"127.0.0.1:9", f"127.0.0.1:{port}".encode())
            data = data.replace(b"file:///etc/passwd", f"http://127.0.0.1:{port}/x".encode())
            assert refusal(data).code in (Code.XML_FORBIDDEN_DTD, Code.XML_FORBIDDEN_ENTITY)
        with pytest.raises(socket.timeout):
            server.accept()


def test_size_limit_applies_before_parsing() -> None:
    data = edoc()
    assert refusal(data, xmlsafe.ParseLimits(max_bytes=len(data) - 1)).code is Code.BODY_TOO_LARGE
    assert xmlsafe.parse(data, xmlsafe.ParseLimits(max_bytes=len(data))).root is not None


def test_long_text_is_allowed_only_inside_attachments() -> None:
    limits = xmlsafe.ParseLimits(max_text=1000)
    long_base64 = base64.b64encode(b"%PDF" + bytes(3000)).decode()
    attachment = (f"<Attachment><ContentId>cid:1</ContentId><edXML:ContentTransferEncoded xmlns:edXML=\"{NS}\">"
                  f"{long_base64}</edXML:ContentTransferEncoded></Attachment>")
    assert xmlsafe.parse(edoc(attachments=attachment), limits).root is not None
    err = refusal(edoc(extra_header=f"<edXML:Content>{'x' * 1001}</edXML:Content>"), limits)
    assert err.code is Code.XML_TEXT_TOO_LONG
    assert err.problem.where.path.endswith("/MessageHeader/Content")
    assert refusal(edoc(extra_header=f'<edXML:Content a="{"y" * 1001}"/>'), limits).code is Code.XML_TEXT_TOO_LONG


def test_attachments_over_libxml2s_ten_megabyte_text_limit_are_read() -> None:
    big = base64.b64encode(bytes(8_000_000)).decode()  # 10.7 MB of base64 in one text node
    attachment = (f"<Attachment><ContentId>cid:1</ContentId><edXML:ContentTransferEncoded xmlns:edXML=\"{NS}\">"
                  f"{big}</edXML:ContentTransferEncoded></Attachment>")
    parsed = xmlsafe.parse(edoc(attachments=attachment))
    assert len(parsed.root.find(f".//{{{NS}}}ContentTransferEncoded").text) == len(big)


def test_original_bytes_and_hash_are_kept_and_comments_do_not_split_text() -> None:
    data = b"<?xml version='1.0' encoding='utf-8'?>\n<a><b>000.00.00.G<!-- x -->22<?pi y?></b></a>"
    parsed = xmlsafe.parse(data)
    assert parsed.data is data
    assert parsed.sha256 == xmlsafe.sha256_hex(data)
    assert parsed.root[0].text == "000.00.00.G22"


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    assert xmlsafe.parse(b"\xef\xbb\xbf" + edoc()).root.tag == f"{{{NS}}}edXML"


@pytest.mark.parametrize("data", [
    b"<a>" * 5000 + b"</a>" * 5000,  # 35 KB, past libxml2's depth limit of 256
    b"<" + b"a" * 60000 + b"/>",  # past its name length limit of 50,000
    b"<a " + b"b" * 60000 + b"='1'/>",
])
def test_parser_limits_are_not_reported_as_a_package_too_large(data: bytes) -> None:
    # found while building the fuzz corpus: these were answered body.too-large (HTTP 413) for packages of a few KB
    err = refusal(data)
    assert err.code is Code.XML_LIMIT and err.code.http_status == 400
    assert "XML_PARSE_HUGE" not in err.problem.detail


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("declared", [True, False])
def test_utf16_and_utf32_without_a_byte_order_mark_are_refused(codec: str, declared: bool) -> None:
    """libxml2 recognises UTF-16/32 by its first bytes even without a BOM; the rule is UTF-8 only, and a byte
    search for markup (``<!DOCTYPE``, ``<?``) on such bytes finds nothing."""
    name = codec.rpartition("-")[0].upper()
    text = (f'<?xml version="1.0" encoding="{name}"?>' if declared else "") + f'<edXML xmlns="{NS}"><a/></edXML>'
    assert refusal(text.encode(codec)).code is Code.BODY_NOT_UTF8
