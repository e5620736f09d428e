"""Small JSON request bodies (acknowledgements, agency registrations), read defensively.

A JSON body is a few hundred bytes; anything past ``MAX_JSON_BYTES`` is refused before parsing, and so is
nesting deep enough to exhaust Python's recursion (``[[[[…]]]]``), which ``json.loads`` reports as a
RecursionError rather than a ValueError.
"""

from __future__ import annotations

import json
from typing import Any

from axis.errors import AxisError, Code

MAX_JSON_BYTES = 64 * 1024


def read_json(body: bytes, code: Code = Code.HTTP_BAD_REQUEST, default: bytes = b"{}") -> Any:
    """The parsed body, or AxisError ``code`` saying what is wrong with it."""
    if len(body) > MAX_JSON_BYTES:
        raise AxisError.of(code, f"a JSON body is at most {MAX_JSON_BYTES} bytes, this one is {len(body)}")
    try:
        return json.loads((body or default).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AxisError.of(code, f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise AxisError.of(code, "the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise AxisError.of(code, f"the body is not JSON ({exc})") from None
