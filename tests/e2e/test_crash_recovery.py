"""SIGKILL at random moments under load, restarted each time: nothing acknowledged is lost, nothing is doubled,
and both ledgers agree with what the senders, recipients and push receiver saw (the harness: tests/soak.py;
the long run: bench/soak_kill.py)."""

from __future__ import annotations

from pathlib import Path

from soak import Soak


def test_killed_again_and_again_under_load_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    soak = Soak(tmp_path, kills=12, documents=25, seed=7)
    try:
        figures = soak.run(timeout=240)
    finally:
        soak.close()
    assert figures["kills"] == 12 and figures["documents"] == 75
    assert sum(figures["client_retries"].values()) > 0  # the kills did land while clients were talking to it
