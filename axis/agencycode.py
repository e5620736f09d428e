"""Agency identifier codes (mã định danh): parsing, validation, conversion.

Two grammars are standard: QCVN 102:2016 (``000.00.18.G12``, lowest level
first) and QĐ 20/2020 (``G12.18``, level 1 first).  Registering an agency
needs one of them (:func:`parse_strict`).  Packages from the field carry other
forms too; :func:`parse_tolerant` accepts those but marks each with a
:class:`Flag`, so the verdict can record them instead of refusing traffic.
Both standard forms of one agency share one :attr:`AgencyCode.canonical` key,
so a registry resolves either form to the same entry.

Build :class:`AgencyCode` values through the two parse functions only; the
constructor does not re-validate its fields.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field

from axis.errors import NOWHERE, AxisError, Code, Problem, Where

# [0-9], not \d: \d also matches non-ASCII digits such as "٣".  Used with fullmatch.
_QCVN102 = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}")
_QD20 = re.compile(r"[A-Z][0-9]{2}(?:\.[0-9A-Z]{2,3}){0,3}")
_QCVN102_LOOSE = re.compile(r"(?:[0-9A-Z]{2,3}\.){1,3}[A-Z][0-9A-Z]{2}")
_ENTERPRISE = re.compile(r"[0-9]{10,14}")
_SYSTEM_ID = re.compile(r"[a-z][a-z0-9]*(?:\.[a-z0-9]+){1,3}")  # includes vxp.saas.NN

MAX_LENGTH = 64
"""Longest text considered at all; real codes are at most 14 characters (system ids a bit more)."""

_QCVN_WIDTHS = (2, 2, 3)  # digits of the level-2, level-3 and level-4 groups in QCVN 102
_EXPECTED = "expected 000.00.00.G22 (QCVN 102:2016) or G22 / G22.18 (QĐ 20/2020)"


class Grammar(str, enum.Enum):
    """Which grammar the text was written in."""

    QCVN102 = "qcvn102"  # strict 000.00.18.G12
    QD20 = "qd20"  # G12.18 (strict, or with a trailing zero group when flagged)
    QCVN102_LOOSE = "qcvn102-loose"  # 01.02.G22, 79.H36, 001.00.20.TT2
    ENTERPRISE = "enterprise"  # 020100107370: 02 + tax code
    SYSTEM_ID = "system-id"  # vxp.saas.03


class Flag(str, enum.Enum):
    """Why a code accepted by :func:`parse_tolerant` is not standard."""

    LOOSE_QCVN102 = "loose-qcvn102"
    NONSTANDARD_ZERO_GROUP = "nonstandard-zero-group"
    ENTERPRISE = "enterprise"
    SYSTEM_ID = "system-id"


_FLAG_TEXT = {
    Flag.LOOSE_QCVN102: "a non-standard QCVN 102 form seen in the field",
    Flag.NONSTANDARD_ZERO_GROUP: "a QĐ 20/2020 code ending with an all-zero group",
    Flag.ENTERPRISE: "an enterprise identifier (02 + tax code), not an agency code",
    Flag.SYSTEM_ID: "a system identifier, not an agency code",
}


class Group(str, enum.Enum):
    """Kind of body, from the first letter of the level-1 part; UNKNOWN is legal, just not classified."""

    GOVERNMENT = "government"  # G: ministries and government bodies
    PROVINCIAL_COMMITTEE = "provincial-committee"  # H: UBND tỉnh
    PROVINCIAL_COUNCIL = "provincial-council"  # K: HĐND tỉnh
    PARTY = "party"  # A: party bodies
    UNKNOWN = "unknown"  # any other letter, and codes without a level-1 part


_GROUP_BY_LETTER = {"G": Group.GOVERNMENT, "H": Group.PROVINCIAL_COMMITTEE,
                    "K": Group.PROVINCIAL_COUNCIL, "A": Group.PARTY}


def _is_zero(group: str) -> bool:
    return group.strip("0") == ""


def _significant(groups: tuple[str, ...]) -> tuple[str, ...]:
    """Drop trailing all-zero groups: they denote the unit above, not a unit of their own."""
    end = len(groups)
    while end and _is_zero(groups[end - 1]):
        end -= 1
    return groups[:end]


def _qcvn_text(level1: str, groups: tuple[str, ...]) -> str:
    return ".".join((*reversed(groups), level1))


def _qd20_text(level1: str, groups: tuple[str, ...]) -> str:
    return ".".join((level1, *groups))


@dataclass(frozen=True, slots=True)
class AgencyCode:
    """One agency identifier as written, with what it means: level, group, parents, other forms."""

    text: str
    grammar: Grammar
    flags: frozenset[Flag] = frozenset()
    level1: str | None = None  # "G12"; None for enterprise and system ids
    groups: tuple[str, ...] = ()  # lower-level groups as written, LEVEL 2 FIRST, in every grammar
    _canonical: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once: routing and the registry ask for it several times per recipient.
        object.__setattr__(self, "_canonical", self.to_qcvn102() or self.to_qd20() or self.text)

    def __str__(self) -> str:
        return self.text

    @property
    def is_standard(self) -> bool:
        return not self.flags

    @property
    def level(self) -> int | None:
        """1 for the level-1 unit itself; trailing (lowest-level) zero groups do not count."""
        return None if self.level1 is None else 1 + len(_significant(self.groups))

    @property
    def group(self) -> Group:
        return Group.UNKNOWN if self.level1 is None else _GROUP_BY_LETTER.get(self.level1[0], Group.UNKNOWN)

    def to_qcvn102(self) -> str | None:
        """The QCVN 102 form; None when the lower groups do not fit its 2/2/3-digit groups."""
        if self.grammar is Grammar.QCVN102:
            return self.text
        if self.grammar is not Grammar.QD20 or self.level1 is None:
            return None  # loose, enterprise and system ids are never guessed into a standard form
        sig = _significant(self.groups)
        if any(len(g) != w or not g.isdigit() for g, w in zip(sig, _QCVN_WIDTHS)):
            return None
        padded = sig + tuple("0" * w for w in _QCVN_WIDTHS[len(sig):])
        return _qcvn_text(self.level1, padded)

    def to_qd20(self) -> str | None:
        """The QĐ 20/2020 form, without trailing zero groups; None for non-standard grammars."""
        if self.grammar not in (Grammar.QCVN102, Grammar.QD20) or self.level1 is None:
            return None
        return _qd20_text(self.level1, _significant(self.groups))

    @property
    def canonical(self) -> str:
        """Registry lookup key: the QCVN 102 form, else the QĐ 20 form, else the text."""
        return self._canonical

    def equivalents(self) -> frozenset[str]:
        """Every textual form that denotes this agency."""
        return frozenset(f for f in (self.text, self.to_qcvn102(), self.to_qd20()) if f is not None)

    def parent(self) -> AgencyCode | None:
        """The unit directly above, skipping absent (zero) levels; None for a level-1 code."""
        sig = _significant(self.groups)
        if self.level1 is None or not sig:
            return None
        if self.grammar is Grammar.QD20:
            text = _qd20_text(self.level1, _significant(sig[:-1]))
        else:  # QCVN 102, strict or loose: zero the lowest non-zero group, keeping its width
            zeroed = (*sig[:-1], "0" * len(sig[-1]), *self.groups[len(sig):])
            text = _qcvn_text(self.level1, zeroed)
        found = _classify(text)
        if found is None:  # cannot happen: zeroing or dropping groups keeps a valid shape
            raise AxisError.of(Code.INTERNAL, f"parent {text!r} of {self.text!r} does not parse")
        return found

    def parents(self) -> tuple[AgencyCode, ...]:
        """All units above, nearest first, ending with the level-1 code; empty for a level-1 code."""
        chain: list[AgencyCode] = []
        current = self.parent()
        while current is not None:
            chain.append(current)
            current = current.parent()
        return tuple(chain)

    def nonstandard_problem(self, where: Where = NOWHERE) -> Problem | None:
        """The warning a verdict records for a flagged code; None for a standard one."""
        if not self.flags:
            return None
        reasons = "; ".join(sorted(_FLAG_TEXT[f] for f in self.flags))
        return Problem(Code.AGENCY_NONSTANDARD_CODE, f"{_quote(self.text)}: {reasons}", where)


def _classify(text: str) -> AgencyCode | None:
    """Match exact text against every known grammar, standard ones first; None if none fits.

    Order matters only for QĐ 20 versus loose QCVN (``G12.A12`` fits both): the standard grammar wins.
    """
    if _QCVN102.fullmatch(text):
        *lower, level1 = text.split(".")
        return AgencyCode(text, Grammar.QCVN102, frozenset(), level1, tuple(reversed(lower)))
    if _QD20.fullmatch(text):
        level1, *lower = text.split(".")
        flags = frozenset({Flag.NONSTANDARD_ZERO_GROUP}) if lower and _is_zero(lower[-1]) else frozenset()
        return AgencyCode(text, Grammar.QD20, flags, level1, tuple(lower))
    if _QCVN102_LOOSE.fullmatch(text):
        *lower, level1 = text.split(".")
        return AgencyCode(text, Grammar.QCVN102_LOOSE, frozenset({Flag.LOOSE_QCVN102}), level1,
                          tuple(reversed(lower)))
    if _ENTERPRISE.fullmatch(text):
        return AgencyCode(text, Grammar.ENTERPRISE, frozenset({Flag.ENTERPRISE}))
    if _SYSTEM_ID.fullmatch(text):
        return AgencyCode(text, Grammar.SYSTEM_ID, frozenset({Flag.SYSTEM_ID}))
    return None


def _quote(text: str) -> str:
    """repr() of the text, cut short so a hostile input cannot flood an error message."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "…"


def _refuse(detail: str, where: Where) -> AxisError:
    return AxisError.of(Code.AGENCY_INVALID_CODE, detail, where)


def _precheck(stripped: str) -> str | None:
    """Refusals common to both modes, checked on the stripped text before any grammar."""
    if not stripped:
        return "the agency code is empty or blank; " + _EXPECTED
    if stripped.lower() == "null":
        return "the literal 'null' is not an agency code; " + _EXPECTED
    if len(stripped) > MAX_LENGTH:
        return f"the agency code is longer than {MAX_LENGTH} characters: {_quote(stripped)}"
    return None


def parse_strict(text: str, where: Where = NOWHERE) -> AgencyCode:
    """Parse a code for registering an agency: only the two standard grammars, exactly as given.

    Raises :class:`AxisError` ``agency.invalid-code`` with a detail saying what is wrong.
    """
    problem = _precheck(text.strip())
    if problem:
        raise _refuse(problem, where)
    if text.strip() != text:
        raise _refuse(f"{_quote(text)} has surrounding whitespace; {_EXPECTED}", where)
    found = _classify(text)
    if found is not None and found.is_standard:
        return found
    if found is not None and Flag.NONSTANDARD_ZERO_GROUP in found.flags:
        raise _refuse(f"{_quote(text)} ends with an all-zero group, which QĐ 20/2020 does not use; "
                      f"write {found.to_qd20()!r}", where)
    if found is not None:
        reasons = "; ".join(sorted(_FLAG_TEXT[f] for f in found.flags))
        raise _refuse(f"{_quote(text)} is {reasons}: accepted in packages, not for registration; {_EXPECTED}",
                      where)
    upper = _classify(text.upper())
    if upper is not None and upper.is_standard:
        raise _refuse(f"{_quote(text)}: letters must be uppercase ({upper.text!r})", where)
    if text[:1].isdigit() and text.count(".") == 3:
        raise _refuse(f"{_quote(text)}: a QCVN 102:2016 code is groups of 3, 2 and 2 digits, then a letter "
                      "and 2 digits for level 1, e.g. 000.00.18.G12", where)
    raise _refuse(f"{_quote(text)} is not an agency code; {_EXPECTED}", where)


def parse_tolerant(text: str, where: Where = NOWHERE) -> AgencyCode:
    """Parse a code seen in a package: surrounding whitespace stripped, known field forms flagged.

    Raises :class:`AxisError` ``agency.invalid-code`` for anything unrecognised.
    """
    stripped = text.strip()
    problem = _precheck(stripped)
    if problem:
        raise _refuse(problem, where)
    found = _classify_cached(stripped)
    if found is None:
        raise _refuse(f"{_quote(stripped)} is not a recognised agency code; {_EXPECTED}", where)
    return found


# Codes repeat endlessly in traffic (a province has a few thousand agencies): classify each text once.
_classify_cached = functools.lru_cache(maxsize=65536)(_classify)


def same_agency(a: str, b: str) -> bool:
    """Whether two texts denote one agency (tolerant parse, same canonical key); False if either is invalid."""
    try:
        return parse_tolerant(a).canonical == parse_tolerant(b).canonical
    except AxisError:
        return False
