"""Accepting a package, up to the point of storing it: verdict → identity → policy → routing → receipt.

Pure domain code: it runs on a worker thread and returns either a :class:`Prepared`
(everything the store needs, receipt already signed) or raises :class:`Refused` with
every problem found.  Nothing is stored here, so a refusal changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from dataclasses import dataclass
from typing import Any

from axis import auth, routing
from axis.agencycode import parse_tolerant
from axis.config.deadlines import DeadlinesConfig
from axis.config.priority import PriorityConfig
from axis.deadlines import WorkCalendar
from axis.edxml.model import EdocPackage, StatusPackage
from axis.errors import AxisError, Code, Problem
from axis.receipt import Receipt, ReceiptSigner
from axis.registry import Agency, DeliveryMode, Registry, Route, SignaturePolicy
from axis.storage.base import BusinessEvent, NewMessage, delivery_row
from axis.verdict import Checker
from axis.vntime import Clock, iso


@dataclass(frozen=True)
class Policy:
    """What a reload replaces as one unit: the registry and the checker built from its trust settings."""

    registry: Registry
    checker: Checker
    priority: PriorityConfig = PriorityConfig()
    deadlines: DeadlinesConfig = DeadlinesConfig()

    def calendar_for(self, code: str) -> WorkCalendar:
        """The working calendar of the agency ``code`` (the default one for agencies not registered here)."""
        return self.deadlines.calendar_for(self.registry, code)


_MODES = {mode.value: mode for mode in DeliveryMode}


class Refused(Exception):
    """Every reason a package was refused, and the verdict's summary (``Verdict.to_dict``) when there is one."""

    def __init__(self, problems: tuple[Problem, ...], verdict: dict[str, Any] | None = None) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems
        self.verdict = verdict

    def __reduce__(self) -> tuple[Any, ...]:  # crosses from an intake process
        return (Refused, (self.problems, self.verdict))

    @property
    def status(self) -> int:
        return self.problems[0].code.http_status

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.problems[0].to_dict(), "problems": [p.to_dict() for p in self.problems]}
        if self.verdict is not None:
            out["verdict"] = self.verdict
        return out


@dataclass(frozen=True)
class Prepared:
    """What the rest of the pipeline needs of an accepted package.

    Small and picklable on purpose: it may come back from an intake process (:mod:`axis.workers`),
    which then leaves ``message.data`` empty; the caller already holds the bytes.
    """

    message: NewMessage
    signature: dict[str, Any] | None  # the verdict's signature summary, as answered to the sender
    warnings: tuple[Problem, ...]

    @functools.cached_property
    def recipients(self) -> tuple[tuple[str, DeliveryMode], ...]:
        """(code, mode) of each delivery, in the routing's order (made from the deliveries, so that what crosses
        from an intake process carries each recipient once)."""
        return tuple([(d.recipient, _MODES[d.mode]) for d in self.message.deliveries])

    @property
    def needs_push(self) -> bool:
        return any(mode in (DeliveryMode.PUSH, DeliveryMode.UPSTREAM) for _, mode in self.recipients)


class Intake:
    def __init__(self, signer: ReceiptSigner, axis_code: str, clock: Clock) -> None:
        self.signer = signer
        self.axis_code = axis_code
        self.clock = clock

    def prepare(self, policy: Policy, sender: Agency | Route, data: bytes) -> Prepared:
        """``sender`` is the authenticated agency, or the route of the axis that relays the package."""
        verdict = policy.checker.check(data)
        if not verdict.acceptable:
            raise Refused(verdict.errors, verdict.to_dict())
        package = verdict.package
        assert package is not None and verdict.sha256 is not None and verdict.signature is not None
        registry = policy.registry
        from_code = package.sender.organ_id if package.sender else None
        via = sender if isinstance(sender, Route) else None
        try:
            if via is not None:
                via = _in_force(via, registry)
                agency = relayed_sender(via, from_code, registry)
            else:
                assert isinstance(sender, Agency)
                agency = sender
                auth.require_self(agency, from_code, registry, "From")
        except AxisError as exc:
            raise Refused((exc.problem,), verdict.to_dict()) from None
        if agency.signature_policy is SignaturePolicy.REQUIRE and verdict.signature.required_problem is not None:
            raise Refused((Problem(Code.SIGNATURE_REQUIRED, f"{agency.code.text} must sign its packages: "
                                   f"{verdict.signature.required_problem}"),), verdict.to_dict())
        left: tuple[str, ...] = ()
        try:
            routed = routing.route(package, agency, registry)
            if via is not None:
                routed, left = _not_back(routed, via)
        except AxisError as exc:
            raise Refused((exc.problem,), verdict.to_dict()) from None

        at = self.clock()
        accepted_at, accepted_ns = iso(at), time.time_ns()
        message_id = uuid.uuid4().hex
        recipients = tuple(d.code for d in routed.destinations)
        receipt = self.signer.sign_json(Receipt(
            message_id=message_id, sha256=verdict.sha256, size=verdict.size, accepted_at=accepted_at,
            sender=agency.key, kind=package.kind, document_id=routed.document_id, recipients=recipients,
            axis=self.axis_code))
        deliveries = tuple(delivery_row(d.code, d.mode.value, d.agency.push_url if d.agency is not None
                                        else (d.route.name if d.route else None)) for d in routed.destinations)
        business = None
        status_code = None
        priority = 0
        business_type: int | None = None
        original_id: str | None = None
        replaces: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if isinstance(package, StatusPackage):
            status_code = package.status_code or package.status_code_raw
            if routed.document_id and routed.doc_sender and routed.business_recipient and status_code:
                business = BusinessEvent(
                    doc_sender=routed.doc_sender, document_id=routed.document_id,
                    recipient=routed.business_recipient, status_code=status_code, author=agency.key,
                    at=accepted_at, status_time=package.timestamp.iso() if package.timestamp else None,
                    description=package.description, message_id=message_id)
        elif isinstance(package, EdocPackage):
            priority = package.priority or 0
            business_type, original_id, replaces = _business_links(package, registry)
        message = NewMessage(
            message_id=message_id, kind=package.kind, sender=agency.key, document_id=routed.document_id,
            doc_sender=routed.doc_sender, status_code=status_code, priority=priority, sha256=verdict.sha256,
            data=data, accepted_at=accepted_at, accepted_ns=accepted_ns, signature=verdict.signature.cls.value,
            receipt=receipt, deliveries=deliveries, business=business, business_type=business_type,
            original_id=original_id, replaces=replaces, via=via.name if via is not None else None, left=left)
        return Prepared(message, verdict.signature.to_dict(), verdict.warnings)


def _in_force(route: Route, registry: Registry) -> Route:
    """The route of that name in ``registry``: the poller holds the route its pass began with, and a reload meanwhile
    (a rotated secret, another signature policy) must not make the package it brings another route's."""
    current = registry.principal(route.key)
    if not isinstance(current, Route) or not current.inbound:
        raise AxisError.of(Code.ROUTE_NOT_YOURS, f"route {route.name!r} is no longer configured for packages coming in")
    return current


def _not_back(routed: routing.Routing, via: Route) -> tuple[routing.Routing, tuple[str, ...]]:
    """The routing of a package relayed along ``via`` without the recipients behind that same route, and those.

    The axis that sent it serves them, or routes them elsewhere, itself: it sent the whole package (one transfer
    for every recipient its route covers), so a circular to agencies on both sides reaches each side once.  Only a
    package with nothing left for this axis is refused (``route.loop``: a code neither axis serves)."""
    back = tuple(d.code for d in routed.destinations if d.route == via)
    if not back:
        return routed, ()
    if len(back) == len(routed.destinations):
        raise AxisError.of(Code.ROUTE_LOOP, f"{', '.join(back)}: route {via.name!r} covers "
                           f"{'it' if len(back) == 1 else 'them'} and the package came in on it")
    kept = tuple(d for d in routed.destinations if d.route != via)
    return dataclasses.replace(routed, destinations=kept), back


def relayed_sender(route: Route, code: str | None, registry: Registry) -> Agency:
    """The sender of a package another axis relays along ``route``: an agency the route covers and that is
    not registered here (one registered here sends for itself: no other axis may speak for it)."""
    if not code:
        raise AxisError.of(Code.ROUTE_NOT_YOURS, "the package has no From/OrganId")
    try:
        parsed = parse_tolerant(code)
    except AxisError as exc:
        raise AxisError.of(Code.ROUTE_NOT_YOURS, f"From {code!r}: {exc.problem.detail}") from None
    if registry.get(code) is not None:
        raise AxisError.of(Code.ROUTE_NOT_YOURS, f"From {code} is registered on this axis, not behind route "
                           f"{route.name!r}")
    if registry.route_for(code) != route:  # equal, not identical: a reload may come between
        raise AxisError.of(Code.ROUTE_NOT_YOURS, f"From {code} is not covered by route {route.name!r} "
                           f"({', '.join(route.prefixes)})")
    return Agency(code=parsed, name=code, delivery=DeliveryMode.UPSTREAM, signature_policy=route.signature_policy)


def _business_links(package: EdocPackage, registry: Registry
                    ) -> tuple[int | None, str | None, tuple[tuple[str, tuple[str, ...]], ...]]:
    """(business type, the DocumentId a revoke/update/replacement concerns, what a replacement replaces).

    The original is ``Bussiness/DocumentId`` when given, else the package's own DocumentId (a revoke reuses
    it).  A replacement names what it replaces in ``ReplacementInfoList``: each DocumentId with the
    recipients (``OrganIdList``) whose copy it replaces; none listed means all of its own recipients."""
    b = package.business
    if b is None or b.doc_type in (None, 0):
        return (b.doc_type if b else None), None, ()
    original = b.document_id or package.document_id
    replaces: dict[str, tuple[str, ...]] = {}
    if b.doc_type == 3:
        for info in b.replacements:
            if info.document_id:
                codes = tuple(_key(registry, c) for c in info.organ_ids)
                replaces[info.document_id] = tuple(dict.fromkeys(replaces.get(info.document_id, ()) + codes))
        if replaces:
            original = next(iter(replaces))
    return b.doc_type, original, tuple(replaces.items())


def _key(registry: Registry, code: str) -> str:
    """The canonical code axis stores for ``code`` (as routing would), or the text itself if unknown."""
    found = registry.destination(code)
    return found.code if found is not None else code.strip()

