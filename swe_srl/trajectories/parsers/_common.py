"""Pieces several log parsers share: reading JSON files and lines, the text of
content blocks, and the one way a parser reports bad input (:func:`caught`).

Errors (the scheme every parser follows, see :mod:`swe_srl.trajectories.parsers`):
code that reads a file or a record *raises* :class:`ParseError` (its ``where`` may be
left out: the caller knows it); ``parse()`` runs each record, or the whole file,
through :func:`caught`, which turns what was raised into the ParseError that
``parse()`` yields. So inside a parser errors are raised, and out of ``parse()``
they only ever come as items of its stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Container, Iterator, TypeVar

import orjson

from swe_srl.errors import ParseError

T = TypeVar("T")

# What Python raises when a record has an unexpected shape (a field of the wrong type, a missing key...).
_SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError)


def caught(read: Callable[[], T], where: str) -> T | ParseError:
    """``read()``; or, when it raised :class:`ParseError` or hit a record of an
    unexpected shape, the ParseError to report for ``where`` (``file`` or
    ``file:line``; a ParseError that names its own place keeps it)."""
    try:
        return read()
    except ParseError as e:
        return e if e.where else ParseError(e.reason, where)
    except _SHAPE_ERRORS as e:
        detail = " ".join(str(e).split())[:200]
        return ParseError(f"unexpected structure ({type(e).__name__}: {detail})", where)


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
    """The JSON value of a whole file; raises ParseError (``empty file`` / ``invalid JSON (...)``).

    ``lenient`` salvages invalid UTF-8 as :func:`load_lenient` does.
    """
    raw = path.read_bytes()
    if not raw.strip():
        raise ParseError("empty file", str(path))
    try:
        return load_lenient(raw) if lenient else orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ParseError(f"invalid JSON ({e})", str(path)) from None


def nonblank_lines(path: Path) -> Iterator[tuple[int, str, bytes]]:
    """``(lineno, "file:line", line)`` for each line of ``path`` that is not blank."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.isspace():
                yield lineno, f"{path}:{lineno}", line


def json_lines(path: Path) -> Iterator[tuple[int, str, Any]]:
    """``(lineno, "file:line", value)`` for each non-blank line, read with
    :func:`load_lenient`; a line that is not JSON comes with, as its value, the
    ParseError to report for it (``invalid JSON`` at ``file:line``)."""
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
    raises :class:`ParseError` with ``error`` (formatted with ``type``, the
    type's name)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ParseError(error.format(type=type(content).__name__))
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
