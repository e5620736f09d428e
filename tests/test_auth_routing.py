"""Authentication (token, HMAC), acting only as oneself, and routing decisions against a registry."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from packages import edoc, status

from axis import auth, routing
from axis.agencycode import parse_strict
from axis.edxml import reader, xmlsafe
from axis.errors import AxisError
from axis.registry import Agency, Credentials, DeliveryMode, Registry, Route
from axis.vntime import iso, now

SECRET = b"0123456789abcdef-secret"


def agency(code: str, token: str | None = None, secret: bytes | None = None, **kw: object) -> Agency:
    creds = Credentials(hashlib.sha256(token.encode()).digest() if token else None, secret)
    return Agency(parse_strict(code), f"agency {code}", credentials=creds, **kw)  # type: ignore[arg-type]


REGISTRY = Registry(
    [agency("000.00.00.G22", "tok-g22"), agency("000.00.00.H41", secret=SECRET),
     agency("000.00.01.H41", "tok-s", delivery=DeliveryMode.PUSH, push_url="http://127.0.0.1:9/in")],
    [Route("national", ("G", "H40"), "http://127.0.0.1:9/up"), Route("h41", ("H41.05",), "http://127.0.0.1:9/h")])


def test_bearer_token_identifies_the_agency() -> None:
    found = auth.authenticate(REGISTRY, {"authorization": "Bearer tok-g22"}, "POST", "/v1/packages", b"", now())
    assert found.key == "000.00.00.G22"
    for header, code in ({}, "auth.missing"), ({"authorization": "Bearer nope"}, "auth.invalid"), (
            {"authorization": "Basic eDp5"}, "auth.invalid"):
        with pytest.raises(AxisError) as err:
            auth.authenticate(REGISTRY, header, "GET", "/v1/mailbox", b"", now())
        assert err.value.code.code == code


def test_hmac_signature_covers_method_path_date_and_body() -> None:
    body = b"<edXML/>"
    header = auth.hmac_header("H41", SECRET, "POST", "/v1/packages", body)  # the QD 20 form works too
    found = auth.authenticate(REGISTRY, {"authorization": header}, "POST", "/v1/packages", body, now())
    assert found.key == "000.00.00.H41"
    for method, path, sent in (("GET", "/v1/packages", body), ("POST", "/v1/mailbox", body),
                               ("POST", "/v1/packages", b"<other/>")):
        with pytest.raises(AxisError) as err:
            auth.authenticate(REGISTRY, {"authorization": header}, method, path, sent, now())
        assert err.value.code.code == "auth.invalid"
    old = auth.hmac_header("H41", SECRET, "POST", "/", body, iso(now() - timedelta(minutes=10)))
    with pytest.raises(AxisError) as err:
        auth.authenticate(REGISTRY, {"authorization": old}, "POST", "/", body, now())
    assert err.value.code.code == "auth.stale"
    wrong = auth.hmac_header("000.00.00.H41", b"another-secret-entirely", "POST", "/", body)
    with pytest.raises(AxisError) as err:
        auth.authenticate(REGISTRY, {"authorization": wrong}, "POST", "/", body, now())
    assert "another-secret" not in str(err.value) and err.value.code.code == "auth.invalid"
    no_secret = auth.hmac_header("000.00.00.G22", SECRET, "POST", "/", body)  # G22 has only a token
    with pytest.raises(AxisError):
        auth.authenticate(REGISTRY, {"authorization": no_secret}, "POST", "/", body, now())


def test_an_agency_acts_only_as_itself() -> None:
    g22 = REGISTRY.get("G22")
    assert g22 is not None
    auth.require_self(g22, "000.00.00.G22", REGISTRY, "From")
    auth.require_self(g22, "G22", REGISTRY, "From")
    for other in ("000.00.00.H41", "nonsense", None):
        with pytest.raises(AxisError) as err:
            auth.require_self(g22, other, REGISTRY, "From")
        assert err.value.code.code == "auth.not-your-agency"


def read(data: bytes):  # type: ignore[no-untyped-def]
    package, problems = reader.read(reader.locate(xmlsafe.parse(data).root))
    return package


def test_documents_go_to_each_to_once_and_unknown_codes_fail_the_whole_package() -> None:
    g22 = REGISTRY.get("G22")
    assert g22 is not None
    routed = routing.route(read(edoc(to=("000.00.00.H41", "H41", "000.00.01.H41", "000.00.00.G12"))), g22, REGISTRY)
    modes = [(d.code, d.mode) for d in routed.destinations]
    assert modes == [("000.00.00.H41", DeliveryMode.PULL), ("000.00.01.H41", DeliveryMode.PUSH),
                     ("000.00.00.G12", DeliveryMode.UPSTREAM)]
    assert routed.destinations[2].route is not None and routed.destinations[2].route.name == "national"
    assert routed.doc_sender == "000.00.00.G22" and routed.document_id == "000.00.00.G22,2026/11/20,123/VPCP-TTĐT"
    with pytest.raises(AxisError) as err:
        routing.route(read(edoc(to=("000.00.00.H41", "000.00.00.H42", "000.00.00.H43"))), g22, REGISTRY)
    assert err.value.code.code == "route.unknown-recipient"
    assert "000.00.00.H42, 000.00.00.H43" in str(err.value)


def test_routes_match_whole_groups_longest_first() -> None:
    assert REGISTRY.route_for("001.00.05.H41").name == "h41"  # type: ignore[union-attr]
    assert REGISTRY.route_for("H41.05.01").name == "h41"  # type: ignore[union-attr]
    assert REGISTRY.route_for("000.00.00.H40").name == "national"  # type: ignore[union-attr]
    assert REGISTRY.route_for("000.00.00.G09").name == "national"  # type: ignore[union-attr]
    assert REGISTRY.route_for("000.00.50.H41") is None
    assert REGISTRY.route_for("000.00.00.H04") is None  # "H40" is a group, not a text prefix


def test_status_goes_to_response_for_and_recall_is_reversed() -> None:
    h41 = REGISTRY.get("H41")
    g22 = REGISTRY.get("G22")
    assert h41 is not None and g22 is not None
    routed = routing.route(read(status(code="03", sender="000.00.00.H41")), h41, REGISTRY)
    assert [d.code for d in routed.destinations] == ["000.00.00.G22"]
    assert (routed.doc_sender, routed.business_recipient) == ("000.00.00.G22", "000.00.00.H41")
    rf = ("<edXML:ResponseFor><edXML:OrganId>000.00.00.H41</edXML:OrganId><edXML:Code>1/X</edXML:Code>"
          "<edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate><edXML:DocumentId>d-1</edXML:DocumentId>"
          "</edXML:ResponseFor>")
    recall = routing.route(read(status(code="13", sender="000.00.00.G22", response_for=rf)), g22, REGISTRY)
    assert [d.code for d in recall.destinations] == ["000.00.00.H41"]
    assert (recall.doc_sender, recall.business_recipient, recall.document_id) == (
        "000.00.00.G22", "000.00.00.H41", "d-1")


def test_registry_refuses_shared_tokens_and_duplicate_codes() -> None:
    with pytest.raises(ValueError, match="twice"):
        Registry([agency("000.00.00.G22", "a"), agency("G22", "b")])
    with pytest.raises(ValueError, match="share one token"):
        Registry([agency("000.00.00.G22", "same"), agency("000.00.00.H41", "same")])
    with pytest.raises(ValueError, match="both claim"):
        Registry([], [Route("a", ("H41",), "http://x/"), Route("b", ("000.00.00.H41",), "http://y/")])


def test_routing_follows_the_registry_it_is_given_and_never_remembers_an_unknown_code() -> None:
    # Destinations are remembered per registry: a reload (a new registry) must route by the new one at once.
    g22 = REGISTRY.get("G22")
    assert g22 is not None
    package = read(edoc(to=("000.00.00.H41", "000.00.02.H41")))
    with pytest.raises(AxisError) as err:
        routing.route(package, g22, REGISTRY)
    assert "000.00.02.H41" in str(err.value)
    reloaded = Registry([agency("000.00.00.G22", "tok-g22"),
                         agency("000.00.00.H41", delivery=DeliveryMode.PUSH, push_url="http://127.0.0.1:9/h41"),
                         agency("000.00.02.H41")])
    for _ in range(2):  # the second time from what was remembered
        routed = routing.route(package, g22, reloaded)
        assert [(d.code, d.mode) for d in routed.destinations] == [("000.00.00.H41", DeliveryMode.PUSH),
                                                                   ("000.00.02.H41", DeliveryMode.PULL)]
        assert routed.destinations[0].agency is not None
        assert routed.destinations[0].agency.push_url == "http://127.0.0.1:9/h41"
    assert [(d.code, d.mode) for d in routing.route(read(edoc(to=("H41",))), g22, REGISTRY).destinations] == [
        ("000.00.00.H41", DeliveryMode.PULL)]  # the old registry still routes as it did
    with pytest.raises(AxisError):
        routing.route(package, g22, REGISTRY)  # and the code it did not know is still unknown there


def test_an_update_with_a_receiver_list_still_fails_whole_on_an_unknown_to() -> None:
    # An update (Bussiness type 2) goes to its ReceiverList; a To code no one knows was dropped in silence.
    g22 = REGISTRY.get("G22")
    assert g22 is not None
    receivers = "".join(f"<edXML:Receiver><edXML:OrganId>{c}</edXML:OrganId><edXML:ReceiverType>0</edXML:ReceiverType>"
                        "</edXML:Receiver>" for c in ("000.00.00.H41", "000.00.00.H44"))
    business = ("<edXML:Bussiness><edXML:DocumentId>d-0</edXML:DocumentId><edXML:BussinessDocType>2"
                "</edXML:BussinessDocType><edXML:BussinessDocumentInfo><edXML:DocumentInfo>1</edXML:DocumentInfo>"
                "<edXML:DocumentReceiver>1</edXML:DocumentReceiver><edXML:ReceiverList>" + receivers +
                "</edXML:ReceiverList></edXML:BussinessDocumentInfo></edXML:Bussiness>")
    with pytest.raises(AxisError) as err:
        routing.route(read(edoc(to=("000.00.00.H41", "000.00.00.H99"), business=business)), g22, REGISTRY)
    assert err.value.code.code == "route.unknown-recipient"
    assert "000.00.00.H44, 000.00.00.H99" in str(err.value)  # every unknown code, from both lists
    known = business.replace("000.00.00.H44", "H41")
    routed = routing.route(read(edoc(to=("000.00.00.H41", "000.00.01.H41"), business=known)), g22, REGISTRY)
    assert [d.code for d in routed.destinations] == ["000.00.00.H41"]  # still to the ReceiverList only
