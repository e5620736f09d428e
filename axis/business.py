"""The business rules axis applies when it stores a package, inside the package's write transaction.

Run on the writer thread (see :meth:`axis.service.AxisService.submit`), so every check sees the ledgers
as they are and no two packages interleave: a status and a revoke racing for the same document are
decided in the order they commit.  A refusal raises :class:`AxisError` and the savepoint rolls the
package back whole.  Storage is reached through :class:`axis.storage.base.WriteStore` only.

* The same sender and the same bytes again: the first receipt, nothing stored (the *duplicate*), with
  where its deliveries stand now, so a failed delivery is never reported as a success.
* A new document (or a replacement) whose sender already used its DocumentId with other bytes: refused,
  ``document.conflict``, for as long as axis keeps the first (the retention period).
* A status: the document must be one axis carried from that sender, its author a party to it, and the
  step allowed by :mod:`axis.lifecycle`.  A recipient an update added (its ReceiverList) is a party to the
  document from then on, as the original's recipients are.  A status naming a revoke's or update's own
  DocumentId is a step of the document that request acts on; so is a 15 or 16 naming a replacement's own
  DocumentId when the replacement itself waits for no answer from that recipient.
* A revoke (Bussiness type 1), update (2) or replacement (3): the original must be one axis carried from
  this sender.  Where the original still waits unfetched in a pull mailbox, a revoke withdraws it (the
  recipient never sees either package; axis records 15 for it) and a replacement supersedes it.
  Otherwise the recipient gets the request and answers 15 or 16.
"""

from __future__ import annotations

import dataclasses

from axis import lifecycle
from axis.errors import AxisError, Code
from axis.storage.base import TAKEN_BACK, BusinessEvent, DocumentFacts, NewMessage, State, Stored, WriteStore

_NEW_DOCUMENT_TYPES = (None, 0, 3)  # types that are documents of their own, with their own DocumentId


def store(store: WriteStore, msg: NewMessage, axis_code: str) -> Stored:
    """Check ``msg`` against what axis already holds and store it; raises AxisError on a refusal."""
    duplicate = store.duplicate(msg.sender, msg.sha256)
    if duplicate is not None:
        return duplicate
    if msg.kind == "status":
        return store.store_message(_check_status(store, msg))
    if msg.business_type in _NEW_DOCUMENT_TYPES and msg.document_id is not None:
        first = store.document(msg.sender, msg.document_id)
        if first is not None:
            raise AxisError.of(Code.DOCUMENT_CONFLICT, f"{msg.sender} sent {msg.document_id!r} on {first.accepted_at} "
                               f"(message {first.message_id}, SHA-256 {first.sha256[:16]}…) with other content; "
                               "send a correction as an update (Bussiness type 2) or a replacement (type 3)")
    request = lifecycle.REQUESTS.get(msg.business_type or 0)
    if request is None:
        return store.store_message(msg)
    return _store_request(store, msg, request, axis_code)


def _check_status(store: WriteStore, msg: NewMessage) -> NewMessage:
    """Refuse a status axis cannot place; returns it as it is to be stored (see :func:`_about_original`)."""
    event = msg.business
    if event is None:
        raise AxisError.of(Code.STATUS_UNKNOWN_DOCUMENT, "the status names no document (ResponseFor/DocumentId)")
    named = event.document_id  # what refusals speak of: never the original's id, which a stranger must not learn
    document = store.document(event.doc_sender, named)
    answers: str | None = None  # the request a 15 or 16 answers by naming that request's own DocumentId
    if document is None:
        msg, event, document, answers = _about_original(store, msg, event)
    elif event.status_code in _ANSWERS:
        msg, event, document, answers = _about_replaced(store, msg, event, document)
    # An agency that is neither the sender nor a recipient of the document learns no more than if it did not
    # exist: else a status would tell anyone which DocumentIds (guessable: code, date, number) another agency used.
    if document is None or (event.author != event.doc_sender and event.author not in document.deliveries):
        raise AxisError.of(Code.STATUS_UNKNOWN_DOCUMENT, f"no document {named!r} from "
                           f"{event.doc_sender} to {event.author} went through axis")
    copy = document.deliveries.get(event.recipient)
    if copy is None or copy[0] in TAKEN_BACK:
        if event.status_code == lifecycle.RECALL:
            detail = f"{event.recipient} did not receive {named!r} from {event.doc_sender}"
        else:
            detail = (f"{event.author} did not receive {named!r} from {event.doc_sender}"
                      + (" (it was taken back before it was fetched)" if copy is not None else ""))
        raise AxisError.of(Code.STATUS_NOT_PARTY, detail)
    history = store.history(event.doc_sender, event.document_id, event.recipient)
    pending = lifecycle.standing(history).pending
    if answers is not None and event.status_code in _ANSWERS and pending is not None:
        # Named so, it answers that package's request; another one made since (a recall, or a later update or
        # replacement) is what waits now, and it is not answered by naming the earlier one.
        last = store.last_request(event.doc_sender, event.document_id, event.recipient)
        if pending != answers or last is None or last[1] != named:
            raise AxisError.of(Code.STATUS_OUT_OF_ORDER, f"{lifecycle.named(event.status_code)} naming {named!r} "
                               f"answers its {answers}, but {event.recipient}'s copy waits for an answer to a later "
                               f"{lifecycle.named(pending)}: answer that by the document's own DocumentId")
    lifecycle.check_status(history, event.status_code, event.recipient)
    return msg


_ANSWERS = (lifecycle.CHANGE_ACCEPTED, lifecycle.CHANGE_REFUSED)
_Placed = tuple[NewMessage, BusinessEvent, DocumentFacts | None, str | None]  # (…, the request a 15/16 answers)


def _about_original(store: WriteStore, msg: NewMessage, event: BusinessEvent) -> _Placed:
    """A status naming the own DocumentId of a revoke or update (which may differ from its Bussiness/DocumentId,
    as in the SDK's update sample) is a step of the original document, a 15 or 16 the answer to that request: its
    business entry is the original's, and the message is linked to the original (``original_id``) as the request
    is.  The message keeps the DocumentId it named, as its receipt does."""
    original_id = store.request_original(event.doc_sender, event.document_id)
    if original_id is None:
        return msg, event, None, None
    document = store.document(event.doc_sender, original_id)
    if document is None:
        return msg, event, None, None
    made = [request for request, on in store.requests_made(event.doc_sender, event.document_id, event.recipient)
            if on == original_id]
    event = dataclasses.replace(event, document_id=original_id)
    return dataclasses.replace(msg, business=event, original_id=original_id), event, document, (made or [None])[-1]


def _about_replaced(store: WriteStore, msg: NewMessage, event: BusinessEvent, document: DocumentFacts) -> _Placed:
    """A 15 or 16 naming a replacement's own DocumentId, when nothing of the replacement itself waits for an answer
    from that recipient, answers the replacement's request: a step of the document it replaced (as for a revoke's
    or update's own DocumentId, see :func:`_about_original`).  A replacement of several documents for that
    recipient names none of them: the answer must say which."""
    if lifecycle.standing(store.history(event.doc_sender, event.document_id, event.recipient)).pending is not None:
        return msg, event, document, None
    replaced = [original for request, original in store.requests_made(event.doc_sender, event.document_id,
                                                                       event.recipient)
                if request == lifecycle.REPLACE]
    if not replaced:
        return msg, event, document, None
    if len(replaced) > 1:
        raise AxisError.of(Code.STATUS_OUT_OF_ORDER, f"{event.status_code} for {event.document_id!r}: that "
                           f"replacement replaced {len(replaced)} documents for {event.recipient}; answer each by its "
                           "own DocumentId (ResponseFor/DocumentId)")
    original = store.document(event.doc_sender, replaced[0])
    if original is None:  # gone with retention; the replacement's own rules then refuse the answer
        return msg, event, document, None
    event = dataclasses.replace(event, document_id=replaced[0])
    return dataclasses.replace(msg, business=event, original_id=replaced[0]), event, original, lifecycle.REPLACE


def _original(store: WriteStore, sender: str, document_id: str | None) -> DocumentFacts:
    if document_id is None:
        raise AxisError.of(Code.DOCUMENT_UNKNOWN_ORIGINAL, "the package names no document (Bussiness/DocumentId "
                           "or DocumentId)")
    found = store.document(sender, document_id)
    if found is None:
        raise AxisError.of(Code.DOCUMENT_UNKNOWN_ORIGINAL, f"no document {document_id!r} from {sender} went through "
                           "axis")
    return found


def _unfetched(copy: tuple[State, str] | None) -> bool:
    """Still waiting in a pull mailbox: taking it back there is certain (a push may be on the wire)."""
    return copy is not None and copy[0] is State.QUEUED and copy[1] == "pull"


def _check_replacement_sent(document_id: str, replaced: tuple[str, ...], destinations: tuple[str, ...]) -> None:
    """Refuse a replacement that replaces (OrganIdList) the copy of an agency it does not go to: that copy
    would be superseded, or asked to be replaced, while the agency never receives what replaces it."""
    unsent = [code for code in dict.fromkeys(replaced) if code not in destinations]
    if unsent:
        raise AxisError.of(Code.DOCUMENT_REPLACES_UNSENT, f"ReplacementInfo for {document_id!r} names "
                           f"{', '.join(unsent)}, not among the replacement's recipients (To)")


def _store_request(store: WriteStore, msg: NewMessage, request: str, axis_code: str) -> Stored:
    sender, at = msg.sender, msg.accepted_at
    # (document id, its facts, the recipients concerned) for each document this package acts on
    targets: list[tuple[str, DocumentFacts, tuple[str, ...]]] = []
    destinations = tuple(d.recipient for d in msg.deliveries)
    if request == lifecycle.REPLACE and msg.replaces:
        for document_id, recipients in msg.replaces:
            _check_replacement_sent(document_id, recipients, destinations + msg.left)
            # the copies behind the route it came in on are the relaying axis's to replace, not this one's
            here = tuple(r for r in recipients if r not in msg.left) if recipients else destinations
            targets.append((document_id, _original(store, sender, document_id), here))
    else:
        original_id = msg.original_id
        targets.append((original_id or "", _original(store, sender, original_id), destinations))

    reached: list[tuple[str, str]] = []  # (document id, recipient) the request concerns
    taken: list[tuple[DocumentFacts, str, str]] = []  # (original, its document id, recipient): unfetched copies
    for document_id, facts, recipients in targets:
        for recipient in dict.fromkeys(recipients):
            copy = facts.deliveries.get(recipient)
            if copy is None:
                if request == lifecycle.UPDATE:
                    continue  # an update may add a recipient: it simply receives the package
                raise AxisError.of(Code.DOCUMENT_NOT_RECIPIENT,
                                   f"{recipient} did not receive {document_id!r} from {sender}")
            lifecycle.check_request(store.history(sender, document_id, recipient), request, recipient)
            reached.append((document_id, recipient))
            if request != lifecycle.UPDATE and _unfetched(copy):
                taken.append((facts, document_id, recipient))

    # A withdrawn recipient gets nothing at all; a superseded one gets the replacement itself.
    revoke = request == lifecycle.REVOKE
    gone = tuple(dict.fromkeys(recipient for _, _, recipient in taken))
    keep = tuple(d for d in msg.deliveries if not (revoke and d.recipient in gone))
    stored = store.store_message(dataclasses.replace(msg, deliveries=keep) if len(keep) != len(msg.deliveries)
                                 else msg)
    for document_id, recipient in reached:
        store.record_request(msg.message_id, request, sender, document_id, recipient)
    state, done = ((State.WITHDRAWN, "withdrawn by axis: revoked") if revoke else
                   (State.SUPERSEDED, f"superseded by axis: replaced by {msg.document_id!r}"))
    for facts, document_id, recipient in taken:
        store.take_back(facts.carrier(recipient), recipient, state, at,
                        f"{done} (message {msg.message_id} from {sender}) before it was fetched")
        # Axis answers for the recipient that never saw it: the request took effect (15).
        store.record_business(BusinessEvent(
            doc_sender=sender, document_id=document_id, recipient=recipient, status_code=lifecycle.CHANGE_ACCEPTED,
            author=axis_code, at=at, description=f"{done} before the recipient fetched it",
            message_id=msg.message_id))
    return dataclasses.replace(stored, withdrawn=gone if revoke else (), superseded=() if revoke else gone)
