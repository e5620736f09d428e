"""What axis keeps, in terms of the domain: messages, deliveries, the two ledgers.

The rest of axis talks to storage through :class:`WriteStore` and :class:`ReadStore`
only, with these plain records; nothing here knows SQL, so a PostgreSQL engine can
follow the SQLite one.  Write methods run on the single writer thread inside a
transaction that the writer commits for a whole group of jobs (group commit).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


class State(str, enum.Enum):
    """Transport state of one package for one recipient."""

    QUEUED = "queued"  # waiting in the mailbox, or for a push attempt
    DELIVERED = "delivered"  # fetched by the recipient, or its push endpoint answered 2xx
    PROCESSING = "processing"  # the recipient said it is working on it
    DONE = "done"  # the recipient acknowledged it (final)
    FAILED = "failed"  # the recipient reported it could not take it (final)
    DEAD = "dead"  # push gave up after the configured period; ``axisctl resend`` revives it
    WITHDRAWN = "withdrawn"  # revoked by its sender before the recipient fetched it (final; never shown)
    SUPERSEDED = "superseded"  # replaced by its sender before the recipient fetched it (final; never shown)


PENDING_STATES = (State.QUEUED, State.DELIVERED, State.PROCESSING)
TAKEN_BACK = (State.WITHDRAWN, State.SUPERSEDED)
# Not delivered yet: the recipient's first fetch or acknowledgement delivers it.  A dead letter too (push gave
# up, yet the agency may take it from its mailbox by its id): once the recipient has it, it is delivered.
UNDELIVERED = (State.QUEUED, State.DEAD)


class Event(str, enum.Enum):
    """Transport ledger events (append-only)."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    DELIVERED = "delivered"
    PROCESSING = "processing"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"
    DEAD = "dead"
    RESENT = "resent"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"


class AckResult(str, enum.Enum):
    DONE = "done"
    FAIL = "fail"
    PROCESSING = "processing"


@dataclass(frozen=True)
class NewDelivery:
    recipient: str  # canonical code
    mode: str  # "pull" | "push" | "upstream" | "peer"
    target: str | None = None  # push URL, or the route's name for upstream and peer


@functools.lru_cache(maxsize=65536)
def delivery_row(recipient: str, mode: str, target: str | None) -> NewDelivery:
    """The (immutable, shared) delivery row for these values: the same recipients come back in package after
    package, and a fan-out to 63 agencies made 63 objects per package, in the intake and again in the daemon."""
    return NewDelivery(recipient, mode, target)


@dataclass(frozen=True)
class BusinessEvent:
    """One business status of a document for one recipient (a row of the business ledger)."""

    doc_sender: str
    document_id: str
    recipient: str  # the agency that received the original document
    status_code: str
    author: str  # who sent the status
    at: str  # when axis accepted it (ISO +07:00)
    status_time: str | None = None  # the Timestamp the author wrote
    description: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class NewMessage:
    """A checked, routed package ready to be made durable."""

    message_id: str
    kind: str  # "edoc" | "status"
    sender: str  # canonical code
    document_id: str | None
    doc_sender: str | None  # the original sender of the document this package is or concerns
    status_code: str | None
    priority: int
    sha256: str
    data: bytes
    accepted_at: str
    accepted_ns: int
    signature: str | None  # the signature class
    receipt: bytes  # the signed receipt, returned again for a duplicate
    deliveries: tuple[NewDelivery, ...]
    business: BusinessEvent | None = None
    business_type: int | None = None  # Bussiness/BussinessDocType as written: 0 new, 1 revoke, 2 update, 3 replace
    original_id: str | None = None  # for a revoke, update or replacement: the DocumentId it concerns
    replaces: tuple[tuple[str, tuple[str, ...]], ...] = ()  # a replacement: (DocumentId, recipients) it replaces
    via: str | None = None  # the route it came in on (relayed by another axis), for the transport ledger
    # recipients it names that are behind that same route: the axis that relayed it serves them (never sent back)
    left: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stored:
    message_id: str
    receipt: bytes
    duplicate: bool  # the same sender sent the same bytes before: nothing new was stored
    deliveries: tuple[tuple[str, State], ...] = ()  # a duplicate's: where its first copy stands now
    withdrawn: tuple[str, ...] = ()  # recipients from whom a revoke took the unfetched original
    superseded: tuple[str, ...] = ()  # recipients whose unfetched original a replacement took the place of


@dataclass(frozen=True)
class DocumentFacts:
    """A document axis carried (a new document or a replacement), as business rules need to see it.  Its
    recipients are those of the document and those an update of it added (``ReceiverList``)."""

    message_id: str
    sha256: str
    accepted_at: str
    deliveries: dict[str, tuple[State, str]]  # recipient -> (state, mode) of its copy
    added_by: dict[str, str] = dataclasses.field(default_factory=dict)  # recipient -> the update that added it

    def carrier(self, recipient: str) -> str:
        """The message whose delivery is ``recipient``'s copy: the document's own, or the update that added it."""
        return self.added_by.get(recipient, self.message_id)


@dataclass(frozen=True)
class MailboxItem:
    message_id: str
    kind: str
    sender: str
    document_id: str | None
    status_code: str | None
    priority: int
    size: int
    sha256: str
    accepted_at: str
    state: State


@dataclass(frozen=True)
class LedgerEntry:
    message_id: str
    recipient: str | None
    event: str
    at: str
    detail: str | None = None


@dataclass(frozen=True)
class DeliveryView:
    recipient: str
    mode: str
    target: str | None
    state: State
    attempts: int
    updated_at: str
    last_error: str | None


@dataclass(frozen=True)
class MessageView:
    message_id: str
    kind: str
    sender: str
    document_id: str | None
    doc_sender: str | None
    status_code: str | None
    priority: int
    sha256: str
    size: int
    accepted_at: str
    signature: str | None
    deliveries: tuple[DeliveryView, ...]
    ledger: tuple[LedgerEntry, ...]
    business: tuple[BusinessEvent, ...]


@dataclass(frozen=True)
class DocumentCopy:
    """One document (a new document or a replacement) for one recipient, as the ledgers tell it: what
    deadlines and statistics are computed from.  A copy an update added is the document's (``message_id``),
    received when that update was (``accepted_at``)."""

    message_id: str
    document_id: str
    sender: str
    recipient: str
    priority: int
    accepted_at: str  # when axis accepted the document (ISO +07:00)
    mode: str
    state: State
    state_at: str  # when the copy reached ``state`` (for a copy taken back: when it was taken back)
    steps: tuple[tuple[str, str], ...] = ()  # (step, at) in ledger order: status codes and requests (lifecycle)
    added_by: str | None = None  # the update that first carried this copy (its recipient was not the document's)


@dataclass(frozen=True)
class AuditEntry:
    """One administrative action (a reload, a resend, an agency asking to be registered or removed), kept in an
    append-only log: who, what, when, and the outcome."""

    id: int
    at: str
    actor: str  # "operator <user>@<host>", "axisd (SIGHUP)", or the agency / route that asked
    action: str  # "reload" | "resend" | "register-request" | "delete-request" | …
    detail: str


@dataclass(frozen=True)
class AgencyRequest:
    """An agency system asking (through the VXP door) for an agency to be registered or removed."""

    id: int
    at: str
    requested_by: str  # the authenticated agency that asked
    action: str  # "register" | "delete"
    agency: str  # the code it names, as written
    detail: str  # the registration JSON as received ("" for a removal)


@dataclass(frozen=True)
class PushJob:
    message_id: str
    recipient: str
    mode: str
    target: str
    attempts: int
    first_failure_ns: int | None
    sha256: str
    priority: int
    accepted_ns: int
    kind: str = "edoc"  # "edoc" | "status" (an upstream axis is told which)


@dataclass(frozen=True)
class QueueDepth:
    priority: int
    depth: int
    oldest_ns: int | None


class WriteStore(Protocol):
    def transaction(self) -> AbstractContextManager[None]: ...
    def make_durable(self) -> None:
        """Every committed transaction on disk; called from another thread than the writes (a no-op for an engine
        whose COMMIT is durable already)."""
    def savepoint(self) -> AbstractContextManager[None]: ...
    def duplicate(self, sender: str, sha256: str) -> Stored | None: ...
    def document(self, doc_sender: str, document_id: str) -> DocumentFacts | None: ...
    def request_original(self, doc_sender: str, document_id: str) -> str | None:
        """The DocumentId of the document that ``doc_sender``'s latest revoke or update sent under its own
        ``document_id`` acts on (None if it sent none)."""
    def history(self, doc_sender: str, document_id: str, recipient: str) -> list[str]: ...
    def last_request(self, doc_sender: str, document_id: str, recipient: str) -> tuple[str, str | None] | None:
        """(request, the DocumentId of the package that made it) of the latest revoke, update or replacement
        ``doc_sender`` made of ``recipient`` about ``document_id``."""
    def requests_made(self, doc_sender: str, document_id: str, recipient: str) -> list[tuple[str, str]]:
        """(request, DocumentId it acts on) for each request ``doc_sender``'s packages with the DocumentId
        ``document_id`` made of ``recipient``, in the order they were accepted."""
    def store_message(self, msg: NewMessage) -> Stored: ...
    def record_business(self, event: BusinessEvent) -> None: ...
    def record_request(self, message_id: str, request: str, doc_sender: str, document_id: str,
                       recipient: str) -> None: ...
    def take_back(self, message_id: str, recipient: str, state: State, at: str, detail: str) -> None: ...
    def record_agency_request(self, at: str, requested_by: str, action: str, agency: str, detail: str) -> int: ...
    def record_audit(self, at: str, actor: str, action: str, detail: str) -> None: ...
    def probe(self, at: str) -> None:
        """Write something nothing reads: whether a write commits (the readiness check, after a failed commit)."""
    def mark_fetched(self, recipient: str, message_id: str, at: str) -> bool: ...
    def acknowledge(self, recipient: str, message_id: str, result: AckResult, reason: str | None,
                    at: str) -> State: ...
    def push_succeeded(self, job: PushJob, at: str, detail: str) -> bool: ...
    def push_failed(self, job: PushJob, at: str, error: str, now_ns: int, next_attempt_ns: int | None) -> bool: ...
    def resend(self, message_ids: Sequence[str] | None, at: str, now_ns: int) -> int: ...


class ReadStore(Protocol):
    def mailbox(self, recipient: str, limit: int, kind: str | None = None, oldest: int = 0) -> list[MailboxItem]: ...
    def agency_requests(self, limit: int) -> list[AgencyRequest]: ...
    def audit(self, limit: int) -> list[AuditEntry]: ...
    def pending_count(self, recipient: str, kind: str | None = None) -> int: ...
    def fetch(self, recipient: str, message_id: str) -> tuple[MailboxItem, bytes] | None: ...
    def payload(self, message_id: str) -> bytes | None: ...
    def message(self, message_id: str) -> MessageView | None: ...
    def sent(self, sender: str, limit: int, kind: str | None = None) -> list[MessageView]: ...
    def due_pushes(self, now_ns: int, limit: int, oldest: int = 0, busy: Sequence[str] = (),
                   horizon_ns: int | None = None) -> list[PushJob]: ...
    def trace(self, document_id: str, doc_sender: str | None = None) -> list[MessageView]: ...
    def queue_depths(self) -> list[QueueDepth]: ...
    def dead_letters(self, limit: int) -> list[tuple[PushJob, str | None, str]]: ...
    def copies(self, start: str, end: str | None, agency: str | AbstractSet[str] | None = None,
               unanswered: bool = False) -> list[DocumentCopy]: ...
    def each_copy(self, start: str, end: str | None, agency: str | AbstractSet[str] | None = None,
                  unanswered: bool = False) -> Iterator[DocumentCopy]: ...
    def within(self, seconds: float) -> AbstractContextManager[None]:
        """Reads inside end with AxisError ``http.timeout`` once ``seconds`` have gone by."""
        ...
