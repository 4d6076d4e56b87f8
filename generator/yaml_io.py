"""YAML in and out through ruamel.yaml: safe, bounded loading with file:line errors, stable round-trip output.

A profile is a few dozen keys, so anything far larger is a mistake or an attack. Before a document is
built, its event stream is scanned (ruamel's parser is iterative, so this never recurses) and refused
past a size, a nesting depth or an expanded node count: a billion-laughs alias bomb is small on disk and
as events, but counting what its aliases expand to catches it before anything walks the expansion.
"""

from __future__ import annotations

import io
import reprlib
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
    ScalarEvent,
)

from generator.errors import UserError

MAX_PROFILE_BYTES = 256 * 1024  # the shipped profiles are under 1 KiB
MAX_DEPTH = 32  # a profile nests four levels
MAX_NODES = 20_000  # scalars and collections, counting every alias as what it expands to


class _Limits:
    """Counts the expanded node total and the depth of one event stream."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.expanded = 0
        self.depth = 0
        self.documents = 0
        self.anchor_sizes: dict[str, int] = {}
        self.open: list[tuple[str | None, int]] = []  # (anchor, expanded count at its start)

    def _add(self, count: int, mark: Any) -> None:
        self.expanded += count
        if self.expanded > MAX_NODES:
            raise UserError(
                f"{_where(self.source, mark)}: the YAML expands to more than {MAX_NODES} values (aliases "
                "count as what they repeat); a profile needs a few dozen: remove the repeated aliases"
            )

    def feed(self, event: Any) -> None:
        mark = event.start_mark
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise UserError(f"{_where(self.source, mark)}: more than one YAML document; keep one")
        elif isinstance(event, AliasEvent):
            if any(anchor == event.anchor for anchor, _start in self.open):
                raise UserError(
                    f"{_where(self.source, mark)}: the alias *{excerpt(event.anchor, 40)} refers to the "
                    "value that contains it, so it never ends; write the value out"
                )
            self._add(self.anchor_sizes.get(event.anchor, 1), mark)
        elif isinstance(event, ScalarEvent):
            self._add(1, mark)
            if event.anchor:
                self.anchor_sizes[event.anchor] = 1
        elif isinstance(event, CollectionStartEvent):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise UserError(
                    f"{_where(self.source, mark)}: nested more than {MAX_DEPTH} levels deep; "
                    "a profile nests a few levels: remove the extra brackets"
                )
            self.open.append((event.anchor, self.expanded))
            self._add(1, mark)
        elif isinstance(event, CollectionEndEvent):
            self.depth -= 1
            anchor, start = self.open.pop()
            if anchor:
                self.anchor_sizes[anchor] = self.expanded - start
        elif isinstance(event, NodeEvent):  # pragma: no cover - every node event is handled above
            self._add(1, mark)


def _where(source: str, mark: Any) -> str:
    shown = printable(source)
    return f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark is not None else shown


def printable(text: str) -> str:
    """Text as is when it is one printable line, else its repr: a path never breaks a line it is put in."""
    return text if text.isprintable() else excerpt(text, 200)


def _syntax_error(source: str, error: YAMLError) -> UserError:
    if isinstance(error, MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        return UserError(f"{_where(source, mark)}: YAML syntax error: {error.problem or error.context}")
    return UserError(f"{printable(source)}: YAML syntax error: {excerpt(str(error))}")


def load_yaml_text(text: str, source: str, round_trip: bool = False) -> Any:
    """Parse YAML within the limits above; round_trip keeps quotes, comments and styles for re-emitting."""
    loader = round_trip_yaml() if round_trip else YAML(typ="safe", pure=True)
    try:
        if not round_trip:  # our own template output is trusted; user input is bounded first
            limits = _Limits(source)
            for event in YAML(typ="safe", pure=True).parse(text):
                limits.feed(event)
        return loader.load(text)
    except YAMLError as error:
        raise _syntax_error(source, error) from None
    except RecursionError:  # pragma: no cover - the depth limit stops this first
        raise UserError(f"{printable(source)}: nested too deeply; remove the extra brackets") from None
    except ValueError as error:  # a scalar the constructor cannot make, e.g. an int of 5000 digits
        raise UserError(f"{printable(source)}: a value cannot be read ({excerpt(str(error), 80)})") from None


def load_yaml_file(path: Path, max_bytes: int = MAX_PROFILE_BYTES) -> Any:
    shown = printable(str(path))
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise UserError(f"{shown}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{shown}: is a directory; give the profile's YAML file") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{shown}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    if len(data) > max_bytes:
        raise UserError(f"{shown}: larger than {max_bytes // 1024} KiB; a profile is a few dozen lines")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{shown}: not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    return load_yaml_text(text, str(path))


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxstring = 40
_REPR.maxother = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


def excerpt(value: Any, limit: int = 60) -> str:
    """A short, single-line repr of any value: errors quote what was given, never all of it."""
    try:
        text = _REPR.repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # never fold long strings: the output is compared byte for byte
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    return yaml


def dump_yaml(document: Any) -> str:
    buffer = io.StringIO()
    round_trip_yaml().dump(document, buffer)
    return buffer.getvalue()
