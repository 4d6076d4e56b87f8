"""One record, one line: what clients sent is written escaped, whichever call site logs it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from acexy_events import started_event

from supervisor import log_format
from supervisor.log_format import EscapingFormatter, escape_controls


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """What the supervisor's loggers write through the escaping formatter, at INFO."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("supervisor")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield text
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_control_characters_are_written_as_their_escapes() -> None:
    assert escape_controls("a\nb\r\tc\x00\x1b[31m\x7f\x85\u2028\u2029") == (
        "a\\nb\\r\\tc\\x00\\x1b[31m\\x7f\\x85\\u2028\\u2029"
    )
    assert escape_controls("stream abc|s1 on engine-19000 (ünïcode stays)") == (
        "stream abc|s1 on engine-19000 (ünïcode stays)"
    )


@pytest.mark.anyio
async def test_a_stream_id_with_a_newline_cannot_forge_a_log_line(
    open_client: Any, auth: dict[str, str], log_text: io.StringIO
) -> None:
    forged = "s1\n2026-12-04 10:00:00,000 WARNING supervisor: engine x removed"
    async with open_client("standalone") as client:
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        event = started_event(engine["host_http_port"], labels={"stream_id": forged})
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
    (line,) = [line for line in log_text.getvalue().splitlines() if "supervisor.streams" in line]
    assert line.startswith("INFO supervisor.streams: stream s1\\n2026-12-04 10:00:00,000 WARNING supervisor:")
    assert not [line for line in log_text.getvalue().splitlines() if line.startswith("2026-12-04")]


def test_a_traceback_keeps_its_lines_and_its_message_is_escaped(log_text: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("supervisor.api").exception("unexpected error on %s %s", "POST", "/x\ny")
    first, *trace = log_text.getvalue().splitlines()
    assert first == "ERROR supervisor.api: unexpected error on POST /x\\ny"
    assert trace[0] == "Traceback (most recent call last):" and trace[-1] == "ValueError: boom"


def test_serve_logs_through_the_escaping_formatter() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    try:
        log_format.configure("info")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, EscapingFormatter) and root.level == logging.INFO
    finally:
        root.handlers = handlers
        root.setLevel(level)
