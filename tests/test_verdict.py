"""The checker never crashes and never raises, whatever the bytes: every outcome is a verdict."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from packages import edoc, status

from axis.errors import Code
from axis.verdict import Checker

CHECKER = Checker()
SEEDS = [edoc(), status(), edoc(business="<edXML:Bussiness><edXML:BussinessDocType>1</edXML:BussinessDocType>"
                               "</edXML:Bussiness>")]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, len(data) - 1)) if data else 0
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from([b"<", b">", b"&", b"<!--", b"]]>", b"<edXML:To>", b"\x00",
                                                b"\xc3", b"<!DOCTYPE x>", b"cid:", b"=", b"\n"]))
        elif data:
            del data[at:at + draw(st.integers(1, 40))]
    return bytes(data)


@settings(max_examples=400)
@given(mutated())
def test_mutated_packages_always_get_a_verdict(data: bytes) -> None:
    verdict = CHECKER.check(data)
    assert all(p.code is not Code.INTERNAL for p in verdict.problems), [str(p) for p in verdict.problems]
    assert verdict.acceptable == (verdict.package is not None and not verdict.errors)
    verdict.to_dict()  # always serialisable


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_always_get_a_verdict(data: bytes) -> None:
    verdict = CHECKER.check(data)
    assert verdict.problems and not verdict.acceptable
    assert all(p.code is not Code.INTERNAL for p in verdict.problems)
