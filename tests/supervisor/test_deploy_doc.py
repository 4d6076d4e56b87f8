"""docs/DEPLOY.md's troubleshooting tables name every event type and every refusal code, and nothing else:
an event or code added, renamed or removed in the code (supervisor/core/events.py, core/capacity.py) or in
docs/API.md without its row here fails."""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt

from supervisor.core.capacity import BlockCode
from supervisor.core.events import EventType

DOCS = Path(__file__).resolve().parents[2] / "docs"
NAME = re.compile(r"^`([a-z_]+)`$")


def tables(path: Path) -> dict[str, list[list[str]]]:
    """The body rows of the tables (cells as written) under each heading."""
    found: dict[str, list[list[str]]] = {}
    heading, row, in_heading, in_body = "", [], False, False
    for token in MarkdownIt("commonmark").enable("table").parse(path.read_text()):
        if token.type in ("heading_open", "heading_close"):
            in_heading = token.type == "heading_open"
        elif token.type == "inline" and in_heading:
            heading = token.content
        elif token.type in ("tbody_open", "tbody_close"):
            in_body = token.type == "tbody_open"
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and in_body:
            row.append(token.content.strip())
        elif token.type == "tr_close" and in_body:
            found.setdefault(heading, []).append(row)
    return found


def named(rows: list[list[str]]) -> dict[str, list[str]]:
    """Rows by the name their first cell gives in backticks."""
    result = {}
    for row in rows:
        match = NAME.match(row[0])
        assert match, f"a row does not start with a `name`: {row}"
        result[match.group(1)] = row
    return result


def api_refusal_codes() -> set[str]:
    """The codes docs/API.md lists: its refusal table and the codes in its example body."""
    listed = set(named(tables(DOCS / "API.md")["Provisioning refusals (503)"]))
    text = (DOCS / "API.md").read_text()
    example = re.search(r'"code": (.*?),\s*\n\s*"message"', text, re.DOTALL)
    assert example, "docs/API.md: the refusal example lost its code list"
    return listed | set(re.findall(r'"([a-z_]+)"', example.group(1)))


def test_every_event_type_has_a_troubleshooting_row() -> None:
    rows = named(tables(DOCS / "DEPLOY.md")["Events"])
    assert set(rows) == {kind.value for kind in EventType}
    assert all(len(row) == 3 and row[1] and row[2] for row in rows.values())


def test_every_refusal_code_has_a_troubleshooting_row() -> None:
    rows = named(tables(DOCS / "DEPLOY.md")["Provisioning refusals"])
    codes = {code.value for code in BlockCode}
    assert api_refusal_codes() == codes  # docs/API.md and the code agree
    assert set(rows) == codes
    assert all(len(row) == 3 and row[1] and row[2] for row in rows.values())


def test_the_readme_links_the_deploy_guide() -> None:
    assert "(docs/DEPLOY.md)" in (DOCS.parent / "README.md").read_text()
