"""The envelope every SDKVXP answer is read through (vxp-protocol.md §4, §5).

The SDK ignores the HTTP status and reads ``status``, ``ErrorCode`` and ``ErrorDesc`` (case-sensitive): an answer
without them is an all-null result to its caller, and ``sendEdoc``'s also needs ``DocId``.  Kept apart from the
door's resource because refusals made outside it (the site, the channel) are written in it too.
"""

from __future__ import annotations

import json
from typing import Any

from axis.errors import Problem


def ok(**fields: Any) -> dict[str, Any]:
    return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **fields}


def fail(problems: tuple[Problem, ...], **fields: Any) -> dict[str, Any]:
    """A refusal: the first problem's code, every problem's message."""
    first = problems[0]
    return {"status": "FAIL", "ErrorCode": first.code.code,
            "ErrorDesc": "; ".join(p.code.en + (f": {p.detail}" if p.detail else "") for p in problems),
            "errors": [p.to_dict() for p in problems], **fields}


def encode(body: Any) -> bytes:
    """Compact JSON, pure ASCII (non-ASCII as ``\\u`` escapes, which Gson decodes): the SDK reads ``sendEdoc``
    answers as US-ASCII (§4.1)."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
