"""Logs as JSON lines: one object per event, with the message id and agency when there is one.

axis code logs through stdlib ``logging``; Twisted's own events are routed into it.
Only codes, ids and counts are logged, never tokens, secrets or package contents.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import IO, Any

from twisted.logger import STDLibLogObserver, globalLogBeginner

from axis.vntime import VN_TZ

_EXTRA = ("message_id", "agency", "event", "upstream_doc_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, VN_TZ).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _EXTRA:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _not_factory_chatter(record: logging.LogRecord) -> bool:
    """Twisted announces every client connection factory (one per push connection): noise, not events."""
    return not (record.name == "twisted" and str(record.msg).startswith(("Starting factory", "Stopping factory")))


def setup(stream: IO[str] = sys.stdout, level: int = logging.INFO, twisted: bool = True) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_not_factory_chatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if twisted:
        globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")], redirectStandardIO=False)
