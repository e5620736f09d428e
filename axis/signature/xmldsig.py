"""signxml, adjusted where it would corrupt Vietnamese text.

signxml copies trees through ``etree.tostring``, whose default encoding is ASCII: libxml2
then writes non-ASCII characters of comments and processing instructions as ``&#250;``,
which inside a comment or PI is literal text.  Signing would rewrite ``<!-- ghi chú -->``
and verification would canonicalise a PI that differs from the signed one.  Serialising
the copies as UTF-8 keeps them exact.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from signxml import XMLSigner, XMLVerifier


def _utf8_tostring(xml_node: etree._Element, **kwargs: Any) -> bytes:
    kwargs.setdefault("encoding", "UTF-8")
    return etree.tostring(xml_node, **kwargs)  # type: ignore[no-any-return]


class Signer(XMLSigner):
    def _tostring(self, xml_node: etree._Element, **kwargs: Any) -> bytes:
        return _utf8_tostring(xml_node, **kwargs)


class Verifier(XMLVerifier):
    def _tostring(self, xml_node: etree._Element, **kwargs: Any) -> bytes:
        return _utf8_tostring(xml_node, **kwargs)
