"""Hand-made edXML packages for tests: a valid document and status, with every part replaceable."""

from __future__ import annotations

import base64

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

FROM = """<edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName></edXML:From>"""
TO = """<edXML:To><edXML:OrganId>{code}</edXML:OrganId><edXML:OrganName>Đơn vị nhận</edXML:OrganName></edXML:To>"""
PDF = base64.b64encode(b"%PDF-1.7\n" + bytes(range(256)) * 4).decode()


def edoc(*, sender: str = FROM, to: tuple[str, ...] = ("000.00.00.H41",), to_xml: str | None = None,
         document_id: str = "<edXML:DocumentId>000.00.00.G22,2026/11/20,123/VPCP-TTĐT</edXML:DocumentId>",
         extra_header: str = "", trace: str | None = None, business: str = "", manifest: str | None = None,
         attachments: str | None = None, signature: str = "", prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n'
         ) -> bytes:
    """A document package; each keyword replaces one part (XML fragments in the edXML: prefix)."""
    to_part = to_xml if to_xml is not None else "".join(TO.format(code=c) for c in to)
    trace_part = trace if trace is not None else (
        "<edXML:TraceHeader><edXML:OrganId>000.00.00.G22</edXML:OrganId>"
        "<edXML:Timestamp>2026/11/20 09:00:00</edXML:Timestamp></edXML:TraceHeader>")
    manifest_part = manifest if manifest is not None else (
        "<edXML:Reference><edXML:ContentId>cid:1</edXML:ContentId><edXML:ContentType>application/pdf"
        "</edXML:ContentType><edXML:AttachmentName>a.pdf</edXML:AttachmentName></edXML:Reference>")
    attachment_part = attachments if attachments is not None else (
        "<Attachment><ContentId>cid:1</ContentId><AttachmentName>a.pdf</AttachmentName>"
        "<ContentType>application/pdf</ContentType>"
        f'<edXML:ContentTransferEncoded xmlns:edXML="{NS}">{PDF}</edXML:ContentTransferEncoded></Attachment>')
    return f"""{prolog}<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        {sender}
        {to_part}
        {document_id}
        <edXML:Code><edXML:CodeNumber>123</edXML:CodeNumber><edXML:CodeNotation>VPCP-TTĐT</edXML:CodeNotation></edXML:Code>
        <edXML:PromulgationInfo><edXML:Place>Hà Nội</edXML:Place><edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate></edXML:PromulgationInfo>
        <edXML:Subject>V/v thử nghiệm</edXML:Subject>
        <edXML:OtherInfo><edXML:Priority>2</edXML:Priority></edXML:OtherInfo>
        {extra_header}
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>{trace_part}{business}</edXML:TraceHeaderList>
      {signature}
    </edXML:edXMLHeader>
    <edXML:edXMLBody><edXML:edXMLManifest version="1.0">{manifest_part}</edXML:edXMLManifest></edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>{attachment_part}</AttachmentEncoded>
</edXML>
""".encode("utf-8")


def status(*, code: str = "03", sender: str = "000.00.00.H41", response_for: str | None = None,
           timestamp: str = "2026/11/20 10:15:00", extra: str = "") -> bytes:
    rf = response_for if response_for is not None else (
        "<edXML:ResponseFor><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:Code>123/VPCP-TTĐT</edXML:Code>"
        "<edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate>"
        "<edXML:DocumentId>000.00.00.G22,2026/11/20,123/VPCP-TTĐT</edXML:DocumentId></edXML:ResponseFor>")
    code_xml = f"<edXML:StatusCode>{code}</edXML:StatusCode>" if code is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader><edXML:MessageHeader>
      <edXML:From><edXML:OrganId>{sender}</edXML:OrganId><edXML:OrganName>UBND tỉnh Nghệ An</edXML:OrganName></edXML:From>
      {rf}
      <edXML:StaffInfo><edXML:Department>Văn thư</edXML:Department><edXML:Staff>Nguyễn Văn B</edXML:Staff></edXML:StaffInfo>
      {code_xml}
      <edXML:Description>Tiếp nhận văn bản</edXML:Description>
      <edXML:Timestamp>{timestamp}</edXML:Timestamp>
      {extra}
    </edXML:MessageHeader></edXML:edXMLHeader>
  </edXML:edXMLEnvelope>
</edXML>
""".encode("utf-8")


# A fuller document package in the VNPT layout (AttachmentEncoded outside the envelope, a prefixed
# envelope inside a default-namespace root), with two recipients and a Bussiness block; {payload} is
# the attachment's base64.  The signature tests and bench/bench_envelope.py sign this one.
PACKAGE = """<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
          <edXML:OrganAdd>Số 1 Hoàng Hoa Thám, Ba Đình, Hà Nội</edXML:OrganAdd><edXML:Email>vpcp@chinhphu.vn</edXML:Email></edXML:From>
        <edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId><edXML:OrganName>UBND tỉnh Nghệ An</edXML:OrganName></edXML:To>
        <edXML:To><edXML:OrganId>000.00.00.H14</edXML:OrganId><edXML:OrganName>UBND tỉnh Cao Bằng</edXML:OrganName></edXML:To>
        <edXML:DocumentId>000.00.00.G22,2026/11/20,123/VPCP-TTĐT</edXML:DocumentId>
        <edXML:Code><edXML:CodeNumber>123</edXML:CodeNumber><edXML:CodeNotation>VPCP-TTĐT</edXML:CodeNotation></edXML:Code>
        <edXML:PromulgationInfo><edXML:Place>Hà Nội</edXML:Place><edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate></edXML:PromulgationInfo>
        <edXML:DocumentType><edXML:Type>1</edXML:Type><edXML:TypeDetail>0</edXML:TypeDetail><edXML:TypeName>Công văn</edXML:TypeName></edXML:DocumentType>
        <edXML:Subject>V/v kết nối, liên thông phần mềm quản lý văn bản</edXML:Subject>
        <edXML:Content>V/v kết nối, liên thông phần mềm quản lý văn bản</edXML:Content>
        <edXML:SignerInfo><edXML:Competence>KT. BỘ TRƯỞNG</edXML:Competence><edXML:FullName>Nguyễn Văn A</edXML:FullName></edXML:SignerInfo>
        <edXML:DueDate>2026/11/30</edXML:DueDate>
        <edXML:OtherInfo><edXML:Priority>1</edXML:Priority><edXML:PageAmount>2</edXML:PageAmount></edXML:OtherInfo>
        <edXML:SteeringType>0</edXML:SteeringType>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:Timestamp>2026/11/20 09:00:00</edXML:Timestamp></edXML:TraceHeader>
        <edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType><edXML:BussinessDocReason>Gửi văn bản mới</edXML:BussinessDocReason><edXML:Paper>0</edXML:Paper></edXML:Bussiness>
      </edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody><edXML:edXMLManifest version="1.0"><edXML:Reference>
      <edXML:ContentId>cid:1</edXML:ContentId><edXML:ContentType>application/pdf</edXML:ContentType>
      <edXML:AttachmentName>van-ban.pdf</edXML:AttachmentName></edXML:Reference></edXML:edXMLManifest></edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded><Attachment><ContentId>cid:1</ContentId><AttachmentName>van-ban.pdf</AttachmentName>
    <ContentType>application/pdf</ContentType>
    <edXML:ContentTransferEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">{payload}</edXML:ContentTransferEncoded>
  </Attachment></AttachmentEncoded>
</edXML>
"""


def full_edoc(attachment: bytes) -> bytes:
    """PACKAGE with ``attachment`` as its one (PDF) attachment."""
    return PACKAGE.format(payload=base64.b64encode(attachment).decode("ascii")).encode("utf-8")
