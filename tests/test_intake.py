"""Intake of packages another axis relays along a route: who may be their sender, where they may go, and whose
signature policy applies.  Real checker, real receipt signer, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from packages import edoc

from axis.agencycode import parse_strict
from axis.errors import Code
from axis.intake import Intake, Policy, Refused
from axis.receipt import load_or_create_identity
from axis.registry import Agency, Credentials, DeliveryMode, Registry, Route, RouteDelivery, SignaturePolicy
from axis.signature.trust import TrustStore
from axis.verdict import Checker
from axis.vntime import now

SECRET = b"0123456789abcdef-federation"
H40, SO_H41, SO2_H41, G22 = "000.00.00.H40", "000.00.01.H41", "000.00.02.H41", "000.00.00.G22"
NATIONAL = Route("national", ("*",), "http://127.0.0.1:9/vxp", Credentials(hmac_secret=SECRET),
                 delivery=RouteDelivery.VXP, vxp_system_id="axis.h40")
NGHE_AN = Route("nghe-an", ("H41",), None, Credentials(hmac_secret=SECRET), delivery=RouteDelivery.PULL,
                vxp_system_id="axis.h41")
STRICT = Route("strict", ("H42",), None, Credentials(hmac_secret=SECRET), delivery=RouteDelivery.PULL,
               vxp_system_id="axis.h42", signature_policy=SignaturePolicy.REQUIRE)
REGISTRY = Registry([Agency(parse_strict(H40), "UBND Hà Nam (demo)", credentials=Credentials(b"x" * 32))],
                    [NATIONAL, NGHE_AN, STRICT])


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Intake:
    d: Path = tmp_path_factory.mktemp("identity")
    return Intake(load_or_create_identity(d / "k.pem", d / "c.pem", "000.00.99.H40", "axis test"), "000.00.99.H40",
                  now)


POLICY = Policy(REGISTRY, Checker(TrustStore.from_files()))


def package(sender: str, *to: str) -> bytes:
    frm = f"<edXML:From><edXML:OrganId>{sender}</edXML:OrganId><edXML:OrganName>x</edXML:OrganName></edXML:From>"
    return edoc(sender=frm, to=to, document_id=f"<edXML:DocumentId>{sender},2026/11/22,1/X</edXML:DocumentId>")


def refusal(intake: Intake, via: Route, data: bytes) -> str:
    with pytest.raises(Refused) as info:
        intake.prepare(POLICY, via, data)
    return info.value.problems[0].code.code


def test_a_relayed_package_is_from_the_agency_behind_the_route(intake: Intake) -> None:
    prepared = intake.prepare(POLICY, NGHE_AN, package(SO_H41, H40, G22))
    message = prepared.message
    assert (message.sender, message.via) == (SO_H41, "nghe-an")
    assert prepared.recipients == ((H40, DeliveryMode.PULL), (G22, DeliveryMode.UPSTREAM))
    assert b'"sender":"000.00.01.H41"' in message.receipt.replace(b" ", b"")
    # Down from the upstream axis, to an agency here and one behind the lower axis.
    down = intake.prepare(POLICY, NATIONAL, package(G22, H40, SO2_H41))
    assert (down.message.sender, down.message.via) == (G22, "national")
    assert down.recipients == ((H40, DeliveryMode.PULL), (SO2_H41, DeliveryMode.PEER))
    assert [(d.mode, d.target) for d in down.message.deliveries] == [("pull", None), ("peer", "nghe-an")]


@pytest.mark.parametrize("via, sender", [
    (NGHE_AN, H40),  # registered here: it speaks for itself
    (NGHE_AN, G22),  # behind another route
    (NATIONAL, H40),
    (NATIONAL, SO_H41),  # the upstream axis cannot speak for the lower one's agencies
])
def test_no_axis_relays_for_an_agency_that_is_not_behind_its_route(intake: Intake, via: Route, sender: str) -> None:
    assert refusal(intake, via, package(sender, H40)) == Code.ROUTE_NOT_YOURS.code


def test_a_package_never_goes_back_along_the_route_it_came_in_on(intake: Intake) -> None:
    assert refusal(intake, NGHE_AN, package(SO_H41, SO2_H41)) == Code.ROUTE_LOOP.code
    assert refusal(intake, NATIONAL, package(G22, "000.00.00.G12")) == Code.ROUTE_LOOP.code
    # Recipients behind it beside others: the relaying axis serves those itself; this one takes the others.
    down = intake.prepare(POLICY, NATIONAL, package(G22, H40, "000.00.00.G12"))
    assert (down.recipients, down.message.left) == (((H40, DeliveryMode.PULL),), ("000.00.00.G12",))
    up = intake.prepare(POLICY, NGHE_AN, package(SO_H41, SO2_H41, G22))
    assert (up.recipients, up.message.left) == (((G22, DeliveryMode.UPSTREAM),), (SO2_H41,))


def test_the_route_signature_policy_applies_to_what_comes_in_on_it(intake: Intake) -> None:
    assert refusal(intake, STRICT, package("000.00.01.H42", H40)) == Code.SIGNATURE_REQUIRED.code
    assert intake.prepare(POLICY, NGHE_AN, package(SO_H41, H40)).message.signature == "absent"


# -- what a routed package becomes for the store (one delivery row per recipient, per registry)

CODES = [f"{i:03d}.00.00.H41" for i in range(1, 64)]


def fanout_registry(push_url: str) -> Registry:
    agencies = [Agency(parse_strict(G22), "sender"), Agency(parse_strict(CODES[0]), "push", delivery=DeliveryMode.PUSH,
                                                           push_url=push_url)]
    return Registry(agencies + [Agency(parse_strict(c), "pull") for c in CODES[1:]])


def test_each_recipient_gets_its_own_delivery_row_from_the_registry_in_force(tmp_path: Path) -> None:
    signer = load_or_create_identity(tmp_path / "k.pem", tmp_path / "c.pem", "000.00.99.H41", "axis")
    intake, checker = Intake(signer, "000.00.99.H41", now), Checker()
    data = edoc(to=tuple(CODES))
    for url in ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b", "http://127.0.0.1:9/b"):  # a reload, then again
        policy = Policy(fanout_registry(url), checker)
        sender = policy.registry.get(G22)
        assert sender is not None
        prepared = intake.prepare(policy, sender, data)
        rows = [(d.recipient, d.mode, d.target) for d in prepared.message.deliveries]
        assert rows == [(CODES[0], "push", url)] + [(c, "pull", None) for c in CODES[1:]]
        assert prepared.recipients == ((CODES[0], DeliveryMode.PUSH), *((c, DeliveryMode.PULL) for c in CODES[1:]))
        assert prepared.needs_push


def test_a_package_relayed_while_a_reload_changes_its_route_is_judged_by_the_route_in_force(intake: Intake) -> None:
    """The poller holds the route it began its pass with; a reload meanwhile (a rotated secret, a stricter policy)
    must not make what it brings down someone else's (route.not-yours, acknowledged fail upstream) nor hide a loop."""
    rotated = Route("national", ("*",), NATIONAL.url, Credentials(hmac_secret=b"rotated-secret-of-the-route"),
                    delivery=RouteDelivery.VXP, vxp_system_id="axis.h40")
    policy = Policy(Registry(list(REGISTRY), [rotated, NGHE_AN, STRICT]), POLICY.checker)
    prepared = intake.prepare(policy, NATIONAL, package(G22, H40))
    assert (prepared.message.sender, prepared.message.via) == (G22, "national")
    with pytest.raises(Refused) as info:
        intake.prepare(policy, NATIONAL, package(G22, "000.00.00.G12"))
    assert info.value.problems[0].code is Code.ROUTE_LOOP
    gone = Policy(Registry(list(REGISTRY), [NGHE_AN, STRICT]), POLICY.checker)  # the route was removed
    with pytest.raises(Refused) as info:
        intake.prepare(gone, NATIONAL, package(G22, H40))
    assert info.value.problems[0].code is Code.ROUTE_NOT_YOURS
