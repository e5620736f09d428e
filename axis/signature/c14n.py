"""Canonical XML of a document subset (SignedInfo) as the standard writes it: with the ``xml:*`` attributes it inherits.

Inclusive Canonical XML of an element that is not the root carries the ``xml:`` attributes
of its ancestors that it does not override (C14N 1.0 §2.4: all of them; C14N 1.1 §2.4:
``xml:lang`` and ``xml:space``, and ``xml:base`` joined along the ancestors; never
``xml:id``).  Exclusive C14N inherits none.  xmlsec1 and Santuario do this; lxml (libxml2
serialising a subtree) leaves them out, so a signature over a package with ``xml:lang`` on its
envelope, made by Santuario, would not verify here, and axis's own would not verify there.
SignedInfo is the only subset axis canonicalises: its one reference is ``URI=""``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

from lxml import etree

XML_NS = "http://www.w3.org/XML/1998/namespace"
_C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
_BASE, _ID = f"{{{XML_NS}}}base", f"{{{XML_NS}}}id"


def inherited(el: etree._Element, c14n_uri: str | None) -> dict[str, str]:
    """The ``xml:*`` attributes (Clark names) that canonicalising ``el`` alone must add to it under ``c14n_uri``."""
    if c14n_uri is not None and c14n_uri.startswith("http://www.w3.org/2001/10/xml-exc-c14n#"):
        return {}
    found: dict[str, str] = {}
    bases: list[str] = []
    parent = el.getparent()
    while parent is not None:
        for name, value in parent.attrib.items():
            if not name.startswith(f"{{{XML_NS}}}") or name in el.attrib:
                continue
            if name == _BASE:
                bases.append(value)
            elif name not in found:  # the nearest ancestor's value
                found[name] = value
        parent = parent.getparent()
    if c14n_uri is not None and c14n_uri.startswith(_C14N_11):
        found.pop(_ID, None)
        if bases and _BASE not in el.attrib:
            joined = ""
            for base in reversed(bases):  # from the root down
                joined = urljoin(joined, base) if joined else base
            found[_BASE] = joined
    elif bases:
        found[_BASE] = bases[0]
    return found


@contextmanager
def standalone(el: etree._Element, c14n_uri: str | None) -> Iterator[etree._Element]:
    """``el`` with its inherited ``xml:*`` attributes set on it while the block canonicalises it, then as it was."""
    extra = inherited(el, c14n_uri)
    for name, value in extra.items():
        el.set(name, value)
    try:
        yield el
    finally:
        for name in extra:
            del el.attrib[name]
