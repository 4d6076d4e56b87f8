"""One record, one line: what a client sent (a stream id, a label, a path) cannot forge a line of the log.

Messages name ids and labels that clients chose; a `stream_id` holding a newline would otherwise start a
line of its own that reads like the supervisor's. The formatter writes every control character of a
record's message (C0 and C1, DEL, and the Unicode line and paragraph separators) as its Python escape,
`\\n` or `\\x1b`, whichever call site logged it. A traceback, appended after the message, keeps its lines.
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class EscapingFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


def configure(level: str) -> None:
    """The supervisor's logging: one stderr handler at `level`, every line escaped."""
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
