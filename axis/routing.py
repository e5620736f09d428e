"""Where a package goes, decided from its model and the registry alone.

* A document goes to each ``To`` (one copy per agency, whichever code form was used); an update
  (Bussiness type 2) with a ``ReceiverList`` goes to the receivers listed there instead.
* A status goes to ``ResponseFor/OrganId``: for codes 01–06, 15 and 16 that is the
  original sender; for 13 (recall) the original sender is the author and
  ``ResponseFor/OrganId`` is the recipient of the document (the reference, §2).
* Every recipient must be registered here or covered by a route; otherwise the whole
  package is refused with the list of unknown codes (nothing is half-accepted).  For an update
  that goes to its ``ReceiverList``, the codes of its ``To`` must be known too.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from axis.edxml.model import EdocPackage, Package, StatusPackage
from axis.errors import AxisError, Code
from axis.registry import Agency, Destination, Registry

RECALL = "13"
_CACHE_MAX = 65536  # codes remembered per registry (a code is looked up in every form it is written in)
_destinations: weakref.WeakKeyDictionary[Registry, dict[str, Destination]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Routing:
    destinations: tuple[Destination, ...]
    document_id: str | None
    doc_sender: str | None  # canonical code of the document's original sender
    business_recipient: str | None = None  # for a status: the agency that received the document


def route(package: Package, sender: Agency, registry: Registry) -> Routing:
    """The destinations of ``package`` sent by ``sender``; raises AxisError route.*."""
    if isinstance(package, EdocPackage):
        codes = [t.organ_id for t in package.to if t.organ_id]
        listed = _listed_receivers(package)
        if listed:  # every code the package names must be known, the To it does not go to included
            destinations = _resolve(list(dict.fromkeys(listed + codes)), registry)
            chosen = {d.code for d in _resolve(listed, registry)}
            destinations = tuple(d for d in destinations if d.code in chosen)
        else:
            destinations = _resolve(codes, registry)
        return Routing(destinations, package.document_id, sender.key)
    assert isinstance(package, StatusPackage)
    rf = package.response_for
    target = rf.organ_id if rf is not None else None
    if not target:
        raise AxisError.of(Code.ROUTE_NO_RECIPIENT, "a status needs ResponseFor/OrganId")
    destinations = _resolve([target], registry)
    counterparty = destinations[0].code
    if package.status_code == RECALL:  # the sender recalls its own document from ResponseFor/OrganId
        doc_sender, business_recipient = sender.key, counterparty
    else:  # the recipient reports on a document it received from ResponseFor/OrganId
        doc_sender, business_recipient = counterparty, sender.key
    return Routing(destinations, rf.document_id if rf else None, doc_sender, business_recipient)


def _listed_receivers(package: EdocPackage) -> list[str]:
    """An update (Bussiness type 2) that lists its receivers (ReceiverList) goes to them rather than to To."""
    b = package.business
    if b is None or b.doc_type != 2 or b.document_info is None:
        return []
    return [r.organ_id for r in b.document_info.receivers if r.organ_id]


def _resolve(codes: list[str], registry: Registry) -> tuple[Destination, ...]:
    if not codes:
        raise AxisError.of(Code.ROUTE_NO_RECIPIENT, "the package has no To with an OrganId")
    # A registry never changes (a reload builds a new one), so where a code goes is looked up once per registry:
    # a fan-out to 63 agencies asked it 63 times per package.  Unknown codes are not remembered.
    known = _destinations.get(registry)
    if known is None:
        known = _destinations.setdefault(registry, {})
    found: dict[str, Destination] = {}
    unknown: list[str] = []
    for code in codes:
        destination = known.get(code)
        if destination is None:
            destination = registry.destination(code)
            if destination is None:
                unknown.append(code)
                continue
            if len(known) >= _CACHE_MAX:
                known.clear()
            known[code] = destination
        found.setdefault(destination.code, destination)
    if unknown:
        raise AxisError.of(Code.ROUTE_UNKNOWN_RECIPIENT, ", ".join(unknown))
    return tuple(found.values())
