"""JSON-lines logging for the CLI and the keeper: one object per line on stderr, with the `extra`
fields of each record. Nothing logged here ever holds a key (hedger never passes one to a logger), and
every URL in a line is redacted (RPC URLs carry API keys)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TextIO

from hedger.chain.redact import redact_text

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # every URL redacted, in the message and in the fields (web3 and urllib3 log full endpoint URLs)
        return redact_text(json.dumps(entry, default=str))


class _CurrentStderr(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record is emitted, not as it was when logging was configured (a
    test harness or a daemon may have replaced it since)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure(level: str | None = None, stream: TextIO | None = None) -> None:
    """Route hedger's logs (and web3's warnings) to `stream` (default: the current stderr) as JSON lines, at
    HEDGER_LOG_LEVEL or `level`."""
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("HEDGER_LOG_LEVEL", "WARNING")).upper())
