"""Read a parsed edXML tree into the typed model, collecting every problem on the way.

Reading is by element name, never by position: producers order children
differently and place ``Bussiness`` before or after the TraceHeaders.  The reader
never raises for bad content: it records a :class:`Problem` with its location and
goes on, so that one verdict lists everything wrong with a package.  Only a tree
that is not an edXML package at all (:func:`locate`) is refused outright.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, TypeVar

from lxml import etree

from axis.agencycode import AgencyCode, parse_tolerant
from axis.edxml import attachments as att
from axis.edxml import model as m
from axis.edxml.names import QCVN_NS, local_name, q, where
from axis.errors import AxisError, Code, Problem
from axis.vntime import (
    EdxmlDate,
    parse_edxml_date,
    parse_edxml_timestamp,
)

Kind = Literal["edoc", "status"]
Children = dict[str, list[etree._Element]]
T = TypeVar("T")

_ANY_QCVN = f"{{{QCVN_NS}}}*"
_PREFIX_LENGTH = len(QCVN_NS) + 2
_NULL_IDS = ("", "null", "NULL", "Null")
_ORG_FIELDS = ("OrganizationInCharge", "OrganName", "OrganAdd", "Email", "Telephone", "Fax", "Website")
_ORG_TAGS = {q(name): name for name in _ORG_FIELDS}  # Clark name -> field, for an exact-tag lookup
_ORGAN_ID_TAG = q("OrganId")
_ORGANIZATIONS: dict[tuple[str | None, ...], m.Organization] = {}  # see _Reader.organization
_CODES: dict[str, AgencyCode] = {}  # text as written -> its tolerant parse (codes repeat in every package); valid ones


def children(el: etree._Element) -> Children:
    """Children in the QCVN namespace grouped by local name, in document order."""
    out: Children = {}
    for child in el.iterchildren(_ANY_QCVN):
        name = child.tag[_PREFIX_LENGTH:]
        group = out.get(name)
        if group is None:
            out[name] = [child]
        else:
            group.append(child)
    return out


def _is_number(raw: str) -> bool:
    """ASCII digits only: ``str.isdigit`` is also true of ``²`` (which ``int`` refuses) and ``٣`` (read as 3)."""
    return raw.isascii() and raw.isdigit()


def _small_number(raw: str | None) -> int | None:
    """The value of a short field of ASCII digits, else None (``int`` refuses more than 4,300 digits)."""
    return int(raw) if raw is not None and _is_number(raw) and len(raw) <= 9 else None


def text_of(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


@dataclass(frozen=True, slots=True)
class Located:
    """The fixed frame of a package: where its parts are, and which kind it is."""

    kind: Kind
    root: etree._Element
    header: etree._Element
    message_header: etree._Element
    body: etree._Element | None
    attachment_encoded: etree._Element | None


def _one(parent: etree._Element, name: str, required: bool = True) -> etree._Element | None:
    found = parent.findall(q(name))
    if len(found) > 1:
        raise AxisError.of(Code.EDXML_DUPLICATE_FIELD, f"{len(found)} <{name}> elements", where(found[1]))
    if not found:
        if required:
            raise AxisError.of(Code.EDXML_NOT_EDXML, f"no <{name}> inside <{local_name(parent)}>", where(parent))
        return None
    return found[0]


def _is_status(message_header: etree._Element) -> bool:
    """A status has a StatusCode; one that lost it still has a status's shape (a ResponseFor, no To and no
    DocumentId of its own), and is judged as a status that misses its code, not as a document missing both."""
    if message_header.find(q("StatusCode")) is not None:
        return True
    return (message_header.find(q("ResponseFor")) is not None and message_header.find(q("To")) is None
            and message_header.find(q("DocumentId")) is None)


def locate(root: etree._Element) -> Located:
    """Find the envelope, header and message header and decide the kind, or raise ``edxml.not-edxml``."""
    if root.tag != q("edXML"):
        found = root.tag if isinstance(root.tag, str) else repr(root.tag)
        hint = ""
        if local_name(root) == "edXML":
            hint = f" (the root must be in the namespace {QCVN_NS})"
        raise AxisError.of(Code.EDXML_NOT_EDXML, f"the root element is {found}{hint}", where(root))
    envelope = _one(root, "edXMLEnvelope")
    assert envelope is not None
    header = _one(envelope, "edXMLHeader")
    assert header is not None
    message_header = _one(header, "MessageHeader")
    assert message_header is not None
    kind: Kind = "status" if _is_status(message_header) else "edoc"
    return Located(
        kind=kind,
        root=root,
        header=header,
        message_header=message_header,
        body=_one(envelope, "edXMLBody", required=False),
        attachment_encoded=_one(root, "AttachmentEncoded", required=False),
    )


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def report(self, code: Code, detail: str, el: etree._Element | None) -> None:
        self.problems.append(Problem(code, detail, where(el)))

    # -- leaves ---------------------------------------------------------------------

    def text(self, kids: Children, name: str) -> str | None:
        els = kids.get(name)
        return text_of(els[0]) if els else None

    def single(self, kids: Children, name: str, parent: etree._Element, *, required: bool) -> etree._Element | None:
        """An element that must appear at most once (exactly once if required): the fields axis acts on."""
        els = kids.get(name, [])
        if len(els) > 1:
            self.report(Code.EDXML_DUPLICATE_FIELD, f"<{name}> appears {len(els)} times in <{local_name(parent)}>",
                        els[1])
        if not els:
            if required:
                self.report(Code.EDXML_MISSING_FIELD, f"<{local_name(parent)}> has no <{name}>", parent)
            return None
        return els[0]

    def parsed(self, kids: Children, name: str, parse: Callable[[str], T], code: Code = Code.EDXML_BAD_DATE
               ) -> T | None:
        els = kids.get(name)
        raw = text_of(els[0]) if els else None
        if raw is None:
            return None
        try:
            return parse(raw)
        except ValueError as exc:
            assert els is not None
            self.report(code, f"<{name}>: {exc}", els[0])
            return None

    def date(self, kids: Children, name: str) -> EdxmlDate | None:
        return self.parsed(kids, name, parse_edxml_date)

    def agency(self, value: str | None, el: etree._Element, *, severity_error: bool = True) -> AgencyCode | None:
        if value is None:
            return None
        code = _CODES.get(value)
        if code is None:
            try:
                code = parse_tolerant(value)
            except AxisError as exc:
                self.report(Code.AGENCY_INVALID_CODE if severity_error else Code.EDXML_TRACE_ENTRY,
                            f"<{local_name(el)}> {exc.problem.detail or value!r}", el)
                return None
            if len(_CODES) >= 65536:
                _CODES.clear()
            _CODES[value] = code
        if not code.is_standard:
            flags = ", ".join(sorted(f.name.lower() for f in code.flags))
            self.report(Code.AGENCY_NONSTANDARD_CODE, f"{value!r} ({flags})", el)
        return code

    # -- composite fields -----------------------------------------------------------

    def organization(self, el: etree._Element) -> m.Organization:
        # One pass over the children, by exact tag: documents to many recipients have one <To> each, so this is hot.
        fields: dict[str, str | None] = {}
        id_el: etree._Element | None = None
        second_id: etree._Element | None = None
        n_ids = 0
        for child in el:
            tag = child.tag
            if tag == _ORGAN_ID_TAG:
                n_ids += 1
                if id_el is None:
                    id_el = child
                elif second_id is None:
                    second_id = child
            else:
                name = _ORG_TAGS.get(tag)  # type: ignore[call-overload]  # a comment's tag is a function
                if name is not None and name not in fields:
                    fields[name] = text_of(child)
        if id_el is None:
            self.report(Code.EDXML_MISSING_FIELD, f"<{local_name(el)}> has no <OrganId>", el)
            organ_id = code = None
        else:
            if second_id is not None:
                self.report(Code.EDXML_DUPLICATE_FIELD, f"<OrganId> appears {n_ids} times in <{local_name(el)}>",
                            second_id)
            organ_id = text_of(id_el)
            if organ_id is None:
                self.report(Code.EDXML_MISSING_FIELD, f"<{local_name(el)}/OrganId> is empty", id_el)
            elif second_id is None:
                # The same agencies, written the same way, come back in package after package: an Organization
                # whose code is standard (so that reading it reports nothing) is made once and shared (immutable).
                get = fields.get
                key = (organ_id, get("OrganizationInCharge"), get("OrganName"), get("OrganAdd"), get("Email"),
                       get("Telephone"), get("Fax"), get("Website"))
                found = _ORGANIZATIONS.get(key)
                if found is not None:
                    return found
                code = self.agency(organ_id, id_el)
                org = m.Organization(organ_id, code, *key[1:])
                if code is not None and code.is_standard:
                    if len(_ORGANIZATIONS) >= 16384:
                        _ORGANIZATIONS.clear()
                    _ORGANIZATIONS[key] = org
                return org
            code = self.agency(organ_id, id_el)
        get = fields.get
        return m.Organization(organ_id, code, get("OrganizationInCharge"), get("OrganName"), get("OrganAdd"),
                              get("Email"), get("Telephone"), get("Fax"), get("Website"))

    def sender(self, kids: Children, header: etree._Element) -> m.Organization | None:
        el = self.single(kids, "From", header, required=True)
        return self.organization(el) if el is not None else None

    def response_for(self, el: etree._Element, *, required: bool) -> m.ResponseFor:
        kids = children(el)
        organ_el = self.single(kids, "OrganId", el, required=required)
        organ_id = text_of(organ_el)
        if required:
            if organ_el is not None and organ_id is None:
                self.report(Code.EDXML_MISSING_FIELD, "<ResponseFor/OrganId> is empty", organ_el)
            doc_el = self.single(kids, "DocumentId", el, required=True)
            if doc_el is not None and text_of(doc_el) is None:
                self.report(Code.EDXML_MISSING_FIELD, "<ResponseFor/DocumentId> is empty", doc_el)
        return m.ResponseFor(
            organ_id=organ_id,
            code=self.agency(organ_id, organ_el) if organ_el is not None else None,
            document_code=self.text(kids, "Code"),
            promulgation_date=self.date(kids, "PromulgationDate"),
            document_id=self.text(kids, "DocumentId"),
        )

    def staff_info(self, el: etree._Element | None) -> m.StaffInfo | None:
        if el is None:
            return None
        kids = children(el)
        return m.StaffInfo(
            department=self.text(kids, "Department"),
            department_id=self.text(kids, "DepartmentId"),
            staff=self.text(kids, "Staff"),
            staff_id=self.text(kids, "StaffId"),
            email=self.text(kids, "Email"),
            mobile=self.text(kids, "Mobile"),
        )

    def traces(self, trace_list: etree._Element | None) -> tuple[m.TraceHeader, ...]:
        if trace_list is None:
            return ()
        out = []
        for el in trace_list.iterchildren(q("TraceHeader")):
            kids = children(el)
            organ = self.text(kids, "OrganId")
            if organ in _NULL_IDS or organ is None:
                self.report(Code.EDXML_TRACE_ENTRY, "a TraceHeader has no OrganId (or the literal null)", el)
                organ = None
            else:
                self.agency(organ, kids["OrganId"][0], severity_error=False)
            raw_ts = self.text(kids, "Timestamp")
            stamp = self.parsed(kids, "Timestamp", parse_edxml_timestamp, Code.EDXML_TRACE_ENTRY)
            out.append(m.TraceHeader(organ_id=organ, timestamp=stamp, timestamp_raw=raw_ts))
        return tuple(out)

    def business(self, header: etree._Element, trace_list: etree._Element | None) -> m.Business | None:
        found = [
            el
            for container in (trace_list, header)
            if container is not None
            for name in ("Bussiness", "Business")
            for el in container.iterchildren(q(name))
        ]
        if not found:
            return None
        if len(found) > 1:
            self.report(Code.EDXML_DUPLICATE_FIELD, f"{len(found)} Bussiness blocks", found[1])
        el = found[0]
        kids = children(el)
        for field_name in ("DocType", "DocReason", "DocumentInfo"):  # the Bkav SDK also writes Business…
            if f"Business{field_name}" in kids and f"Bussiness{field_name}" not in kids:
                kids[f"Bussiness{field_name}"] = kids[f"Business{field_name}"]
        type_el = self.single(kids, "BussinessDocType", el, required=True)
        doc_type = None
        if type_el is not None:
            raw = text_of(type_el)
            value = _small_number(raw)
            if value in m.BUSINESS_DOC_TYPES:
                doc_type = value
            else:
                self.report(Code.EDXML_INVALID_VALUE, f"BussinessDocType {raw!r} is not 0, 1, 2 or 3", type_el)
        info = None
        if kids.get("BussinessDocumentInfo"):
            info_el = kids["BussinessDocumentInfo"][0]
            ik = children(info_el)
            receivers = []
            for list_el in ik.get("ReceiverList", []):
                for r in list_el.iterchildren(q("Receiver")):
                    rk = children(r)
                    organ = self.text(rk, "OrganId")
                    if rk.get("OrganId"):
                        self.agency(organ, rk["OrganId"][0])
                    receivers.append(m.Receiver(organ_id=organ, receiver_type=self.text(rk, "ReceiverType")))
            info = m.BusinessDocumentInfo(
                document_info=self.text(ik, "DocumentInfo"),
                document_receiver=self.text(ik, "DocumentReceiver"),
                receivers=tuple(receivers),
            )
        replacements = []
        for list_el in kids.get("ReplacementInfoList", []):
            for r in list_el.iterchildren(q("ReplacementInfo")):
                rk = children(r)
                organs = []
                for organ_list in rk.get("OrganIdList", []):
                    for organ_el in organ_list.iterchildren(q("OrganId")):
                        organ = text_of(organ_el)
                        if organ is not None:
                            self.agency(organ, organ_el)
                            organs.append(organ)
                replacements.append(m.ReplacementInfo(document_id=self.text(rk, "DocumentId"), organ_ids=tuple(organs)))
        return m.Business(
            spelling=local_name(el),
            doc_type=doc_type,
            document_id=self.text(kids, "DocumentId"),
            reason=self.text(kids, "BussinessDocReason"),
            paper=self.text(kids, "Paper"),
            staff_info=self.staff_info(kids["StaffInfo"][0] if kids.get("StaffInfo") else None),
            document_info=info,
            replacements=tuple(replacements),
        )

    def other_info(self, el: etree._Element | None) -> m.OtherInfo | None:
        if el is None:
            return None
        kids = children(el)
        priority = None
        prio_el = self.single(kids, "Priority", el, required=False)
        priority_raw = text_of(prio_el)
        if priority_raw is not None:
            value = _small_number(priority_raw)
            if value is not None and 0 <= value <= 4:
                priority = value
            else:
                self.report(Code.EDXML_INVALID_VALUE, f"Priority {priority_raw!r} is not 0-4", prio_el)
        known = {"Priority", "SphereOfPromulgation", "TyperNotation", "PromulgationAmount", "PageAmount",
                 "Direction", "Appendixes"}
        appendixes = tuple(
            t for a in kids.get("Appendixes", []) for x in a.iterchildren(q("Appendix")) if (t := text_of(x))
        )
        extra = tuple((local_name(c), "".join(c.itertext()).strip()) for c in el
                      if isinstance(c.tag, str) and local_name(c) not in known)
        return m.OtherInfo(
            priority=priority,
            priority_raw=priority_raw,
            sphere_of_promulgation=self.text(kids, "SphereOfPromulgation"),
            typer_notation=self.text(kids, "TyperNotation"),
            promulgation_amount=self.text(kids, "PromulgationAmount"),
            page_amount=self.text(kids, "PageAmount"),
            direction=self.text(kids, "Direction"),
            appendixes=appendixes,
            extra=extra,
        )

    def recipients(self, kids: Children, header: etree._Element) -> tuple[m.Organization, ...]:
        to_els = kids.get("To", [])
        if not to_els:
            self.report(Code.EDXML_MISSING_FIELD, "a document needs at least one <To>", header)
            return ()
        orgs = tuple(self.organization(el) for el in to_els)
        seen_text: dict[str, int] = {}
        seen_agency: dict[str, int] = {}
        for index, (org, el) in enumerate(zip(orgs, to_els)):
            if org.organ_id is None:
                continue
            if org.organ_id in seen_text:
                self.report(Code.EDXML_DUPLICATE_TO,
                            f"{org.organ_id} is already <To> number {seen_text[org.organ_id] + 1}", el)
                continue
            seen_text[org.organ_id] = index
            if org.code is not None:
                if org.code.canonical in seen_agency:
                    first = orgs[seen_agency[org.code.canonical]].organ_id
                    self.report(Code.EDXML_DUAL_ADDRESS, f"{org.organ_id} and {first} denote one agency", el)
                else:
                    seen_agency[org.code.canonical] = index
        return orgs

    # -- manifest and attachments -------------------------------------------------------

    def manifest(self, body: etree._Element | None) -> tuple[m.ManifestReference, ...]:
        if body is None:
            return ()
        refs = []
        for manifest in body.iterchildren(q("edXMLManifest")):
            for el in manifest.iterchildren(q("Reference")):
                kids = children(el)
                raw = self.text(kids, "ContentId")
                if raw is None:
                    self.report(Code.EDXML_MISSING_FIELD, "a manifest <Reference> has no <ContentId>", el)
                refs.append(m.ManifestReference(
                    content_id=att.normalize_content_id(raw),
                    content_id_raw=raw,
                    content_type=self.text(kids, "ContentType"),
                    description=self.text(kids, "Description"),
                    attachment_name=self.text(kids, "AttachmentName"),
                ))
        return tuple(refs)

    def attachment(self, el: etree._Element) -> m.Attachment:
        kids = children(el)
        raw_id = self.text(kids, "ContentId")
        if raw_id is None:
            self.report(Code.EDXML_MISSING_FIELD, "an <Attachment> has no <ContentId>", el)
        declared = self.text(kids, "ContentType")
        content_el = self.single(kids, "ContentTransferEncoded", el, required=True)
        size, sha256, sniffed = 0, None, "other"
        if content_el is not None:
            try:
                decoded = att.decode(content_el.text)
            except ValueError as exc:
                self.report(Code.ATTACHMENT_INVALID_BASE64, str(exc), content_el)
            else:
                size, sha256, sniffed = decoded.size, decoded.sha256, decoded.sniffed
                if att.declared_type_disagrees(declared, sniffed):
                    self.report(Code.ATTACHMENT_TYPE_MISMATCH, f"declared {declared}, the bytes are {sniffed}", el)
                if decoded.bomb:
                    self.report(Code.ATTACHMENT_ZIP_BOMB, f"{decoded.size} bytes that claim to unzip to "
                                f"{decoded.unzipped} bytes; recipients must not unzip it without limits", el)
        return m.Attachment(
            content_id=att.normalize_content_id(raw_id),
            content_id_raw=raw_id,
            name=self.text(kids, "AttachmentName"),
            description=self.text(kids, "Description"),
            declared_type=declared,
            size=size,
            sha256=sha256,
            sniffed=sniffed,  # type: ignore[arg-type]
        )

    def attachments(self, encoded: etree._Element | None, refs: tuple[m.ManifestReference, ...],
                    body: etree._Element | None) -> tuple[m.Attachment, ...]:
        els = list(encoded.iterchildren(q("Attachment"))) if encoded is not None else []
        items = tuple(self.attachment(el) for el in els)
        by_id: dict[str, m.Attachment] = {}
        for item, el in zip(items, els):
            if item.content_id is None:
                continue
            if item.content_id in by_id:
                self.report(Code.ATTACHMENT_DUPLICATE_ID, f"ContentId {item.content_id_raw} is used twice", el)
            by_id[item.content_id] = item
        listed = {r.content_id for r in refs if r.content_id is not None}
        ref_els = [el for mf in (body.iterchildren(q("edXMLManifest")) if body is not None else ())
                   for el in mf.iterchildren(q("Reference"))]
        for ref, el in zip(refs, ref_els):
            if ref.content_id is None:
                continue
            target = by_id.get(ref.content_id)
            if target is None:
                self.report(Code.ATTACHMENT_MISSING, f"the manifest lists {ref.content_id_raw}, no attachment has it",
                            el)
            elif ref.content_type and target.declared_type and ref.content_type != target.declared_type:
                self.report(Code.ATTACHMENT_TYPE_MISMATCH,
                            f"the manifest says {ref.content_type}, the attachment says {target.declared_type}", el)
        for item, el in zip(items, els):
            if item.content_id is not None and item.content_id not in listed:
                self.report(Code.ATTACHMENT_UNLISTED, f"attachment {item.content_id_raw} is not in the manifest", el)
        return items

    # -- the two kinds ---------------------------------------------------------------------

    def edoc(self, loc: Located) -> m.EdocPackage:
        mh = loc.message_header
        kids = children(mh)
        trace_list = loc.header.find(q("TraceHeaderList"))
        doc_el = self.single(kids, "DocumentId", mh, required=True)
        if doc_el is not None and text_of(doc_el) is None:
            self.report(Code.EDXML_MISSING_FIELD, "<DocumentId> is empty", doc_el)
        code_kids = children(kids["Code"][0]) if kids.get("Code") else None
        prom_kids = children(kids["PromulgationInfo"][0]) if kids.get("PromulgationInfo") else None
        type_kids = children(kids["DocumentType"][0]) if kids.get("DocumentType") else None
        signer_kids = children(kids["SignerInfo"][0]) if kids.get("SignerInfo") else None
        refs = self.manifest(loc.body)
        return m.EdocPackage(
            sender=self.sender(kids, mh),
            to=self.recipients(kids, mh),
            document_id=text_of(doc_el),
            code=m.DocumentCode(self.text(code_kids, "CodeNumber"), self.text(code_kids, "CodeNotation"))
            if code_kids is not None else None,
            promulgation=m.PromulgationInfo(self.text(prom_kids, "Place"), self.date(prom_kids, "PromulgationDate"))
            if prom_kids is not None else None,
            document_type=m.DocumentType(self.text(type_kids, "Type"), self.text(type_kids, "TypeDetail"),
                                         self.text(type_kids, "TypeName")) if type_kids is not None else None,
            subject=self.text(kids, "Subject"),
            content=self.text(kids, "Content"),
            signer=m.SignerInfo(self.text(signer_kids, "Competence"), self.text(signer_kids, "Position"),
                                self.text(signer_kids, "FullName")) if signer_kids is not None else None,
            due_date=self.date(kids, "DueDate"),
            to_places=tuple(t for tp in kids.get("ToPlaces", []) for p in tp.iterchildren(q("Place"))
                            if (t := text_of(p))),
            other_info=self.other_info(self.single(kids, "OtherInfo", mh, required=False)),
            response_for=tuple(self.response_for(el, required=False) for el in kids.get("ResponseFor", [])),
            steering_type=self.text(kids, "SteeringType"),
            traces=self.traces(trace_list),
            business=self.business(loc.header, trace_list),
            manifest=refs,
            attachments=self.attachments(loc.attachment_encoded, refs, loc.body),
        )

    def status(self, loc: Located) -> m.StatusPackage:
        mh = loc.message_header
        kids = children(mh)
        rf_el = self.single(kids, "ResponseFor", mh, required=True)
        code_el = self.single(kids, "StatusCode", mh, required=True)
        raw_code = text_of(code_el)
        code = None
        if code_el is not None:
            if raw_code is not None and _is_number(raw_code) and len(raw_code) <= 3:
                code = raw_code.zfill(2)
                if code not in m.STATUS_CODES:
                    self.report(Code.EDXML_UNKNOWN_STATUS, f"StatusCode {raw_code!r}", code_el)
            else:
                self.report(Code.EDXML_INVALID_VALUE, f"StatusCode {raw_code!r} is not a number", code_el)
        return m.StatusPackage(
            sender=self.sender(kids, mh),
            response_for=self.response_for(rf_el, required=True) if rf_el is not None else None,
            staff_info=self.staff_info(kids["StaffInfo"][0] if kids.get("StaffInfo") else None),
            status_code_raw=raw_code,
            status_code=code,
            description=self.text(kids, "Description"),
            timestamp=self.parsed(kids, "Timestamp", parse_edxml_timestamp),
            traces=self.traces(loc.header.find(q("TraceHeaderList"))),
        )


def read(loc: Located) -> tuple[m.Package, list[Problem]]:
    """Read the package at ``loc`` into the model; problems are returned, not raised."""
    reader = _Reader()
    package: m.Package = reader.edoc(loc) if loc.kind == "edoc" else reader.status(loc)
    return package, reader.problems
