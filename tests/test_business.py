"""Business rules at storing time, on a real SQLite store: duplicates, conflicts, statuses, revoke/update/replace."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from axis import business
from axis.errors import AxisError
from axis.storage.base import BusinessEvent, NewDelivery, NewMessage, State, Stored
from axis.storage.sqlite import SqliteStore, open_database

AT = "2026-11-22T10:00:00.000+07:00"
AXIS = "000.00.99.H41"
G22, H41, H14, G17 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14", "000.00.00.G17"
DOC = "000.00.00.G22,2026/11/20,123/VPCP"
_n = itertools.count(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(open_database(tmp_path))
    yield s
    s.close()


def edoc(to: tuple[str, ...] = (H41, H14), *, doc: str = DOC, sender: str = G22, body: bytes | None = None,
         business_type: int | None = None, original_id: str | None = None,
         replaces: tuple[tuple[str, tuple[str, ...]], ...] = (), mode: str = "pull") -> NewMessage:
    n = next(_n)
    data = body if body is not None else f"<edoc {n}/>".encode()
    return NewMessage(
        message_id=f"m{n}", kind="edoc", sender=sender, document_id=doc, doc_sender=sender, status_code=None,
        priority=0, sha256=hashlib.sha256(data).hexdigest(), data=data, accepted_at=AT, accepted_ns=n,
        signature="absent", receipt=b'{"r": %d}' % n,
        deliveries=tuple(NewDelivery(c, mode, "http://127.0.0.1:1/" if mode == "push" else None) for c in to),
        business_type=business_type, original_id=original_id, replaces=replaces)


def status(author: str, code: str, *, doc_sender: str = G22, doc: str = DOC, to: str | None = None) -> NewMessage:
    """A status from ``author``; for 13 the author is the document's sender and ``to`` its recipient."""
    n = next(_n)
    data = f"<status {n}/>".encode()
    recipient = to if code == "13" else author
    counterparty = to if code == "13" else doc_sender
    assert counterparty is not None and recipient is not None
    return NewMessage(
        message_id=f"m{n}", kind="status", sender=author, document_id=doc, doc_sender=doc_sender, status_code=code,
        priority=0, sha256=hashlib.sha256(data).hexdigest(), data=data, accepted_at=AT, accepted_ns=n,
        signature="absent", receipt=b"{}", deliveries=(NewDelivery(counterparty, "pull"),),
        business=BusinessEvent(doc_sender, doc, recipient, code, author, AT, message_id=f"m{n}"))


def put(store: SqliteStore, msg: NewMessage) -> Stored:
    with store.transaction(), store.savepoint():
        return business.store(store, msg, AXIS)


def refused(store: SqliteStore, msg: NewMessage) -> AxisError:
    with pytest.raises(AxisError) as caught:
        put(store, msg)
    return caught.value


def fetch(store: SqliteStore, recipient: str, message_id: str) -> None:
    with store.transaction():
        assert store.mark_fetched(recipient, message_id, AT)


def history(store: SqliteStore, recipient: str, doc: str = DOC) -> list[str]:
    return store.history(G22, doc, recipient)


# -- duplicates and conflicts

def test_the_same_bytes_again_get_the_first_receipt_and_where_delivery_stands(store: SqliteStore) -> None:
    first = put(store, edoc(body=b"<same/>"))
    again = put(store, edoc(body=b"<same/>"))
    assert again.duplicate and again.message_id == first.message_id and again.receipt == first.receipt
    assert dict(again.deliveries) == {H41: State.QUEUED, H14: State.QUEUED}
    assert len(store.mailbox(H41, 10)) == 1


def test_the_same_document_id_with_other_bytes_is_a_conflict_and_changes_nothing(store: SqliteStore) -> None:
    put(store, edoc())
    err = refused(store, edoc())
    assert err.code.code == "document.conflict" and DOC in err.problem.detail
    assert len(store.mailbox(H41, 10)) == 1
    put(store, edoc(doc="another id"))  # another DocumentId is another document
    put(store, edoc(sender=H14, to=(H41,)))  # and another sender's DocumentId is theirs
    assert len(store.mailbox(H41, 10)) == 3


# -- statuses

def test_a_status_needs_a_document_axis_carried_and_a_party_to_it(store: SqliteStore) -> None:
    assert refused(store, status(H41, "01")).code.code == "status.unknown-document"
    put(store, edoc(to=(H41,)))
    # a stranger to it learns no more than of a document that does not exist
    assert refused(store, status(H14, "01")).code.code == "status.unknown-document"
    assert refused(store, status(H41, "01", doc_sender=H14)).code.code == "status.unknown-document"
    assert refused(store, status(G22, "13", to=H14)).code.code == "status.not-party"  # recall from a non-recipient
    put(store, status(H41, "01"))
    assert history(store, H41) == ["01"]


def test_a_code_outside_the_standard_list_is_refused_and_not_recorded(store: SqliteStore) -> None:
    put(store, edoc(to=(H41,)))
    assert refused(store, status(H41, "09")).code.code == "edxml.unknown-status"
    assert refused(store, status(H14, "09")).code.code == "status.unknown-document"  # a stranger learns nothing
    original = store.document(G22, DOC)
    assert original is not None
    fetch(store, H41, original.message_id)
    put(store, edoc(to=(H41,), business_type=1, original_id=DOC))
    put(store, status(H41, "15"))  # the revoke accepted: the document is closed for H41
    assert refused(store, status(H41, "07")).code.code == "edxml.unknown-status"
    assert history(store, H41) == ["revoke", "15"]


def test_the_lifecycle_is_enforced_per_recipient(store: SqliteStore) -> None:
    put(store, edoc())
    for code in ("01", "03", "04"):
        put(store, status(H41, code))
    put(store, status(H14, "02"))  # two recipients, two histories
    assert refused(store, status(H41, "03")).code.code == "status.out-of-order"
    assert refused(store, status(H14, "03")).code.code == "status.out-of-order"
    put(store, status(H41, "06"))
    assert history(store, H41) == ["01", "03", "04", "06"] and history(store, H14) == ["02"]


def test_a_recall_and_its_answer(store: SqliteStore) -> None:
    put(store, edoc(to=(H41,)))
    put(store, status(H41, "03"))
    assert refused(store, status(H41, "15")).code.code == "status.out-of-order"  # nothing asked yet
    put(store, status(G22, "13", to=H41))
    put(store, status(H41, "15"))
    assert refused(store, status(H41, "04")).code.code == "status.out-of-order"  # it was taken back
    assert history(store, H41) == ["03", "13", "15"]


# -- revoke, update, replace

def test_a_revoke_withdraws_unfetched_copies_and_asks_the_others(store: SqliteStore) -> None:
    original = put(store, edoc())
    fetch(store, H14, original.message_id)
    revoke = put(store, edoc(business_type=1, original_id=DOC))
    assert revoke.withdrawn == (H41,) and revoke.superseded == ()
    # H41 never sees either package; axis answered 15 for it; fetching the original now is refused
    assert store.mailbox(H41, 10) == []
    with pytest.raises(AxisError) as caught, store.transaction():
        store.mark_fetched(H41, original.message_id, AT)
    assert caught.value.code.code == "message.withdrawn"
    assert history(store, H41) == ["revoke", "15"]
    # H14 had it: it gets the revoke and answers
    assert [i.message_id for i in store.mailbox(H14, 10)] == [original.message_id, revoke.message_id]
    assert history(store, H14) == ["revoke"]
    put(store, status(H14, "16"))
    put(store, status(H14, "03"))  # refused the revoke: the document stays with H14
    assert refused(store, status(H41, "01")).code.code == "status.not-party"  # taken back from H41
    view = store.trace(DOC, G22)
    assert [m.message_id for m in view][:2] == [original.message_id, revoke.message_id]
    assert any(e.event == "withdrawn" and e.recipient == H41 for e in view[0].ledger)


def test_a_revoke_must_name_a_document_and_recipients_of_it(store: SqliteStore) -> None:
    assert refused(store, edoc(business_type=1, original_id=DOC)).code.code == "document.unknown-original"
    put(store, edoc(to=(H41,)))
    err = refused(store, edoc(to=(H41, G17), business_type=1, original_id=DOC))
    assert err.code.code == "document.not-a-recipient" and G17 in err.problem.detail
    assert len(store.mailbox(H41, 10)) == 1  # nothing of the refused revoke was kept


def test_a_revoke_after_an_accepted_revoke_is_refused(store: SqliteStore) -> None:
    put(store, edoc(to=(H41,)))
    put(store, edoc(to=(H41,), business_type=1, original_id=DOC))
    assert refused(store, edoc(to=(H41,), business_type=1, original_id=DOC)).code.code == "status.out-of-order"


def test_a_push_copy_is_never_withdrawn_on_the_wire(store: SqliteStore) -> None:
    put(store, edoc(to=(H41,), mode="push"))
    revoke = put(store, edoc(to=(H41,), business_type=1, original_id=DOC, mode="push"))
    assert revoke.withdrawn == () and history(store, H41) == ["revoke"]


def test_a_replacement_supersedes_unfetched_copies(store: SqliteStore) -> None:
    old = "000.00.00.G22,2026/11/01,7806/VPCP"
    original = put(store, edoc(doc=old))
    fetch(store, H14, original.message_id)
    new = put(store, edoc(doc="000.00.00.G22,2026/11/20,7816/VPCP", business_type=3, original_id=old,
                          replaces=((old, (H41, H14)),)))
    assert new.superseded == (H41,) and new.withdrawn == ()
    assert [i.message_id for i in store.mailbox(H41, 10)] == [new.message_id]  # only the replacement
    assert history(store, H41, old) == ["replace", "15"] and history(store, H14, old) == ["replace"]
    item, _ = store.fetch(H41, original.message_id)
    assert item.state is State.SUPERSEDED


def test_an_update_may_add_a_recipient_and_asks_the_original_ones(store: SqliteStore) -> None:
    put(store, edoc(to=(H41,)))
    update = put(store, edoc(to=(H41, G17), doc="new id", business_type=2, original_id=DOC))
    assert update.withdrawn == () and len(store.mailbox(H41, 10)) == 2  # an update never withdraws
    assert history(store, H41) == ["update"] and history(store, G17) == []
    put(store, status(H41, "15"))
    put(store, status(H41, "03"))  # an accepted update keeps the document alive
    assert [m.message_id for m in store.trace(DOC)][1] == update.message_id  # linked by original_id


def test_a_replacement_must_go_to_every_agency_whose_copy_it_replaces(store: SqliteStore) -> None:
    # ReplacementInfo/OrganIdList names the copies replaced; an agency listed there but not among the
    # replacement's own recipients would lose its copy (superseded) and never receive what replaces it.
    old = "000.00.00.G22,2026/11/01,7806/VPCP"
    original = put(store, edoc(doc=old))
    err = refused(store, edoc(to=(H41,), doc="000.00.00.G22,2026/11/20,7816/VPCP", business_type=3,
                              original_id=old, replaces=((old, (H41, H14)),)))
    assert err.code.code == "document.replaces-unsent" and H14 in err.problem.detail
    assert [i.message_id for i in store.mailbox(H14, 10)] == [original.message_id]  # H14 keeps its copy
    assert history(store, H14, old) == []


OLD, OTHER, NEW = ("000.00.00.G22,2026/11/01,7806/VPCP", "000.00.00.G22,2026/11/02,7807/VPCP",
                   "000.00.00.G22,2026/11/20,7816/VPCP")


def test_an_answer_to_a_replacement_may_name_the_replacement_s_own_document_id(store: SqliteStore) -> None:
    """A recipient's software answers the package it received: a 15 or 16 naming the replacement's own DocumentId
    answers its request about the document it replaced (the replacement waits for no answer of its own)."""
    original = put(store, edoc(doc=OLD))
    fetch(store, H14, original.message_id)
    new = put(store, edoc(doc=NEW, business_type=3, original_id=OLD, replaces=((OLD, (H41, H14)),)))
    assert history(store, H14, OLD) == ["replace"]
    answer = put(store, status(H14, "15", doc=NEW))
    assert history(store, H14, OLD) == ["replace", "15"] and history(store, H14, NEW) == []
    assert answer.message_id in [m.message_id for m in store.trace(OLD, G22)]  # linked to what it answers
    assert refused(store, status(H14, "16", doc=NEW)).code.code == "status.out-of-order"  # answered already
    put(store, status(H14, "01", doc=NEW))  # the replacement's own steps stay its own
    assert history(store, H14, NEW) == ["01"]
    # once the replacement itself waits for an answer (a revoke of it), a 15 naming it answers that
    fetch(store, H14, new.message_id)
    put(store, edoc(to=(H14,), doc=NEW, business_type=1, original_id=NEW))
    put(store, status(H14, "15", doc=NEW))
    assert history(store, H14, NEW) == ["01", "revoke", "15"] and history(store, H14, OLD) == ["replace", "15"]


def test_an_answer_naming_a_replacement_of_several_documents_must_name_one(store: SqliteStore) -> None:
    for doc in (OLD, OTHER):
        fetch(store, H14, put(store, edoc(doc=doc)).message_id)
    put(store, edoc(doc=NEW, business_type=3, original_id=OLD, replaces=((OLD, (H41, H14)), (OTHER, (H14,)))))
    err = refused(store, status(H14, "15", doc=NEW))
    assert err.code.code == "status.out-of-order" and "replaced 2 documents" in err.problem.detail
    assert history(store, H14, OLD) == ["replace"] and history(store, H14, OTHER) == ["replace"]  # nothing recorded
    put(store, status(H14, "15", doc=OLD))
    put(store, status(H14, "16", doc=OTHER))
    assert history(store, H14, OLD) == ["replace", "15"] and history(store, H14, OTHER) == ["replace", "16"]


UPDATE_ID = "000.00.00.G22,2026/11/21,124/VPCP"  # an update's own DocumentId (the SDK sample's differs too)


def test_an_answer_to_an_update_may_name_the_update_s_own_document_id(store: SqliteStore) -> None:
    # The update names the original in Bussiness/DocumentId and has a DocumentId of its own: a recipient's
    # software may answer it with ResponseFor/DocumentId = that own id. The answer is the original's step.
    original = put(store, edoc(to=(H41,)))
    update = put(store, edoc(to=(H41,), doc=UPDATE_ID, business_type=2, original_id=DOC))
    answer = put(store, status(H41, "15", doc=UPDATE_ID))
    put(store, status(H41, "03", doc=UPDATE_ID))
    assert history(store, H41) == ["update", "15", "03"] and history(store, H41, UPDATE_ID) == []
    assert refused(store, status(H41, "16", doc=UPDATE_ID)).code.code == "status.out-of-order"  # answered already
    stranger = refused(store, status(H14, "01", doc=UPDATE_ID))
    assert stranger.code.code == "status.unknown-document" and DOC not in stranger.problem.detail  # learns nothing
    assert [m.message_id for m in store.trace(DOC, G22)][:3] == [original.message_id, update.message_id,
                                                                 answer.message_id]


def test_a_recipient_an_update_added_is_a_party_to_the_document(store: SqliteStore) -> None:
    put(store, edoc(to=(H41,)))
    update = put(store, edoc(to=(H41, G17), doc=UPDATE_ID, business_type=2, original_id=DOC))
    fetch(store, G17, update.message_id)
    put(store, status(G17, "01"))  # by the original's DocumentId
    put(store, status(G17, "03", doc=UPDATE_ID))  # or by the update's own
    assert history(store, G17) == ["01", "03"]
    put(store, status(G22, "13", to=G17))  # the sender may recall it from G17 too
    put(store, status(G17, "15"))
    assert refused(store, status(G17, "04")).code.code == "status.out-of-order"  # taken back from G17
    assert refused(store, status(H14, "01")).code.code == "status.unknown-document"  # still a stranger


def test_a_revoke_withdraws_the_unfetched_update_that_added_a_recipient(store: SqliteStore) -> None:
    original = put(store, edoc(to=(H41,)))
    update = put(store, edoc(to=(H41, G17), doc=UPDATE_ID, business_type=2, original_id=DOC))
    revoke = put(store, edoc(to=(G17,), business_type=1, original_id=DOC))
    assert revoke.withdrawn == (G17,) and store.mailbox(G17, 10) == []  # G17 sees neither package
    assert history(store, G17) == ["revoke", "15"]
    assert [d.state for d in store.message(update.message_id).deliveries if d.recipient == G17] == [State.WITHDRAWN]
    assert all(e.recipient != G17 for e in store.message(original.message_id).ledger)  # not the original's copy
    assert refused(store, status(G17, "01")).code.code == "status.not-party"


def test_an_answer_naming_a_request_s_own_id_does_not_answer_a_later_request(store: SqliteStore) -> None:
    """Named by the replacement's (or update's) own DocumentId, a 15 or 16 answers that request; when the document
    waits for an answer to something else since (the sender recalled it), it is refused, not taken for that."""
    fetch(store, H14, put(store, edoc(doc=OLD)).message_id)
    put(store, edoc(doc=NEW, business_type=3, original_id=OLD, replaces=((OLD, (H41, H14)),)))
    put(store, status(G22, "13", doc=OLD, to=H14))  # the sender recalls the original itself
    err = refused(store, status(H14, "16", doc=NEW))
    assert err.code.code == "status.out-of-order" and "waits for an answer to a later 13 (recall)" in err.problem.detail
    assert OLD not in err.problem.detail  # the original's id is not told
    assert history(store, H14, OLD) == ["replace", "13"]  # the recall stays unanswered
    put(store, status(H14, "16", doc=OLD))  # answered by the document's own id
    assert history(store, H14, OLD) == ["replace", "13", "16"]

    fetch(store, H41, put(store, edoc(to=(H41,))).message_id)
    put(store, edoc(to=(H41,), doc=UPDATE_ID, business_type=2, original_id=DOC))
    put(store, status(G22, "13", to=H41))
    err = refused(store, status(H41, "15", doc=UPDATE_ID))
    assert err.code.code == "status.out-of-order" and "answers its update" in err.problem.detail
    assert history(store, H41) == ["update", "13"]


NEW2, UPDATE_ID2 = "000.00.00.G22,2026/11/21,7817/VPCP", "000.00.00.G22,2026/11/22,125/VPCP"


def test_an_answer_naming_a_request_s_own_id_does_not_answer_a_later_one_of_the_same_kind(store: SqliteStore
                                                                                          ) -> None:
    fetch(store, H14, put(store, edoc(doc=OLD)).message_id)
    put(store, edoc(doc=NEW, business_type=3, original_id=OLD, replaces=((OLD, (H41, H14)),)))
    put(store, edoc(doc=NEW2, business_type=3, original_id=OLD, replaces=((OLD, (H14,)),)))  # H41's was superseded
    assert history(store, H14, OLD) == ["replace", "replace"]
    err = refused(store, status(H14, "16", doc=NEW))  # the first replacement's id: the second one waits
    assert err.code.code == "status.out-of-order" and "a later replace" in err.problem.detail
    put(store, status(H14, "16", doc=NEW2))  # the one that waits, by its own id
    assert history(store, H14, OLD) == ["replace", "replace", "16"]

    fetch(store, H41, put(store, edoc(to=(H41,))).message_id)
    put(store, edoc(to=(H41,), doc=UPDATE_ID, business_type=2, original_id=DOC))
    put(store, edoc(to=(H41,), doc=UPDATE_ID2, business_type=2, original_id=DOC))
    assert refused(store, status(H41, "15", doc=UPDATE_ID)).code.code == "status.out-of-order"
    put(store, status(H41, "15", doc=UPDATE_ID2))
    assert history(store, H41) == ["update", "update", "15"]
