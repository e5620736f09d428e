"""``[limits]``: the parser's size limits (``axis.edxml.xmlsafe.ParseLimits``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axis.config._base import _Section
from axis.edxml.xmlsafe import DEFAULT_LIMITS, ParseLimits


def read_limits(path: Path, data: Any) -> ParseLimits:
    """Sizes in bytes (an integer) or with a unit (``"64MiB"``)."""
    lim = _Section(path, "limits", data)
    limits = ParseLimits(max_bytes=lim.size("max_package_bytes", DEFAULT_LIMITS.max_bytes),
                         max_text=lim.size("max_text_bytes", DEFAULT_LIMITS.max_text))
    lim.done()
    return limits
