"""Tests for axis.agencycode: the two standard grammars, the field forms, conversions and parent chains."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axis.agencycode import (
    MAX_LENGTH,
    AgencyCode,
    Flag,
    Grammar,
    Group,
    parse_strict,
    parse_tolerant,
    same_agency,
)
from axis.errors import AxisError, Code, Severity, Where

# Test-side grammars, written independently of the module ([0-9], not \d: \d would generate non-ASCII digits).
QCVN102_RE = r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}"
QD20_RE = r"[A-Z][0-9]{2}(?:\.[0-9A-Z]{2,3}){0,3}"
QD20_FITS_QCVN_RE = r"[A-Z][0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{3})?)?)?"
QCVN102_LOOSE_RE = r"(?:[0-9A-Z]{2,3}\.){1,3}[A-Z][0-9A-Z]{2}"


def _last_group_nonzero(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 1 or parts[-1].strip("0") != ""


strict_qcvn = st.from_regex(QCVN102_RE, fullmatch=True)
strict_qd20 = st.from_regex(QD20_RE, fullmatch=True).filter(_last_group_nonzero)
strict_qd20_fitting = st.from_regex(QD20_FITS_QCVN_RE, fullmatch=True).filter(_last_group_nonzero)
loose_qcvn = st.from_regex(QCVN102_LOOSE_RE, fullmatch=True)


def _refusal(fn: object, text: str) -> AxisError:
    with pytest.raises(AxisError) as info:
        fn(text)  # type: ignore[operator]
    assert info.value.code is Code.AGENCY_INVALID_CODE
    return info.value


# -- strict grammars: accepted examples

@pytest.mark.parametrize("text", ["000.00.18.G12", "000.00.00.H41", "002.00.20.H13", "001.05.11.H53",
                                  "000.00.00.K41", "000.00.01.A53"])
def test_strict_qcvn102_examples(text: str) -> None:
    code = parse_strict(text)
    assert code.grammar is Grammar.QCVN102
    assert code.text == text and code.is_standard and code.flags == frozenset()
    assert parse_tolerant(text) == code


@pytest.mark.parametrize("text", ["G12", "G09.20", "G12.18", "H55.242", "H37.DN.001", "H13.20.00.002"])
def test_strict_qd20_examples(text: str) -> None:
    code = parse_strict(text)
    assert code.grammar is Grammar.QD20
    assert code.is_standard
    assert parse_tolerant(text) == code


@pytest.mark.parametrize(("qcvn", "qd20"), [
    ("000.00.18.G12", "G12.18"),
    ("000.00.00.G12", "G12"),
    ("001.05.11.H53", "H53.11.05.001"),
    ("002.00.20.H13", "H13.20.00.002"),
    ("000.00.00.H41", "H41"),
    ("000.05.00.G12", "G12.00.05"),
])
def test_conversion_both_ways(qcvn: str, qd20: str) -> None:
    a, b = parse_strict(qcvn), parse_strict(qd20)
    assert a.to_qd20() == qd20 and a.to_qcvn102() == qcvn
    assert b.to_qcvn102() == qcvn and b.to_qd20() == qd20
    assert a.canonical == b.canonical == qcvn
    assert a.equivalents() == b.equivalents() == {qcvn, qd20}
    assert a.level == b.level
    assert same_agency(qcvn, qd20) and same_agency(f"  {qd20}\n", qcvn)


@pytest.mark.parametrize("text", ["H55.242", "H37.DN.001", "G12.ABC", "G12.18.123", "G12.18.05.01"])
def test_qd20_without_qcvn_form(text: str) -> None:
    code = parse_strict(text)
    assert code.to_qcvn102() is None
    assert code.to_qd20() == text
    assert code.canonical == text
    assert code.equivalents() == {text}


# -- strict refusals

@pytest.mark.parametrize("text", ["01.02.G22", "vxp.saas.03", "000.00.18.G1", "0000.00.00.G22", "g12", "G12.",
                                  "G12.18.00", " G12", "G12 ", "", "   ", "null", "NULL", "000.00.00.12G",
                                  "020100107370", "G12..18", "G1", "G123", "H37.dn.001", "000.00.18.g12",
                                  "٠٠٠.٠٠.١٨.G12", "000.00.18.G12\n", "G12.18.05.001.1"])
def test_strict_refusals(text: str) -> None:
    err = _refusal(parse_strict, text)
    assert err.problem.detail  # always says what is wrong
    assert err.problem.severity is Severity.ERROR


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("null", "'null'"),
    (" G12", "whitespace"),
    ("g12", "uppercase"),
    ("G12.18.00", "'G12.18'"),
    ("01.02.G22", "QCVN 102 form seen in the field"),
    ("vxp.saas.03", "system identifier"),
    ("020100107370", "enterprise"),
    ("000.00.18.G1", "3, 2 and 2 digits"),
    ("0000.00.00.G22", "3, 2 and 2 digits"),
    ("000.00.00.12G", "3, 2 and 2 digits"),
    ("G12.", "expected 000.00.00.G22 (QCVN 102:2016) or G22 / G22.18 (QĐ 20/2020)"),
])
def test_strict_refusal_details(text: str, fragment: str) -> None:
    assert fragment in _refusal(parse_strict, text).problem.detail


def test_refusal_carries_where_and_cuts_long_input() -> None:
    where = Where(line=3, column=7, path="/edXML/edXMLEnvelope/From/OrganId")
    with pytest.raises(AxisError) as info:
        parse_tolerant("x" * 1000, where)
    assert info.value.problem.where == where
    assert len(info.value.problem.detail) < 200
    with pytest.raises(AxisError) as info2:
        parse_strict("G12.18.00", where)
    assert info2.value.problem.where == where


# -- tolerant mode: field forms and their flags

@pytest.mark.parametrize(("text", "grammar", "flag"), [
    ("01.02.G22", Grammar.QCVN102_LOOSE, Flag.LOOSE_QCVN102),
    ("28.22.H17", Grammar.QCVN102_LOOSE, Flag.LOOSE_QCVN102),
    ("02.29.W00", Grammar.QCVN102_LOOSE, Flag.LOOSE_QCVN102),
    ("79.H36", Grammar.QCVN102_LOOSE, Flag.LOOSE_QCVN102),
    ("01.K36", Grammar.QCVN102_LOOSE, Flag.LOOSE_QCVN102),
    ("001.00.20.TT2", Grammar.QCVN102_LOOSE, Flag.LOOSE_QCVN102),
    ("020100107370", Grammar.ENTERPRISE, Flag.ENTERPRISE),
    ("0100107370", Grammar.ENTERPRISE, Flag.ENTERPRISE),
    ("vxp.saas.03", Grammar.SYSTEM_ID, Flag.SYSTEM_ID),
    ("vxp.saas.02", Grammar.SYSTEM_ID, Flag.SYSTEM_ID),
    ("lgsp.langson.edoc", Grammar.SYSTEM_ID, Flag.SYSTEM_ID),
    ("G12.18.00", Grammar.QD20, Flag.NONSTANDARD_ZERO_GROUP),
    ("G12.00", Grammar.QD20, Flag.NONSTANDARD_ZERO_GROUP),
])
def test_tolerant_flags(text: str, grammar: Grammar, flag: Flag) -> None:
    code = parse_tolerant(f" \t{text}\r\n")
    assert code.text == text
    assert code.grammar is grammar
    assert code.flags == {flag}
    assert not code.is_standard
    problem = code.nonstandard_problem(Where(path="/x"))
    assert problem is not None and problem.code is Code.AGENCY_NONSTANDARD_CODE
    assert problem.severity is Severity.WARNING and problem.where.path == "/x"


def test_standard_codes_have_no_warning() -> None:
    assert parse_tolerant("G12").nonstandard_problem() is None
    assert parse_tolerant(" 000.00.18.G12 ").is_standard


@pytest.mark.parametrize("text", ["", "   ", "null", " null ", "Null", "G12.", "g12", "000.00.18.G1", "G1",
                                  "12345", "123456789012345", "vxp", "vxp..saas", "Vxp.saas.03", "G12.18.05.001.1",
                                  "A.B.C", "\x00", "000.00.00.12G", "x" * (MAX_LENGTH + 1) + ".a"])
def test_tolerant_refusals(text: str) -> None:
    _refusal(parse_tolerant, text)


def test_enterprise_and_system_ids_have_no_structure() -> None:
    for text in ("020100107370", "vxp.saas.03"):
        code = parse_tolerant(text)
        assert code.level is None and code.level1 is None
        assert code.group is Group.UNKNOWN
        assert code.parent() is None and code.parents() == ()
        assert code.to_qcvn102() is None and code.to_qd20() is None
        assert code.canonical == text and code.equivalents() == {text}


def test_trailing_zero_group_is_normalised() -> None:
    code = parse_tolerant("G12.18.00")
    assert code.to_qd20() == "G12.18"
    assert code.to_qcvn102() == "000.00.18.G12"
    assert code.level == 2
    assert code.equivalents() == {"G12.18.00", "G12.18", "000.00.18.G12"}
    assert same_agency("G12.18.00", "000.00.18.G12")
    assert parse_tolerant("G12.00").level == 1 and parse_tolerant("G12.00").parent() is None


def test_loose_codes_are_not_converted() -> None:
    code = parse_tolerant("01.02.G22")
    assert code.to_qcvn102() is None and code.to_qd20() is None
    assert code.canonical == "01.02.G22"
    assert not same_agency("01.02.G22", "000.01.02.G22")


def test_qd20_wins_over_loose_qcvn_when_both_fit() -> None:
    code = parse_tolerant("G12.A12")
    assert code.grammar is Grammar.QD20 and code.level1 == "G12" and code.is_standard


# -- level, group, parents

@pytest.mark.parametrize(("text", "level", "level1"), [
    ("000.00.00.G12", 1, "G12"), ("000.00.18.G12", 2, "G12"), ("001.05.11.H53", 4, "H53"),
    ("000.05.11.H53", 3, "H53"), ("002.00.20.H13", 4, "H13"), ("G12", 1, "G12"), ("G12.18", 2, "G12"),
    ("H37.DN.001", 3, "H37"), ("H13.20.00.002", 4, "H13"), ("02.29.W00", 3, "W00"), ("79.H36", 2, "H36"),
    ("00.22.W00", 2, "W00"), ("001.00.20.TT2", 4, "TT2"), ("00.00.G22", 1, "G22"),
])
def test_levels(text: str, level: int, level1: str) -> None:
    code = parse_tolerant(text)
    assert code.level == level and code.level1 == level1


@pytest.mark.parametrize(("text", "group"), [
    ("000.00.00.G12", Group.GOVERNMENT), ("G22", Group.GOVERNMENT), ("000.00.00.H41", Group.PROVINCIAL_COMMITTEE),
    ("H55.242", Group.PROVINCIAL_COMMITTEE), ("000.00.00.K41", Group.PROVINCIAL_COUNCIL),
    ("000.00.01.A53", Group.PARTY), ("02.29.W00", Group.UNKNOWN), ("I36", Group.UNKNOWN),
    ("001.00.20.TT2", Group.UNKNOWN),
])
def test_groups(text: str, group: Group) -> None:
    assert parse_tolerant(text).group is group


@pytest.mark.parametrize(("text", "chain"), [
    ("001.05.11.H53", ["000.05.11.H53", "000.00.11.H53", "000.00.00.H53"]),
    ("002.00.20.H13", ["000.00.20.H13", "000.00.00.H13"]),
    ("000.00.18.G12", ["000.00.00.G12"]),
    ("000.00.00.G12", []),
    ("H13.20.00.002", ["H13.20", "H13"]),
    ("H53.11.05.001", ["H53.11.05", "H53.11", "H53"]),
    ("H37.DN.001", ["H37.DN", "H37"]),
    ("G12", []),
    ("G12.18.00", ["G12"]),
    ("01.02.G22", ["00.02.G22", "00.00.G22"]),
    ("02.29.W00", ["00.29.W00", "00.00.W00"]),
    ("001.00.20.TT2", ["000.00.20.TT2", "000.00.00.TT2"]),
    ("0A1.00.20.H13", ["000.00.20.H13", "000.00.00.H13"]),  # the parent of a loose code may be strict
])
def test_parent_chains(text: str, chain: list[str]) -> None:
    code = parse_tolerant(text)
    assert [p.text for p in code.parents()] == chain
    parent = code.parent()
    assert (parent.text if parent else None) == (chain[0] if chain else None)


def test_parent_of_loose_can_become_standard() -> None:
    code = parse_tolerant("0A1.00.20.H13")
    assert code.grammar is Grammar.QCVN102_LOOSE
    parent = code.parent()
    assert parent is not None and parent.grammar is Grammar.QCVN102 and parent.is_standard


def test_value_object() -> None:
    code = parse_strict("000.00.18.G12")
    assert isinstance(code, AgencyCode) and str(code) == "000.00.18.G12"
    assert code.groups == ("18", "00", "000")
    assert parse_strict("G12.18").groups == ("18",)
    with pytest.raises(AttributeError):
        code.text = "G12"  # type: ignore[misc]
    assert {code, parse_strict("000.00.18.G12")} == {code}


def test_same_agency() -> None:
    assert same_agency("000.00.00.G12", "G12")
    assert same_agency("G12", " G12 ")
    assert not same_agency("G12", "G12.18")
    assert not same_agency("G12", "")
    assert not same_agency("null", "null")
    assert same_agency("vxp.saas.03", "vxp.saas.03")


# -- properties

@given(strict_qcvn)
def test_prop_qcvn_round_trips(text: str) -> None:
    code = parse_strict(text)
    qd20 = code.to_qd20()
    assert qd20 is not None
    back = parse_strict(qd20)
    assert back.to_qcvn102() == text
    assert code.canonical == back.canonical == text  # (3) both forms, one key
    assert same_agency(text, qd20)
    assert code.level == back.level


@given(st.one_of(strict_qd20_fitting, strict_qd20))
def test_prop_qd20_round_trips(text: str) -> None:
    code = parse_strict(text)
    qcvn = code.to_qcvn102()
    if qcvn is None:
        assert code.canonical == text
        return
    back = parse_strict(qcvn)
    assert back.to_qd20() == text
    assert code.canonical == back.canonical == qcvn  # (3)
    assert code.equivalents() == back.equivalents() == {text, qcvn}


def _check_chain(code: AgencyCode) -> None:
    chain = code.parents()
    assert code.level is not None
    if code.level == 1:
        assert chain == ()
        return
    assert chain, "a code below level 1 has a parent"
    assert chain[-1].level == 1
    assert chain[-1].level1 == code.level1
    assert chain[-1].parent() is None
    previous = code.level
    for element in chain:
        assert element.level is not None and element.level < previous
        previous = element.level
        assert parse_tolerant(element.text) == element  # each element is itself valid
        if element.grammar in (Grammar.QCVN102, Grammar.QD20):
            assert parse_strict(element.text) == element


@given(st.one_of(strict_qcvn, strict_qd20, loose_qcvn))
def test_prop_parent_chains(text: str) -> None:
    _check_chain(parse_tolerant(text))


@given(st.text())
def test_prop_tolerant_raises_only_axis_error(text: str) -> None:
    try:
        code = parse_tolerant(text)
    except AxisError as err:
        assert err.code is Code.AGENCY_INVALID_CODE
        return
    assert code.text == text.strip()
    assert code.canonical in code.equivalents() and code.text in code.equivalents()


@given(st.one_of(st.text(max_size=20), strict_qcvn, strict_qd20, loose_qcvn,
                 st.from_regex(QD20_RE, fullmatch=True)))
def test_prop_strict_is_tolerant_without_flags(text: str) -> None:
    try:
        tolerant: AgencyCode | None = parse_tolerant(text)
    except AxisError:
        tolerant = None
    try:
        strict: AgencyCode | None = parse_strict(text)
    except AxisError as err:
        assert err.code is Code.AGENCY_INVALID_CODE
        strict = None
    expected = tolerant if tolerant is not None and tolerant.is_standard and tolerant.text == text else None
    assert strict == expected
