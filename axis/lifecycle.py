"""The business status of one document for one recipient, and which next step is allowed.

Pure domain rules (the reference, §2; QĐ 28/2018 Điều 9): the recipient answers 01 (arrived), then 02
(refused) or 03 (accepted), then 04 (assigned), 05 (in progress), 06 (done).  The original sender may
recall (13), and a revoke, update or replacement it sends is a request too; the recipient answers a
request with 15 (accepted) or 16 (refused).  An accepted recall, revoke or replacement closes the
document for that recipient.

The history is a list of *steps* in the order axis accepted them: status codes as written to the
business ledger (two digits) and the requests ``revoke``, ``update`` and ``replace``.  A code outside
the standard list is refused (``edxml.unknown-status``): no rule could judge it, nor see that the
document was already taken back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from axis.edxml.model import STATUS_CODES
from axis.errors import AxisError, Code

RECALL, CHANGE_ACCEPTED, CHANGE_REFUSED = "13", "15", "16"
REVOKE, UPDATE, REPLACE = "revoke", "update", "replace"
REQUESTS = {1: REVOKE, 2: UPDATE, 3: REPLACE}  # Bussiness/BussinessDocType → the request it makes
_CLOSING = (RECALL, REVOKE, REPLACE)  # accepted with 15, these take the document away from the recipient

# The recipient's progress: 01 < 02 | 03 < 04 < 05 < 06; 02 and 03 exclude each other.
_RANK = {"01": 1, "02": 2, "03": 2, "04": 3, "05": 4, "06": 5}
_NAMES = {"01": "arrived", "02": "refused", "03": "accepted", "04": "assigned", "05": "in progress", "06": "done",
          RECALL: "recall", CHANGE_ACCEPTED: "change accepted", CHANGE_REFUSED: "change refused"}


def named(step: str) -> str:
    return f"{step} ({_NAMES[step]})" if step in _NAMES else step


@dataclass
class Standing:
    """Where a document stands for one recipient after its history."""

    last: str | None = None  # the recipient's latest progress code (01–06)
    pending: str | None = None  # a request waiting for 15/16: 13, revoke, update or replace
    closed: str | None = None  # why the document is no longer the recipient's (e.g. "15 to revoke")

    @property
    def rank(self) -> int:
        return _RANK.get(self.last or "", 0)

    def take(self, step: str) -> None:
        """Move on by one step that was accepted."""
        if step in _RANK:
            self.last = step
        elif step in (RECALL, REVOKE, UPDATE, REPLACE):
            self.pending = step
        elif step in (CHANGE_ACCEPTED, CHANGE_REFUSED):
            if step == CHANGE_ACCEPTED and self.pending in _CLOSING:
                self.closed = f"{CHANGE_ACCEPTED} to {named(self.pending)}"
            self.pending = None


def standing(history: Iterable[str]) -> Standing:
    """Fold a history that was accepted step by step (so each step was valid when it came)."""
    s = Standing()
    for step in history:
        s.take(step)
    return s


def _refuse(detail: str) -> AxisError:
    return AxisError.of(Code.STATUS_OUT_OF_ORDER, detail)


def check_status(history: Iterable[str], code: str, recipient: str) -> None:
    """Raise ``status.out-of-order`` unless ``code`` may follow ``history`` (for ``recipient``'s copy)."""
    if code not in STATUS_CODES:  # the verdict refuses these already; this rule must not let one through either
        raise AxisError.of(Code.EDXML_UNKNOWN_STATUS, f"StatusCode {code!r} for {recipient}'s copy")
    s = standing(history)
    if s.closed is not None:
        raise _refuse(f"{named(code)}: the document was already taken back from {recipient} ({s.closed})")
    if code in _RANK:
        rank, new = s.rank, _RANK[code]
        if s.last == "02" and code != "02":
            raise _refuse(f"{named(code)} after 02 (refused): {recipient} refused the document")
        if code == "02" and rank >= 2 and s.last != "02":
            raise _refuse(f"02 (refused) after {named(s.last or '')}: {recipient} already accepted the document")
        if new >= 3 and rank < 2:
            raise _refuse(f"{named(code)} before 03 (accepted): {recipient} must accept the document first")
        if new < rank:
            raise _refuse(f"{named(code)} after {named(s.last or '')}: a step backwards")
        return
    if code == RECALL:
        if s.pending == RECALL:
            raise _refuse(f"13 (recall): a recall from {recipient} already waits for its answer (15 or 16)")
        return
    if s.pending is None:  # 15 or 16
        raise _refuse(f"{named(code)}: nothing waits for an answer from {recipient} (no recall, revoke, update or "
                      "replacement)")


def check_request(history: Iterable[str], request: str, recipient: str) -> None:
    """Raise ``status.out-of-order`` when a revoke, update or replacement can no longer reach ``recipient``."""
    s = standing(history)
    if s.closed is not None:
        raise _refuse(f"{request}: the document was already taken back from {recipient} ({s.closed})")
