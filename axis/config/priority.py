"""``[priority]``: the names of the priority levels and how urgent packages share the way with the rest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axis.config._base import _Section

# OtherInfo/Priority 0–4.  No source states the mapping; this is the likely one (the reference, §1.3).
DEFAULT_LABELS = ("Thường", "Khẩn", "Thượng khẩn", "Hỏa tốc", "Hỏa tốc hẹn giờ")


@dataclass(frozen=True)
class PriorityConfig:
    """``labels[n]`` names priority ``n`` in answers and reports (the raw value is always kept and shown).

    More urgent packages leave mailboxes and push queues first; ``oldest_share`` of every mailbox listing
    and push batch is kept for the oldest waiting packages whatever their priority, so a flood of urgent
    ones never starves the rest."""

    labels: tuple[str, ...] = DEFAULT_LABELS
    oldest_share: float = 0.25

    def label(self, priority: int) -> str:
        return self.labels[priority] if 0 <= priority < len(self.labels) else str(priority)

    def oldest(self, limit: int) -> int:
        """How many of ``limit`` places go to the oldest packages (at least one)."""
        return max(1, int(limit * self.oldest_share)) if self.oldest_share > 0 else 0


def read_priority(path: Path, data: Any) -> PriorityConfig:
    p = _Section(path, "priority", data)
    labels = p.get("labels", list, list(DEFAULT_LABELS))
    if len(labels) != 5 or not all(isinstance(x, str) and x.strip() for x in labels):
        raise p.error("labels", f"expected 5 non-empty names, for priorities 0 to 4, got {labels!r}")
    share = p.get("oldest_share", object, 0.25)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 0.5:
        raise p.error("oldest_share", f"expected a fraction from 0 to 0.5, got {share!r}")
    p.done()
    return PriorityConfig(labels=tuple(x.strip() for x in labels), oldest_share=float(share))
