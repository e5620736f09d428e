"""Length-prefixed pickle frames between axisd and its intake processes.

Both ends are the same program, on the same machine, started by the daemon: pickle is
safe here and the cheapest encoding for the few small objects that cross.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import replace
from typing import Any

from axis.intake import Prepared
from axis.storage.base import delivery_row

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30

# Kinds of frames.  To the child: JOB (job_id, agency key, bytes).  From the child: READY (info dict),
# FAILED (why it cannot start), PREPARED (job_id, pack_prepared(prepared)), REFUSED (job_id, Refused),
# ERROR (job_id, text).
JOB, READY, FAILED, PREPARED, REFUSED, ERROR = "job", "ready", "failed", "prepared", "refused", "error"


def encode(*frame: Any) -> bytes:
    body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


class Decoder:
    """Feed bytes as they arrive; take whole frames out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        self._buffer += data
        frames = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, offset)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes")
            end = offset + HEADER.size + size
            if len(buffer) < end:
                break
            frames.append(pickle.loads(buffer[offset + HEADER.size:end]))
            offset = end
        if offset:
            del buffer[:offset]
        return frames


# A Prepared crosses as (message without its bytes or deliveries, the deliveries as (recipient, mode, target)
# tuples, signature, warnings): a fan-out to 63 agencies pickled 63 NewDelivery objects each way; tuples of
# strings pickle and load several times faster, and the objects are made again here as shared rows
# (:func:`axis.storage.base.delivery_row`).


def pack_prepared(prepared: Prepared) -> tuple[Any, ...]:
    message = prepared.message
    return (replace(message, data=b"", deliveries=()),
            tuple([(d.recipient, d.mode, d.target) for d in message.deliveries]),
            prepared.signature, prepared.warnings)


def unpack_prepared(packed: tuple[Any, ...], data: bytes) -> Prepared:
    """The Prepared that :func:`pack_prepared` was given, its message's bytes being ``data``."""
    message, deliveries, signature, warnings = packed
    return Prepared(replace(message, data=data, deliveries=tuple([delivery_row(*row) for row in deliveries])),
                    signature, warnings)
