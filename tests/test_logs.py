"""Logs as JSON lines (axis.logs): one object per event, with the ids the event carries."""

from __future__ import annotations

import io
import json
import logging

from axis import logs


def _line(**extra: str) -> dict:
    stream = io.StringIO()
    logs.setup(stream, twisted=False)
    try:
        logging.getLogger("axis.delivery.upstream").warning("upstream %s: cannot fetch %s", "national", "D-1",
                                                            extra=extra)
    finally:
        logging.getLogger().handlers[:] = []
    return json.loads(stream.getvalue().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_upstream_doc_id_given_to_a_line_is_written_in_it() -> None:
    """The upstream poller gives each line about a package it takes the upstream's DocId (it has no message id here
    yet); the formatter wrote only message_id, agency and event, and dropped it."""
    line = _line(agency="route:national", upstream_doc_id="D-1")
    assert line["upstream_doc_id"] == "D-1" and line["agency"] == "route:national"
    assert line["level"] == "warning" and line["msg"] == "upstream national: cannot fetch D-1"
