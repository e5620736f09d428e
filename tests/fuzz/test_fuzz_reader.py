"""The short fuzz run of ``make test``: whatever the bytes, the checker answers a verdict, never an internal error.

The contract is :func:`harness.check_contract`; every input runs under a hang guard
(:func:`harness.check_with_guard`, 5 s where a seed takes milliseconds).  The long run is
``tests/fuzz/fuzz_reader.py`` (atheris); see its docstring and the README ("Fuzzing").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence, TypeVar

import harness
import mutations
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from axis.errors import Code

T = TypeVar("T")
CHECKER = harness.make_checker()
EXPECTED = harness.expected()
SMALL_SEEDS = [p for p in harness.seed_files() if p.stat().st_size <= 32 * 1024]
SEED_BYTES = [p.read_bytes() for p in SMALL_SEEDS]


def test_the_corpus_is_small_and_every_seed_has_an_expectation() -> None:
    files = sorted(harness.CORPUS.iterdir())
    assert sorted(p.name for p in files) == sorted(EXPECTED)
    assert sum(p.stat().st_size for p in files) < 1_000_000
    assert max(p.stat().st_size for p in files) < 100_000


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_seed_gets_its_verdict(name: str) -> None:
    verdict = harness.check_with_guard(CHECKER, (harness.CORPUS / name).read_bytes())
    want = EXPECTED[name]
    if want == "acceptable":
        assert verdict.acceptable, [str(p) for p in verdict.errors]
    else:
        assert not verdict.acceptable
        assert want in [p.code.code for p in verdict.errors], [str(p) for p in verdict.problems]


def test_interop_samples_keep_the_contract(interop: Path) -> None:
    samples = sorted(interop.glob("**/*.edxml"))
    assert samples
    for path in samples:
        harness.check_with_guard(CHECKER, path.read_bytes())


def test_the_contract_catches_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property below would be vacuous if a bug of ours could pass it: make one, and see it caught."""
    from axis.edxml import reader

    def broken(loc: object) -> object:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(reader, "read", broken)
    with pytest.raises(harness.ContractBroken, match="ZeroDivisionError"):
        harness.check_with_guard(CHECKER, SEED_BYTES[0])


class DrawChooser:
    """:class:`mutations.Chooser` over Hypothesis draws, so that failures shrink."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.data.draw(st.integers(0, len(options) - 1))]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.sampled_from(range(len(SEED_BYTES))), data=st.data())
def test_mutated_seeds_always_get_a_verdict(seed: int, data: st.DataObject) -> None:
    package = mutations.mutate(SEED_BYTES[seed], DrawChooser(data))
    harness.check_with_guard(CHECKER, package)


# ----------------------------------------------------------------------------- packages built from the grammar

_XML_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") | st.sampled_from(
    "\t\n\r")
TEXT = st.sampled_from(mutations.TEXTS) | st.text(_XML_CHARS, max_size=30)
QCVN_TAG = st.sampled_from(mutations.NAMES).map(lambda n: f"{{{mutations.QCVN}}}{n}")
ANY_TAG = QCVN_TAG | st.sampled_from(mutations.NAMES).map(lambda n: f"{{{mutations.DSIG}}}{n}") | st.sampled_from(
    ("Attachment", "ContentId", "ContentType", "AttachmentName", "x"))


@st.composite
def subtree(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    el = etree.Element(draw(ANY_TAG if draw(st.integers(0, 4)) == 0 else QCVN_TAG))
    el.text = draw(TEXT) if draw(st.booleans()) else None
    for _ in range(draw(st.integers(0, 2))):
        el.set(draw(st.sampled_from(("Id", "URI", "Algorithm", "version"))), draw(TEXT))
    if depth < 3:
        for _ in range(draw(st.integers(0, 2))):
            el.append(draw(subtree(depth + 1)))
    return el


@st.composite
def grammar_package(draw: st.DrawFn) -> bytes:
    """The frame axis locates (edXML / edXMLEnvelope / edXMLHeader / MessageHeader), anything inside it."""
    q = mutations.QCVN
    root = etree.Element(f"{{{q}}}edXML", nsmap={None: q})
    envelope = etree.SubElement(root, f"{{{q}}}edXMLEnvelope", nsmap={"edXML": q})
    header = etree.SubElement(envelope, f"{{{q}}}edXMLHeader")
    message = etree.SubElement(header, f"{{{q}}}MessageHeader")
    parts = {"message": message, "header": header, "envelope": envelope, "root": root}
    if draw(st.booleans()):
        parts["body"] = etree.SubElement(envelope, f"{{{q}}}edXMLBody")
        parts["manifest"] = etree.SubElement(parts["body"], f"{{{q}}}edXMLManifest")
    if draw(st.booleans()):
        parts["attachments"] = etree.SubElement(root, f"{{{q}}}AttachmentEncoded")
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.sampled_from(sorted(parts)))
        parts[where].append(draw(subtree()))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(grammar_package())
def test_packages_built_from_the_grammar_always_get_a_verdict(data: bytes) -> None:
    verdict = harness.check_with_guard(CHECKER, data)
    assert verdict.package is not None or verdict.errors  # located, or refused with a reason
    assert all(p.code is not Code.INTERNAL for p in verdict.problems)
    json.dumps(verdict.to_dict(), ensure_ascii=False)
