"""Namespaces and element-naming helpers shared by the edXML reader, schema and signature code."""

from __future__ import annotations

from lxml import etree

from axis.errors import Where

QCVN_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NS = "http://www.w3.org/1999/xlink"


def q(local: str) -> str:
    """Clark name of an element in the QCVN 102:2016 namespace."""
    return f"{{{QCVN_NS}}}{local}"


def local_name(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):  # comment, PI, entity
        return ""
    return tag.rpartition("}")[2]


def element_path(el: etree._Element) -> str:
    """``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]``.

    Local names; an index only among same-named siblings.
    """
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        name = local_name(node)
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def where(el: etree._Element | None) -> Where:
    if el is None:
        return Where()
    return Where(line=el.sourceline, path=element_path(el))
