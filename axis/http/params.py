"""Numbers in query parameters, read strictly.

``str.isdigit`` is true of ``²`` and ``٣`` too, which ``int`` refuses or reads as other digits, and ``int``
refuses more than 4,300 digits: a check of ``isdigit`` before ``int`` lets such a parameter through to a
ValueError, an ``internal.error`` answered to a client for what is its own mistake.
"""

from __future__ import annotations

MAX_DIGITS = 9


def bounded(raw: str, low: int, high: int) -> int | None:
    """``raw`` as a number when it is ASCII digits (at most nine) from ``low`` to ``high``; else None."""
    if len(raw) > MAX_DIGITS or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if low <= value <= high else None
