"""The one error taxonomy of axis.

Every refusal, in the library, the command line or (later) over HTTP, is a
:class:`Problem`: a stable :class:`Code` (what clients and operators match on),
a message in English and Vietnamese, the specific detail, and where in the
input it happened.  Codes are never renamed once released; new ones are added.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    ERROR = "error"  # the package is refused
    WARNING = "warning"  # accepted, but the verdict records it


_E = Severity.ERROR
_W = Severity.WARNING


class Code(enum.Enum):
    """Stable codes: ``family.name``.  Value tuple: (code, severity, HTTP status, English, Vietnamese)."""

    code: str
    severity: Severity
    http_status: int
    en: str
    vi: str

    def __new__(cls, code: str, severity: Severity, http_status: int, en: str, vi: str) -> "Code":
        member = object.__new__(cls)
        member._value_ = code
        member.code = code
        member.severity = severity
        member.http_status = http_status
        member.en = en
        member.vi = vi
        return member

    # -- the bytes as received
    BODY_EMPTY = ("body.empty", _E, 400, "The package is empty", "Gói tin rỗng")
    BODY_TOO_LARGE = ("body.too-large", _E, 413, "The package exceeds the size limit",
                      "Gói tin vượt quá kích thước cho phép")
    BODY_NOT_UTF8 = ("body.not-utf8", _E, 400, "The package is not UTF-8 text",
                     "Gói tin không được mã hóa UTF-8")
    # -- XML
    XML_NOT_WELL_FORMED = ("xml.not-well-formed", _E, 400, "The package is not well-formed XML",
                           "Gói tin không phải là XML hợp lệ")
    XML_FORBIDDEN_DTD = ("xml.forbidden-dtd", _E, 400, "Document type declarations (DTD) are not allowed",
                         "Không chấp nhận khai báo kiểu tài liệu (DTD)")
    XML_FORBIDDEN_ENTITY = ("xml.forbidden-entity", _E, 400, "Entity declarations and references are not allowed",
                            "Không chấp nhận khai báo hoặc tham chiếu thực thể XML")
    XML_TEXT_TOO_LONG = ("xml.text-too-long", _E, 413, "A text node outside the attachments is too long",
                         "Nội dung văn bản ngoài tệp đính kèm quá dài")
    XML_LIMIT = ("xml.limit-exceeded", _E, 400, "The XML exceeds a parser limit (nesting depth or name length)",
                 "XML vượt quá giới hạn của bộ phân tích (độ sâu lồng nhau hoặc độ dài tên)")
    # -- edXML structure and fields
    EDXML_NOT_EDXML = ("edxml.not-edxml", _E, 400, "This is not an edXML package (QCVN 102:2016)",
                       "Không phải gói tin edXML (QCVN 102:2016)")
    EDXML_SCHEMA = ("edxml.schema", _E, 400, "The package does not follow the edXML structure",
                    "Gói tin không đúng cấu trúc edXML")
    EDXML_MISSING_FIELD = ("edxml.missing-field", _E, 400, "A required field is missing",
                           "Thiếu trường bắt buộc")
    EDXML_DUPLICATE_FIELD = ("edxml.duplicate-field", _E, 400, "A field that must appear once appears more than once",
                             "Trường chỉ được xuất hiện một lần nhưng bị lặp lại")
    EDXML_DUPLICATE_TO = ("edxml.duplicate-to", _E, 400, "The same recipient is listed more than once",
                          "Đơn vị nhận bị lặp lại")
    EDXML_INVALID_VALUE = ("edxml.invalid-value", _E, 400, "A field has a value outside its domain",
                           "Giá trị của trường không hợp lệ")
    EDXML_BAD_DATE = ("edxml.bad-date", _E, 400, "A date or time is not in the edXML format",
                      "Ngày giờ không đúng định dạng edXML")
    EDXML_DUAL_ADDRESS = ("edxml.dual-address", _W, 200,
                          "The same agency is addressed in both code forms; it receives one copy",
                          "Cùng một cơ quan được gửi theo cả hai dạng mã; chỉ nhận một bản")
    EDXML_UNKNOWN_STATUS = ("edxml.unknown-status", _E, 400, "The status code is not one of 01-06, 13, 15, 16",
                            "Mã trạng thái không thuộc danh mục 01-06, 13, 15, 16")
    EDXML_TRACE_ENTRY = ("edxml.trace-entry", _W, 200, "A trace header entry is incomplete or unreadable",
                         "Thông tin vết (TraceHeader) không đầy đủ")
    # -- agency identifiers
    AGENCY_INVALID_CODE = ("agency.invalid-code", _E, 400, "The agency identifier code is not valid",
                           "Mã định danh cơ quan không hợp lệ")
    AGENCY_NONSTANDARD_CODE = ("agency.nonstandard-code", _W, 200,
                               "The agency code is outside the standard grammars (accepted as seen in the field)",
                               "Mã định danh không theo chuẩn (chấp nhận theo thực tế)")
    # -- manifest and attachments
    ATTACHMENT_MISSING = ("attachment.missing", _E, 400, "A manifest reference has no matching attachment",
                          "Danh mục khai báo tệp đính kèm nhưng không có tệp")
    ATTACHMENT_UNLISTED = ("attachment.unlisted", _E, 400, "An attachment is not listed in the manifest",
                           "Tệp đính kèm không có trong danh mục")
    ATTACHMENT_DUPLICATE_ID = ("attachment.duplicate-id", _E, 400, "Two attachments share one ContentId",
                               "Hai tệp đính kèm trùng ContentId")
    ATTACHMENT_INVALID_BASE64 = ("attachment.invalid-base64", _E, 400, "An attachment is not valid base64",
                                 "Tệp đính kèm mã hóa base64 không hợp lệ")
    ATTACHMENT_TYPE_MISMATCH = ("attachment.type-mismatch", _W, 200,
                                "The declared content type differs from the content",
                                "Kiểu nội dung khai báo khác với nội dung thực tế")
    ATTACHMENT_ZIP_BOMB = ("attachment.zip-bomb", _W, 200,
                           "A zip attachment claims to unzip to far more than it holds; axis relays it unopened",
                           "Tệp nén đính kèm khai báo kích thước giải nén bất thường; trục chuyển nguyên trạng")
    # -- signatures
    SIGNATURE_MALFORMED = ("signature.malformed", _E, 400, "The XML signature is malformed",
                           "Chữ ký số XML không đúng cấu trúc")
    SIGNATURE_WRAPPING = ("signature.wrapping", _E, 400,
                          "The signature is not the single signature over the whole package",
                          "Chữ ký số không bao trùm toàn bộ gói tin")
    SIGNATURE_ALGORITHM = ("signature.algorithm-not-allowed", _E, 400, "The signature algorithm is not allowed",
                           "Thuật toán ký không được chấp nhận")
    SIGNATURE_DIGEST_MISMATCH = ("signature.digest-mismatch", _E, 400, "The package was changed after it was signed",
                                 "Gói tin đã bị thay đổi sau khi ký")
    SIGNATURE_BAD_VALUE = ("signature.bad-value", _E, 400, "The signature value does not verify",
                           "Giá trị chữ ký không hợp lệ")
    SIGNATURE_UNTRUSTED = ("signature.untrusted", _E, 400, "The signing certificate is not trusted",
                           "Chứng thư số ký không được tin cậy")
    SIGNATURE_CERT_EXPIRED = ("signature.cert-expired", _E, 400, "The signing certificate has expired",
                              "Chứng thư số ký đã hết hạn")
    SIGNATURE_CERT_NOT_YET_VALID = ("signature.cert-not-yet-valid", _E, 400,
                                    "The signing certificate is not yet valid",
                                    "Chứng thư số ký chưa có hiệu lực")
    SIGNATURE_SIGNER_MISMATCH = ("signature.signer-mismatch", _E, 403,
                                 "The signing certificate belongs to another agency",
                                 "Chứng thư số ký thuộc về cơ quan khác")
    SIGNATURE_UNBOUND_SIGNER = ("signature.unbound-signer", _W, 200,
                                "The certificate is trusted through a CA but names no agency; it is not bound to the "
                                "sender (pin it to bind it)",
                                "Chứng thư số hợp lệ nhưng không gắn với mã định danh của cơ quan gửi")
    SIGNATURE_LEGACY_SHA1 = ("signature.legacy-sha1", _W, 200, "Accepted a SHA-1 signature under the legacy setting",
                             "Chấp nhận chữ ký SHA-1 theo cấu hình tương thích cũ")
    SIGNATURE_REQUIRED = ("signature.required", _E, 400, "A valid signature is required",
                          "Yêu cầu chữ ký số hợp lệ")
    # -- who is asking (the doors)
    AUTH_MISSING = ("auth.missing", _E, 401, "Credentials are required",
                    "Yêu cầu thông tin xác thực")
    AUTH_INVALID = ("auth.invalid", _E, 401, "The credentials are not valid",
                    "Thông tin xác thực không hợp lệ")
    AUTH_STALE = ("auth.stale", _E, 401, "The signed request is too old or from the future (check the clock)",
                  "Yêu cầu đã ký quá cũ hoặc sai thời gian (kiểm tra đồng hồ)")
    AUTH_NOT_YOUR_AGENCY = ("auth.not-your-agency", _E, 403, "An agency may act only as itself",
                            "Cơ quan chỉ được gửi, nhận với mã định danh của chính mình")
    # -- routing
    ROUTE_UNKNOWN_RECIPIENT = ("route.unknown-recipient", _E, 422,
                               "No agency is registered and no route is configured for these recipients",
                               "Đơn vị nhận chưa được đăng ký và không có tuyến chuyển tiếp")
    ROUTE_NO_RECIPIENT = ("route.no-recipient", _E, 422, "The package names no recipient",
                          "Gói tin không có đơn vị nhận")
    ROUTE_NOT_YOURS = ("route.not-yours", _E, 403,
                       "A connected axis may relay packages only from the agencies its route covers",
                       "Trục kết nối chỉ được chuyển gói tin của các đơn vị thuộc tuyến của mình")
    ROUTE_LOOP = ("route.loop", _E, 422, "The package would go back along the route it came in on",
                  "Gói tin sẽ bị chuyển ngược lại tuyến mà nó vừa đến")
    # -- the native API
    HTTP_NOT_FOUND = ("http.not-found", _E, 404, "No such resource", "Không tìm thấy tài nguyên")
    HTTP_METHOD = ("http.method-not-allowed", _E, 405, "Method not allowed here",
                   "Phương thức không được hỗ trợ")
    HTTP_BAD_REQUEST = ("http.bad-request", _E, 400, "The request is not valid", "Yêu cầu không hợp lệ")
    HTTP_TIMEOUT = ("http.timeout", _E, 503, "The request took too long; it may be retried",
                    "Yêu cầu xử lý quá thời gian; có thể gửi lại")
    HTTP_SLOW_REQUEST = ("http.slow-request", _E, 408, "The request was not received within the time allowed",
                         "Yêu cầu không được gửi đến trong thời gian cho phép")
    HTTP_STOPPING = ("http.stopping", _E, 503, "axis is stopping; send the request again in a moment",
                     "Trục đang dừng; vui lòng gửi lại sau ít phút")
    MESSAGE_NOT_FOUND = ("message.not-found", _E, 404, "No such message for this agency",
                         "Không có gói tin này cho cơ quan")
    MESSAGE_WITHDRAWN = ("message.withdrawn", _E, 410,
                         "The sender withdrew this package before it was fetched (revoked or replaced)",
                         "Văn bản đã được đơn vị gửi thu hồi hoặc thay thế trước khi nhận")
    # -- business flows: statuses, revoke, update, replace, duplicates
    STATUS_UNKNOWN_DOCUMENT = ("status.unknown-document", _E, 422,
                               "The status names a document that axis never carried from that sender to its author",
                               "Trạng thái cho văn bản mà trục chưa từng chuyển từ đơn vị gửi này đến đơn vị gửi "
                               "trạng thái")
    STATUS_NOT_PARTY = ("status.not-party", _E, 403, "The author of the status is not a party to the document",
                        "Đơn vị gửi trạng thái không phải là bên nhận hoặc gửi văn bản")
    STATUS_OUT_OF_ORDER = ("status.out-of-order", _E, 409,
                           "The status does not follow from the document's status history",
                           "Trạng thái không phù hợp với quá trình xử lý trước đó của văn bản")
    DOCUMENT_CONFLICT = ("document.conflict", _E, 409,
                         "This sender already sent a different document with this DocumentId",
                         "Đơn vị đã gửi một văn bản khác có cùng mã văn bản (DocumentId)")
    DOCUMENT_UNKNOWN_ORIGINAL = ("document.unknown-original", _E, 422,
                                 "The revoke, update or replacement names a document axis never carried "
                                 "from this sender",
                                 "Văn bản bị thu hồi, cập nhật hoặc thay thế chưa từng được trục chuyển")
    DOCUMENT_NOT_RECIPIENT = ("document.not-a-recipient", _E, 422,
                              "The revoke or replacement names an agency that did not receive the original",
                              "Đơn vị nhận không có trong danh sách nhận văn bản gốc")
    DOCUMENT_REPLACES_UNSENT = ("document.replaces-unsent", _E, 422,
                                "The replacement replaces the copy of an agency it is not sent to",
                                "Văn bản thay thế không được gửi tới đơn vị có văn bản bị thay thế")
    DELIVERY_FAILED_EARLIER = ("delivery.failed-earlier", _W, 200,
                               "This package was accepted before, and its delivery failed for some recipients",
                               "Gói tin đã được tiếp nhận trước đây và chưa chuyển được tới một số đơn vị")
    STATS_NOT_YOURS = ("stats.not-yours", _E, 403,
                       "Statistics are given for your agency and the agencies under it only",
                       "Chỉ được xem thống kê của cơ quan mình và các đơn vị trực thuộc")
    # -- the VXP door (SDKVXP protocol)
    VXP_AUTH_MISSING = ("vxp.auth-missing", _E, 401, "The request carries no XroadVnpt signature headers",
                        "Yêu cầu thiếu các tiêu đề chữ ký XroadVnpt")
    VXP_AUTH_MALFORMED = ("vxp.auth-malformed", _E, 400, "The XroadVnpt signature headers are malformed",
                          "Tiêu đề chữ ký XroadVnpt không đúng định dạng")
    VXP_UNKNOWN_SYSTEM = ("vxp.unknown-system", _E, 401, "No agency is registered with this system id",
                          "Mã hệ thống (systemid) chưa được đăng ký")
    VXP_BAD_SIGNATURE = ("vxp.bad-signature", _E, 401, "The header signature does not verify with this "
                         "system's secret", "Chữ ký tiêu đề không hợp lệ với khóa bí mật của hệ thống")
    VXP_HEADER_MISMATCH = ("vxp.header-mismatch", _E, 401, "A header disagrees with the signed headers",
                           "Tiêu đề không khớp với phần đã ký")
    VXP_HASH_FILE_MISMATCH = ("vxp.hash-file-mismatch", _E, 400,
                              "The package does not match XroadVnpt-hash-file", "Gói tin không khớp mã băm hash-file")
    VXP_BAD_PARAMETER = ("vxp.bad-parameter", _E, 400, "A parameter of the request is missing or not valid",
                         "Tham số của yêu cầu bị thiếu hoặc không hợp lệ")
    VXP_UNKNOWN_OPERATION = ("vxp.unknown-operation", _E, 404, "No such operation", "Không có chức năng này")
    STORAGE_FULL = ("storage.full", _E, 503, "The disk of axis is full; nothing was accepted; send it again later",
                    "Ổ đĩa của trục đã đầy; gói tin chưa được tiếp nhận; vui lòng gửi lại sau")
    STORAGE_UNAVAILABLE = ("storage.unavailable", _E, 503, "Storage is unavailable; nothing was accepted",
                           "Kho lưu trữ không sẵn sàng; gói tin chưa được tiếp nhận")
    # -- axis's signed acceptance receipts
    RECEIPT_MALFORMED = ("receipt.malformed", _E, 400, "The receipt is not a well-formed signed axis receipt",
                         "Biên nhận không đúng cấu trúc biên nhận có chữ ký của trục")
    RECEIPT_WRONG_KEY = ("receipt.wrong-key", _E, 400, "The receipt was not signed with this certificate's key",
                         "Biên nhận không được ký bằng khóa của chứng thư số này")
    RECEIPT_BAD_SIGNATURE = ("receipt.bad-signature", _E, 400,
                             "The receipt's signature does not verify: it was changed or forged",
                             "Chữ ký của biên nhận không hợp lệ: biên nhận đã bị sửa đổi hoặc giả mạo")
    RECEIPT_PACKAGE_MISMATCH = ("receipt.package-mismatch", _E, 400, "The package is not the one the receipt is for",
                                "Gói tin không khớp với biên nhận")
    # -- anything we did not foresee: never a stack trace to the client
    INTERNAL = ("internal.error", _E, 500, "Internal error; the input was not processed",
                "Lỗi nội bộ; gói tin chưa được xử lý")


@dataclass(frozen=True, slots=True)
class Where:
    """A position in the input: line and column (1-based) and an element path like ``/edXML/.../To[2]``."""

    line: int | None = None
    column: int | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("line", self.line), ("column", self.column), ("path", self.path)) if v is not None}


NOWHERE = Where()


@dataclass(frozen=True, slots=True)
class Problem:
    code: Code
    detail: str = ""
    where: Where = field(default=NOWHERE)

    @property
    def severity(self) -> Severity:
        return self.code.severity

    @property
    def is_error(self) -> bool:
        return self.code.severity is Severity.ERROR

    @property
    def message(self) -> str:
        return f"{self.code.en}: {self.detail}" if self.detail else self.code.en

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code.code,
            "severity": self.code.severity.value,
            "message": self.message,
            "message_vi": self.code.vi,
        }
        where = self.where.to_dict()
        if where:
            out["where"] = where
        return out

    def __str__(self) -> str:
        loc = self.where.to_dict()
        suffix = " (" + ", ".join(f"{k} {v}" for k, v in loc.items()) + ")" if loc else ""
        return f"[{self.code.code}] {self.message}{suffix}"


class AxisError(Exception):
    """Raised where processing cannot go on; carries the :class:`Problem` that explains why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem

    @classmethod
    def of(cls, code: Code, detail: str = "", where: Where = NOWHERE) -> "AxisError":
        return cls(Problem(code, detail, where))

    @property
    def code(self) -> Code:
        return self.problem.code
