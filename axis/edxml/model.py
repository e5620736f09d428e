"""A typed model of the two edXML package kinds (QCVN 102:2016 as the field writes it).

Values are kept as received (stripped text); where axis acts on a value it is also
parsed (agency codes, dates, priority, business type, status code).  A field absent
from the package is ``None`` (or an empty tuple), never a made-up default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from axis.agencycode import AgencyCode
from axis.vntime import EdxmlDate, EdxmlTimestamp

Sniffed = Literal["zip", "pdf", "other"]

STATUS_CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
"""The business status codes the standard knows (see the reference, §2); any other is refused."""


@dataclass(frozen=True, slots=True)
class Organization:
    """From, To: the agency and its contact details."""

    organ_id: str | None
    code: AgencyCode | None
    organization_in_charge: str | None = None
    organ_name: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentCode:
    number: str | None
    notation: str | None

    @property
    def text(self) -> str:
        """``7816/VPCP-TTĐT``, as the VNPT library joins them."""
        return "/".join(p for p in (self.number, self.notation) if p)


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    place: str | None
    date: EdxmlDate | None


@dataclass(frozen=True, slots=True)
class DocumentType:
    type: str | None
    type_detail: str | None
    type_name: str | None


@dataclass(frozen=True, slots=True)
class SignerInfo:
    competence: str | None
    position: str | None
    full_name: str | None


@dataclass(frozen=True, slots=True)
class OtherInfo:
    priority: int | None
    """0 normal … 4 most urgent; ``None`` when absent."""
    priority_raw: str | None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: str | None = None
    page_amount: str | None = None
    direction: str | None = None
    appendixes: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    """Other leaves (ReplyFors, ReferenceCodes, …) as (name, text), in document order."""


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """The document a reply or a status refers to; its OrganId is the counter-party."""

    organ_id: str | None
    code: AgencyCode | None
    document_code: str | None
    promulgation_date: EdxmlDate | None
    document_id: str | None


@dataclass(frozen=True, slots=True)
class TraceHeader:
    organ_id: str | None
    """``None`` when missing, empty or the literal ``null`` that some gateways write."""
    timestamp: EdxmlTimestamp | None
    timestamp_raw: str | None


@dataclass(frozen=True, slots=True)
class StaffInfo:
    department: str | None = None
    department_id: str | None = None
    staff: str | None = None
    staff_id: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True, slots=True)
class Receiver:
    organ_id: str | None
    receiver_type: str | None


@dataclass(frozen=True, slots=True)
class BusinessDocumentInfo:
    document_info: str | None
    document_receiver: str | None
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    document_id: str | None
    organ_ids: tuple[str, ...] = ()


BUSINESS_DOC_TYPES = {0: "new", 1: "revoke", 2: "update", 3: "replace"}


@dataclass(frozen=True, slots=True)
class Business:
    """The VPCP ``Bussiness`` extension: new, revoke, update or replace."""

    spelling: str
    """``Bussiness`` (as the field writes it) or ``Business``."""
    doc_type: int | None
    document_id: str | None = None
    reason: str | None = None
    paper: str | None = None
    staff_info: StaffInfo | None = None
    document_info: BusinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ManifestReference:
    content_id: str | None
    """Normalised: without ``cid:`` and angle brackets, so that producers' variants match."""
    content_id_raw: str | None
    content_type: str | None
    description: str | None
    attachment_name: str | None


@dataclass(frozen=True, slots=True)
class Attachment:
    content_id: str | None
    content_id_raw: str | None
    name: str | None
    description: str | None
    declared_type: str | None
    size: int
    """Decoded size in bytes (0 when the content could not be decoded)."""
    sha256: str | None
    """Of the decoded bytes; ``None`` when the content could not be decoded."""
    sniffed: Sniffed


@dataclass(frozen=True, slots=True)
class EdocPackage:
    """A document package: new, revoke, update or replace (``business.doc_type``)."""

    sender: Organization | None
    to: tuple[Organization, ...]
    document_id: str | None
    code: DocumentCode | None
    promulgation: PromulgationInfo | None
    document_type: DocumentType | None
    subject: str | None
    content: str | None
    signer: SignerInfo | None
    due_date: EdxmlDate | None
    to_places: tuple[str, ...]
    other_info: OtherInfo | None
    response_for: tuple[ResponseFor, ...]
    steering_type: str | None
    traces: tuple[TraceHeader, ...]
    business: Business | None
    manifest: tuple[ManifestReference, ...]
    attachments: tuple[Attachment, ...]
    kind: Literal["edoc"] = field(default="edoc", init=False)

    @property
    def priority(self) -> int | None:
        return self.other_info.priority if self.other_info else None

    @property
    def business_doc_type(self) -> int | None:
        return self.business.doc_type if self.business else None


@dataclass(frozen=True, slots=True)
class StatusPackage:
    """A status package: the business status (01–16) of a document at one party."""

    sender: Organization | None
    response_for: ResponseFor | None
    staff_info: StaffInfo | None
    status_code_raw: str | None
    status_code: str | None
    """Two digits (``"01"``) whatever the producer wrote (``"1"``); ``None`` when absent or not a number."""
    description: str | None
    timestamp: EdxmlTimestamp | None
    traces: tuple[TraceHeader, ...] = ()
    kind: Literal["status"] = field(default="status", init=False)

    @property
    def is_known_code(self) -> bool:
        return self.status_code in STATUS_CODES


Package = EdocPackage | StatusPackage
