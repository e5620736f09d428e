"""The agency registry and upstream routes: who is served here, how, and where the rest goes.

Immutable once built, so a reload swaps one reference and readers on any thread see
either the old or the new registry whole.  Lookups accept either code grammar
(``000.00.00.H41`` or ``H41``) and are dictionary lookups on the canonical key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from axis.agencycode import AgencyCode, parse_tolerant
from axis.errors import AxisError


class DeliveryMode(str, enum.Enum):
    PULL = "pull"  # the agency fetches from its mailbox
    PUSH = "push"  # axis POSTs each package to the agency's URL
    UPSTREAM = "upstream"  # not served here: forwarded along a route
    PEER = "peer"  # not served here: held for the lower axis of a ``pull`` route, which fetches it over VXP


class RouteDelivery(str, enum.Enum):
    """How packages travel along a route."""

    PUSH = "push"  # POST the bytes to ``url`` (a relay that takes them as they are)
    VXP = "vxp"  # an upstream axis speaking SDKVXP: sent with sendEdoc; axis polls its mailbox for what comes down
    PULL = "pull"  # a lower axis that connects to this one's VXP door, sends there, and fetches what is for it


class SignaturePolicy(str, enum.Enum):
    REQUIRE = "require"  # only a valid signature is accepted
    LEGACY = "legacy"  # absent / placeholder / nonstandard accepted and recorded; invalid still refused


@dataclass(frozen=True)
class Credentials:
    """How an agency proves who it is.  The token is kept only as its SHA-256; the HMAC secret is
    loaded from a file or an environment variable named in the configuration, never written there."""

    token_sha256: bytes | None = None
    hmac_secret: bytes | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return self.token_sha256 is not None or self.hmac_secret is not None


@dataclass(frozen=True)
class Agency:
    code: AgencyCode  # as registered (strict); ``key`` is its canonical form
    name: str
    parent: str | None = None  # canonical code of the parent unit, if any
    delivery: DeliveryMode = DeliveryMode.PULL
    push_url: str | None = None
    credentials: Credentials = Credentials()
    signature_policy: SignaturePolicy = SignaturePolicy.LEGACY
    certificates: tuple[Path, ...] = ()  # this agency's signing certificates (pinned)
    calendar: str | None = None  # its working calendar ([deadlines.calendars.NAME]); None: [deadlines]
    vxp_system_id: str | None = None  # its XroadVnpt-systemid on the VXP door (the secret: its HMAC secret)

    @property
    def key(self) -> str:
        return self.code.canonical


@dataclass(frozen=True)
class Route:
    """Codes not registered here that match one of ``prefixes`` are forwarded to ``url``.

    A prefix is written in either grammar and matches on whole groups of the QĐ 20 form:
    ``H41`` matches ``H41`` and ``H41.01.02`` (``000.00.00.H41`` means the same); a single letter
    (``G``) matches every level-1 code of that letter; ``*`` matches everything (a default route).
    """

    name: str
    prefixes: tuple[str, ...]
    url: str | None  # None for a ``pull`` route: the lower axis comes to us
    credentials: Credentials = Credentials()
    delivery: RouteDelivery = RouteDelivery.PUSH
    # ``vxp``: axis's own system id at the upstream axis; ``pull``: the lower axis's system id at this one.
    # Either way the secret is the route's HMAC secret.
    vxp_system_id: str | None = None
    signature_policy: SignaturePolicy = SignaturePolicy.LEGACY  # for packages that come in along the route

    @property
    def key(self) -> str:
        """The route as a principal (a mailbox owner, a sender's relay): never a valid agency code."""
        return ROUTE_KEY + self.name

    @property
    def inbound(self) -> bool:
        """Packages come in along it (a lower axis sends to us, or we poll an upstream one)."""
        return self.delivery is not RouteDelivery.PUSH


ROUTE_KEY = "route:"


def route_key(prefix: str) -> str:
    """The normalised form of a route prefix (raises AxisError for an unusable prefix)."""
    if prefix == "*" or (len(prefix) == 1 and prefix.isalpha() and prefix.isupper()):
        return prefix
    code = parse_tolerant(prefix)
    return code.to_qd20() or code.canonical


@dataclass(frozen=True)
class Destination:
    """Where packages for one recipient code go."""

    code: str  # canonical code of the recipient
    mode: DeliveryMode
    agency: Agency | None = None  # set when served here
    route: Route | None = None  # set when forwarded upstream


class Registry:
    """Registered agencies by every textual form of their code, plus the upstream routes."""

    def __init__(self, agencies: Iterable[Agency] = (), routes: Iterable[Route] = ()) -> None:
        self._index(((agency, agency.key, agency.code.equivalents()) for agency in agencies), routes)

    @classmethod
    def _prepared(cls, entries: Iterable[tuple[Agency, str, Iterable[str]]],
                  routes: Iterable[Route] = ()) -> Registry:
        """Like ``Registry(agencies, routes)``, from ``(agency, agency.key, agency.code.equivalents())``
        triples the caller has already computed: the configuration loader's fast path, since computing
        them again here would add half to the load time of a national-scale directory."""
        registry = cls.__new__(cls)
        registry._index(entries, routes)
        return registry

    def _index(self, entries: Iterable[tuple[Agency, str, Iterable[str]]], routes: Iterable[Route]) -> None:
        self._by_key: dict[str, Agency] = {}
        self._children: dict[str, list[str]] | None = None  # built on first use (reports only)
        self._by_form: dict[str, Agency] = {}
        self._by_token: dict[bytes, Agency] = {}
        self._by_system: dict[str, Agency] = {}
        for agency, key, forms in entries:
            if key in self._by_key:
                raise ValueError(f"agency {agency.code.text} is registered twice")
            self._by_key[key] = agency
            for form in forms:
                self._by_form[form] = agency
            token = agency.credentials.token_sha256
            if token is not None:
                if token in self._by_token:
                    raise ValueError(f"agencies {self._by_token[token].code.text} and {agency.code.text} "
                                     "share one token")
                self._by_token[token] = agency
            if agency.vxp_system_id is not None:
                if agency.vxp_system_id in self._by_system:  # (the configuration loader names the places)
                    raise ValueError(f"agencies {self._by_system[agency.vxp_system_id].code.text} and "
                                     f"{agency.code.text} share one vxp_system_id")
                self._by_system[agency.vxp_system_id] = agency
        self.routes: tuple[Route, ...] = tuple(routes)
        self._route_by_prefix: dict[str, Route] = {}
        self._route_by_key: dict[str, Route] = {}
        self._peer_by_system: dict[str, Route] = {}
        for route in self.routes:
            self._route_by_key[route.key] = route
            if route.delivery is RouteDelivery.PULL and route.vxp_system_id is not None:
                if route.vxp_system_id in self._by_system or route.vxp_system_id in self._peer_by_system:
                    raise ValueError(f"route {route.name!r} uses vxp_system_id {route.vxp_system_id!r}, "
                                     "which is already taken")
                self._peer_by_system[route.vxp_system_id] = route
            for prefix in route.prefixes:
                key = route_key(prefix)
                if key in self._route_by_prefix:
                    raise ValueError(f"routes {self._route_by_prefix[key].name!r} and {route.name!r} both claim "
                                     f"prefix {prefix!r}")
                self._route_by_prefix[key] = route

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_key.values())

    def get(self, code: str) -> Agency | None:
        """The agency registered under ``code`` in any grammar, or None.  A VXP system id (``vxp.saas.03``) is the
        agency registered with it: the SDK's users write their system id as a package's From or To (the field's
        gateway-upload sample), and system ids are unique among agencies, so this names nobody else."""
        found = self._by_form.get(code) or self._by_system.get(code)
        if found is not None:
            return found
        try:
            parsed = parse_tolerant(code)
        except AxisError:
            return None
        for form in (parsed.canonical, *parsed.equivalents()):
            found = self._by_form.get(form)
            if found is not None:
                return found
        return None

    def under(self, key: str) -> set[str]:
        """``key`` and every agency registered under it through ``parent``, at any depth."""
        children = self._children
        if children is None:
            children = {}
            for agency in self._by_key.values():
                if agency.parent is not None:
                    children.setdefault(agency.parent, []).append(agency.key)
            self._children = children
        found, todo = {key}, [key]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in found:  # a parent cycle in the files must not loop forever
                    found.add(child)
                    todo.append(child)
        return found

    def name(self, code: str) -> str | None:
        """The registered name of ``code`` (either grammar), for reports; None when not registered here."""
        agency = self.get(code)
        return agency.name if agency is not None else None

    def by_vxp_system_id(self, system_id: str) -> Agency | Route | None:
        """Who connects to the VXP door with this system id: an agency, or the lower axis of a ``pull`` route."""
        return self._by_system.get(system_id) or self._peer_by_system.get(system_id)

    def principal(self, key: str) -> Agency | Route | None:
        """An agency by its canonical key, or a route by :attr:`Route.key` (how intake processes are told)."""
        if key.startswith(ROUTE_KEY):
            return self._route_by_key.get(key)
        return self._by_key.get(key)

    def by_token_sha256(self, digest: bytes) -> Agency | None:
        return self._by_token.get(digest)

    def route_for(self, code: str) -> Route | None:
        """The upstream route with the longest matching prefix, or None."""
        try:
            parsed = parse_tolerant(code)
        except AxisError:
            return self._route_by_prefix.get("*")
        qd20 = parsed.to_qd20()
        if qd20 is not None:
            parts = qd20.split(".")
            for n in range(len(parts), 0, -1):
                found = self._route_by_prefix.get(".".join(parts[:n]))
                if found is not None:
                    return found
            found = self._route_by_prefix.get(qd20[0])
            if found is not None:
                return found
        else:
            found = self._route_by_prefix.get(parsed.canonical)
            if found is not None:
                return found
        return self._route_by_prefix.get("*")

    def destination(self, code: str) -> Destination | None:
        """Where ``code`` is served: here (pull or push), upstream along a route, or None (unknown)."""
        agency = self.get(code)
        if agency is not None:
            return Destination(agency.key, agency.delivery, agency=agency)
        route = self.route_for(code)
        if route is None:
            return None
        try:
            key = parse_tolerant(code).canonical
        except AxisError:
            key = code.strip()
        mode = DeliveryMode.PEER if route.delivery is RouteDelivery.PULL else DeliveryMode.UPSTREAM
        return Destination(key, mode, route=route)

    def summary(self) -> Mapping[str, int]:
        counts = {mode.value: 0 for mode in (DeliveryMode.PULL, DeliveryMode.PUSH)}
        for agency in self._by_key.values():
            counts[agency.delivery.value] += 1
        return {"agencies": len(self._by_key), **counts, "routes": len(self.routes)}
