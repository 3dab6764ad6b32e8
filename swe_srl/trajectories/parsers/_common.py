"""Pieces several log parsers share: reading JSON files and lines, the text of
content blocks, and turning a bad record into a :class:`ParseError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Container, Iterator

import orjson

from swe_srl.errors import ParseError

# What reading an unexpected structure raises (a field of the wrong type, a missing key...).
STRUCTURE_ERRORS = (TypeError, ValueError, AttributeError, KeyError)


class BadRecord(Exception):
    """A known record with fields of the wrong type (reported as a ParseError)."""


# What a record-at-a-time reader catches and reports with :func:`record_error`.
RECORD_ERRORS = (BadRecord, *STRUCTURE_ERRORS)


def record_error(e: Exception, where: str) -> ParseError:
    """The ParseError of a record that raised one of :data:`RECORD_ERRORS`."""
    if isinstance(e, BadRecord):
        return ParseError(str(e), where)
    return ParseError(f"unexpected field type ({type(e).__name__})", where)


def build_or_error(build: Callable[[], Any], where: str) -> Any:
    """``build()``, or the ParseError it raised or that describes the structure error it hit."""
    try:
        return build()
    except ParseError as e:
        return e
    except STRUCTURE_ERRORS as e:
        return ParseError(f"unexpected structure ({type(e).__name__}: {e})", where)


# Records whose invalid UTF-8 was replaced (U+FFFD) by load_lenient, since the process started;
# `swe-srl convert` reads it around each file to report the count per file.
INVALID_UTF8 = [0]


def load_lenient(data: bytes) -> Any:
    """``orjson.loads``, salvaging input whose only fault is invalid UTF-8 inside strings
    (counted in :data:`INVALID_UTF8`)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", errors="replace")
        value = orjson.loads(text)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            INVALID_UTF8[0] += 1
        return value


def read_json_document(path: Path, *, lenient: bool = False) -> Any:
    """The JSON value of a whole file, or a ParseError (``empty file`` / ``invalid JSON (...)``).

    ``lenient`` salvages invalid UTF-8 as :func:`load_lenient` does.
    """
    raw = path.read_bytes()
    if not raw.strip():
        return ParseError("empty file", str(path))
    try:
        return load_lenient(raw) if lenient else orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return ParseError(f"invalid JSON ({e})", str(path))


def nonblank_lines(path: Path) -> Iterator[tuple[int, str, bytes]]:
    """``(lineno, "file:line", line)`` for each line of ``path`` that is not blank."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.isspace():
                yield lineno, f"{path}:{lineno}", line


def json_lines(path: Path) -> Iterator[tuple[int, str, Any]]:
    """``(lineno, "file:line", value)`` for each non-blank line, read with
    :func:`load_lenient`; a line that is not JSON gives the value
    ``ParseError("invalid JSON", "file:line")``."""
    for lineno, where, line in nonblank_lines(path):
        try:
            value = load_lenient(line)
        except orjson.JSONDecodeError:
            value = ParseError("invalid JSON", where)
        yield lineno, where, value


def dumps_sorted(value: Any) -> str:
    """Compact JSON with sorted keys (the raw text of a tool call's arguments);
    ``str(value)`` for what orjson refuses."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(value)


def blocks_text(content: Any, image_types: Container[str], error: str) -> str:
    """Text of a string or a list of ``{type: text, text}`` blocks (and plain
    strings), joined by newlines; image blocks (``type`` in ``image_types``)
    become ``[image]``, other blocks are skipped. None is ``""``; any other type
    raises :class:`BadRecord` with ``error`` (formatted with ``type``, the
    type's name)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRecord(error.format(type=type(content).__name__))
    out = []
    for block in content:
        if isinstance(block, str):
            out.append(block)
        elif isinstance(block, dict):
            text = block.get("text")
            if isinstance(text, str):
                out.append(text)
            elif block.get("type") in image_types:
                out.append("[image]")
    return "\n".join(out)
