"""Small I/O helpers shared by every stage: atomic writes and streamed JSONL.

Outputs are written to a temporary file in the same directory and renamed
into place, so an interrupted command never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

import orjson

from swe_srl.errors import SweSrlError


def loads(data: bytes | str) -> Any:
    """Parse JSON (orjson: several times faster than the standard library)."""
    return orjson.loads(data)


def dumps(obj: Any, *, indent: bool = False) -> str:
    opts = orjson.OPT_NON_STR_KEYS
    if indent:
        opts |= orjson.OPT_INDENT_2
    try:
        return orjson.dumps(obj, option=opts).decode()
    except TypeError:
        # Objects orjson refuses (ints > 64 bit, odd subclasses): fall back.
        return json.dumps(obj, indent=2 if indent else None, ensure_ascii=False, default=str)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[TextIO]:
    """Open a temporary sibling of ``path`` and rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates 0600; outputs get the usual permissions (0666 less the umask).
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh  # type: ignore[misc]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    # Reading the umask means setting it; do it once, not per write, because the
    # moment it is 0 would also apply to files other threads create.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path) as fh:
        fh.write(dumps(obj, indent=True))
        fh.write("\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(dumps(row))
            fh.write("\n")
            n += 1
    return n


def append_jsonl(path: str | os.PathLike, row: Any) -> None:
    """Append one record and flush it (used by resumable runs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(dumps(row))
        fh.write("\n")
        fh.flush()


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return loads(path.read_bytes())
    except FileNotFoundError:
        raise SweSrlError(f"{path}: no such file") from None
    except orjson.JSONDecodeError as e:
        raise SweSrlError(f"{path}: invalid JSON ({e})") from None


def iter_jsonl(path: str | os.PathLike, *, strict: bool = True) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-blank line, streaming.

    With ``strict`` a malformed line raises :class:`SweSrlError` naming
    ``file:line``; otherwise the line is yielded as ``(lineno, SweSrlError)``
    so the caller can count and skip it.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise SweSrlError(f"{path}: no such file") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, loads(line)
            except orjson.JSONDecodeError as e:
                err = SweSrlError(f"{path}:{lineno}: invalid JSON ({e})")
                if strict:
                    raise err from None
                yield lineno, err


def read_records(path: str | os.PathLike) -> list[Any]:
    """Read a JSON list, a single JSON object, or JSONL (by content, not suffix)."""
    path = Path(path)
    try:
        head = path.read_bytes()[:4096].lstrip()
    except FileNotFoundError:
        raise SweSrlError(f"{path}: no such file") from None
    if path.suffix == ".jsonl":
        return [v for _, v in iter_jsonl(path)]
    if head.startswith(b"["):
        data = read_json(path)
        return list(data)
    try:
        data = read_json(path)
    except SweSrlError:
        return [v for _, v in iter_jsonl(path)]
    return data if isinstance(data, list) else [data]
